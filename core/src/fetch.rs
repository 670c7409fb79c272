//! Fetching the missing blocks: batching ranges into requests, running several requests
//! at once, checking every received block, and adapting to what the server can do.
//!
//! The ladder: a batch starts with up to `max_ranges_per_request` ranges. A server that
//! answers a multi-range request with one part, or rejects the request's size, or mangles
//! the multipart framing, gets fewer ranges per request from then on, down to one. A `200`
//! means no ranges at all: the whole file is streamed once and the missing blocks are
//! taken from it (still verified). Blocks whose data does not verify are asked for again,
//! a bounded number of times; then the job fails naming the URL.

use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use url::Url;

use crate::control::ControlFile;
use crate::error::{Error, Result};
use crate::event::{BlockSource, BlockState, Event};
use crate::http::{Http, RangeReply, RequestError, Retry};
use crate::index::AtomicBitmap;
use crate::job::Control;
use crate::multipart::{PartError, for_each_part};
use crate::output::PartFile;
use crate::ranges::{Geometry, runs};
use crate::report::Reporter;

/// Attempts per batch for passing network problems.
const MAX_ATTEMPTS: u32 = 5;
/// A block whose data fails its checksum this often fails the job.
const MAX_BAD_BLOCK: u32 = 3;
/// Rounds in a row that fetch nothing new before giving up.
const MAX_STALLED_ROUNDS: u32 = 3;
/// Longest `Range` header value we send (servers limit header lines to 4-8 KiB).
const MAX_RANGE_HEADER: usize = 4000;
/// Large runs are cut so that parallel requests share the work.
const MIN_PIECE: u64 = 1 << 20;
/// Below this many bytes per request, one more parallel request costs more than it saves.
const PARALLEL_WORTHWHILE: u64 = 4 << 20;

pub(crate) struct Fetcher<'a> {
    pub http: &'a Http,
    pub urls: Vec<Url>,
    pub control_file: &'a ControlFile,
    pub geometry: Geometry,
    pub part: &'a PartFile,
    pub found: &'a AtomicBitmap,
    pub reporter: &'a Reporter<'a>,
    pub control: &'a Control,
    pub parallel: usize,
    pub ranges_per_request: AtomicUsize,
    pub url_index: AtomicUsize,
    pub bad_blocks: Mutex<HashMap<u64, u32>>,
    /// Set once a `200` reply has been streamed whole.
    pub whole_file_done: Mutex<bool>,
}

/// Why reading a reply stopped early.
enum ReceiveError {
    /// The framing was bad: ask for fewer ranges.
    Framing(Error),
    /// The connection broke: retry.
    Network(Error),
    /// Give up the job.
    Fatal(Error),
}

type Queue = Mutex<VecDeque<Vec<Range<u64>>>>;

