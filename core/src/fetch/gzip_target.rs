//! Fetching the missing blocks of a gzip target: the server holds `target.gz` (`Z-URL`),
//! the control file describes the uncompressed target and maps it to the compressed
//! stream (`Z-Map2`).
//!
//! [`GzipTarget`] is the [`Receiver`] for such a file; requests, batching, the ladder and
//! retries are the [`Transport`](crate::fetch::Transport)'s, exactly as for a plain
//! target. A round:
//!
//! 1. takes every missing block, maps the blocks to compressed reads of at most
//!    [`READ_SPAN`] of output each ([`ZMap::reads_in_cells`]) and asks for the reads'
//!    byte ranges ([`fetch_ranges`]). One round for everything: the gaps between rounds
//!    (a round trip each, with the link idle) were what a slow link paid most for after
//!    the scan;
//! 2. collects the bytes as they arrive, from any number of requests and in any order,
//!    for each read that needs them, and inflates the reads in file order as they
//!    become whole: a cursor walks the reads and stops at the first whose bytes are not
//!    all in yet. A read's bytes are dropped once it is inflated;
//! 3. bounds what waits ahead of the cursor ([`REACH`]): a request is sent once its
//!    first bytes lie within 5 MiB of the end of the cursor's read (so it is on its
//!    way before the one before ends), and a reply whose next bytes lie more than
//!    1 MiB past it is held back (its connection then idles and the server's sending
//!    stops, by TCP's flow control), in both cases only while another request of the
//!    round is going. The last one going never waits, so the round always moves on;
//!    and a request that ends without some bytes it was asked for gives up the reads
//!    needing them, which the cursor then passes;
//! 4. once the requests are over, inflates the reads from the cursor on whose bytes did
//!    come (after a read that never came whole).
//!
//! A read restarts the decoder mid-stream, so it needs the 32 KiB of output before it as
//! its window; that is read back from the `.part`. Those bytes are always present by
//! then: every missing block before a read belongs to an earlier read (reads come in file
//! order, cover every missing block, and keep each block whole), which was inflated
//! before it, or to an earlier round. Only when an earlier read failed is the window
//! incomplete; the read then waits for the next round rather than decode from a wrong
//! window.
//!
//! Every produced block goes through the [`BlockWriter`] like any fetched block: checked
//! against its MD4 before it is written. Corrupt compressed data shows up as a decoder
//! error or as blocks that fail their checksums; both count against the block concerned,
//! and a block that fails three times fails the job, naming the URL.
//!
//! A server that ignores ranges sends the whole `.gz`: it is inflated as it streams in
//! (flate2's gzip decoder: there is nothing to restart) and the missing blocks are taken
//! from it, still checked.

use std::io::{BufReader, Read};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, RwLock};

use url::Url;

use super::pieces::{Assembler, BlockWriter, Wanted, broken, for_each_chunk};
use super::transport::{Cuts, ReceiveError, Receiver, Round};
use crate::blocks::{Geometry, merge, runs};
use crate::control::ControlFile;
use crate::error::{Error, Result, shown_url};
use crate::event::{BlockSource, BlockState};
use crate::gzip::{Compressed, CompressedRead, Inflater, WINDOW_SIZE, ZMap, fetch_ranges};

/// Uncompressed bytes one read covers at most (rounded down to whole blocks): a read's
/// bytes are held until all of them are in, and each read more restarts the decoder
/// (its 32 KiB window read back from the `.part`), which a MiB of output pays for.
const READ_SPAN: u64 = 1 << 20;
/// How far ahead of the inflating cursor the round's requests may go.
#[derive(Clone, Copy)]
struct Reach {
    /// Compressed bytes a reply may bring past the end of the read the cursor waits for
    /// before it is held back: what a round holds ahead of the cursor, however many
    /// requests run and however their speeds differ.
    reply: u64,
    /// How much further on a request may start and still be sent. It is sent while the
    /// one before is still coming, so that no round trip separates them, but not so
    /// early that it waits long unread: a server gives up a connection it cannot send
    /// on (nginx after 60 s), and 5 MiB takes 2 s at 20 Mbit/s.
    request: u64,
}

const REACH: Reach = Reach {
    reply: 1 << 20,
    request: 4 << 20,
};

/// The [`Receiver`] for a target fetched as a gzip-compressed copy.
pub(crate) struct GzipTarget<'w, 'a> {
    writer: &'w BlockWriter<'a>,
    map: &'w ZMap,
    /// Written between rounds, read by the request threads during one.
    pending: RwLock<Option<Pending>>,
    /// [`REACH`], but for tests.
    reach: Reach,
}

