//! Fetching the missing blocks: batching byte ranges into requests, running several
//! requests at once, checking every received block, and adapting to what the server can
//! do.
//!
//! The work is split in two. [`Transport`] knows requests: it cuts the byte ranges a
//! round wants into batches, runs them on parallel connections, follows the ladder below,
//! retries and moves on to other URLs. A [`Receiver`] knows what the bytes are: which
//! ranges of the remote file to ask for, and what to do with them. [`PlainTarget`] takes
//! them as the target itself; `zfetch::GzipTarget` collects ranges of a gzip-compressed
//! copy and inflates them. Both end in [`BlockWriter`], the one place where a block is
//! checked against the control file before it is written.
//!
//! The ladder: a batch starts with up to `max_ranges_per_request` ranges. A server that
//! answers a multi-range request with one part, or rejects the request's size, or mangles
//! the multipart framing, gets fewer ranges per request from then on, down to one. A `200`
//! to a request for several ranges is how object stores and CDNs (S3, MinIO, GitHub
//! release assets) say "one range per request": its body is dropped unread and the round
//! is planned again with single ranges, several in flight. Only a `200` to a single range
//! means no ranges at all: the whole file is streamed once and the missing blocks are
//! taken from it (still verified). Blocks whose data does not verify are asked for again,
//! a bounded number of times; then the job fails naming the URL.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use url::Url;

use super::http::{Http, RangeReply, RequestError, Retry};
use super::multipart::{PartError, for_each_part};
use crate::blocks::{Geometry, merge, range_header, runs};
use crate::control::ControlFile;
use crate::error::{Error, Result, shown_url};
use crate::event::Reporter;
use crate::event::{BlockSource, BlockState, Event};
use crate::job::{Control, JobOptions};
use crate::part::{Assembly, Layout, Offer};

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
const ZSYNC_RANGES_PER_REQUEST: usize = 20;

/// What one round of requests asks for.
pub(crate) struct Round {
    /// Byte ranges of the remote file, ascending and disjoint.
    pub ranges: Vec<Range<u64>>,
    /// Where ranges may be cut to share them between requests.
    pub cuts: Cuts,
}

/// Where a range may be cut, so that each piece still holds whole blocks or chunks when
/// the remote file is the target itself.
pub(crate) enum Cuts {
    /// At every multiple of this many bytes (fixed-size blocks; 1 for anywhere).
    Every(u64),
    /// Only at these offsets, ascending (chunk boundaries).
    At(Vec<u64>),
}

impl Cuts {
    /// The first place at or after `offset` where a range may be cut.
    fn at_or_after(&self, offset: u64) -> u64 {
        match self {
            Cuts::Every(step) => offset.next_multiple_of((*step).max(1)),
            Cuts::At(points) => {
                let next = points.partition_point(|&p| p < offset);
                points.get(next).copied().unwrap_or(u64::MAX)
            }
        }
    }
}

/// The part of fetching that depends on what the remote file is. Called from several
/// request threads at once.
pub(crate) trait Receiver: Sync {
    /// What to ask for next; `None` once nothing is missing.
    fn next_round(&self) -> Result<Option<Round>>;
    /// Checks what a reply says about the remote file (`range` it sends, `total` length)
    /// before any of its bytes are used.
    fn check_reply(&self, url: &Url, range: &Range<u64>, total: Option<u64>) -> Result<()>;
    /// Takes `body`: the remote file's bytes from offset `start` on.
    fn feed(&self, url: &Url, start: u64, body: &mut dyn Read) -> Result<(), ReceiveError>;
    /// Takes the whole remote file, from a server that ignores ranges.
    fn feed_whole(&self, url: &Url, body: &mut dyn Read) -> Result<(), ReceiveError>;
    /// A request for `ranges` is about to be sent.
    fn requested(&self, _ranges: &[Range<u64>]) {}
    /// The request for `ranges` is over, whatever came of it.
    fn request_over(&self, _ranges: &[Range<u64>]) {}
    /// Every request of the round is over.
    fn end_round(&self) -> Result<()> {
        Ok(())
    }
    /// Blocks of the target present so far: a round that adds none made no progress.
    fn present(&self) -> u64;
}

/// Why reading a reply stopped early.
pub(crate) enum ReceiveError {
    /// The framing was bad: ask for fewer ranges.
    Framing(Error),
    /// The connection broke: retry.
    Network(Error),
    /// Give up the job.
    Fatal(Error),
}

/// Stands for the server in errors made where its URL is not known (a body reader); the
/// fetcher puts the URL in before anyone sees them.
const UNNAMED_SERVER: &str = "the server";

impl ReceiveError {
    /// Names `url` in an error made without it.
    fn naming(self, url: &Url) -> Self {
        let name = |error| match error {
            Error::Http {
                url: unnamed,
                problem,
            } if unnamed == UNNAMED_SERVER => Error::http(url, problem),
            other => other,
        };
        match self {
            ReceiveError::Framing(e) => ReceiveError::Framing(name(e)),
            ReceiveError::Network(e) => ReceiveError::Network(name(e)),
            ReceiveError::Fatal(e) => ReceiveError::Fatal(name(e)),
        }
    }
}