impl Fetcher<'_> {
    /// Fetches until every block is present.
    pub fn run(&self) -> Result<()> {
        let mut stalled = 0;
        let last_problem: Mutex<Option<Error>> = Mutex::new(None);
        loop {
            self.control.checkpoint()?;
            let missing =
                runs((0..self.geometry.block_count()).filter(|&b| !self.found.contains(b)));
            if missing.is_empty() {
                return Ok(());
            }
            let before = self.found.count();
            let queue: Queue = Mutex::new(self.batches(&missing));
            let fatal: Mutex<Option<Error>> = Mutex::new(None);
            let workers = self.parallel.clamp(1, queue.lock().unwrap().len().max(1));
            std::thread::scope(|scope| {
                for _ in 0..workers {
                    scope.spawn(|| self.work(&queue, &fatal, &last_problem));
                }
            });
            if let Some(error) = fatal.into_inner().unwrap() {
                return Err(error);
            }
            if self.found.count() == before {
                stalled += 1;
                if stalled >= MAX_STALLED_ROUNDS {
                    let url = self
                        .urls
                        .get(self.url_index.load(Ordering::Relaxed))
                        .map(Url::to_string)
                        .unwrap_or_default();
                    return Err(last_problem
                        .into_inner()
                        .unwrap()
                        .unwrap_or(Error::BadData {
                            url,
                            problem: "the server keeps answering without the missing blocks".into(),
                        }));
                }
            } else {
                stalled = 0;
            }
        }
    }

    fn work(
        &self,
        queue: &Queue,
        fatal: &Mutex<Option<Error>>,
        last_problem: &Mutex<Option<Error>>,
    ) {
        loop {
            let Some(batch) = queue.lock().unwrap().pop_front() else {
                return;
            };
            if let Err(error) = self.fetch_batch(batch, queue, last_problem) {
                fatal.lock().unwrap().get_or_insert(error);
                queue.lock().unwrap().clear();
                return;
            }
        }
    }

    /// Cuts the missing blocks into byte ranges and the ranges into requests.
    fn batches(&self, missing: &[Range<u64>]) -> VecDeque<Vec<Range<u64>>> {
        let bs = u64::from(self.geometry.block_size);
        let total: u64 = missing.iter().map(|r| (r.end - r.start) * bs).sum();
        let piece_blocks = (total / (self.parallel as u64 * 4))
            .max(MIN_PIECE)
            .div_ceil(bs);
        let mut ranges = Vec::new();
        for run in missing {
            let mut start = run.start;
            while start < run.end {
                let end = (start + piece_blocks).min(run.end);
                ranges.push(self.geometry.byte_range(start..end));
                start = end;
            }
        }
        // As few requests as the server allows, but enough to keep `parallel` connections
        // busy when there is a lot to fetch.
        let wanted_requests =
            (total / PARALLEL_WORTHWHILE).clamp(1, self.parallel.max(1) as u64) as usize;
        let per_request = self
            .ranges_per_request
            .load(Ordering::Relaxed)
            .min(ranges.len().div_ceil(wanted_requests))
            .max(1);
        let mut batches = VecDeque::new();
        let mut batch: Vec<Range<u64>> = Vec::new();
        let mut header_len = 0;
        for range in ranges {
            let len = format!("{}-{},", range.start, range.end - 1).len();
            if !batch.is_empty()
                && (batch.len() >= per_request || header_len + len > MAX_RANGE_HEADER)
            {
                batches.push_back(std::mem::take(&mut batch));
                header_len = 0;
            }
            header_len += len;
            batch.push(range);
        }
        if !batch.is_empty() {
            batches.push_back(batch);
        }
        batches
    }

    fn block_runs(&self, ranges: &[Range<u64>]) -> Vec<Range<u64>> {
        ranges
            .iter()
            .map(|r| self.geometry.whole_blocks_in(r.clone()))
            .collect()
    }

    fn fetch_batch(
        &self,
        ranges: Vec<Range<u64>>,
        queue: &Queue,
        last_problem: &Mutex<Option<Error>>,
    ) -> Result<()> {
        self.reporter.blocks(
            self.block_runs(&ranges),
            BlockState::InFlight,
            BlockSource::Network,
        );
        let mut attempt = 0;
        let result = loop {
            self.control.checkpoint()?;
            let (url_index, url) = self.current_url()?;
            self.reporter.add_request();
            let problem = match self.http.get_ranges(&url, &ranges) {
                Ok(reply) => match self.receive(reply, &url, &ranges) {
                    Ok(()) => break Ok(()),
                    Err(ReceiveError::Fatal(e)) => break Err(e),
                    Err(ReceiveError::Framing(e)) => {
                        self.fewer_ranges(ranges.len() / 2, &e);
                        *last_problem.lock().unwrap() = Some(e);
                        break Ok(());
                    }
                    Err(ReceiveError::Network(e)) => e,
                },
                Err(RequestError {
                    retry: Retry::Later,
                    error,
                }) => error,
                Err(RequestError {
                    retry: Retry::FewerRanges,
                    error,
                }) if ranges.len() > 1 => {
                    self.fewer_ranges(ranges.len() / 2, &error);
                    let (first, second) = ranges.split_at(ranges.len() / 2);
                    queue
                        .lock()
                        .unwrap()
                        .extend([first.to_vec(), second.to_vec()]);
                    return Ok(());
                }
                Err(RequestError { retry: _, error }) => {
                    if !self.give_up_url(url_index, &error) {
                        break Err(error);
                    }
                    continue;
                }
            };
            attempt += 1;
            if attempt >= MAX_ATTEMPTS {
                break Err(problem);
            }
            *last_problem.lock().unwrap() = Some(problem);
            std::thread::sleep(Duration::from_millis(250 << attempt));
        };
        // Whatever did not arrive goes back to unknown, to be asked for again.
        let unfetched = self
            .block_runs(&ranges)
            .into_iter()
            .flat_map(|run| runs(run.filter(|&b| !self.found.contains(b))))
            .collect::<Vec<_>>();
        self.reporter
            .blocks(unfetched, BlockState::Unknown, BlockSource::Network);
        result
    }

    fn current_url(&self) -> Result<(usize, Url)> {
        let i = self.url_index.load(Ordering::Relaxed);
        self.urls
            .get(i)
            .map(|u| (i, u.clone()))
            .ok_or_else(|| Error::Invalid("no usable URL is left".into()))
    }

    /// Moves on from a URL that will not work; false when none is left.
    fn give_up_url(&self, index: usize, error: &Error) -> bool {
        if self
            .url_index
            .compare_exchange(index, index + 1, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
            && index + 1 < self.urls.len()
        {
            self.reporter.emit(Event::Notice(format!(
                "{error}; trying {}",
                self.urls[index + 1]
            )));
        }
        self.url_index.load(Ordering::Relaxed) < self.urls.len()
    }

    fn fewer_ranges(&self, at_most: usize, why: &Error) {
        let at_most = at_most.max(1);
        let before = self
            .ranges_per_request
            .fetch_min(at_most, Ordering::Relaxed);
        if before > at_most {
            self.reporter.emit(Event::Notice(format!(
                "asking for at most {at_most} ranges per request from now on ({why})"
            )));
        }
    }

    fn receive(
        &self,
        reply: RangeReply,
        url: &Url,
        asked: &[Range<u64>],
    ) -> std::result::Result<(), ReceiveError> {
        let mut assembler = Assembler::new(self, url);
        match reply {
            RangeReply::Multipart { boundary, body } => {
                let mut reader = std::io::BufReader::with_capacity(
                    1 << 16,
                    Counted {
                        inner: body,
                        reporter: self.reporter,
                    },
                );
                let mut parts = 0;
                let result = for_each_part(&mut reader, &boundary, |range, total, body| {
                    parts += 1;
                    self.check_range(url, &range, total)?;
                    assembler.feed(range.start, body)
                });
                assembler.flush();
                result.map_err(|e| match e {
                    ReceiveError::Framing(inner) | ReceiveError::Network(inner) if parts == 0 => {
                        ReceiveError::Framing(inner)
                    }
                    other => other,
                })?;
                if parts < asked.len() {
                    self.fewer_ranges(
                        parts,
                        &Error::http(url, format!("sent {parts} of {} ranges", asked.len())),
                    );
                }
                Ok(())
            }
            RangeReply::Single { range, total, body } => {
                self.check_range(url, &range, total)?;
                let covers_all = asked
                    .iter()
                    .all(|r| range.start <= r.start && r.end <= range.end);
                let result = assembler.feed(
                    range.start,
                    &mut Counted {
                        inner: body,
                        reporter: self.reporter,
                    },
                );
                assembler.flush();
                if !covers_all {
                    self.fewer_ranges(
                        1,
                        &Error::http(url, "answered a multi-range request with one range"),
                    );
                }
                result
            }
            RangeReply::Whole { length, body } => {
                if let Some(length) = length
                    && length != self.geometry.length
                {
                    return Err(ReceiveError::Fatal(self.wrong_length(url, length)));
                }
                let mut done = self.whole_file_done.lock().unwrap();
                if *done {
                    return Ok(());
                }
                self.reporter.emit(Event::Notice(format!(
                    "{url} does not support range requests: downloading the whole file (every block is still checked)"
                )));
                let result = assembler.feed(
                    0,
                    &mut Counted {
                        inner: body,
                        reporter: self.reporter,
                    },
                );
                assembler.flush();
                *done = result.is_ok();
                result
            }
        }
    }

    fn check_range(
        &self,
        url: &Url,
        range: &Range<u64>,
        total: Option<u64>,
    ) -> std::result::Result<(), ReceiveError> {
        match total {
            Some(total) if total != self.geometry.length => {
                Err(ReceiveError::Fatal(self.wrong_length(url, total)))
            }
            _ if range.end > self.geometry.length => Err(ReceiveError::Fatal(Error::BadData {
                url: url.to_string(),
                problem: format!(
                    "it sent bytes {}-{}, past the end of the {}-byte file",
                    range.start,
                    range.end - 1,
                    self.geometry.length
                ),
            })),
            _ => Ok(()),
        }
    }

    fn wrong_length(&self, url: &Url, length: u64) -> Error {
        Error::BadData {
            url: url.to_string(),
            problem: format!(
                "its file is {length} bytes but the control file describes {} bytes: the .zsync is out of date or for another file",
                self.geometry.length
            ),
        }
    }
}