/// A round's reads, the compressed bytes that came for them, and how far inflating them
/// has got.
struct Pending {
    reads: Vec<CompressedRead>,
    /// `bytes[i]` holds what arrived for `reads[i]`.
    bytes: Vec<Mutex<ReadBytes>>,
    /// The reads that have a header range, by header range: ascending, as the reads'
    /// checkpoints are.
    headers: Vec<(Range<u64>, usize)>,
    /// The byte ranges asked for, ascending and disjoint.
    ranges: Vec<Range<u64>>,
    /// The missing blocks the round is for.
    blocks: Vec<Range<u64>>,
    /// Held by the thread that inflates. Another one whose bytes arrive meanwhile waits
    /// for it, then finds the reads they completed done or does them itself.
    progress: Mutex<Progress>,
    /// Where bytes stop being taken without waiting: `reach.reply` past the end of the
    /// read at the cursor.
    room_until: AtomicU64,
    reach: Reach,
    /// Requests of the round going and not held back.
    going: Mutex<usize>,
    /// Signalled when the cursor moves or a request ends.
    moved: Condvar,
}

/// The cursor over a round's reads.
struct Progress {
    /// The reads before this one are done with for the round.
    next_read: usize,
    inflater: Inflater,
}

/// What arrived for one read. Small until its first bytes come: a big target with
/// scattered changes has many reads, most of them waiting.
#[derive(Default)]
struct ReadBytes {
    arrived: Option<Box<Arrived>>,
    /// A request that should have brought some of its bytes ended without them: the
    /// read waits for the next round.
    given_up: bool,
    /// The read is done with: its bytes are dropped and what arrives for it later is
    /// not kept.
    released: bool,
}

/// The bytes a read has received.
struct Arrived {
    data: Buffer,
    /// For a read with a header range.
    header: Buffer,
    /// Where the bytes came from, for error messages.
    url: Url,
}

/// The bytes received for one range a read needs.
#[derive(Default)]
struct Buffer {
    /// The range's bytes; empty until the first of them arrive.
    bytes: Vec<u8>,
    /// Parts of `bytes` received so far (offsets relative to the buffer's range), sorted
    /// and merged, so that one of them holds any whole part that came.
    got: Vec<Range<u64>>,
}

/// The control file's map, checked against the target it should describe; what is
/// wrong with it otherwise.
pub(crate) fn parse_map(cf: &ControlFile) -> Result<ZMap, String> {
    let bytes = cf.z_map.as_deref().unwrap_or_default();
    let map = ZMap::parse(bytes).map_err(|e| format!("its Z-Map2 is unusable: {e}"))?;
    if map.uncompressed_len() != cf.length {
        return Err(format!(
            "its Z-Map2 describes {} bytes of uncompressed data, but its Length is {}",
            map.uncompressed_len(),
            cf.length
        ));
    }
    Ok(map)
}

/// The compressed byte ranges to fetch for the `missing` block runs, all at once: how
/// many, and how many bytes.
pub(crate) fn estimate(
    map: &ZMap,
    geometry: Geometry,
    missing: &[Range<u64>],
) -> Result<(u64, u64)> {
    let ranges = fetch_ranges(&reads_for(map, geometry, missing)?);
    Ok((
        ranges.len() as u64,
        ranges.iter().map(|r| r.end - r.start).sum(),
    ))
}

fn reads_for(map: &ZMap, geometry: Geometry, blocks: &[Range<u64>]) -> Result<Vec<CompressedRead>> {
    let needed: Vec<Range<u64>> = blocks
        .iter()
        .map(|run| geometry.byte_range(run.clone()))
        .collect();
    let span = READ_SPAN / u64::from(geometry.block_size) * u64::from(geometry.block_size);
    map.reads_in_cells(&needed, None, span.max(u64::from(geometry.block_size)))
        .map_err(|e| Error::Invalid(format!("the control file's Z-Map2: {e}")))
}

impl<'w, 'a> GzipTarget<'w, 'a> {
    /// `map` must be [`parse_map`]'s.
    pub fn new(writer: &'w BlockWriter<'a>, map: &'w ZMap) -> Self {
        GzipTarget {
            writer,
            map,
            pending: RwLock::new(None),
            reach: REACH,
        }
    }