/// Requests, parallel connections, the ladder, retries and URL failover.
pub(crate) struct Transport<'a> {
    http: &'a Http,
    urls: Vec<Url>,
    reporter: &'a Reporter<'a>,
    control: &'a Control,
    parallel: usize,
    ranges_per_request: AtomicUsize,
    url_index: AtomicUsize,
    /// Set once a `200` reply has been streamed whole.
    whole_file_done: Mutex<bool>,
    /// Set when the ladder dropped to one range per request in the middle of a round: the
    /// rest of the round is planned again rather than sent as it was batched.
    replan: AtomicBool,
}

type Queue = Mutex<VecDeque<Vec<Range<u64>>>>;

impl<'a> Transport<'a> {
    pub fn new(
        http: &'a Http,
        urls: Vec<Url>,
        reporter: &'a Reporter<'a>,
        control: &'a Control,
        options: &JobOptions,
    ) -> Self {
        Transport {
            http,
            urls,
            reporter,
            control,
            parallel: options.parallel_requests.max(1),
            ranges_per_request: AtomicUsize::new(options.max_ranges_per_request.max(1)),
            url_index: AtomicUsize::new(0),
            whole_file_done: Mutex::new(false),
            replan: AtomicBool::new(false),
        }
    }

    /// Runs rounds until `receiver` wants nothing more.
    pub fn run(&self, receiver: &dyn Receiver) -> Result<()> {
        let mut stalled = 0;
        let last_problem: Mutex<Option<Error>> = Mutex::new(None);
        loop {
            self.control.checkpoint()?;
            let Some(round) = receiver.next_round()? else {
                return Ok(());
            };
            let before = receiver.present();
            let queue: Queue = Mutex::new(self.batches(&round.ranges, &round.cuts));
            let fatal: Mutex<Option<Error>> = Mutex::new(None);
            let workers = self.parallel.clamp(1, queue.lock().unwrap().len().max(1));
            std::thread::scope(|scope| {
                for _ in 0..workers {
                    scope.spawn(|| self.work(receiver, &queue, &fatal, &last_problem));
                }
            });
            if let Some(error) = fatal.into_inner().unwrap() {
                return Err(error);
            }
            receiver.end_round()?;
            if self.replan.swap(false, Ordering::Relaxed) {
                continue;
            }
            if receiver.present() == before {
                stalled += 1;
                if stalled >= MAX_STALLED_ROUNDS {
                    let url = self
                        .urls
                        .get(self.url_index.load(Ordering::Relaxed))
                        .map(|u| shown_url(u.as_str()))
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
        receiver: &dyn Receiver,
        queue: &Queue,
        fatal: &Mutex<Option<Error>>,
        last_problem: &Mutex<Option<Error>>,
    ) {
        loop {
            let Some(batch) = queue.lock().unwrap().pop_front() else {
                return;
            };
            if let Err(error) = self.fetch_batch(receiver, batch, queue, last_problem) {
                fatal.lock().unwrap().get_or_insert(error);
                queue.lock().unwrap().clear();
                return;
            }
        }
    }

    /// Cuts the ranges into pieces and the pieces into requests.
    fn batches(&self, wanted: &[Range<u64>], cuts: &Cuts) -> VecDeque<Vec<Range<u64>>> {
        let total: u64 = wanted.iter().map(|r| r.end - r.start).sum();
        let piece = (total / (self.parallel as u64 * 4)).max(MIN_PIECE);
        let mut ranges = Vec::new();
        for range in wanted {
            let mut start = range.start;
            while start < range.end {
                let end = cuts.at_or_after(start + piece).min(range.end);
                ranges.push(start..end);
                start = end;
            }
        }
        // As few requests as the server allows, but enough to keep `parallel` connections
        // busy when there is a lot to fetch; never more than zsync would send for the same
        // ranges (it asks for 20 per request), rounded down, since a target fetched in
        // several rounds (gzip) would otherwise round up once per round.
        let wanted_requests = (total / PARALLEL_WORTHWHILE)
            .min((wanted.len() / ZSYNC_RANGES_PER_REQUEST) as u64)
            .clamp(1, self.parallel.max(1) as u64) as usize;
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
        // Pieces of one range that end up in the same request are asked for as one: a
        // server would merge them anyway (RFC 9110 §14.2), and fewer parts are cheaper.
        interleave(batches, self.parallel.max(1))
            .into_iter()
            .map(merge)
            .collect()
    }

    fn fetch_batch(
        &self,
        receiver: &dyn Receiver,
        ranges: Vec<Range<u64>>,
        queue: &Queue,
        last_problem: &Mutex<Option<Error>>,
    ) -> Result<()> {
        receiver.requested(&ranges);
        let mut attempt = 0;
        let result = loop {
            self.control.checkpoint()?;
            let mut asked_to_wait = None;
            let (url_index, url) = self.current_url()?;
            let present = receiver.present();
            self.reporter.add_request();
            let problem = match self.http.get_ranges(&url, &ranges) {
                Ok(RangeReply::Whole {
                    mirror: Some(mirror),
                    ..
                }) if attempt + 1 < MAX_ATTEMPTS => {
                    // One mirror of a redirector without ranges says nothing about the
                    // others: ask again before taking the whole file from it.
                    Error::http(&mirror, "this mirror ignores range requests (HTTP 200)")
                }
                Ok(RangeReply::Whole { .. }) if ranges.len() > 1 => {
                    // Dropping the reply closes the connection before the body comes.
                    self.one_range_per_request(&url, queue);
                    break Ok(());
                }
                Ok(reply) => match self
                    .receive(receiver, reply, &url, &ranges)
                    .map_err(|e| e.naming(&url))
                {
                    Ok(()) => break Ok(()),
                    Err(ReceiveError::Fatal(e)) => break Err(e),
                    Err(ReceiveError::Framing(e)) => {
                        self.fewer_ranges(ranges.len() / 2, &e);
                        *last_problem.lock().unwrap() = Some(e);
                        break Ok(());
                    }
                    Err(ReceiveError::Network(e)) if receiver.present() > present => {
                        // The reply broke off after bringing blocks: the next round asks
                        // for what is still missing rather than repeat this request.
                        *last_problem.lock().unwrap() = Some(e);
                        break Ok(());
                    }
                    Err(ReceiveError::Network(e)) => e,
                },
                Err(RequestError {
                    retry: Retry::Later(wait),
                    error,
                }) => {
                    asked_to_wait = wait;
                    error
                }
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
                // This URL keeps failing: the control file's next URL, if it has one.
                if self.give_up_url(url_index, &problem) {
                    attempt = 0;
                    continue;
                }
                break Err(problem);
            }
            *last_problem.lock().unwrap() = Some(problem);
            let backoff = Duration::from_millis(250 << attempt);
            self.control
                .sleep(asked_to_wait.map_or(backoff, |wait| wait.max(backoff)))?;
        };
        receiver.request_over(&ranges);
        result
    }

    /// Waits `how_long` before a retry, but stops at once when the job is cancelled.
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
                shown_url(self.urls[index + 1].as_str())
            )));
        }
        self.url_index.load(Ordering::Relaxed) < self.urls.len()
    }

    /// The server at `url` answered several ranges with the whole file: from now on each
    /// request asks for one range, and the rest of this round is planned again so that
    /// its single ranges run side by side.
    fn one_range_per_request(&self, url: &Url, queue: &Queue) {
        self.fewer_ranges(
            1,
            &Error::http(
                url,
                "answered a request for several ranges with the whole file (HTTP 200)",
            ),
        );
        self.replan.store(true, Ordering::Relaxed);
        queue.lock().unwrap().clear();
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

    /// `body`, counted as it is read and stopped when the job is cancelled.
    fn counted<R: Read>(&self, body: R) -> Counted<'_, R> {
        Counted {
            inner: body,
            reporter: self.reporter,
            control: self.control,
        }
    }

    fn receive(
        &self,
        receiver: &dyn Receiver,
        reply: RangeReply,
        url: &Url,
        asked: &[Range<u64>],
    ) -> std::result::Result<(), ReceiveError> {
        match reply {
            RangeReply::Multipart { boundary, body } => {
                let mut reader = std::io::BufReader::with_capacity(1 << 16, self.counted(body));
                let mut sent = Vec::new();
                let mut budget = ReplyBudget::for_request(asked);
                let result = for_each_part(&mut reader, &boundary, |range, total, body| {
                    budget.spend(url, &range)?;
                    receiver
                        .check_reply(url, &range, total)
                        .map_err(ReceiveError::Fatal)?;
                    sent.push(range.clone());
                    receiver.feed(url, range.start, body)
                });
                result.map_err(|e| match e {
                    ReceiveError::Framing(inner) | ReceiveError::Network(inner)
                        if sent.is_empty() =>
                    {
                        ReceiveError::Framing(inner)
                    }
                    other => other,
                })?;
                // RFC 9110 lets a server merge ranges into fewer parts: only ranges whose
                // bytes did not come say that it sends fewer than asked.
                let covered = covered_count(asked, sent);
                if covered < asked.len() {
                    self.fewer_ranges(
                        covered,
                        &Error::http(url, format!("sent {covered} of {} ranges", asked.len())),
                    );
                }
                Ok(())
            }
            RangeReply::Single { range, total, body } => {
                receiver
                    .check_reply(url, &range, total)
                    .map_err(ReceiveError::Fatal)?;
                let covers_all = asked
                    .iter()
                    .all(|r| range.start <= r.start && r.end <= range.end);
                // No more than the part the server says it sends, however long the body.
                let mut part = self.counted(body).take(range.end - range.start);
                let result = receiver.feed(url, range.start, &mut part);
                if !covers_all {
                    self.fewer_ranges(
                        1,
                        &Error::http(url, "answered a multi-range request with one range"),
                    );
                }
                result
            }
            RangeReply::Local { mut file, length } => {
                for range in asked {
                    receiver
                        .check_reply(url, range, Some(length))
                        .map_err(ReceiveError::Fatal)?;
                    file.seek(SeekFrom::Start(range.start)).map_err(|e| {
                        ReceiveError::Network(Error::http(url, format!("reading failed: {e}")))
                    })?;
                    let mut part = self.counted(&mut file).take(range.end - range.start);
                    receiver.feed(url, range.start, &mut part)?;
                }
                Ok(())
            }
            RangeReply::Whole { length, body, .. } => {
                if let Some(length) = length {
                    receiver
                        .check_reply(url, &(0..length), Some(length))
                        .map_err(ReceiveError::Fatal)?;
                }
                let mut done = self.whole_file_done.lock().unwrap();
                if *done {
                    return Ok(());
                }
                self.reporter.emit(Event::Notice(format!(
                    "{} does not support range requests: downloading the whole file (every block is still checked)",
                    shown_url(url.as_str())
                )));
                let result = receiver.feed_whole(url, &mut self.counted(body));
                *done = result.is_ok();
                result
            }
        }
    }
}

