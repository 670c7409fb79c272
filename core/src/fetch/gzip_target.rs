//! Fetching the missing blocks of a gzip target: the server holds `target.gz` (`Z-URL`),
//! the control file describes the uncompressed target and maps it to the compressed
//! stream (`Z-Map2`).
//!
//! [`GzipTarget`] is the [`Receiver`] for such a file; requests, batching, the ladder and
//! retries are the [`Transport`](crate::fetch::Transport)'s, exactly as for a plain
//! target. Each round:
//!
//! 1. takes the first missing blocks (at most [`ROUND_BYTES`] of them), maps them to
//!    compressed reads ([`ZMap::reads_for`]) and asks for the reads' byte ranges
//!    ([`fetch_ranges`]);
//! 2. collects the bytes as they arrive, from any number of requests and in any order,
//!    and inflates the reads in file order as they become whole: a cursor walks the
//!    reads and stops at the first whose bytes are not all in yet. A range's bytes are
//!    dropped as soon as the cursor has passed every read that uses them, so what a
//!    round holds in memory is what arrived ahead of the first incomplete read, not the
//!    whole round (requests run side by side through the file in step, so that is
//!    little);
//! 3. once the requests are over, inflates the reads from the cursor on whose bytes did
//!    come (after a read that never came whole, or all of them when the bytes arrived
//!    faster than they were inflated).
//!
//! A read restarts the decoder mid-stream, so it needs the 32 KiB of output before it as
//! its window; that is read back from the `.part`. Those bytes are always present by
//! then: every missing block before a read belongs to an earlier read (reads come in file
//! order and cover every missing block), which was inflated before it, or to an earlier
//! round. Only when an earlier read failed is the window incomplete; the read then waits
//! for the next round rather than decode from a wrong window.
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
use std::sync::{Mutex, MutexGuard, RwLock};

use url::Url;

use super::pieces::{Assembler, BlockWriter, Wanted, broken, for_each_chunk};
use super::transport::{Cuts, ReceiveError, Receiver, Round};
use crate::blocks::{Geometry, merge, runs};
use crate::control::ControlFile;
use crate::error::{Error, Result, shown_url};
use crate::event::{BlockSource, BlockState};
use crate::gzip::{Compressed, CompressedRead, Inflater, WINDOW_SIZE, ZMap, fetch_ranges};

/// Uncompressed bytes of missing blocks handled per round. A read whose bytes are slow
/// to come whole holds up the inflating of the reads after it, whose bytes are held
/// meanwhile (until the end of the round if it never comes): at most a round's. Smaller
/// rounds would cost requests, as each round's ranges go in requests of their own.
pub(crate) const ROUND_BYTES: u64 = 16 << 20;

/// The [`Receiver`] for a target fetched as a gzip-compressed copy.
pub(crate) struct GzipTarget<'w, 'a> {
    writer: &'w BlockWriter<'a>,
    map: &'w ZMap,
    /// Written between rounds, read by the request threads during one.
    pending: RwLock<Option<Pending>>,
}

/// A round's reads, the compressed bytes that came for them, and how far inflating them
/// has got.
struct Pending {
    reads: Vec<CompressedRead>,
    /// The byte ranges asked for, ascending and disjoint; `buffers[i]` is for `ranges[i]`.
    ranges: Vec<Range<u64>>,
    buffers: Vec<Mutex<Buffer>>,
    /// `(last read using it, range)` for every range, in the order of the last read:
    /// the order in which the cursor leaves the ranges behind.
    last_users: Vec<(usize, usize)>,
    /// The missing blocks the round is for.
    blocks: Vec<Range<u64>>,
    /// Held by the thread that inflates. Another one whose bytes arrive meanwhile waits
    /// for it, then finds the reads they completed done or does them itself.
    progress: Mutex<Progress>,
}

/// The cursor over a round's reads.
struct Progress {
    /// The reads before this one are done with for the round.
    next_read: usize,
    /// The entries of `Pending::last_users` whose ranges are released.
    released: usize,
    inflater: Inflater,
}

