//! Scheduling and receiving requests: batching byte ranges into requests, or asking for
//! whole documents one request each, running several requests at once, retrying,
//! reading each reply as what it is, and adapting to what the server can do. Checking
//! the pieces is `pieces.rs`'s job; what the ranges are, the receivers'.
//!
//! The work is split in two. [`Transport`] knows requests: it runs each round's requests
//! on parallel workers, retries a request that met a passing problem (longer pauses each
//! time, at least what `Retry-After` asked for, a stalled reply given up after the stall
//! timeout), asks a mirror redirector again when its mirror failed, moves on to other
//! URLs, and ends the job when rounds bring nothing new. A receiver knows what the bytes
//! are. A [`Receiver`] wants ranges of the remote file: `PlainTarget` (plain_target.rs)
//! takes them as the target itself, `GzipTarget` (gzip_target.rs) collects ranges of a gzip-compressed copy
//! and inflates them. A [`DocumentReceiver`] wants whole files at their own URLs (a casync
//! chunk in its store, one request per chunk: just another way of cutting the target).
//! All end in `BlockWriter` (pieces.rs), the one place where a piece is checked before
//! it is written and where bad data is counted.
//!
//! The ladder: a batch starts with up to `max_ranges_per_request` ranges. A server that
//! answers a multi-range request with one part, or rejects the request's size, or mangles
//! the multipart framing, gets fewer ranges per request from then on, down to one. A `200`
//! to a request for several ranges is how object stores and CDNs (S3, MinIO, GitHub
//! release assets) say "one range per request": its body is dropped unread and the round
//! is planned again with single ranges, several in flight. Only a `200` to a single range
//! means no ranges at all: the whole file is streamed once and the missing blocks are
//! taken from it (still verified). Pieces whose data does not verify (a block, or a
//! document that is not what it should be) are asked for again, a bounded number of
//! times; then the job fails naming the URL.

use std::collections::VecDeque;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use url::Url;

use super::budget::Room;
use super::http::{Http, RangeReply, RequestError, Retry};
use super::multipart::{PartError, for_each_part};
use crate::blocks::{merge, range_header};
use crate::error::{Error, Result, shown_url};
use crate::event::Event;
use crate::event::Reporter;
use crate::job::{Control, JobOptions};

/// Attempts per batch for passing network problems.
const MAX_ATTEMPTS: u32 = 5;
/// Rounds in a row that fetch nothing new before giving up.
const MAX_STALLED_ROUNDS: u32 = 3;
/// Longest `Range` header value we send (servers limit header lines to 4-8 KiB).
const MAX_RANGE_HEADER: usize = 4000;
/// Large runs are cut so that parallel requests share the work.
const MIN_PIECE: u64 = 1 << 20;
/// Below this many bytes per request, one more parallel request costs more than it saves.
const PARALLEL_WORTHWHILE: u64 = 4 << 20;
const ZSYNC_RANGES_PER_REQUEST: usize = 20;
/// Documents fetched side by side per request the user allows in parallel: each is a
/// request of its own, mostly small, so several per connection keep the link busy.
const DOCUMENTS_PER_REQUEST: usize = 4;
/// The most documents fetched side by side, whatever `--parallel` asks.
const MAX_DOCUMENT_WORKERS: usize = 64;