/// How the bytes of a remote file that is the target itself become its pieces.
pub(crate) trait FeedPieces: Sync {
    /// Where a range of the file may be cut between requests.
    fn cuts(&self) -> Cuts;
    /// Takes `body`: the target's bytes from offset `start` on.
    fn feed(&self, url: &Url, start: u64, body: &mut dyn Read) -> Result<(), ReceiveError>;
    /// Why the remote file may not be the length expected, for the user.
    fn why_other_length(&self) -> &'static str;
}

/// zsync's blocks: cut at block boundaries, checked many at a time by the [`Assembler`].
impl FeedPieces for BlockWriter<'_> {
    fn cuts(&self) -> Cuts {
        Cuts::Every(u64::from(self.geometry().block_size))
    }

    fn feed(&self, url: &Url, start: u64, body: &mut dyn Read) -> Result<(), ReceiveError> {
        Assembler::new(self, url, start).copy_from(body, broken)
    }

    fn why_other_length(&self) -> &'static str {
        "the .zsync is out of date or for another file"
    }
}

/// The remote file is the target itself: its bytes are the target's pieces.
pub(crate) struct PlainTarget<'w, 'a, L: Layout + ?Sized = ControlFile> {
    pub writer: &'w BlockWriter<'a, L>,
}

impl<L: Layout + ?Sized> PlainTarget<'_, '_, L> {
    fn piece_runs(&self, ranges: &[Range<u64>]) -> Vec<Range<u64>> {
        let layout = self.writer.assembly.layout();
        ranges
            .iter()
            .map(|r| layout.whole_pieces_in(r.clone()))
            .collect()
    }
}

