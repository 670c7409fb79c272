//! The seam between the GUI and the engine: the app starts jobs through a [`Runner`], so
//! tests can replace the engine with a scripted one and drive every UI state.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use deltadrop_core::{Event, EventSink, Job, JobHandle, JobSpec};

/// What the app can do to a started job.
pub trait RunControl: Send {
    fn cancel(&self);
    fn set_paused(&self, paused: bool);
}

impl RunControl for JobHandle {
    fn cancel(&self) {
        JobHandle::cancel(self);
    }
    fn set_paused(&self, paused: bool) {
        JobHandle::set_paused(self, paused);
    }
}

/// Starts jobs. Every started job must end with exactly one `Event::Finished` on `sink`.
pub trait Runner {
    fn start(&self, spec: JobSpec, sink: UiSink) -> Box<dyn RunControl>;
}

/// The real engine.
pub struct EngineRunner;

impl Runner for EngineRunner {
    fn start(&self, spec: JobSpec, sink: UiSink) -> Box<dyn RunControl> {
        Box::new(Job::start(spec, sink))
    }
}

/// Something that wakes the UI; `egui::Context` in the app.
pub trait Waker: Send + Sync + 'static {
    fn wake(&self);
}

impl Waker for egui::Context {
    fn wake(&self) {
        self.request_repaint();
    }
}

/// The GUI's event sink: sends each event to the UI's channel and wakes the UI, at most
/// every `min_interval` for ordinary events (the UI also polls while a job runs), at once
/// for the ones that change what the user can do (phase, plan, the end).
#[derive(Clone)]
pub struct UiSink {
    tx: std::sync::mpsc::Sender<Event>,
    waker: Arc<dyn Waker>,
    epoch: Instant,
    last_wake_ms: Arc<AtomicU64>,
    min_interval: Duration,
}

impl UiSink {
    pub fn new(tx: std::sync::mpsc::Sender<Event>, waker: Arc<dyn Waker>) -> Self {
        UiSink {
            tx,
            waker,
            epoch: Instant::now(),
            last_wake_ms: Arc::new(AtomicU64::new(0)),
            min_interval: Duration::from_millis(33),
        }
    }
}

impl EventSink for UiSink {
    fn emit(&self, event: Event) {
        let urgent = matches!(
            event,
            Event::Phase(_) | Event::Planned(_) | Event::Finished(_) | Event::ControlLoaded(_)
        );
        if self.tx.send(event).is_err() {
            return; // Nobody is watching any more.
        }
        let now_ms = self.epoch.elapsed().as_millis() as u64 + 1;
        let last = self.last_wake_ms.load(Ordering::Relaxed);
        if urgent || now_ms.saturating_sub(last) >= self.min_interval.as_millis() as u64 {
            self.last_wake_ms.store(now_ms, Ordering::Relaxed);
            self.waker.wake();
        }
    }
}