/// What one round of requests asks for.
pub(crate) struct Round {
    /// Byte ranges of the remote file, ascending and disjoint.
    pub ranges: Vec<Range<u64>>,
    /// Where ranges may be cut to share them between requests.
    pub cuts: Cuts,
    /// The receiver takes the bytes in file order (a gzip target inflates them so): the
    /// requests go through the file one after another, the next ones sent while the
    /// one before is still coming (the receiver holds them back), rather than side by
    /// side through the same stretch.
    pub in_file_order: bool,
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
    /// A request for `ranges` is about to be sent. A receiver that takes the bytes in
    /// file order may make it wait here until they are near.
    fn requested(&self, _ranges: &[Range<u64>]) {}
    /// The request for `ranges` is over, whatever came of it.
    fn request_over(&self, _ranges: &[Range<u64>]) {}
    /// The request for `ranges` was cut in two unanswered (the server wanted fewer
    /// ranges): each half is queued again, and `requested` once it is sent.
    fn requeued(&self, _ranges: &[Range<u64>]) {}
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
pub(super) const UNNAMED_SERVER: &str = "the server";

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

/// A round's requests not yet sent, shared by its workers.
type Queue<W> = Mutex<VecDeque<W>>;

/// What came of one try of a request.
enum Tried {
    /// Nothing more to do for it: what did not come is asked for in the next round.
    Over,
    /// Split into smaller requests, queued in its place.
    Requeued,
    /// A passing problem: try again after a pause, at least `wait`.
    Again {
        problem: Error,
        wait: Option<Duration>,
    },
    /// This URL will not work.
    UrlFails(Error),
}

/// Where a request goes.
#[derive(Clone, Copy)]
enum Destination<'u> {
    /// The target's URL in use, the next one once it fails.
    TargetUrls,
    /// A document's own URL, the only place it is.
    Own(&'u Url),
}

/// What the round loop needs of a receiver: each round's requests, how to send one,
/// and how much of the target is there.
trait Rounds: Sync {
    /// One request's worth of work.
    type Work: Send;
    /// The next round's requests and how many may run side by side; `None` once nothing
    /// is missing.
    fn next_round(&self, transport: &Transport) -> Result<Option<(VecDeque<Self::Work>, usize)>>;
    /// Sends one request and hands over what comes back (more work may be queued).
    fn fetch(
        &self,
        transport: &Transport,
        work: Self::Work,
        queue: &Queue<Self::Work>,
        last_problem: &Mutex<Option<Error>>,
    ) -> Result<()>;
    fn end_round(&self) -> Result<()>;
    fn present(&self) -> u64;
}

/// Rounds of range requests, batched from the ranges a [`Receiver`] wants.
struct RangeRounds<'r>(&'r dyn Receiver);

impl Rounds for RangeRounds<'_> {
    type Work = Vec<Range<u64>>;

    fn next_round(&self, transport: &Transport) -> Result<Option<(VecDeque<Self::Work>, usize)>> {
        let round = self.0.next_round()?;
        Ok(round.map(|round| {
            let batches = transport.batches(&round.ranges, &round.cuts, round.in_file_order);
            (batches, transport.parallel)
        }))
    }

    fn fetch(
        &self,
        transport: &Transport,
        ranges: Self::Work,
        queue: &Queue<Self::Work>,
        last_problem: &Mutex<Option<Error>>,
    ) -> Result<()> {
        transport.fetch_batch(self.0, ranges, queue, last_problem)
    }

    fn end_round(&self) -> Result<()> {
        self.0.end_round()
    }

    fn present(&self) -> u64 {
        self.0.present()
    }
}

/// Rounds of one request per document, as many at once as small files need to keep the
/// link busy.
struct DocumentRounds<'r>(&'r dyn DocumentReceiver);

impl Rounds for DocumentRounds<'_> {
    type Work = Document;

    fn next_round(&self, transport: &Transport) -> Result<Option<(VecDeque<Document>, usize)>> {
        let workers = (transport.parallel * DOCUMENTS_PER_REQUEST).min(MAX_DOCUMENT_WORKERS);
        let round = self.0.next_round()?;
        Ok(round.map(|documents| (documents.into(), workers)))
    }

    fn fetch(
        &self,
        transport: &Transport,
        document: Document,
        _: &Queue<Document>,
        last_problem: &Mutex<Option<Error>>,
    ) -> Result<()> {
        transport.fetch_document(self.0, document, last_problem)
    }

    fn end_round(&self) -> Result<()> {
        Ok(())
    }

    fn present(&self) -> u64 {
        self.0.present()
    }
}

/// A whole file at its own URL, asked for in one request: a casync chunk in its store.
pub(crate) struct Document {
    pub url: Url,
    /// The target's piece it holds (the first, if the target has it in several places).
    pub piece: u64,
}