impl<L: Layout + ?Sized> Receiver for PlainTarget<'_, '_, L>
where
    for<'a> BlockWriter<'a, L>: FeedPieces,
{
    fn next_round(&self) -> Result<Option<Round>> {
        let layout = self.writer.assembly.layout();
        let missing = self.writer.assembly.missing();
        Ok((!missing.is_empty()).then(|| Round {
            ranges: missing
                .into_iter()
                .map(|run| layout.byte_range(run))
                .collect(),
            cuts: self.writer.cuts(),
        }))
    }

    fn check_reply(&self, url: &Url, range: &Range<u64>, total: Option<u64>) -> Result<()> {
        let length = self.writer.assembly.layout().length();
        match total {
            Some(total) if total != length => Err(Error::BadData {
                url: shown_url(url.as_str()),
                problem: format!(
                    "its file is {total} bytes but {length} bytes were expected: {}",
                    self.writer.why_other_length()
                ),
            }),
            _ if range.end > length => Err(Error::BadData {
                url: shown_url(url.as_str()),
                problem: format!(
                    "it sent bytes {}-{}, past the end of the {length}-byte file",
                    range.start,
                    range.end - 1,
                ),
            }),
            _ => Ok(()),
        }
    }

    fn feed(&self, url: &Url, start: u64, body: &mut dyn Read) -> Result<(), ReceiveError> {
        self.writer.feed(url, start, body)
    }

    fn feed_whole(&self, url: &Url, body: &mut dyn Read) -> Result<(), ReceiveError> {
        self.writer.feed(url, 0, body)
    }

    fn requested(&self, ranges: &[Range<u64>]) {
        self.writer.reporter.blocks(
            self.piece_runs(ranges),
            BlockState::InFlight,
            BlockSource::Network,
        );
    }

    fn request_over(&self, ranges: &[Range<u64>]) {
        // Whatever did not arrive goes back to unknown, to be asked for again.
        let unfetched = self
            .piece_runs(ranges)
            .into_iter()
            .flat_map(|run| runs(run.filter(|&p| !self.writer.assembly.is_present(p))))
            .collect::<Vec<_>>();
        self.writer
            .reporter
            .blocks(unfetched, BlockState::Unknown, BlockSource::Network);
    }

    fn present(&self) -> u64 {
        self.writer.assembly.present_count()
    }
}

