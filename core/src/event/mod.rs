//! Typed events a running job reports, and the sink they are sent to.
//!
//! Front ends never look inside the engine: they fold this stream into their own view
//! state. Block states travel as *runs* of blocks (`BlockRange`), so a front end can keep
//! one byte per block and draw a 150,000-block map without the engine sending, or the UI
//! copying, 150,000 values per frame.

mod report;

pub(crate) use report::Reporter;

use std::ops::Range;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use crate::blocks::FileHash;
use crate::format::Format;

/// What is known about one block of the target. `repr(u8)` so a front end can keep a
/// compact `Vec<BlockState>` (one byte per block) for drawing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum BlockState {
    /// Not yet found anywhere.
    #[default]
    Unknown = 0,
    /// Found in a local file (a seed, the old output or the `.part`).
    Local = 1,
    /// Requested from the server, not yet received.
    InFlight = 2,
    /// Received from the server and verified.
    Fetched = 3,
    /// The server's data for it did not verify, or the request failed for good.
    Failed = 4,
}

/// Where a block's data came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockSource {
    /// The seed with this index in `JobSpec::seeds`.
    Seed(usize),
    /// The `<out>.part` file left by an earlier, interrupted run.
    PartFile,
    /// The existing output file (the previous version).
    OldOutput,
    /// The network.
    Network,
}

/// The stages of a job, in order. A job may skip some (nothing to fetch, plan only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Downloading or reading and parsing the `.zsync` control file.
    LoadingControl,
    /// Looking for the target's blocks in local files.
    ScanningSeeds,
    /// Fetching the missing blocks over HTTP.
    Fetching,
    /// Checking the whole-file SHA-1.
    Verifying,
    /// Moving the verified file into place.
    Finishing,
    /// Finished (successfully or not: see `Event::Finished`).
    Done,
}

/// What the control file says about the target, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetInfo {
    /// How the target is published.
    pub format: Format,
    /// The control file's `Filename`, as written (untrusted); empty if it names none.
    pub filename: String,
    /// The target's size in bytes.
    pub length: u64,
    /// Bytes per block.
    pub block_size: u32,
    /// Blocks in the target: the length of a front end's block map.
    pub block_count: u64,
    /// Where each block ends, when blocks vary in size (zchunk's chunks); empty when all
    /// but the last are `block_size` bytes.
    pub block_ends: Vec<u64>,
    /// Where the target's data will be fetched from (absolute URLs), plain or compressed.
    pub urls: Vec<String>,
    /// True when the data comes from a gzip-compressed copy (`Z-URL`).
    pub compressed: bool,
    /// What the finished file must hash to, when the format names a whole-file hash
    /// (casync names only each chunk's).
    pub file_hash: Option<FileHash>,
    /// `MTime` as written in the control file.
    pub mtime: Option<String>,
}

impl TargetInfo {
    /// The target bytes of blocks `blocks`.
    pub fn bytes_of(&self, blocks: Range<u64>) -> Range<u64> {
        if blocks.is_empty() {
            return 0..0;
        }
        if self.block_ends.is_empty() {
            let size = u64::from(self.block_size);
            return (blocks.start * size).min(self.length)..(blocks.end * size).min(self.length);
        }
        let end_of = |block: u64| {
            let i = usize::try_from(block).unwrap_or(usize::MAX);
            self.block_ends.get(i).copied().unwrap_or(self.length)
        };
        let start = if blocks.start == 0 {
            0
        } else {
            end_of(blocks.start - 1)
        };
        start..end_of(blocks.end - 1)
    }
}

/// Byte counters; all totals since the job started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Target bytes found in local files.
    pub local_bytes: u64,
    /// Target bytes received from the network and verified.
    pub fetched_bytes: u64,
    /// Bytes received on the wire (bodies, including multipart framing and waste).
    pub wire_bytes: u64,
    /// HTTP requests sent for target data.
    pub requests: u64,
    /// The target's length.
    pub total_bytes: u64,
}

/// The cost of a download, known after seeds are scanned and before anything is fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Plan {
    /// The target's length in bytes.
    pub total_bytes: u64,
    /// Target bytes found in local files, so not fetched.
    pub local_bytes: u64,
    /// Blocks still to fetch from the network.
    pub missing_blocks: u64,
    /// Byte ranges (after merging adjacent blocks) to fetch.
    pub ranges: u64,
    /// Target bytes to fetch (for a compressed target: compressed bytes, an estimate).
    pub bytes_to_fetch: u64,
}

/// How a job ended well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The verified output file (None for a plan-only job).
    pub output: Option<PathBuf>,
    /// What the job planned to reuse and fetch (all zeros for an estimate, which plans
    /// nothing).
    pub plan: Plan,
    /// The byte counters as the job ended.
    pub progress: Progress,
    /// The verified file's hash: the one the format names (the control file's), or for a
    /// format that names none (casync), the file's SHA-256. `None` when only planning a
    /// target that names none.
    pub file_hash: Option<FileHash>,
    /// Wall-clock time from the job's start to its end.
    pub elapsed: Duration,
    /// For a follow's check ([`Mode::Follow`](crate::Mode::Follow)): what it found and
    /// what the folder holds now.
    pub follow: Option<FollowReport>,
}

