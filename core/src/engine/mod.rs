//! The engine: a [`Job`] runs a [`JobSpec`] on its own thread through one sequence for
//! every format ([`pipeline`]: load, open, take what is local, plan, fetch and verify,
//! install; the shared stages in [`stages`]), reporting [`Event`]s to an [`EventSink`];
//! its [`JobHandle`] pauses, cancels and waits for it. Each format is a
//! [`pipeline::Target`] in its own file: [`zsync`], [`zchunk`], [`casync`], listed once,
//! in `kind_of`. A job that only estimates seeds ([`estimate`]) stops after loading.

mod casync;
mod estimate;
mod follow;
mod pipeline;
mod stages;
mod zchunk;
mod zsync;

use std::thread::JoinHandle;

use crate::error::{Error, Result};
use crate::event::{Event, EventSink, Summary};
use crate::format::Format;
use crate::job::{Control, JobSpec, Mode};
use pipeline::Kind;

/// A started job.
pub struct JobHandle {
    control: Control,
    thread: JoinHandle<Result<Summary>>,
}

impl JobHandle {
    /// Asks the job to stop at its next checkpoint; it finishes with `Error::Cancelled`.
    pub fn cancel(&self) {
        self.control.cancel();
    }
    /// Pauses (`true`) or resumes (`false`) the job at its next checkpoint.
    pub fn set_paused(&self, paused: bool) {
        self.control.set_paused(paused);
    }
    /// True once the job's thread has ended, so `join` will not block.
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }
    /// Waits for the job; the same result was also sent as `Event::Finished`.
    pub fn join(self) -> Result<Summary> {
        self.thread
            .join()
            .unwrap_or_else(|_| Err(Error::Invalid("the job's thread panicked".into())))
    }
}

/// Starts jobs.
pub struct Job;

impl Job {
    /// Starts `spec` on a new thread. Every job ends with exactly one `Event::Finished`.
    pub fn start(spec: JobSpec, sink: impl EventSink) -> JobHandle {
        let control = Control::default();
        let job_control = control.clone();
        let thread = std::thread::Builder::new()
            .name("deltadrop-job".into())
            .spawn(move || {
                let result = run(&spec, &sink, &job_control);
                sink.emit(Event::Finished(result.clone()));
                result
            })
            .expect("spawning the job thread");
        JobHandle { control, thread }
    }

    /// Runs `spec` on the calling thread (for callers that already are a worker).
    pub fn run(spec: &JobSpec, sink: &dyn EventSink, control: &Control) -> Result<Summary> {
        let result = run(spec, sink, control);
        sink.emit(Event::Finished(result.clone()));
        result
    }
}

/// Runs a job: a follow's check, or a download (or its plan) in the format its control
/// source is published in.
fn run(spec: &JobSpec, sink: &dyn EventSink, control: &Control) -> Result<Summary> {
    if spec.options.mode == Mode::Follow {
        return follow::run(spec, sink, control);
    }
    (kind_of(spec.control.format()).run)(spec, sink, control)
}

/// Each format's [`pipeline::Target`]: the one place the engine lists the formats.
fn kind_of(format: Format) -> Kind {
    match format {
        Format::Zsync => Kind::of::<zsync::Zsync>(),
        Format::Zchunk => Kind::of::<zchunk::Zck>(),
        Format::Casync => Kind::of::<casync::Blob>(),
    }
}
