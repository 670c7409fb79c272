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
/// Shared by the UI and the follows' scheduler thread, hence `Send + Sync`.
pub trait Runner: Send + Sync {
    fn start(&self, spec: JobSpec, sink: UiSink) -> Box<dyn RunControl>;
}

/// The real engine, on threads that yield the CPU to the UI (see [`in_background`]).
pub struct EngineRunner;

impl Runner for EngineRunner {
    fn start(&self, spec: JobSpec, sink: UiSink) -> Box<dyn RunControl> {
        Box::new(in_background(move || Job::start(spec, sink)))
    }
}

/// How much lower than the UI the engine's threads run, on Linux (a `nice` increment).
pub const BACKGROUND_NICE: i32 = 10;

/// Runs `f` on a short-lived thread whose priority is below the caller's, and returns its
/// result: the job's thread, and on Linux the threads it starts, which inherit it. Hashing
/// a seed keeps every core busy; on a 2-core machine the UI thread then waited for a CPU
/// longer than it ran, and frames took 17-60 ms instead of 3-5 (bench/gui_frames.py).
/// Only the waiting changes: with a core free the job runs as fast.
pub fn in_background<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("deltadrop-background".into())
            .spawn_scoped(scope, || {
                lower_this_thread();
                f()
            })
            .expect("spawning a thread")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Creates the hashing thread pool (rayon's global one) with every thread below the UI's
/// priority. Windows and macOS threads do not inherit a priority from the thread that
/// starts them, so each pool thread lowers its own. Call before anything uses rayon.
pub fn lower_hashing_pool() {
    // Fails only when the pool exists already (a test harness that made it): keep that one.
    let _ = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("deltadrop-hash-{i}"))
        .start_handler(|_| lower_this_thread())
        .build_global();
}

/// Lowers the calling thread's priority, best effort: a failure leaves it as it was.
#[cfg(target_os = "linux")]
fn lower_this_thread() {
    // SAFETY: plain syscall wrappers without pointers. `who = 0` with PRIO_PROCESS is the
    // calling thread on Linux (its nice value is per thread).
    unsafe {
        let current = libc::getpriority(libc::PRIO_PROCESS, 0);
        libc::setpriority(libc::PRIO_PROCESS, 0, current + BACKGROUND_NICE);
    }
}

/// Lowers the calling thread's priority, best effort: a failure leaves it as it was.
#[cfg(windows)]
fn lower_this_thread() {
    use windows_sys::Win32::System::Threading::{
        GetCurrentThread, SetThreadPriority, THREAD_PRIORITY_BELOW_NORMAL,
    };
    // SAFETY: GetCurrentThread returns a pseudo-handle that needs no closing.
    unsafe {
        SetThreadPriority(GetCurrentThread(), THREAD_PRIORITY_BELOW_NORMAL);
    }
}

/// Lowers the calling thread's priority, best effort: a failure leaves it as it was.
/// macOS schedules by quality of service; "utility" is its class for long-running work
/// the user waits for but does not interact with.
#[cfg(target_os = "macos")]
fn lower_this_thread() {
    // SAFETY: sets the calling thread's own QoS class; no pointers.
    unsafe {
        libc::pthread_set_qos_class_self_np(libc::qos_class_t::QOS_CLASS_UTILITY, 0);
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
fn lower_this_thread() {}

/// Something that wakes the UI; `egui::Context` in the app.
pub trait Waker: Send + Sync + 'static {
    fn wake(&self);
}

impl Waker for egui::Context {
    fn wake(&self) {
        self.request_repaint();
    }
}

/// The GUI's event sink: hands each event on (to the UI's channel) and wakes the UI, at
/// most every `min_interval` for ordinary events (the UI also polls while a job runs), at
/// once for the ones that change what the user can do (phase, plan, the end).
#[derive(Clone)]
pub struct UiSink {
    deliver: Arc<dyn Fn(Event) -> bool + Send + Sync>,
    waker: Arc<dyn Waker>,
    epoch: Instant,
    last_wake_ms: Arc<AtomicU64>,
    min_interval: Duration,
}

impl UiSink {
    /// Sends the events to `tx`.
    pub fn new(tx: std::sync::mpsc::Sender<Event>, waker: Arc<dyn Waker>) -> Self {
        Self::delivering(move |event| tx.send(event).is_ok(), waker)
    }

    /// Hands the events to `deliver`, which says whether anyone still listens (a follow's
    /// check wraps them in the command that names the follow).
    pub fn delivering(
        deliver: impl Fn(Event) -> bool + Send + Sync + 'static,
        waker: Arc<dyn Waker>,
    ) -> Self {
        UiSink {
            deliver: Arc::new(deliver),
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
        if !(self.deliver)(event) {
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
