//! deltadrop-core: download a file by fetching only what changed, zsync style.
//!
//! A publisher puts a big file and its `.zsync` control file on a plain HTTP(S) server.
//! The control file lists a weak (rolling) and a strong (MD4) checksum per block. The
//! client scans local files it already has (*seeds*) for those blocks at every byte
//! offset, fetches only the missing blocks as HTTP range requests, checks every block,
//! then the whole-file SHA-1, and only then replaces the output.
//!
//! The crate is layered the way zsync is: [`rsum`] and [`index`] know checksums and
//! blocks only; [`control`], [`ranges`] and [`plan`] know the control file and byte
//! ranges but no I/O; [`seed`], [`output`] and [`http`] do the I/O; [`engine`] strings them
//! together. The one public entry is [`Job`]: it runs on its own thread, reports typed
//! [`Event`]s to an [`EventSink`], and can be paused or cancelled.
//!
//! ```no_run
//! use deltadrop_core::{ControlSource, Event, Job, JobSpec};
//! let mut spec = JobSpec::new(ControlSource::parse("https://example.org/image.img.zsync"));
//! spec.seeds.push("old-image.img".into());
//! let (tx, rx) = std::sync::mpsc::channel();
//! let job = Job::start(spec, tx);
//! for event in rx {
//!     if let Event::Finished(result) = event {
//!         println!("{result:?}");
//!     }
//! }
//! # drop(job);
//! ```

pub mod control;
pub mod digest;
mod engine;
pub mod error;
pub mod event;
mod fetch;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod gzip;
mod http;
pub mod index;
pub mod job;
pub mod make;
mod md4x;
pub mod multipart;
pub mod output;
pub mod ranges;
mod recompress;
mod report;
pub mod rsum;
mod seed;
pub mod serve;
#[cfg(test)]
mod test_data;
mod zfetch;
mod zmake;

pub use control::ControlFile;
pub use digest::{FileHash, FileHashAlgorithm, StrongHash};
pub use engine::is_safe_file_name;
pub use error::{Error, Result, shown_url};
pub use event::{
    BlockSource, BlockState, Event, EventSink, NullSink, Phase, Plan, Progress, Summary, TargetInfo,
};
pub use engine::{Job, JobHandle};
pub use job::{ControlSource, Credentials, JobOptions, JobSpec, Mode};
