//! Fetching the missing blocks of a gzip target: the server holds `target.gz` (`Z-URL`),
//! the control file describes the uncompressed target and maps it to the compressed
//! stream (`Z-Map2`).
//!
//! [`GzipTarget`] is the [`Receiver`] for such a file; requests, batching, the ladder and
//! retries are the [`Transport`](crate::fetch::Transport)'s, exactly as for a plain
//! target. Each round:
//!
//! 1. takes the first missing blocks (at most [`ROUND_BYTES`] of them, so the compressed
//!    bytes held in memory stay bounded), maps them to compressed reads
//!    ([`ZMap::reads_for`]) and asks for the reads' byte ranges ([`fetch_ranges`]);
//! 2. collects the bytes as they arrive, from any number of requests and in any order;
//! 3. once the requests are over, inflates the reads in file order. A read restarts the
//!    decoder mid-stream, so it needs the 32 KiB of output before it as its window; that
//!    is read back from the `.part`. Those bytes are always present by then: every
//!    missing block before a read belongs to an earlier read (reads come in file order
//!    and cover every missing block), which was just inflated, or to an earlier round.
//!    Only when an earlier read failed is the window incomplete; the read then waits for
//!    the next round rather than decode from a wrong window.
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
use std::sync::{Mutex, RwLock};

use url::Url;

use super::pieces::{Assembler, BlockWriter, Wanted, broken, for_each_chunk};
use super::transport::{Cuts, ReceiveError, Receiver, Round};
use crate::blocks::{Geometry, merge, runs};
use crate::control::ControlFile;
use crate::error::{Error, Result, shown_url};
use crate::event::{BlockSource, BlockState};
use crate::gzip::{Compressed, CompressedRead, Inflater, WINDOW_SIZE, ZMap, fetch_ranges};

/// Uncompressed bytes of missing blocks handled per round. The compressed bytes of a
/// round are held in memory until it is inflated; for incompressible data they are about
/// as many.
pub(crate) const ROUND_BYTES: u64 = 16 << 20;

/// The [`Receiver`] for a target fetched as a gzip-compressed copy.
pub(crate) struct GzipTarget<'w, 'a> {
    writer: &'w BlockWriter<'a>,
    map: &'w ZMap,
    /// Written between rounds, read by the request threads during one.
    pending: RwLock<Option<Pending>>,
}

/// A round's reads and the compressed bytes that came for them.
struct Pending {
    reads: Vec<CompressedRead>,
    /// The byte ranges asked for, ascending and disjoint; `buffers[i]` is for `ranges[i]`.
    ranges: Vec<Range<u64>>,
    buffers: Vec<Mutex<Buffer>>,
    /// The missing blocks the round is for.
    blocks: Vec<Range<u64>>,
}

#[derive(Default)]
struct Buffer {
    bytes: Vec<u8>,
    /// Parts of `bytes` received so far (offsets relative to the buffer's range).
    got: Vec<Range<u64>>,
    /// Where the bytes came from, for error messages.
    url: Option<Url>,
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

    /// Inflates one read of a round whose requests are over; blocks it cannot produce
    /// stay missing for the next round.
    fn inflate_read(
        &self,
        inflater: &mut Inflater,
        pending: &Pending,
        buffers: &[Buffer],
        read: &CompressedRead,
    ) -> Result<()> {
        let w = self.writer;
        let geometry = w.geometry();
        let produces = geometry.whole_blocks_in(read.out.clone());
        if produces.clone().all(|b| w.assembly.is_present(b)) {
            return Ok(());
        }
        let Some((data, url)) = pending.received(buffers, &read.data) else {
            return Ok(());
        };
        let header = match &read.header {
            Some(range) => match pending.received(buffers, range) {
                Some((header, _)) => header,
                None => return Ok(()),
            },
            None => Compressed::new(&[], 0),
        };
        let window = read.out.start.saturating_sub(WINDOW_SIZE as u64)..read.out.start;
        if !window.is_empty()
            && !(geometry.block_of(window.start)..=geometry.block_of(window.end - 1))
                .all(|b| w.assembly.is_present(b))
        {
            return Ok(());
        }
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
    /// The bytes of `range` and where they came from, if all of them arrived.
    fn received<'b>(
        &self,
        buffers: &'b [Buffer],
        range: &Range<u64>,
    ) -> Option<(Compressed<'b>, &'b Url)> {
        let i = self.ranges.partition_point(|r| r.end <= range.start);
        let outer = self.ranges.get(i)?;
        let buffer = &buffers[i];
        let local = range.start - outer.start..range.end - outer.start;
        // `got` is merged and sorted once the round's requests are over.
        buffer
            .got
            .iter()
            .any(|g| g.start <= local.start && local.end <= g.end)
            .then(|| {
                (
                    Compressed::new(
                        &buffer.bytes[local.start as usize..local.end as usize],
                        range.start,
                    ),
                    buffer.url.as_ref().expect("bytes arrived from somewhere"),
                )
            })
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
        let ranges = fetch_ranges(&reads);
        let buffers = ranges
            .iter()
            .map(|r| {
                Mutex::new(Buffer {
                    bytes: vec![0; (r.end - r.start) as usize],
                    ..Buffer::default()
                })
            })
            .collect();
        self.writer
            .reporter
            .blocks(blocks.clone(), BlockState::InFlight, BlockSource::Network);
        *self.pending.write().unwrap() = Some(Pending {
            reads,
            ranges: ranges.clone(),
            buffers,
            blocks,
        });
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
            let piece = at..at + chunk.len() as u64;
            // Copy into every asked-for range the piece overlaps (a server may coalesce).
            let first = pending.ranges.partition_point(|r| r.end <= piece.start);
            for (range, buffer) in pending.ranges[first..]
                .iter()
                .zip(&pending.buffers[first..])
                .take_while(|(r, _)| r.start < piece.end)
            {
                let from = piece.start.max(range.start);
                let to = piece.end.min(range.end);
                let mut buffer = buffer.lock().unwrap();
                buffer.bytes[(from - range.start) as usize..(to - range.start) as usize]
                    .copy_from_slice(&chunk[(from - at) as usize..(to - at) as usize]);
                let got = from - range.start..to - range.start;
                match buffer.got.last_mut() {
                    Some(last) if last.end == got.start => last.end = got.end,
                    _ => buffer.got.push(got),
                }
                buffer.url = Some(url.clone());
            }
            at = piece.end;
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
        let buffers: Vec<Buffer> = pending
            .buffers
            .iter()
            .map(|b| {
                let mut buffer = std::mem::take(&mut *b.lock().unwrap());
                buffer.got = merge(std::mem::take(&mut buffer.got));
                buffer
            })
            .collect();
        let mut inflater = Inflater::new(&[]);
        let result = pending
            .reads
            .iter()
            .try_for_each(|read| self.inflate_read(&mut inflater, &pending, &buffers, read));
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