/// The part of fetching whole documents that depends on what they are. Called from
/// several request threads at once.
pub(crate) trait DocumentReceiver: Sync {
    /// The documents to ask for next; `None` once nothing is missing.
    fn next_round(&self) -> Result<Option<Vec<Document>>>;
    /// Memory for `document`'s bytes, taken before it is asked for and held until it is
    /// written: waits while the documents in flight hold too much.
    fn room(&self, document: &Document) -> Room<'_>;
    /// Takes `body`: `document` as `url` (where redirects led) sent it. A document whose
    /// data is bad is counted with `BlockWriter::reject` (pieces.rs) and asked for again next round.
    fn feed(&self, document: &Document, url: &Url, body: &mut dyn Read)
    -> Result<(), ReceiveError>;
    /// The request for `document` is about to be sent.
    fn requested(&self, _document: &Document) {}
    /// The request for `document` is over, whatever came of it.
    fn request_over(&self, _document: &Document) {}
    /// Pieces of the target present so far: a round that adds none made no progress.
    fn present(&self) -> u64;
}

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

    /// Runs rounds of range requests until `receiver` wants nothing more.
    pub fn run(&self, receiver: &dyn Receiver) -> Result<()> {
        self.run_rounds(&RangeRounds(receiver))
    }

    /// Runs rounds of requests for whole documents until `receiver` wants nothing more.
    pub fn run_documents(&self, receiver: &dyn DocumentReceiver) -> Result<()> {
        self.run_rounds(&DocumentRounds(receiver))
    }

    /// Asks `rounds` for a round's work, runs it on parallel workers, and again, until
    /// nothing is missing; gives up when rounds in a row bring nothing new.
    fn run_rounds<R: Rounds>(&self, rounds: &R) -> Result<()> {
        let mut stalled = 0;
        let last_problem: Mutex<Option<Error>> = Mutex::new(None);
        loop {
            self.control.checkpoint()?;
            let Some((work, workers)) = rounds.next_round(self)? else {
                return Ok(());
            };
            let before = rounds.present();
            let queue: Queue<R::Work> = Mutex::new(work);
            let fatal: Mutex<Option<Error>> = Mutex::new(None);
            let workers = workers.clamp(1, queue.lock().unwrap().len().max(1));
            std::thread::scope(|scope| {
                for _ in 0..workers {
                    scope.spawn(|| self.work(rounds, &queue, &fatal, &last_problem));
                }
            });
            if let Some(error) = fatal.into_inner().unwrap() {
                return Err(error);
            }
            rounds.end_round()?;
            if self.replan.swap(false, Ordering::Relaxed) {
                continue;
            }
            if rounds.present() == before {
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

    fn work<R: Rounds>(
        &self,
        rounds: &R,
        queue: &Queue<R::Work>,
        fatal: &Mutex<Option<Error>>,
        last_problem: &Mutex<Option<Error>>,
    ) {
        loop {
            let Some(work) = queue.lock().unwrap().pop_front() else {
                return;
            };
            if let Err(error) = rounds.fetch(self, work, queue, last_problem) {
                fatal.lock().unwrap().get_or_insert(error);
                queue.lock().unwrap().clear();
                return;
            }
        }
    }

    /// Cuts the ranges into pieces and the pieces into requests: side by side through
    /// the file, or one after another `in_file_order`.
    fn batches(
        &self,
        wanted: &[Range<u64>],
        cuts: &Cuts,
        in_file_order: bool,
    ) -> VecDeque<Vec<Range<u64>>> {
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
        // several rounds would otherwise round up once per round. Requests in file order
        // follow each other rather than share the file side by side, so their count is
        // not capped at the connections (it stays within zsync's).
        let most = if in_file_order {
            u64::MAX
        } else {
            self.parallel.max(1) as u64
        };
        let wanted_requests = (total / PARALLEL_WORTHWHILE)
            .min((wanted.len() / ZSYNC_RANGES_PER_REQUEST) as u64)
            .clamp(1, most) as usize;
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
        if !in_file_order {
            batches = interleave(batches, self.parallel.max(1));
        }
        batches.into_iter().map(merge).collect()
    }

    fn fetch_batch(
        &self,
        receiver: &dyn Receiver,
        ranges: Vec<Range<u64>>,
        queue: &Queue<Vec<Range<u64>>>,
        last_problem: &Mutex<Option<Error>>,
    ) -> Result<()> {
        receiver.requested(&ranges);
        let tried = self.with_retries(Destination::TargetUrls, last_problem, |url, attempt| {
            let present = receiver.present();
            self.reporter.add_request();
            Ok(match self.http.get_ranges(url, &ranges) {
                Ok(RangeReply::Whole {
                    mirror: Some(mirror),
                    ..
                }) if attempt + 1 < MAX_ATTEMPTS => {
                    // One mirror of a redirector without ranges says nothing about the
                    // others: ask again before taking the whole file from it.
                    let problem =
                        Error::http(&mirror, "this mirror ignores range requests (HTTP 200)");
                    Tried::Again {
                        problem,
                        wait: None,
                    }
                }
                Ok(RangeReply::Whole { .. }) if ranges.len() > 1 => {
                    // Dropping the reply closes the connection before the body comes.
                    self.one_range_per_request(url, queue);
                    Tried::Over
                }
                Ok(reply) => match self
                    .receive(receiver, reply, url, &ranges)
                    .map_err(|e| e.naming(url))
                {
                    Ok(()) => Tried::Over,
                    Err(ReceiveError::Fatal(e)) => return Err(e),
                    Err(ReceiveError::Framing(e)) => {
                        self.fewer_ranges(ranges.len() / 2, &e);
                        *last_problem.lock().unwrap() = Some(e);
                        Tried::Over
                    }
                    Err(ReceiveError::Network(e)) if receiver.present() > present => {
                        // The reply broke off after bringing blocks: the next round asks
                        // for what is still missing rather than repeat this request.
                        *last_problem.lock().unwrap() = Some(e);
                        Tried::Over
                    }
                    Err(ReceiveError::Network(problem)) => Tried::Again {
                        problem,
                        wait: None,
                    },
                },
                Err(RequestError {
                    retry: Retry::Later(wait),
                    error,
                }) => Tried::Again {
                    problem: error,
                    wait,
                },
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
                    Tried::Requeued
                }
                Err(RequestError { retry: _, error }) => Tried::UrlFails(error),
            })
        });
        match tried {
            Ok(Tried::Requeued) => receiver.requeued(&ranges),
            _ => receiver.request_over(&ranges),
        }
        tried.map(drop)
    }

    /// One document in one request: its memory taken first (waiting while the documents
    /// in flight hold too much), its body handed to `receiver`.
    fn fetch_document(
        &self,
        receiver: &dyn DocumentReceiver,
        document: Document,
        last_problem: &Mutex<Option<Error>>,
    ) -> Result<()> {
        receiver.requested(&document);
        let destination = Destination::Own(&document.url);
        let tried = self.with_retries(destination, last_problem, |url, _| {
            let _room = receiver.room(&document);
            // Waiting for room can take as long as other documents take to arrive.
            self.control.checkpoint()?;
            if url.scheme() != "file" {
                self.reporter.add_request();
            }
            let (body, sent_from) = match self.http.get_file(url) {
                Ok(reply) => reply,
                Err(RequestError {
                    retry: Retry::Later(wait),
                    error,
                }) => {
                    return Ok(Tried::Again {
                        problem: error,
                        wait,
                    });
                }
                Err(RequestError { error, .. }) => return Ok(Tried::UrlFails(error)),
            };
            let fed = receiver.feed(&document, &sent_from, &mut self.counted(body));
            match fed.map_err(|e| e.naming(&sent_from)) {
                Ok(()) => Ok(Tried::Over),
                Err(ReceiveError::Fatal(error)) => Err(error),
                Err(ReceiveError::Network(problem) | ReceiveError::Framing(problem)) => {
                    Ok(Tried::Again {
                        problem,
                        wait: None,
                    })
                }
            }
        });
        receiver.request_over(&document);
        tried.map(drop)
    }

    /// Tries one request until it is over. A passing problem is tried again after a
    /// pause, longer each time and at least what the server asked for, up to
    /// [`MAX_ATTEMPTS`] times; then, or at once when the URL will not work, the target's
    /// next URL takes over if it has one, else the job fails.
    fn with_retries(
        &self,
        destination: Destination<'_>,
        last_problem: &Mutex<Option<Error>>,
        mut try_once: impl FnMut(&Url, u32) -> Result<Tried>,
    ) -> Result<Tried> {
        let mut attempt = 0;
        loop {
            self.control.checkpoint()?;
            let (url_index, url) = match destination {
                Destination::TargetUrls => {
                    let (index, url) = self.current_url()?;
                    (Some(index), url)
                }
                Destination::Own(url) => (None, url.clone()),
            };
            let move_on = |error: &Error| url_index.is_some_and(|i| self.give_up_url(i, error));
            let (problem, wait) = match try_once(&url, attempt)? {
                Tried::Again { problem, wait } => (problem, wait),
                Tried::UrlFails(error) if move_on(&error) => continue,
                Tried::UrlFails(error) => return Err(error),
                over => return Ok(over),
            };
            attempt += 1;
            if attempt >= MAX_ATTEMPTS {
                if move_on(&problem) {
                    attempt = 0;
                    continue;
                }
                return Err(problem);
            }
            *last_problem.lock().unwrap() = Some(problem);
            let backoff = Duration::from_millis(250 << attempt);
            self.control
                .sleep(wait.map_or(backoff, |wait| wait.max(backoff)))?;
        }
    }

    /// The target's URL that requests go to now, and its place in the list.
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
    fn one_range_per_request(&self, url: &Url, queue: &Queue<Vec<Range<u64>>>) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