    /// Moves the round's cursor on: inflates the reads from it in file order, while their
    /// bytes are all in, or every one left once `over` (the round's requests are over:
    /// what has not come will not).
    ///
    /// What comes out does not depend on when this runs, nor on which thread runs it:
    /// the reads are inflated one at a time, always in file order, each exactly once,
    /// and a read is only taken before the end of the round once all its bytes are in
    /// (or once a request that should have brought some ended without them: it is then
    /// passed over, as at the end of the round).
    /// Its inputs are then what they would be at the end of the round: its bytes (a
    /// range sent twice, by a retry or by a server that coalesces, is the same bytes of
    /// the same file), and its window, which is output of the reads before it, all done
    /// with, or of earlier rounds. Only the memory held and the time blocks are written
    /// differ.
    fn advance(&self, pending: &Pending, over: bool) -> Result<()> {
        let mut progress = pending.progress.lock().unwrap();
        let progress = &mut *progress;
        let from = progress.next_read;
        while progress.next_read < pending.reads.len() {
            let index = progress.next_read;
            if !over && !pending.arrived(index) {
                break;
            }
            let inflated = self.inflate_read(&mut progress.inflater, pending, index);
            // A failure fails the job: nothing more of the round is inflated.
            progress.next_read = match inflated {
                Ok(()) => index + 1,
                Err(_) => pending.reads.len(),
            };
            pending.bytes[index].lock().unwrap().release();
            inflated?;
        }
        if progress.next_read > from {
            pending.cursor_moved(progress.next_read);
        }
        Ok(())
    }

    /// Inflates one read whose bytes are in, or skips it if they never all came; blocks
    /// it cannot produce stay missing for the next round.
    fn inflate_read(&self, inflater: &mut Inflater, pending: &Pending, index: usize) -> Result<()> {
        let read = &pending.reads[index];
        let w = self.writer;
        let geometry = w.geometry();
        let produces = geometry.whole_blocks_in(read.out.clone());
        if produces.clone().all(|b| w.assembly.is_present(b)) {
            return Ok(());
        }
        let window = read.out.start.saturating_sub(WINDOW_SIZE as u64)..read.out.start;
        if !window.is_empty()
            && !(geometry.block_of(window.start)..=geometry.block_of(window.end - 1))
                .all(|b| w.assembly.is_present(b))
        {
            return Ok(());
        }
        let Some(bytes) = pending.whole(index) else {
            return Ok(());
        };
        let bytes = bytes.arrived.as_deref().expect("whole reads have bytes");
        let header = Compressed::new(
            &bytes.header.bytes,
            read.header.as_ref().map_or(0, |r| r.start),
        );
        let data = Compressed::new(&bytes.data.bytes, read.data.start);
        let url = &bytes.url;
        let mut history = vec![0u8; (window.end - window.start) as usize];
        w.assembly.read_present(&mut history, window.start)?;
        inflater.set_window(&history);

        let mut assembler = Assembler::new(w, url, read.out.start);
        let mut failure = None;
        let result = inflater.inflate_with(
            data,
            read.start.resume(header),
            read.out_len(),
            &mut |bytes| {
                assembler.write(bytes).map_err(|e| {
                    failure = Some(e);
                    std::io::Error::other("the block writer failed")
                })
            },
        );
        let problem = match result {
            Ok(outcome) if outcome.produced == read.out_len() => return Ok(()),
            Ok(outcome) => format!(
                "the compressed data ends after {} of {} bytes",
                outcome.produced,
                read.out_len()
            ),
            Err(_) if failure.is_some() => return Err(failure.take().expect("checked")),
            Err(e) => e.to_string(),
        };
        // Count the failure against the first block the decoder did not deliver: the
        // same corrupt bytes stop it at the same place every time.
        let stopped = geometry.block_of(assembler.position());
        match (stopped..produces.end).find(|&b| !w.assembly.is_present(b)) {
            Some(block) => w.reject(
                url,
                block,
                &format!(
                    "inflating compressed bytes {}-{} for block {block} failed ({problem})",
                    read.data.start,
                    read.data.end - 1
                ),
            ),
            // Everything wanted came out before the decoder stopped.
            None => Ok(()),
        }
    }
}

impl Pending {
    fn new(reads: Vec<CompressedRead>, blocks: Vec<Range<u64>>, reach: Reach) -> Pending {
        let headers = reads
            .iter()
            .enumerate()
            .filter_map(|(index, read)| Some((read.header.clone()?, index)))
            .collect();
        let room_until = reads.first().map_or(u64::MAX, |r| r.data.end + reach.reply);
        Pending {
            ranges: fetch_ranges(&reads),
            bytes: reads.iter().map(|_| Mutex::default()).collect(),
            headers,
            reads,
            blocks,
            progress: Mutex::new(Progress {
                next_read: 0,
                inflater: Inflater::new(&[]),
            }),
            room_until: AtomicU64::new(room_until),
            reach,
            going: Mutex::new(0),
            moved: Condvar::new(),
        }
    }