/// The bytes received for one asked-for range.
#[derive(Default)]
struct Buffer {
    /// The range's bytes; empty until the first of them arrive, and again once released.
    bytes: Vec<u8>,
    /// Parts of `bytes` received so far (offsets relative to the buffer's range), sorted
    /// and merged, so that one of them holds any whole part that came.
    got: Vec<Range<u64>>,
    /// Where the bytes came from, for error messages.
    url: Option<Url>,
    /// Every read that uses the range is done with: its bytes are dropped and what
    /// arrives for it later is not kept.
    released: bool,
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
    map.reads_for(&needed, None)
        .map_err(|e| Error::Invalid(format!("the control file's Z-Map2: {e}")))
}

impl<'w, 'a> GzipTarget<'w, 'a> {
    /// `map` must be [`parse_map`]'s.
    pub fn new(writer: &'w BlockWriter<'a>, map: &'w ZMap) -> Self {
        GzipTarget {
            writer,
            map,
            pending: RwLock::new(None),
        }
    }

    /// Moves the round's cursor on: inflates the reads from it in file order, while their
    /// bytes are all in, or every one left once `over` (the round's requests are over:
    /// what has not come will not).
    ///
    /// What comes out does not depend on when this runs, nor on which thread runs it:
    /// the reads are inflated one at a time, always in file order, each exactly once,
    /// and a read is only taken before the end of the round once all its bytes are in.
    /// Its inputs are then what they would be at the end of the round: its bytes (a
    /// range sent twice, by a retry or by a server that coalesces, is the same bytes of
    /// the same file), and its window, which is output of the reads before it, all done
    /// with, or of earlier rounds. Only the memory held and the time blocks are written
    /// differ.
    fn advance(&self, pending: &Pending, over: bool) -> Result<()> {
        let mut progress = pending.progress.lock().unwrap();
        let progress = &mut *progress;
        while let Some(read) = pending.reads.get(progress.next_read) {
            if !over && !pending.arrived(read) {
                break;
            }
            let inflated = self.inflate_read(&mut progress.inflater, pending, read);
            // A failure fails the job: nothing more of the round is inflated.
            progress.next_read = match inflated {
                Ok(()) => progress.next_read + 1,
                Err(_) => pending.reads.len(),
            };
            pending.release_passed(progress);
            inflated?;
        }
        Ok(())
    }