impl From<PartError> for ReceiveError {
    fn from(e: PartError) -> Self {
        match e {
            PartError::Malformed(m) => ReceiveError::Framing(Error::http(UNNAMED_SERVER, m)),
            PartError::Io(m) => ReceiveError::Network(Error::http(
                UNNAMED_SERVER,
                format!("the reply broke off: {m}"),
            )),
        }
    }
}

/// Counts body bytes as they come off the wire, and holds them while the job is paused
/// or stops them when it is cancelled, so neither waits for a long reply to end.
struct Counted<'r, R> {
    inner: R,
    reporter: &'r Reporter<'r>,
    control: &'r Control,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.control.checkpoint().map_err(std::io::Error::other)?;
        let n = self.inner.read(buf)?;
        self.reporter.add_wire(n as u64);
        Ok(n)
    }
}

/// Deals the ranges of each `parallel` consecutive batches out round-robin, so requests
/// running side by side move through the file together instead of each through its own
/// quarter: the bytes before the slowest request's position are then all there, and the
/// SHA-1, which reads the file in order, can keep up with the fetch. A dealt batch that
/// would make too long a `Range` header keeps its original grouping.
fn interleave(batches: VecDeque<Vec<Range<u64>>>, parallel: usize) -> VecDeque<Vec<Range<u64>>> {
    let batches: Vec<Vec<Range<u64>>> = batches.into();
    let mut dealt = VecDeque::with_capacity(batches.len());
    for window in batches.chunks(parallel) {
        let ranges: Vec<&Range<u64>> = window.iter().flatten().collect();
        let mut hands: Vec<Vec<Range<u64>>> = vec![Vec::new(); window.len()];
        for (i, range) in ranges.into_iter().enumerate() {
            hands[i % window.len()].push(range.clone());
        }
        let fits =
            |hand: &Vec<Range<u64>>| range_header(hand).len() <= MAX_RANGE_HEADER + "bytes=".len();
        if hands.iter().all(fits) {
            dealt.extend(hands);
        } else {
            dealt.extend(window.iter().cloned());
        }
    }
    dealt
}

/// Hands pieces received from the network to the [`Assembly`], reports the new ones, and
/// counts the bad ones: the job fails when one keeps coming back wrong.
pub(crate) struct BlockWriter<'a, L: Layout + ?Sized = ControlFile> {
    pub assembly: &'a Assembly<'a, L>,
    pub reporter: &'a Reporter<'a>,
    bad_pieces: Mutex<HashMap<u64, u32>>,
}

impl<'a, L: Layout + ?Sized> BlockWriter<'a, L> {
    pub fn new(assembly: &'a Assembly<'a, L>, reporter: &'a Reporter<'a>) -> Self {
        BlockWriter {
            assembly,
            reporter,
            bad_pieces: Mutex::new(HashMap::new()),
        }
    }

    /// Offers `data` (a whole piece; a block zero-padded to the block size) as `piece`,
    /// received from `url`; true when it was missing and is now written.
    fn accept(&self, url: &Url, piece: u64, data: &[u8]) -> Result<bool> {
        let offer = self.assembly.offer(piece, data)?;
        self.account(url, piece, offer)
    }

    /// Reports what became of an offered piece; true if it was written now.
    fn account(&self, url: &Url, piece: u64, offer: Offer) -> Result<bool> {
        match offer {
            Offer::Written => {
                let bytes = self.assembly.layout().piece_range(piece);
                self.reporter.add_fetched(bytes.end - bytes.start);
                Ok(true)
            }
            Offer::AlreadyPresent => Ok(false),
            Offer::WrongSums => self.reject_checksum(url, piece).map(|()| false),
        }
    }

    fn reject_checksum(&self, url: &Url, piece: u64) -> Result<()> {
        let bytes = self.assembly.layout().piece_range(piece);
        self.reject(
            url,
            piece,
            &format!(
                "block {piece} (bytes {}-{}) failed its checksum",
                bytes.start,
                bytes.end - 1
            ),
        )
    }

    /// Counts a failure to obtain `piece` from `url`'s data (`what` says which); an error
    /// once that piece has failed [`MAX_BAD_BLOCK`] times.
    pub fn reject(&self, url: &Url, piece: u64, what: &str) -> Result<()> {
        self.reporter.blocks(
            std::iter::once(piece..piece + 1),
            BlockState::Failed,
            BlockSource::Network,
        );
        let mut bad = self.bad_pieces.lock().unwrap();
        let count = bad.entry(piece).or_default();
        *count += 1;
        if *count >= MAX_BAD_BLOCK {
            return Err(Error::BadData {
                url: shown_url(url.as_str()),
                problem: format!("{what} {MAX_BAD_BLOCK} times"),
            });
        }
        Ok(())
    }
}