/// What one check of a followed build found, and the builds its folder keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowReport {
    /// A new build was downloaded (else the newest was already there).
    pub new_build: bool,
    /// The newest build, under the name its control file gives it.
    pub newest: PathBuf,
    /// When the newest build was made, as its control file says (`MTime`, RFC 2822).
    pub built: Option<String>,
    /// The older builds kept beside it, newest first.
    pub kept: Vec<PathBuf>,
    /// Builds removed from the folder by this check (older than the ones kept).
    pub removed: Vec<PathBuf>,
    /// The control file the check read, after redirects and listings.
    pub control_url: String,
}

/// One thing that happened in a job.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The job entered this phase; phases only move forward.
    Phase(Phase),
    /// The control file was read; sent once, before any block event.
    ControlLoaded(TargetInfo),
    /// A local file is about to be scanned.
    SeedStarted {
        /// Which local file it is; later events about it carry the same value.
        source: BlockSource,
        /// The file's path.
        path: PathBuf,
        /// The file's size on disk in bytes (compressed, for a gzip seed).
        size: u64,
    },
    /// A local file was scanned; `blocks` of the target were taken from it.
    SeedFinished {
        /// The file scanned, as in its `SeedStarted`.
        source: BlockSource,
        /// Target blocks newly found in it (not counting ones found earlier).
        blocks: u64,
        /// Those blocks times the block size, capped at the target's length.
        bytes: u64,
    },
    /// A local file could not be used (unreadable, missing); the job goes on without it.
    SeedSkipped {
        /// The file that was skipped.
        source: BlockSource,
        /// The file's path.
        path: PathBuf,
        /// Why, as a message for the user.
        reason: String,
    },
    /// How much of the target a seed would supply, estimated from samples of it: one per
    /// seed, in order, in a job in `Mode::EstimateSeeds` (a seed that cannot be read gets
    /// a `SeedSkipped` instead).
    SeedEstimate {
        /// Which seed it is.
        source: BlockSource,
        /// The seed's path.
        path: PathBuf,
        /// Target bytes it would supply, estimated.
        bytes: u64,
        /// `bytes` as a share of the target's length, 0 to 1 (1 for an empty target,
        /// which any seed supplies).
        fraction_of_target: f32,
    },
    /// Blocks `blocks` changed to `state`.
    Blocks {
        /// Block indices, end exclusive.
        blocks: Range<u64>,
        /// Their new state.
        state: BlockState,
        /// The local file they were found in; `Network` for in-flight, fetched and failed ones.
        source: BlockSource,
    },
    /// The scan is done and this is what remains to fetch; sent in plan-only jobs too.
    Planned(Plan),
    /// Byte counters, sent at most a few times a second, and once at the end of each phase.
    Progress(Progress),
    /// Something the user should know that does not stop the job.
    Notice(String),
    /// The last event of every job.
    Finished(Result<Summary, crate::Error>),
}

/// Receives a job's events. Called from the job's threads: keep it cheap (send to a
/// channel, wake a UI).
pub trait EventSink: Send + Sync + 'static {
    /// Takes one event; must not block for long, or the job waits with it.
    fn emit(&self, event: Event);
}

impl EventSink for mpsc::Sender<Event> {
    fn emit(&self, event: Event) {
        // A receiver that went away only means nobody watches; the job goes on.
        let _ = self.send(event);
    }
}

/// A sink that drops everything, for callers that only want the result.
pub struct NullSink;

impl EventSink for NullSink {
    fn emit(&self, _event: Event) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(length: u64, block_size: u32, block_ends: Vec<u64>) -> TargetInfo {
        TargetInfo {
            format: Format::Zchunk,
            filename: String::new(),
            length,
            block_size,
            block_count: block_ends.len() as u64,
            block_ends,
            urls: Vec::new(),
            compressed: false,
            file_hash: None,
            mtime: None,
        }
    }

    #[test]
    fn blocks_of_one_size_or_of_any() {
        let fixed = info(2500, 1000, Vec::new());
        assert_eq!(fixed.bytes_of(0..1), 0..1000);
        assert_eq!(fixed.bytes_of(1..3), 1000..2500);
        let chunks = info(2500, 0, vec![100, 100, 2000, 2500]);
        assert_eq!(chunks.bytes_of(0..1), 0..100);
        assert_eq!(chunks.bytes_of(1..2), 100..100);
        assert_eq!(chunks.bytes_of(1..4), 100..2500);
        assert_eq!(chunks.bytes_of(2..2), 0..0);
    }
}