impl From<PartError> for ReceiveError {
    fn from(e: PartError) -> Self {
        match e {
            PartError::Malformed(m) => ReceiveError::Framing(Error::http("the server", m)),
            PartError::Io(m) => ReceiveError::Network(Error::http(
                "the server",
                format!("the reply broke off: {m}"),
            )),
        }
    }
}

/// Counts body bytes as they come off the wire.
struct Counted<'r, R> {
    inner: R,
    reporter: &'r Reporter<'r>,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.reporter.add_wire(n as u64);
        Ok(n)
    }
}

/// Cuts a stream of bytes at known offsets into blocks, checks each, writes the good ones.
struct Assembler<'f, 'a> {
    fetcher: &'f Fetcher<'a>,
    url: &'f Url,
    block: Vec<u8>,
    fetched: Vec<u64>,
}

impl<'f, 'a> Assembler<'f, 'a> {
    fn new(fetcher: &'f Fetcher<'a>, url: &'f Url) -> Self {
        Assembler {
            fetcher,
            url,
            block: vec![0; fetcher.geometry.block_size as usize],
            fetched: Vec::new(),
        }
    }

    /// Takes the bytes of `body`, which start at target offset `start`.
    fn feed(&mut self, start: u64, body: &mut dyn Read) -> std::result::Result<(), ReceiveError> {
        let geometry = self.fetcher.geometry;
        let bs = u64::from(geometry.block_size);
        // Data starting inside a block cannot complete that block: skip to the next one.
        let skip = (bs - start % bs) % bs;
        let skipped = std::io::copy(&mut body.take(skip), &mut std::io::sink()).map_err(broken)?;
        if skipped < skip {
            return Ok(());
        }
        let mut block = geometry.block_of(start + skip);
        while block < geometry.block_count() {
            let len = geometry.block_len(block);
            let got = read_full(body, &mut self.block[..len]).map_err(broken)?;
            if got < len {
                return Ok(());
            }
            self.accept(block, len).map_err(ReceiveError::Fatal)?;
            block += 1;
        }
        Ok(())
    }