    /// Inflates one read whose bytes are in, or skips it if they never all came; blocks
    /// it cannot produce stay missing for the next round.
    fn inflate_read(
        &self,
        inflater: &mut Inflater,
        pending: &Pending,
        read: &CompressedRead,
    ) -> Result<()> {
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
        // The header is a few hundred bytes at most: copied, so that only one buffer is
        // locked at a time.
        let header = match &read.header {
            Some(range) => match pending.copy_of(range) {
                Some(bytes) => bytes,
                None => return Ok(()),
            },
            None => Vec::new(),
        };
        let header = Compressed::new(&header, read.header.as_ref().map_or(0, |r| r.start));
        let Some((buffer, local)) = pending.holding(&read.data) else {
            return Ok(());
        };
        let data = Compressed::new(&buffer.bytes[local], read.data.start);
        let url = buffer.url.as_ref().expect("bytes arrived from somewhere");
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
    fn new(reads: Vec<CompressedRead>, blocks: Vec<Range<u64>>) -> Pending {
        let ranges = fetch_ranges(&reads);
        let mut last_user = vec![0; ranges.len()];
        for (index, read) in reads.iter().enumerate() {
            for part in parts(read) {
                if let Some((range, _)) = locate(&ranges, part) {
                    last_user[range] = index;
                }
            }
        }
        let mut last_users: Vec<(usize, usize)> = last_user
            .into_iter()
            .enumerate()
            .map(|(range, read)| (read, range))
            .collect();
        last_users.sort_unstable();
        Pending {
            buffers: ranges.iter().map(|_| Mutex::default()).collect(),
            ranges,
            reads,
            last_users,
            blocks,
            progress: Mutex::new(Progress {
                next_read: 0,
                released: 0,
                inflater: Inflater::new(&[]),
            }),
        }
    }

    /// Keeps `chunk`, the remote file's bytes from `at` on, in every asked-for range it
    /// overlaps (a server may coalesce ranges).
    fn store(&self, url: &Url, at: u64, chunk: &[u8]) {
        let piece = at..at + chunk.len() as u64;
        let first = self.ranges.partition_point(|r| r.end <= piece.start);
        for (range, buffer) in self.ranges[first..]
            .iter()
            .zip(&self.buffers[first..])
            .take_while(|(r, _)| r.start < piece.end)
        {
            let from = piece.start.max(range.start);
            let to = piece.end.min(range.end);
            buffer.lock().unwrap().store(
                range.end - range.start,
                from - range.start..to - range.start,
                &chunk[(from - at) as usize..(to - at) as usize],
                url,
            );
        }
    }

    /// Whether every byte `read` needs is in, or will never be: a part that lies in no
    /// asked-for range (only a corrupt map makes one) is not waited for.
    fn arrived(&self, read: &CompressedRead) -> bool {
        parts(read).all(|part| {
            locate(&self.ranges, part)
                .is_none_or(|(range, local)| self.buffers[range].lock().unwrap().holds(&local))
        })
    }

    /// The buffer holding all the bytes of `part`, locked, and where they are in it.
    fn holding(&self, part: &Range<u64>) -> Option<(MutexGuard<'_, Buffer>, Range<usize>)> {
        let (range, local) = locate(&self.ranges, part)?;
        let buffer = self.buffers[range].lock().unwrap();
        buffer.holds(&local).then_some((buffer, local))
    }

    /// A copy of the bytes of `part`, if all of them arrived.
    fn copy_of(&self, part: &Range<u64>) -> Option<Vec<u8>> {
        let (buffer, local) = self.holding(part)?;
        Some(buffer.bytes[local].to_vec())
    }

    /// Drops the bytes of every range that no read from the cursor on uses.
    fn release_passed(&self, progress: &mut Progress) {
        while let Some(&(last_user, range)) = self.last_users.get(progress.released)
            && last_user < progress.next_read
        {
            self.buffers[range].lock().unwrap().release();
            progress.released += 1;
        }
    }
}

/// The compressed byte ranges a read needs: its data and, for a start inside a deflate
/// block, that block's header.
fn parts(read: &CompressedRead) -> impl Iterator<Item = &Range<u64>> {
    std::iter::once(&read.data).chain(&read.header)
}

/// Which of the asked-for `ranges` (ascending, disjoint) holds all of `part`, and where
/// `part` lies in it.
fn locate(ranges: &[Range<u64>], part: &Range<u64>) -> Option<(usize, Range<usize>)> {
    let index = ranges.partition_point(|r| r.end <= part.start);
    let outer = ranges.get(index)?;
    (outer.start <= part.start && part.end <= outer.end).then(|| {
        (
            index,
            (part.start - outer.start) as usize..(part.end - outer.start) as usize,
        )
    })
}

impl Buffer {
    /// Keeps `data`, the bytes at `local` of a range `len` bytes long, sent by `url`.
    fn store(&mut self, len: u64, local: Range<u64>, data: &[u8], url: &Url) {
        if self.released {
            return;
        }
        if self.bytes.is_empty() {
            self.bytes = vec![0; len as usize];
        }
        self.bytes[local.start as usize..local.end as usize].copy_from_slice(data);
        match self.got.last_mut() {
            // The usual case: a reply goes on where it left off.
            Some(last) if last.end == local.start => last.end = local.end,
            _ => {
                self.got.push(local);
                self.got = merge(std::mem::take(&mut self.got));
            }
        }
        self.url = Some(url.clone());
    }

    /// Whether all the bytes at `local` arrived.
    fn holds(&self, local: &Range<usize>) -> bool {
        let (start, end) = (local.start as u64, local.end as u64);
        self.got.iter().any(|g| g.start <= start && end <= g.end)
    }

