//! deltadrop-core: download a file by fetching only what changed, zsync style.
//!
//! A publisher puts a big file and its `.zsync` control file on a plain HTTP(S) server.
//! The control file lists a weak (rolling) and a strong (MD4) checksum per block. The
//! client scans local files it already has (*seeds*) for those blocks at every byte
//! offset, fetches only the missing blocks as HTTP range requests, checks every block,
//! then the whole-file SHA-1, and only then replaces the output.
//!
//! The crate is layered the way zsync is, one folder per layer, each using only the ones
//! before it: `blocks` (the rolling and strong sums and the block geometry; no I/O),
//! `control` (the `.zsync` format), `scan` (the index of weak sums and the seed scan),
//! `part` (the file being built), `gzip` (inflating from a Z-Map checkpoint), `fetch`
//! (HTTP, the transport with its retries and fallbacks, plain and gzip targets), `make`
//! (writing control files), `estimate` (how much of a target a seed would supply, from
//! samples of it) and `engine`, which runs them as the stages of a job. The one
//! public entry is [`Job`]: it runs on its own thread, reports typed [`Event`]s to an
//! [`EventSink`], and can be paused or cancelled. `ARCHITECTURE.md` follows one block
//! through them.
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

#![deny(missing_docs)]

mod blocks;
mod casync;
mod control;
mod engine;
mod error;
mod estimate;
mod event;
mod fetch;
mod follow;
mod format;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod gzip;
mod job;
mod make;
mod part;
mod scan;
pub mod serve;
mod spares;
#[cfg(test)]
mod test_data;
mod zck;

pub use blocks::{FileHash, FileHashAlgorithm, StrongHash};
pub use casync::{CasyncMade, write_casync_index};
pub use control::ControlFile;
pub use engine::{Job, JobHandle};
pub use error::{Error, Result, shown_url};
pub use estimate::{MAX_CANDIDATES, MIN_CANDIDATE_LEN, WORTH_A_SEED, candidate_seeds};
pub use event::{
    BlockSource, BlockState, Event, EventSink, FollowReport, NullSink, Phase, Plan, Progress,
    Summary, TargetInfo,
};
pub use follow::{Latest, latest_build};
pub use format::{Format, Noun};
pub use job::{
    ClientCert, Control, ControlSource, Credentials, HostHeader, JobOptions, JobSpec, Mode,
};
pub use make::{MakeOptions, write_control_file};
pub use part::is_safe_file_name;
pub use zck::{ZckMade, write_zck};