impl BlockWriter<'_> {
    pub fn geometry(&self) -> Geometry {
        self.assembly.geometry()
    }

    /// Offers consecutive full-size blocks from `first` on, all of `data`. Returns the
    /// blocks that were missing and are now written.
    fn accept_blocks(&self, url: &Url, first: u64, data: &[u8]) -> Result<Vec<u64>> {
        let offers = self.assembly.offer_run(first, data)?;
        let mut new = Vec::new();
        for (k, offer) in offers.into_iter().enumerate() {
            let block = first + k as u64;
            if self.account(url, block, offer)? {
                new.push(block);
            }
        }
        Ok(new)
    }
}

/// Cuts a stream of target bytes, starting at a known offset, into blocks for the
/// [`BlockWriter`]. Bytes of blocks the stream does not hold whole are dropped.
pub(crate) struct Assembler<'w, 'a> {
    writer: &'w BlockWriter<'a>,
    url: &'w Url,
    /// Target offset of the next byte.
    next: u64,
    block: Vec<u8>,
    /// Bytes of the block at `next - filled` collected in `block`.
    filled: usize,
    fetched: Vec<u64>,
}

impl<'w, 'a> Assembler<'w, 'a> {
    pub fn new(writer: &'w BlockWriter<'a>, url: &'w Url, start: u64) -> Self {
        Assembler {
            writer,
            url,
            next: start,
            block: vec![0; writer.geometry().block_size as usize],
            filled: 0,
            fetched: Vec::new(),
        }
    }

    /// Target offset of the next byte expected.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Takes the next bytes of the stream.
    pub fn write(&mut self, mut data: &[u8]) -> Result<()> {
        let geometry = self.writer.geometry();
        let bs = u64::from(geometry.block_size);
        while !data.is_empty() && self.next < geometry.length {
            let in_block = (self.next % bs) as usize;
            if in_block != self.filled {
                // Data starting inside a block cannot complete that block: skip to the
                // next one.
                let skip = (bs as usize - in_block).min(data.len());
                self.next += skip as u64;
                data = &data[skip..];
                continue;
            }
            let block = geometry.block_of(self.next);
            let len = geometry.block_len(block);
            let whole = (data.len() / bs as usize).min((geometry.length / bs - block) as usize);
            if self.filled == 0 && whole > 0 {
                // Whole full-size blocks in the input: check and write them where they are.
                let take = whole * bs as usize;
                let new = self.writer.accept_blocks(self.url, block, &data[..take])?;
                self.record(new);
                self.next += take as u64;
                data = &data[take..];
                continue;
            }
            let take = (len - self.filled).min(data.len());
            self.block[self.filled..self.filled + take].copy_from_slice(&data[..take]);
            self.filled += take;
            self.next += take as u64;
            data = &data[take..];
            if self.filled == len {
                self.filled = 0;
                self.block[len..].fill(0);
                if self.writer.accept(self.url, block, &self.block)? {
                    self.record([block]);
                }
            }
        }
        Ok(())
    }

    /// Takes everything `body` yields; read errors become what `on_error` makes of them.
    pub fn copy_from(
        &mut self,
        body: &mut dyn Read,
        on_error: impl Fn(std::io::Error) -> ReceiveError,
    ) -> Result<(), ReceiveError> {
        for_each_chunk(body, on_error, |chunk| {
            self.write(chunk).map_err(ReceiveError::Fatal)?;
            Ok(if self.next < self.writer.geometry().length {
                Wanted::More
            } else {
                Wanted::Nothing
            })
        })
    }

    /// Notes newly written blocks; they are reported in batches.
    fn record(&mut self, blocks: impl IntoIterator<Item = u64>) {
        self.fetched.extend(blocks);
        if self.fetched.len() >= 64 {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let fetched = std::mem::take(&mut self.fetched);
        self.writer
            .reporter
            .blocks(runs(fetched), BlockState::Fetched, BlockSource::Network);
    }
}

impl Drop for Assembler<'_, '_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Cuts a stream of target bytes, starting at a known offset, into pieces of any size
/// (chunks), each offered whole. Bytes of pieces the stream does not hold whole are
/// dropped. A piece is held in memory until it is complete: formats bound their pieces'
/// size when they read their index.
pub(crate) struct PieceAssembler<'w, 'a, L: Layout + ?Sized> {
    writer: &'w BlockWriter<'a, L>,
    url: &'w Url,
    /// Target offset of the next byte.
    next: u64,
    /// The bytes of the piece being collected, from its start.
    piece: Vec<u8>,
}

impl<'w, 'a, L: Layout + ?Sized> PieceAssembler<'w, 'a, L> {
    pub fn new(writer: &'w BlockWriter<'a, L>, url: &'w Url, start: u64) -> Self {
        PieceAssembler {
            writer,
            url,
            next: start,
            piece: Vec::new(),
        }
    }

