//! The engine's side of the event stream: counters several threads add to, throttled
//! `Progress` events, and block-run events.

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::event::{BlockSource, BlockState, Event, EventSink, Progress};

const PROGRESS_EVERY: Duration = Duration::from_millis(100);

pub(crate) struct Reporter<'s> {
    sink: &'s dyn EventSink,
    local: AtomicU64,
    fetched: AtomicU64,
    wire: AtomicU64,
    requests: AtomicU64,
    total: AtomicU64,
    last_progress: Mutex<Instant>,
}

impl<'s> Reporter<'s> {
    pub fn new(sink: &'s dyn EventSink) -> Self {
        Reporter {
            sink,
            local: AtomicU64::new(0),
            fetched: AtomicU64::new(0),
            wire: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            total: AtomicU64::new(0),
            last_progress: Mutex::new(Instant::now()),
        }
    }

    pub fn emit(&self, event: Event) {
        self.sink.emit(event);
    }

    pub fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }

    pub fn add_local(&self, bytes: u64) {
        self.local.fetch_add(bytes, Ordering::Relaxed);
        self.maybe_progress();
    }

    pub fn add_fetched(&self, bytes: u64) {
        self.fetched.fetch_add(bytes, Ordering::Relaxed);
        self.maybe_progress();
    }

    pub fn add_wire(&self, bytes: u64) {
        self.wire.fetch_add(bytes, Ordering::Relaxed);
        self.maybe_progress();
    }

    pub fn add_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Progress {
        Progress {
            local_bytes: self.local.load(Ordering::Relaxed),
            fetched_bytes: self.fetched.load(Ordering::Relaxed),
            wire_bytes: self.wire.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            total_bytes: self.total.load(Ordering::Relaxed),
        }
    }

    /// Sends the counters now (end of a phase).
    pub fn progress_now(&self) {
        *self.last_progress.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.sink.emit(Event::Progress(self.snapshot()));
    }

    fn maybe_progress(&self) {
        let due = {
            let Ok(mut last) = self.last_progress.try_lock() else {
                return;
            };
            let due = last.elapsed() >= PROGRESS_EVERY;
            if due {
                *last = Instant::now();
            }
            due
        };
        if due {
            self.sink.emit(Event::Progress(self.snapshot()));
        }
    }

    pub fn blocks(
        &self,
        runs: impl IntoIterator<Item = Range<u64>>,
        state: BlockState,
        source: BlockSource,
    ) {
        for blocks in runs {
            self.sink.emit(Event::Blocks {
                blocks,
                state,
                source,
            });
        }
    }
}