    /// Keeps `chunk`, the remote file's bytes from `at` on, for every read that needs
    /// some of them (neighbouring reads share bytes, and a server may coalesce ranges).
    fn store(&self, url: &Url, at: u64, chunk: &[u8]) {
        let piece = at..at + chunk.len() as u64;
        // Data ranges are ascending, as are header ranges: the reads start at
        // ascending checkpoints.
        let first = self.reads.partition_point(|r| r.data.end <= piece.start);
        for (read, bytes) in self.reads[first..]
            .iter()
            .zip(&self.bytes[first..])
            .take_while(|(r, _)| r.data.start < piece.end)
        {
            if let Some(arrived) = bytes.lock().unwrap().taking(url) {
                arrived.data.store(&read.data, at, chunk);
            }
        }
        let first = self.headers.partition_point(|(h, _)| h.end <= piece.start);
        for (header, index) in self.headers[first..]
            .iter()
            .take_while(|(h, _)| h.start < piece.end)
        {
            let mut bytes = self.bytes[*index].lock().unwrap();
            if let Some(arrived) = bytes.taking(url) {
                arrived.header.store(header, at, chunk);
            }
        }
    }

    /// Whether every byte read `index` needs is in, or will not come this round.
    fn arrived(&self, index: usize) -> bool {
        let bytes = self.bytes[index].lock().unwrap();
        bytes.given_up || self.is_whole(index, &bytes)
    }

    fn is_whole(&self, index: usize, bytes: &ReadBytes) -> bool {
        let read = &self.reads[index];
        bytes.arrived.as_ref().is_some_and(|bytes| {
            bytes.data.holds(&read.data, &read.data)
                && read
                    .header
                    .as_ref()
                    .is_none_or(|h| bytes.header.holds(h, h))
        })
    }

    /// The bytes of read `index`, locked, if all of them arrived.
    fn whole(&self, index: usize) -> Option<MutexGuard<'_, ReadBytes>> {
        let bytes = self.bytes[index].lock().unwrap();
        self.is_whole(index, &bytes).then_some(bytes)
    }

    /// The cursor is at read `next_read`: bytes up to `reach.reply` past its end are
    /// taken without waiting.
    fn cursor_moved(&self, next_read: usize) {
        let room = self
            .reads
            .get(next_read)
            .map_or(u64::MAX, |r| r.data.end + self.reach.reply);
        self.room_until.store(room, Ordering::Release);
        let _going = self.going.lock().unwrap();
        self.moved.notify_all();
    }

    /// Waits, before bytes from `at` on are stored, while they lie too far ahead of the
    /// cursor and another request is going: that one brings the bytes the cursor waits
    /// for, or ends. The last request going never waits, so the round always moves on:
    /// what one request ahead costs is then memory, as before it was held back.
    fn wait_for_room(&self, at: u64) {
        let has_room = || at < self.room_until.load(Ordering::Acquire);
        if has_room() {
            return;
        }
        let mut going = self.going.lock().unwrap();
        while !has_room() && *going > 1 {
            *going -= 1;
            going = self.moved.wait(going).unwrap();
            *going += 1;
        }
    }

    /// A request for bytes from `start` on is about to be sent: it waits while they lie
    /// more than `reach.request` past what a reply may bring now and another request is
    /// going (which brings the bytes the cursor waits for, or ends), then counts as
    /// going.
    fn send_when_near(&self, start: u64) {
        let near = || {
            let room = self.room_until.load(Ordering::Acquire);
            start < room.saturating_add(self.reach.request)
        };
        let mut going = self.going.lock().unwrap();
        while !near() && *going > 0 {
            going = self.moved.wait(going).unwrap();
        }
        *going += 1;
    }

    /// A request for `asked` ended: the reads it should have brought bytes for and did
    /// not wait for the next round, and a request held back may go.
    fn request_over(&self, asked: &[Range<u64>]) {
        self.give_up_unbrought(asked);
        self.not_going();
    }

    /// Gives up the reads that needed bytes of `asked`, for their data or their header,
    /// and do not have them.
    fn give_up_unbrought(&self, asked: &[Range<u64>]) {
        for range in asked {
            let first = self.reads.partition_point(|r| r.data.end <= range.start);
            for (index, read) in self.reads.iter().enumerate().skip(first) {
                if read.data.start >= range.end {
                    break;
                }
                self.give_up_without(index, range, &read.data, |a| &a.data);
            }
            let first = self.headers.partition_point(|(h, _)| h.end <= range.start);
            for (header, index) in self.headers[first..]
                .iter()
                .take_while(|(h, _)| h.start < range.end)
            {
                self.give_up_without(*index, range, header, |a| &a.header);
            }
        }
    }

    /// Gives up read `index` unless what `asked` holds of `part`, one of its ranges,
    /// came (into the buffer `buffer` picks).
    fn give_up_without(
        &self,
        index: usize,
        asked: &Range<u64>,
        part: &Range<u64>,
        buffer: impl Fn(&Arrived) -> &Buffer,
    ) {
        let Some(shared) = overlap(part, asked) else {
            return;
        };
        let mut bytes = self.bytes[index].lock().unwrap();
        let came = (bytes.arrived.as_deref()).is_some_and(|a| buffer(a).holds(part, &shared));
        if !bytes.released && !came {
            bytes.given_up = true;
        }
    }

    /// A request ended or was put back unsent: one held back may go.
    fn not_going(&self) {
        let mut going = self.going.lock().unwrap();
        *going = going.saturating_sub(1);
        self.moved.notify_all();
    }
}

