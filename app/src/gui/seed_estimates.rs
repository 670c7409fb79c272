//! Seeds found by content: files in the folders the user downloads into and picks seeds
//! from, estimated against the target by a `Mode::EstimateSeeds` job (about 1/32 of each
//! file is read), so that a build saved under another name is offered too, with how much
//! of the target it would supply. The suggestions by name ([`super::worker::Suggestions`])
//! only see files named like the target.
//!
//! The app asks a worker for the candidates ([`deltadrop_core::candidate_seeds`]: listing
//! folders is I/O the UI thread must not do), starts the estimate through its
//! [`Runner`] and folds the job's events in here each frame. A new form (another URL,
//! another folder) or a download cancels the estimate: dropping it cancels its job.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, channel};

use deltadrop_core::{Event, JobSpec, WORTH_A_SEED};

use super::follows::model::folder_of;
use super::persist::HistoryEntry;
use super::runner::{RunControl, Runner, UiSink, Waker};
use super::worker::guess_target_name;

/// How many recent downloads lend their folders (and their seeds' folders) to the look.
pub const RECENT_DOWNLOADS: usize = 10;

/// What an estimate was made for: the control file and the folders looked in. Another
/// key means another estimate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EstimateKey {
    pub control: String,
    pub folders: Vec<PathBuf>,
}

/// A candidate's estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedEstimate {
    pub path: PathBuf,
    /// Target bytes it would supply, estimated.
    pub bytes: u64,
    /// `bytes` as a share of the target, 0 to 1.
    pub share: f32,
}

/// A running (or finished) estimate of the candidates, and what it found so far.
pub struct SeedEstimates {
    pub key: EstimateKey,
    /// How many files are being estimated.
    pub candidates: usize,
    /// The estimates made so far, in the order they came.
    pub found: Vec<SeedEstimate>,
    /// The job ended (done, failed or cancelled).
    pub finished: bool,
    control: Box<dyn RunControl>,
    rx: Receiver<Event>,
}

impl SeedEstimates {
    /// Starts estimating the files `spec.seeds` (the candidates) through `runner`.
    pub fn start(
        key: EstimateKey,
        spec: JobSpec,
        runner: &dyn Runner,
        waker: std::sync::Arc<dyn Waker>,
    ) -> Self {
        let (tx, rx) = channel();
        let candidates = spec.seeds.len();
        let control = runner.start(spec, UiSink::new(tx, waker));
        SeedEstimates {
            key,
            candidates,
            found: Vec::new(),
            finished: false,
            control,
            rx,
        }
    }

    /// Folds the job's new events in.
    pub fn drain(&mut self) {
        for event in self.rx.try_iter() {
            match event {
                Event::SeedEstimate {
                    path,
                    bytes,
                    fraction_of_target,
                    ..
                } => self.found.push(SeedEstimate {
                    path,
                    bytes,
                    share: fraction_of_target,
                }),
                Event::Finished(_) => self.finished = true,
                _ => {}
            }
        }
    }

    /// The candidates worth a seed (at least [`WORTH_A_SEED`] of the target) that are
    /// not among `chosen`, the biggest share first (then in the order they came).
    pub fn worth_a_seed(&self, chosen: &[PathBuf]) -> Vec<&SeedEstimate> {
        let mut worth: Vec<&SeedEstimate> = self
            .found
            .iter()
            .filter(|e| e.share >= WORTH_A_SEED && !chosen.contains(&e.path))
            .collect();
        worth.sort_by(|a, b| b.share.total_cmp(&a.share));
        worth
    }
}

impl Drop for SeedEstimates {
    /// An estimate nobody will show stops at the engine's next checkpoint.
    fn drop(&mut self) {
        if !self.finished {
            self.control.cancel();
        }
    }
}

/// Where candidates are looked for, in this order: the folder the download goes into,
/// the folders of the last [`RECENT_DOWNLOADS`] downloads' outputs and seeds, and the
/// folders the user named in Settings (one a line). Each once.
pub fn folders_to_look_in(
    output_folder: &Path,
    history: &[HistoryEntry],
    user_folders: &str,
) -> Vec<PathBuf> {
    let mut folders = vec![output_folder.to_path_buf()];
    for entry in history.iter().take(RECENT_DOWNLOADS) {
        let written = entry.written.as_deref().and_then(Path::parent);
        let output = entry
            .output
            .as_deref()
            .map(|o| folder_of(o, guess_target_name(&entry.control).as_deref()));
        let seeds = entry.seeds.iter().filter_map(|s| s.parent());
        folders.extend(written.map(Path::to_path_buf));
        folders.extend(output);
        folders.extend(seeds.map(Path::to_path_buf));
    }
    let named = user_folders
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty());
    folders.extend(named.map(PathBuf::from));
    let mut unique = Vec::new();
    for folder in folders {
        if !folder.as_os_str().is_empty() && !unique.contains(&folder) {
            unique.push(folder);
        }
    }
    unique
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_folder_then_recent_downloads_then_the_users_folders_each_once() {
        let entry = HistoryEntry {
            control: "https://h/image-1202.img.zsync".into(),
            seeds: vec![PathBuf::from("/old/a.img"), PathBuf::from("/out/b.img")],
            output: Some(PathBuf::from("/elsewhere/image-1202.img")),
            written: Some(PathBuf::from("/elsewhere/image-1202.img")),
            ..HistoryEntry::default()
        };
        let failed = HistoryEntry {
            control: "https://h/x.zsync".into(),
            output: Some(PathBuf::from("/failed")),
            ..HistoryEntry::default()
        };
        let folders = folders_to_look_in(Path::new("/out"), &[entry, failed], "  /mine \n\n/old\n");
        let expected = ["/out", "/elsewhere", "/old", "/failed", "/mine"];
        assert_eq!(folders, expected.map(PathBuf::from));
    }
}