    /// Drops the bytes, for good.
    fn release(&mut self) {
        *self = Buffer {
            released: true,
            ..Buffer::default()
        };
    }
}

impl Receiver for GzipTarget<'_, '_> {
    fn next_round(&self) -> Result<Option<Round>> {
        let mut budget = ROUND_BYTES.div_ceil(u64::from(self.writer.geometry().block_size));
        let mut blocks = Vec::new();
        for run in self.writer.assembly.missing() {
            let take = (run.end - run.start).min(budget);
            blocks.push(run.start..run.start + take);
            budget -= take;
            if budget == 0 {
                break;
            }
        }
        if blocks.is_empty() {
            return Ok(None);
        }
        let reads = reads_for(self.map, self.writer.geometry(), &blocks)?;
        self.writer
            .reporter
            .blocks(blocks.clone(), BlockState::InFlight, BlockSource::Network);
        let pending = Pending::new(reads, blocks);
        let ranges = pending.ranges.clone();
        *self.pending.write().unwrap() = Some(pending);
        Ok(Some(Round {
            ranges,
            cuts: Cuts::Every(1),
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

    #[test]
    fn reads_are_inflated_in_file_order_as_their_bytes_arrive_and_their_ranges_released() {
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
        let part = PartFile::open(&dir.path().join("out"), target.len() as u64).unwrap();
        let assembly = Assembly::new(&cf, Some(part));
        let sink = NullSink;
        let reporter = Reporter::new(&sink);
        let writer = BlockWriter::new(&assembly, &reporter);
        let url = Url::parse("http://example.invalid/target.gz").unwrap();
        // Blocks 5-9, 15-19, ... are there already (their 32 KiB are the next read's
        // window, with the read before): four missing runs, four reads, four ranges.
        for block in (0..40).filter(|b| b / 5 % 2 == 1) {
            let bytes = &target[block * BLOCK..(block + 1) * BLOCK];
            assert!(writer.accept(&url, block as u64, bytes).unwrap());
        }
        let gzip = GzipTarget::new(&writer, &map);
        let round = gzip.next_round().unwrap().unwrap();
        assert_eq!(round.ranges.len(), 4);
        let feed = |range: Range<u64>| {
            let bytes = &gz[range.start as usize..range.end as usize];
            gzip.feed(&url, range.start, &mut &bytes[..]).ok().unwrap();
        };
        let present = |blocks: Range<u64>| blocks.clone().all(|b| assembly.is_present(b));
        let held = || -> Vec<bool> {
            let pending = gzip.pending.read().unwrap();
            let buffers = &pending.as_ref().unwrap().buffers;
            buffers
                .iter()
                .map(|b| !b.lock().unwrap().bytes.is_empty())
                .collect()
        };
        let halves = |range: &Range<u64>| {
            let middle = range.start + (range.end - range.start) / 2;
            (range.start..middle, middle..range.end)
        };

        // The second range whole and the first half of the first: the second read waits
        // for the first, so nothing is inflated yet, and both buffers are held.
        let (first_half, second_half) = halves(&round.ranges[0]);
        feed(round.ranges[1].clone());
        feed(first_half);
        assert!(!present(0..5) && !present(10..15));
        assert_eq!(held(), [true, true, false, false]);
        // The rest of the first range: both reads go, both buffers are dropped.
        feed(second_half);
        assert!(present(0..5) && present(10..15));
        assert_eq!(held(), [false; 4]);
        // A piece arriving again for a released range (a server that coalesces, a
        // retry) is not kept.
        feed(round.ranges[0].clone());
        assert_eq!(held(), [false; 4]);
        // The third range in two pieces: inflated as soon as the second comes.
        let (first_half, second_half) = halves(&round.ranges[2]);
        feed(first_half);
        assert!(!present(20..25));
        feed(second_half);
        assert!(present(20..25));
        assert_eq!(held(), [false; 4]);
        // The fourth never comes: the end of the round leaves its blocks missing.
        gzip.end_round().unwrap();
        assert_eq!(assembly.missing(), vec![30..35]);

        // The next round asks for it alone and inflates it on arrival.
        let round = gzip.next_round().unwrap().unwrap();
        assert_eq!(round.ranges.len(), 1);
        feed(round.ranges[0].clone());
        assert!(assembly.is_complete());
        gzip.end_round().unwrap();
        let written = std::fs::read(assembly.file().unwrap().path()).unwrap();
        assert!(written == target);
    }
}