/// The part two ranges share, if any.
fn overlap(a: &Range<u64>, b: &Range<u64>) -> Option<Range<u64>> {
    let shared = a.start.max(b.start)..a.end.min(b.end);
    (shared.start < shared.end).then_some(shared)
}

impl ReadBytes {
    /// Where bytes sent by `url` go, unless the read is done with.
    fn taking(&mut self, url: &Url) -> Option<&mut Arrived> {
        if self.released {
            return None;
        }
        let arrived = self.arrived.get_or_insert_with(|| {
            Box::new(Arrived {
                data: Buffer::default(),
                header: Buffer::default(),
                url: url.clone(),
            })
        });
        if arrived.url != *url {
            arrived.url = url.clone();
        }
        Some(arrived)
    }

    /// The read is done with: drops its bytes.
    fn release(&mut self) {
        self.released = true;
        self.arrived = None;
    }
}

impl Buffer {
    /// Keeps what `chunk` (the remote file's bytes from `at` on) holds of `range`, the
    /// buffer's.
    fn store(&mut self, range: &Range<u64>, at: u64, chunk: &[u8]) {
        let piece = at..at + chunk.len() as u64;
        let Some(part) = overlap(range, &piece) else {
            return;
        };
        if self.bytes.is_empty() {
            self.bytes = vec![0; (range.end - range.start) as usize];
        }
        let local = part.start - range.start..part.end - range.start;
        self.bytes[local.start as usize..local.end as usize]
            .copy_from_slice(&chunk[(part.start - at) as usize..(part.end - at) as usize]);
        match self.got.last_mut() {
            // The usual case: a reply goes on where it left off.
            Some(last) if last.end == local.start => last.end = local.end,
            _ => {
                self.got.push(local);
                self.got = merge(std::mem::take(&mut self.got));
            }
        }
    }

    /// Whether all of `part` of `range` (the buffer's) arrived.
    fn holds(&self, range: &Range<u64>, part: &Range<u64>) -> bool {
        let local = part.start - range.start..part.end - range.start;
        self.got
            .iter()
            .any(|g| g.start <= local.start && local.end <= g.end)
    }
}

impl Receiver for GzipTarget<'_, '_> {
    fn next_round(&self) -> Result<Option<Round>> {
        let blocks = self.writer.assembly.missing();
        if blocks.is_empty() {
            return Ok(None);
        }
        let reads = reads_for(self.map, self.writer.geometry(), &blocks)?;
        self.writer
            .reporter
            .blocks(blocks.clone(), BlockState::InFlight, BlockSource::Network);
        let pending = Pending::new(reads, blocks, self.reach);
        let ranges = pending.ranges.clone();
        *self.pending.write().unwrap() = Some(pending);
        Ok(Some(Round {
            ranges,
            cuts: Cuts::Every(1),
            in_file_order: true,
        }))
    }

    fn check_reply(&self, url: &Url, _range: &Range<u64>, total: Option<u64>) -> Result<()> {
        // zsyncmake's map ends where the gzip trailer starts.
        let end = self.map.last().in_bit.div_ceil(8);
        match total {
            Some(total) if total < end => Err(Error::BadData {
                url: shown_url(url.as_str()),
                problem: format!(
                    "its file is {total} bytes but the control file's Z-Map describes at least {end} compressed bytes: the .zsync is out of date or for another file"
                ),
            }),
            _ => Ok(()),
        }
    }