    fn accept(&mut self, block: u64, len: usize) -> Result<()> {
        let f = self.fetcher;
        if f.found.contains(block) {
            return Ok(());
        }
        self.block[len..].fill(0);
        if !f.control_file.block_matches(block, &self.block) {
            f.reporter
                .blocks([block..block + 1], BlockState::Failed, BlockSource::Network);
            let mut bad = f.bad_blocks.lock().unwrap();
            let count = bad.entry(block).or_default();
            *count += 1;
            if *count >= MAX_BAD_BLOCK {
                let bytes = f.geometry.byte_range(block..block + 1);
                return Err(Error::BadData {
                    url: self.url.to_string(),
                    problem: format!(
                        "block {block} (bytes {}-{}) failed its checksum {MAX_BAD_BLOCK} times",
                        bytes.start,
                        bytes.end - 1
                    ),
                });
            }
            return Ok(());
        }
        f.part
            .write_at(f.geometry.block_start(block), &self.block[..len])?;
        if f.found.insert(block) {
            f.reporter.add_fetched(len as u64);
            self.fetched.push(block);
            if self.fetched.len() >= 64 {
                self.flush();
            }
        }
        Ok(())
    }

    fn flush(&mut self) {
        let fetched = std::mem::take(&mut self.fetched);
        self.fetcher
            .reporter
            .blocks(runs(fetched), BlockState::Fetched, BlockSource::Network);
    }
}

fn broken(e: std::io::Error) -> ReceiveError {
    ReceiveError::Network(Error::http(
        "the server",
        format!("the reply broke off: {e}"),
    ))
}

fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}