    /// Takes the next bytes of the stream.
    fn write(&mut self, mut data: &[u8]) -> Result<()> {
        let layout = self.writer.assembly.layout();
        while !data.is_empty() && self.next < layout.length() {
            let piece = layout.piece_at(self.next);
            let bytes = layout.piece_range(piece);
            if self.piece.is_empty() && self.next != bytes.start {
                // Data starting inside a piece cannot complete it: skip to the next one.
                let skip = (bytes.end - self.next).min(data.len() as u64);
                self.next += skip;
                data = &data[skip as usize..];
                continue;
            }
            let take = (bytes.end - self.next).min(data.len() as u64) as usize;
            self.piece.extend_from_slice(&data[..take]);
            self.next += take as u64;
            data = &data[take..];
            if self.next == bytes.end {
                if self.writer.accept(self.url, piece, &self.piece)? {
                    self.writer.reporter.blocks(
                        std::iter::once(piece..piece + 1),
                        BlockState::Fetched,
                        BlockSource::Network,
                    );
                }
                self.piece.clear();
            }
        }
        Ok(())
    }

    /// Takes everything `body` yields; read errors become what `on_error` makes of them.
    pub fn copy_from(
        &mut self,
        body: &mut dyn Read,
        on_error: impl Fn(std::io::Error) -> ReceiveError,
    ) -> Result<(), ReceiveError> {
        let length = self.writer.assembly.layout().length();
        for_each_chunk(body, on_error, |chunk| {
            self.write(chunk).map_err(ReceiveError::Fatal)?;
            Ok(if self.next < length {
                Wanted::More
            } else {
                Wanted::Nothing
            })
        })
    }
}

/// How many of the `asked` ranges the `sent` parts hold whole, however the server cut or
/// merged them.
fn covered_count(asked: &[Range<u64>], sent: Vec<Range<u64>>) -> usize {
    let sent = merge(sent);
    asked
        .iter()
        .filter(|r| {
            let i = sent.partition_point(|s| s.end <= r.start);
            sent.get(i)
                .is_some_and(|s| s.start <= r.start && r.end <= s.end)
        })
        .count()
}

/// What a multipart reply may hold: the parts asked for, repeated or overlapping at worst
/// (RFC 9110 lets a server send overlapping parts), but not without end.
struct ReplyBudget {
    parts: usize,
    bytes: u64,
}

impl ReplyBudget {
    fn for_request(asked: &[Range<u64>]) -> Self {
        let bytes: u64 = asked.iter().map(|r| r.end - r.start).sum();
        ReplyBudget {
            parts: 2 * asked.len() + 16,
            bytes: 2 * bytes + (1 << 20),
        }
    }

    fn spend(&mut self, url: &Url, part: &Range<u64>) -> Result<(), ReceiveError> {
        let len = part.end - part.start;
        if self.parts == 0 || self.bytes < len {
            return Err(ReceiveError::Framing(Error::http(
                url,
                "sent far more parts than were asked for",
            )));
        }
        self.parts -= 1;
        self.bytes -= len;
        Ok(())
    }
}

/// Whether a reader of a reply body wants the bytes that follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wanted {
    More,
    Nothing,
}

/// A read error on a reply body: the connection broke.
pub(crate) fn broken(e: std::io::Error) -> ReceiveError {
    let timed_out = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
        .is_some_and(reqwest::Error::is_timeout);
    let problem = if timed_out {
        "it stopped sending in the middle of its reply".to_string()
    } else {
        format!("the reply broke off: {e}")
    };
    ReceiveError::Network(Error::http(UNNAMED_SERVER, problem))
}