    fn feed(&self, url: &Url, start: u64, body: &mut dyn Read) -> Result<(), ReceiveError> {
        let guard = self.pending.read().unwrap();
        let Some(pending) = guard.as_ref() else {
            return Ok(());
        };
        let mut at = start;
        for_each_chunk(body, broken, |chunk| {
            pending.wait_for_room(at);
            pending.store(url, at, chunk);
            at += chunk.len() as u64;
            self.advance(pending, false).map_err(ReceiveError::Fatal)?;
            let past_the_last = pending.ranges.last().is_none_or(|r| at >= r.end);
            Ok(if past_the_last {
                Wanted::Nothing
            } else {
                Wanted::More
            })
        })
    }

    fn feed_whole(&self, url: &Url, body: &mut dyn Read) -> Result<(), ReceiveError> {
        let mut decoder = flate2::read::MultiGzDecoder::new(BufReader::new(body));
        Assembler::new(self.writer, url, 0).copy_from(&mut decoder, |e| match e.kind() {
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput => {
                ReceiveError::Fatal(Error::BadData {
                    url: shown_url(url.as_str()),
                    problem: format!("its gzip data is corrupt ({e})"),
                })
            }
            _ => broken(e),
        })
    }

    fn requested(&self, ranges: &[Range<u64>]) {
        if let Some(pending) = self.pending.read().unwrap().as_ref() {
            pending.send_when_near(ranges.first().map_or(0, |r| r.start));
        }
    }

    fn request_over(&self, ranges: &[Range<u64>]) {
        if let Some(pending) = self.pending.read().unwrap().as_ref() {
            pending.request_over(ranges);
        }
    }

    fn requeued(&self, _ranges: &[Range<u64>]) {
        // Its halves will be `requested` again; their bytes are still to come.
        if let Some(pending) = self.pending.read().unwrap().as_ref() {
            pending.not_going();
        }
    }

    fn end_round(&self) -> Result<()> {
        let Some(pending) = self.pending.write().unwrap().take() else {
            return Ok(());
        };
        let result = self.advance(&pending, true);
        // What did not come out goes back to unknown, to be asked for again.
        let assembly = self.writer.assembly;
        let left: Vec<Range<u64>> = pending
            .blocks
            .iter()
            .flat_map(|run| runs(run.clone().filter(|&b| !assembly.is_present(b))))
            .collect();
        self.writer
            .reporter
            .blocks(left, BlockState::Unknown, BlockSource::Network);
        result
    }

    fn present(&self) -> u64 {
        self.writer.assembly.present_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{NullSink, Reporter};
    use crate::make::{MakeOptions, write_control_file};
    use crate::part::{Assembly, PartFile};

    const BLOCK: usize = 4096;

    /// Log-like text: compressible, so the reads decode Huffman codes, not stored bytes.
    fn text(len: usize) -> Vec<u8> {
        (0..)
            .flat_map(|line: u64| {
                format!("{line:06} seed scan block {} ok\n", line * 7919 % 1000).into_bytes()
            })
            .take(len)
            .collect()
    }

    /// 40 blocks of text, gzip-compressed with a map.
    struct Fixture {
        dir: tempfile::TempDir,
        target: Vec<u8>,
        gz: Vec<u8>,
        cf: ControlFile,
        map: ZMap,
        url: Url,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let target = text(40 * BLOCK);
        let input = dir.path().join("target");
        std::fs::write(&input, &target).unwrap();
        let options = MakeOptions {
            block_size: Some(BLOCK as u32),
            compress: true,
            ..MakeOptions::default()
        };
        let (_, cf) =
            write_control_file(&input, Some(&dir.path().join("t.zsync")), &options).unwrap();
        let gz = std::fs::read(dir.path().join("target.gz")).unwrap();
        let map = parse_map(&cf).unwrap();
        let url = Url::parse("http://example.invalid/target.gz").unwrap();
        Fixture {
            dir,
            target,
            gz,
            cf,
            map,
            url,
        }
    }

    impl Fixture {
        /// A `.part` where blocks 5-9, 15-19, ... are there already (their 32 KiB are
        /// the next read's window, with the read before): four missing runs, four
        /// reads, four ranges.
        fn assembly(&self) -> Assembly<'_> {
            let path = self.dir.path().join("out");
            let part = PartFile::open(&path, self.target.len() as u64).unwrap();
            let assembly = Assembly::new(&self.cf, Some(part));
            let sink = NullSink;
            let reporter = Reporter::new(&sink);
            let writer = BlockWriter::new(&assembly, &reporter);
            for block in (0..40).filter(|b| b / 5 % 2 == 1) {
                let bytes = &self.target[block * BLOCK..(block + 1) * BLOCK];
                assert!(writer.accept(&self.url, block as u64, bytes).unwrap());
            }
            assembly
        }

        /// Runs `test` on a gzip target over [`Fixture::assembly`] whose requests go as
        /// far as `reach`.
        fn with_target(&self, reach: Reach, test: impl FnOnce(&Assembly, &GzipTarget)) {
            let assembly = self.assembly();
            let sink = NullSink;
            let reporter = Reporter::new(&sink);
            let writer = BlockWriter::new(&assembly, &reporter);
            let mut gzip = GzipTarget::new(&writer, &self.map);
            gzip.reach = reach;
            test(&assembly, &gzip);
        }

        fn feed(&self, gzip: &GzipTarget, range: &Range<u64>) {
            let bytes = &self.gz[range.start as usize..range.end as usize];
            gzip.feed(&self.url, range.start, &mut &bytes[..])
                .ok()
                .unwrap();
        }
    }