/// Hands `body`'s bytes to `on_chunk` as they arrive, until the end of the body or until
/// `on_chunk` says it wants no more (a body that goes on past what can be used, even
/// without end, is not read further); read errors become what `on_error` makes of them.
pub(crate) fn for_each_chunk(
    body: &mut dyn Read,
    on_error: impl Fn(std::io::Error) -> ReceiveError,
    mut on_chunk: impl FnMut(&[u8]) -> Result<Wanted, ReceiveError>,
) -> Result<(), ReceiveError> {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match body.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                if on_chunk(&buf[..n])? == Wanted::Nothing {
                    return Ok(());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(on_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::NullSink;
    use crate::test_data::noise;

    #[test]
    fn assembled_blocks_are_checked_and_only_good_ones_written() {
        // 20 blocks and a partial one; block 5 arrives corrupted. The stream comes in
        // pieces that cut blocks anywhere, so whole blocks are checked together where a
        // piece holds several, one by one where they straddle pieces.
        let bs = 1024;
        let dir = tempfile::tempdir().unwrap();
        let target = noise(20 * bs + 300, 21);
        let path = dir.path().join("target");
        std::fs::write(&path, &target).unwrap();
        let options = crate::make::MakeOptions {
            block_size: Some(bs as u32),
            ..Default::default()
        };
        let cf = crate::make::make(&path, &options).unwrap();
        let part =
            crate::part::PartFile::open(&dir.path().join("out"), target.len() as u64).unwrap();
        let assembly = Assembly::new(&cf, Some(part));
        let sink = NullSink;
        let reporter = Reporter::new(&sink);
        let writer = BlockWriter::new(&assembly, &reporter);
        let url = Url::parse("http://example.invalid/target").unwrap();

        let mut sent = target.clone();
        sent[5 * bs + 700] ^= 1;
        let mut assembler = Assembler::new(&writer, &url, 0);
        for piece in [
            &sent[..1500],
            &sent[1500..13 * bs + 10],
            &sent[13 * bs + 10..],
        ] {
            assembler.write(piece).unwrap();
        }
        drop(assembler);
        assert_eq!(assembly.missing(), vec![5..6]);
        let written = std::fs::read(assembly.file().unwrap().path()).unwrap();
        assert_eq!(written[..5 * bs], target[..5 * bs]);
        assert_eq!(
            written[5 * bs..6 * bs],
            vec![0; bs],
            "the bad block is not written"
        );
        assert_eq!(written[6 * bs..], target[6 * bs..]);
        assert_eq!(writer.bad_pieces.lock().unwrap()[&5], 1);
    }

    /// Pieces of uneven sizes, each checked against the original's bytes.
    struct Uneven {
        data: Vec<u8>,
        ends: crate::part::Ends,
        hash: crate::blocks::FileHash,
    }

    impl Layout for Uneven {
        fn length(&self) -> u64 {
            self.data.len() as u64
        }
        fn piece_count(&self) -> u64 {
            self.ends.count()
        }
        fn piece_range(&self, piece: u64) -> Range<u64> {
            self.ends.range(piece)
        }
        fn piece_at(&self, offset: u64) -> u64 {
            self.ends.at(offset)
        }
        fn piece_matches(&self, piece: u64, data: &[u8]) -> bool {
            let r = self.piece_range(piece);
            self.data[r.start as usize..r.end as usize] == *data
        }
        fn file_hash(&self) -> Option<(&crate::blocks::FileHash, Range<u64>)> {
            Some((&self.hash, 0..self.length()))
        }
    }

    #[test]
    fn pieces_of_any_size_are_assembled_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Uneven {
            data: noise(10_000, 22),
            ends: crate::part::Ends(vec![700, 701, 3000, 3100, 8000, 10_000]),
            hash: crate::blocks::FileHash::from_hex(
                crate::blocks::FileHashAlgorithm::Sha1,
                &"0".repeat(40),
            )
            .unwrap(),
        };
        let part = crate::part::PartFile::open(&dir.path().join("out"), 10_000).unwrap();
        let assembly = Assembly::new(&layout, Some(part));
        let sink = NullSink;
        let reporter = Reporter::new(&sink);
        let writer = BlockWriter::new(&assembly, &reporter);
        let url = Url::parse("http://example.invalid/target").unwrap();

        // From inside piece 0 to the end, piece 2 corrupted, cut anywhere.
        let mut sent = layout.data[200..].to_vec();
        sent[2000] ^= 1;
        let mut assembler = PieceAssembler::new(&writer, &url, 200);
        for cut in sent.chunks(333) {
            assembler.write(cut).unwrap();
        }
        assert_eq!(assembly.missing(), vec![0..1, 2..3]);
        assert_eq!(writer.bad_pieces.lock().unwrap()[&2], 1);
        let written = std::fs::read(assembly.file().unwrap().path()).unwrap();
        assert_eq!(written[700..701], layout.data[700..701]);
        assert_eq!(written[3000..], layout.data[3000..]);
        assert_eq!(
            written[..700],
            vec![0; 700],
            "a piece begun mid-way is dropped"
        );
        assert_eq!(layout.whole_pieces_in(200..3100), 1..4);
        assert_eq!(layout.whole_pieces_in(0..10_000), 0..6);
        assert_eq!(layout.whole_pieces_in(701..702), 2..2);
    }

    #[test]
    fn merged_parts_cover_the_ranges_they_span() {
        let asked = [0..10, 20..30, 40..50, 60..70];
        // One part for the first two (and the gap between), one for the third: the
        // fourth did not come.
        assert_eq!(covered_count(&asked, vec![40..50, 0..30]), 3);
        // Overlapping and repeated parts, which together hold all four.
        assert_eq!(covered_count(&asked, vec![0..45, 40..70, 5..6]), 4);
        // A part that stops short of its range's end does not hold it.
        assert_eq!(covered_count(&asked, vec![0..10, 20..29]), 1);
        assert_eq!(covered_count(&asked, Vec::new()), 0);
    }

    fn ranges(starts: impl IntoIterator<Item = u64>) -> Vec<Range<u64>> {
        starts.into_iter().map(|s| s * 10..s * 10 + 5).collect()
    }

    #[test]
    fn side_by_side_requests_share_each_stretch_of_the_file() {
        let batches: VecDeque<_> = [ranges(0..3), ranges(3..6), ranges(6..8)].into();
        let dealt = interleave(batches, 2);
        // The first two batches are dealt out; the third had no partner.
        let expected: VecDeque<_> = [ranges([0, 2, 4]), ranges([1, 3, 5]), ranges(6..8)].into();
        assert_eq!(dealt, expected);
        // Nothing is lost or repeated, and each request's ranges stay ascending.
        let mut all: Vec<_> = dealt.iter().flatten().cloned().collect();
        assert!(dealt.iter().all(|b| b.is_sorted_by_key(|r| r.start)));
        all.sort_by_key(|r| r.start);
        assert_eq!(all, ranges(0..8));
    }
}