    fn present(assembly: &Assembly, blocks: Range<u64>) -> bool {
        blocks.clone().all(|b| assembly.is_present(b))
    }

    /// Bytes past the end of the cursor's read wait; any request may be sent.
    const REPLY_AT_THE_CURSOR: Reach = Reach {
        reply: 0,
        request: u64::MAX,
    };

    /// How long a test lets a thread held back stay so.
    const HELD: std::time::Duration = std::time::Duration::from_millis(200);

    /// Runs `work` on a thread of `scope`; the receiver is told when it has returned.
    fn on_a_thread<'scope>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        work: impl FnOnce() + Send + 'scope,
    ) -> std::sync::mpsc::Receiver<()> {
        let (done, ended) = std::sync::mpsc::channel();
        scope.spawn(move || {
            work();
            // The test may have failed and stopped listening.
            let _ = done.send(());
        });
        ended
    }

    /// Whether the thread behind `ended` returns within 10 s. If it does not, every
    /// request and reply held back is let go, so that the thread ends and the test fails
    /// rather than hangs.
    fn came_in_time(gzip: &GzipTarget, ended: &std::sync::mpsc::Receiver<()>) -> bool {
        let came = ended
            .recv_timeout(std::time::Duration::from_secs(10))
            .is_ok();
        if !came {
            let pending = gzip.pending.read().unwrap();
            let pending = pending.as_ref().unwrap();
            pending.cursor_moved(pending.reads.len());
        }
        came
    }

    /// Which reads have bytes held.
    fn held(gzip: &GzipTarget) -> Vec<bool> {
        let pending = gzip.pending.read().unwrap();
        let bytes = &pending.as_ref().unwrap().bytes;
        bytes
            .iter()
            .map(|b| b.lock().unwrap().arrived.is_some())
            .collect()
    }

    #[test]
    fn reads_are_inflated_in_file_order_as_their_bytes_arrive_and_their_bytes_released() {
        let f = fixture();
        f.with_target(REACH, |assembly, gzip| {
            let round = gzip.next_round().unwrap().unwrap();
            assert_eq!(round.ranges.len(), 4);
            let halves = |range: &Range<u64>| {
                let middle = range.start + (range.end - range.start) / 2;
                (range.start..middle, middle..range.end)
            };

            // The second range whole and the first half of the first: the second read waits
            // for the first, so nothing is inflated yet, and both reads' bytes are held.
            let (first_half, second_half) = halves(&round.ranges[0]);
            f.feed(gzip, &round.ranges[1]);
            f.feed(gzip, &first_half);
            assert!(!present(assembly, 0..5) && !present(assembly, 10..15));
            assert_eq!(held(gzip), [true, true, false, false]);
            // The rest of the first range: both reads go, both reads' bytes are dropped.
            f.feed(gzip, &second_half);
            assert!(present(assembly, 0..5) && present(assembly, 10..15));
            assert_eq!(held(gzip), [false; 4]);
            // A piece arriving again for a read done with (a server that coalesces, a
            // retry) is not kept.
            f.feed(gzip, &round.ranges[0]);
            assert_eq!(held(gzip), [false; 4]);
            // The third range in two pieces: inflated as soon as the second comes.
            let (first_half, second_half) = halves(&round.ranges[2]);
            f.feed(gzip, &first_half);
            assert!(!present(assembly, 20..25));
            f.feed(gzip, &second_half);
            assert!(present(assembly, 20..25));
            assert_eq!(held(gzip), [false; 4]);
            // The fourth never comes: the end of the round leaves its blocks missing.
            gzip.end_round().unwrap();
            assert_eq!(assembly.missing(), vec![30..35]);

            // The next round asks for it alone and inflates it on arrival.
            let round = gzip.next_round().unwrap().unwrap();
            assert_eq!(round.ranges.len(), 1);
            f.feed(gzip, &round.ranges[0]);
            assert!(assembly.is_complete());
            gzip.end_round().unwrap();
            let written = std::fs::read(assembly.file().unwrap().path()).unwrap();
            assert!(written == f.target);
        });
    }

    #[test]
    fn a_reply_far_ahead_of_the_cursor_waits_while_another_request_goes() {
        let f = fixture();
        f.with_target(REPLY_AT_THE_CURSOR, |assembly, gzip| {
            let round = gzip.next_round().unwrap().unwrap();
            let (first, last) = (&round.ranges[0], &round.ranges[3]);
            gzip.requested(std::slice::from_ref(first));
            gzip.requested(std::slice::from_ref(last));
            std::thread::scope(|scope| {
                let ahead = on_a_thread(scope, || f.feed(gzip, last));
                assert!(ahead.recv_timeout(HELD).is_err(), "not held back");
                assert_eq!(held(gzip), [false; 4], "the reply ahead was not held back");
                // The cursor moves on to the second read: the last one is still too far.
                f.feed(gzip, first);
                assert!(present(assembly, 0..5));
                assert!(ahead.recv_timeout(HELD).is_err(), "not held back");
                assert_eq!(held(gzip), [false; 4]);
                // The request at the cursor ends: the one held back is the last going, and
                // goes.
                gzip.request_over(std::slice::from_ref(first));
                assert!(came_in_time(gzip, &ahead), "held back while the last going");
            });
            assert_eq!(held(gzip), [false, false, false, true]);
            gzip.request_over(std::slice::from_ref(last));
            // The second and third reads never came, and the fourth's window is the
            // third's output: all three wait for the next round.
            gzip.end_round().unwrap();
            assert_eq!(assembly.missing(), vec![10..15, 20..25, 30..35]);
        });
    }

    #[test]
    fn a_request_far_ahead_of_the_cursor_is_sent_once_the_one_before_ends() {
        let f = fixture();
        let reach = Reach {
            reply: 0,
            request: 0,
        };
        f.with_target(reach, |assembly, gzip| {
            let round = gzip.next_round().unwrap().unwrap();
            let (first, last) = (&round.ranges[..1], &round.ranges[3..]);
            gzip.requested(first);
            std::thread::scope(|scope| {
                let sent = on_a_thread(scope, || gzip.requested(last));
                assert!(sent.recv_timeout(HELD).is_err(), "sent far ahead");
                // The cursor moves on to the second read: the last is still far.
                f.feed(gzip, &first[0]);
                assert!(present(assembly, 0..5));
                assert!(sent.recv_timeout(HELD).is_err(), "sent far ahead");
                // The request before it ends: nothing else is going, so it is sent.
                gzip.request_over(first);
                assert!(
                    came_in_time(gzip, &sent),
                    "not sent once nothing else was going"
                );
            });
            f.feed(gzip, &last[0]);
            assert_eq!(held(gzip), [false, false, false, true]);
        });
    }

    #[test]
    fn a_request_put_back_unsent_holds_no_reply_back() {
        let f = fixture();
        f.with_target(REPLY_AT_THE_CURSOR, |_, gzip| {
            let round = gzip.next_round().unwrap().unwrap();
            let (first, last) = (&round.ranges[..2], &round.ranges[3]);
            gzip.requested(first);
            gzip.requested(std::slice::from_ref(last));
            // The server wanted fewer ranges: the first request is cut in two, unsent.
            gzip.requeued(first);
            // The reply for the last range is the only one going: it must not wait
            // (counted as still going, the first request would hold it back for ever).
            std::thread::scope(|scope| {
                let fed = on_a_thread(scope, || f.feed(gzip, last));
                assert!(
                    came_in_time(gzip, &fed),
                    "the reply was held back by a request not sent"
                );
            });
            assert_eq!(held(gzip), [false, false, false, true]);
        });
    }

    #[test]
    fn a_request_that_ends_without_its_bytes_lets_the_cursor_pass_its_read() {
        let f = fixture();
        f.with_target(REACH, |assembly, gzip| {
            let round = gzip.next_round().unwrap().unwrap();
            // The request for the first read ends without its bytes (a reply that broke off).
            gzip.requested(&round.ranges[..1]);
            gzip.request_over(&round.ranges[..1]);
            // The second read's bytes come: the cursor passes the first read, given up, and
            // the second, whose window is the first's output, without waiting for the end
            // of the round to drop its bytes.
            f.feed(gzip, &round.ranges[1]);
            assert_eq!(held(gzip), [false; 4]);
            assert!(!present(assembly, 0..5) && !present(assembly, 10..15));
            gzip.end_round().unwrap();
            assert_eq!(assembly.missing(), vec![0..5, 10..15, 20..25, 30..35]);
        });
    }
}
