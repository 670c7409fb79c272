//! What the app remembers about each followed build: what is followed and how (URL,
//! folder, builds kept, how often, paused, the user's own seeds) and how its last check
//! went. Plain data, saved with the settings; the engine keeps its own state in the
//! folder (`.deltadrop-follow/`), which is what decides what is downloaded and deleted.

use std::path::{Path, PathBuf};

use deltadrop_core::{ControlSource, Error, JobOptions, JobSpec, Mode, Summary, shown_url};
use serde::{Deserialize, Serialize};

use crate::gui::model::human_bytes;
use crate::gui::worker::guess_target_name;

/// Tells follows apart in commands; never reused within one save.
pub type FollowId = u64;

/// Builds a new follow keeps, the newest included.
pub const DEFAULT_KEEP_BUILDS: usize = 3;
/// How often a new follow is checked.
pub const DEFAULT_INTERVAL_SECS: u64 = 3600;
/// The intervals offered, with what they are called after "every".
pub const INTERVALS: [(u64, &str); 4] = [
    (15 * 60, "15 minutes"),
    (3600, "hour"),
    (6 * 3600, "6 hours"),
    (24 * 3600, "day"),
];

/// "every hour", or for an interval set by hand "every 2h 00m".
pub fn interval_name(seconds: u64) -> String {
    INTERVALS.iter().find(|(s, _)| *s == seconds).map_or_else(
        || {
            let every = std::time::Duration::from_secs(seconds);
            crate::gui::model::human_duration(every)
        },
        |(_, name)| name.to_string(),
    )
}

/// One followed build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Follow {
    pub id: FollowId,
    /// The control file's stable ("latest") URL, as the user gave it.
    pub url: String,
    /// Where the builds go.
    pub folder: PathBuf,
    pub keep_builds: usize,
    pub interval_secs: u64,
    /// Not checked on schedule ("Check now" still checks).
    pub paused: bool,
    /// The user's own seeds, besides the builds the folder keeps.
    pub seeds: Vec<PathBuf>,
    /// When the last check started, in seconds since the Unix epoch.
    pub last_check_unix: Option<u64>,
    pub last_outcome: Option<CheckOutcome>,
    /// The newest build the follow has seen in its folder.
    pub last_build: Option<BuildSeen>,
    /// Checks that failed since the last one that did not.
    pub failures_in_a_row: u32,
}

impl Default for Follow {
    fn default() -> Self {
        Follow {
            id: 0,
            url: String::new(),
            folder: PathBuf::new(),
            keep_builds: DEFAULT_KEEP_BUILDS,
            interval_secs: DEFAULT_INTERVAL_SECS,
            paused: false,
            seeds: Vec::new(),
            last_check_unix: None,
            last_outcome: None,
            last_build: None,
            failures_in_a_row: 0,
        }
    }
}

/// How a check ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckOutcome {
    NewBuild,
    UpToDate,
    /// The engine's message and its hint (what to do).
    Failed {
        message: String,
        hint: String,
    },
    Cancelled,
}

/// The newest build of a follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct BuildSeen {
    pub file: PathBuf,
    /// When it was made, as its control file says (`MTime`, RFC 2822).
    pub built: Option<String>,
    /// Its size; unknown for a build this app did not download.
    pub size: Option<u64>,
    /// How much of it came from local files (kept builds, seeds).
    pub reused_bytes: Option<u64>,
}

/// What a check has to tell the user on the desktop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A new build is ready: its file name and what was reused.
    NewBuild { file: String, reused: String },
    /// The follow failed twice in a row.
    Failing { name: String, error: String },
}

/// "3.61 MiB of 3.81 MiB reused (94.8%)".
pub fn reused_text(reused: u64, size: u64) -> String {
    let percent = if size == 0 {
        0.0
    } else {
        reused as f64 * 100.0 / size as f64
    };
    format!(
        "{} of {} reused ({percent:.1}%)",
        human_bytes(reused),
        human_bytes(size)
    )
}

/// "01 Dec 2026 03:00" from an RFC 2822 `MTime` ("Tue, 01 Dec 2026 03:00:00 +0000");
/// anything else as it is.
pub fn built_date(mtime: &str) -> String {
    let without_day = mtime.split_once(", ").map_or(mtime, |(_, rest)| rest);
    let parts: Vec<&str> = without_day.split(' ').collect();
    match parts.as_slice() {
        [day, month, year, time, zone] if time.len() == 8 => {
            format!("{day} {month} {year} {} {zone}", &time[..5])
        }
        _ => mtime.to_string(),
    }
}

impl Follow {
    /// What the user calls it: the newest build's file name, else the one the URL suggests.
    pub fn name(&self) -> String {
        self.last_build
            .as_ref()
            .and_then(|b| b.file.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .or_else(|| guess_target_name(&self.url))
            .unwrap_or_else(|| shown_url(&self.url))
    }

    /// The engine job of one check, with `options` from the settings.
    pub fn spec(&self, options: &JobOptions) -> JobSpec {
        let mut spec = JobSpec::new(ControlSource::Url(self.url.clone()));
        spec.output = Some(self.folder.clone());
        spec.seeds = self.seeds.clone();
        spec.options = options.clone();
        spec.options.mode = Mode::Follow;
        spec.options.keep_builds = self.keep_builds.max(1);
        spec
    }

    /// Folds in how a check ended; says what to tell the user, if anything.
    pub fn record(&mut self, result: &Result<Summary, Error>) -> Option<Notice> {
        match result {
            Ok(summary) => {
                self.failures_in_a_row = 0;
                let report = summary.follow.as_ref();
                if let Some(report) = report.filter(|r| r.new_build) {
                    let build = BuildSeen {
                        file: report.newest.clone(),
                        built: report.built.clone(),
                        size: Some(summary.plan.total_bytes),
                        reused_bytes: Some(summary.plan.local_bytes),
                    };
                    self.last_build = Some(build);
                    self.last_outcome = Some(CheckOutcome::NewBuild);
                    return Some(Notice::NewBuild {
                        file: file_name(&report.newest),
                        reused: reused_text(summary.plan.local_bytes, summary.plan.total_bytes),
                    });
                }
                self.last_outcome = Some(CheckOutcome::UpToDate);
                // A folder followed before (or by the command line) already has its build.
                if let Some(report) = report
                    && self.last_build.as_ref().map(|b| &b.file) != Some(&report.newest)
                    && !report.newest.as_os_str().is_empty()
                {
                    self.last_build = Some(BuildSeen {
                        file: report.newest.clone(),
                        built: report.built.clone(),
                        ..BuildSeen::default()
                    });
                }
                None
            }
            Err(Error::Cancelled) => {
                self.last_outcome = Some(CheckOutcome::Cancelled);
                None
            }
            Err(err) => {
                self.failures_in_a_row += 1;
                self.last_outcome = Some(CheckOutcome::Failed {
                    message: err.to_string(),
                    hint: err.hint().to_string(),
                });
                (self.failures_in_a_row == 2).then(|| Notice::Failing {
                    name: self.name(),
                    error: err.to_string(),
                })
            }
        }
    }
}

/// The folder a download into `output` puts its file in: `output` itself, unless it
/// names the file (its last component is the target's name), decided without touching
/// the disk.
pub fn folder_of(output: &Path, target_name: Option<&str>) -> PathBuf {
    let names_the_file = target_name.is_some_and(|name| {
        output
            .file_name()
            .is_some_and(|n| n.to_string_lossy() == name)
    });
    match output.parent() {
        Some(parent) if names_the_file => parent.to_path_buf(),
        _ => output.to_path_buf(),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltadrop_core::{FollowReport, Plan, Progress};
    use std::time::Duration;

    fn summary(new_build: bool, newest: &str) -> Summary {
        Summary {
            output: Some(newest.into()),
            plan: Plan {
                total_bytes: 4000,
                local_bytes: 3000,
                ..Plan::default()
            },
            progress: Progress::default(),
            file_hash: None,
            elapsed: Duration::ZERO,
            follow: Some(FollowReport {
                new_build,
                newest: newest.into(),
                built: Some("Tue, 01 Dec 2026 03:00:00 +0000".into()),
                kept: Vec::new(),
                removed: Vec::new(),
                control_url: "http://h/latest/image.img.zsync".into(),
            }),
        }
    }

    fn follow() -> Follow {
        Follow {
            url: "http://h/latest/image.img.zsync".into(),
            folder: "/builds".into(),
            ..Follow::default()
        }
    }

    #[test]
    fn a_new_build_is_remembered_and_announced_with_what_was_reused() {
        let mut f = follow();
        let notice = f.record(&Ok(summary(true, "/builds/image.img")));
        assert_eq!(
            notice,
            Some(Notice::NewBuild {
                file: "image.img".into(),
                reused: "2.93 KiB of 3.91 KiB reused (75.0%)".into()
            })
        );
        assert_eq!(f.last_outcome, Some(CheckOutcome::NewBuild));
        let build = f.last_build.clone().unwrap();
        assert_eq!((build.size, build.reused_bytes), (Some(4000), Some(3000)));
        // Nothing new: the build stays as it was, and nobody is told.
        assert_eq!(f.record(&Ok(summary(false, "/builds/image.img"))), None);
        assert_eq!(f.last_outcome, Some(CheckOutcome::UpToDate));
        assert_eq!(f.last_build, Some(build));
    }

    #[test]
    fn the_second_failure_in_a_row_is_announced_once_and_a_success_resets_the_count() {
        let mut f = follow();
        let error = Err(Error::Http {
            url: f.url.clone(),
            problem: "connection refused".into(),
        });
        assert_eq!(f.record(&error), None);
        assert!(matches!(
            f.record(&error),
            Some(Notice::Failing { name, .. }) if name == "image.img"
        ));
        assert_eq!(f.record(&error), None, "told once, not at every failure");
        assert_eq!(f.failures_in_a_row, 3);
        assert_eq!(f.record(&Err(Error::Cancelled)), None);
        assert_eq!(f.failures_in_a_row, 3, "a cancelled check is no failure");
        f.record(&Ok(summary(false, "/builds/image.img")));
        assert_eq!(f.failures_in_a_row, 0);
        // An up-to-date folder followed anew names its build, size unknown.
        let build = f.last_build.clone().unwrap();
        assert_eq!(build.file, PathBuf::from("/builds/image.img"));
        assert_eq!(build.size, None);
    }

    #[test]
    fn specs_names_dates_and_folders() {
        let mut f = follow();
        f.keep_builds = 0;
        f.seeds = vec!["/old/image.img".into()];
        let spec = f.spec(&JobOptions::default());
        assert_eq!(spec.options.mode, Mode::Follow);
        assert_eq!(spec.options.keep_builds, 1, "at least the newest is kept");
        assert_eq!(spec.output.as_deref(), Some(Path::new("/builds")));
        assert_eq!(spec.seeds, f.seeds);
        assert_eq!(f.name(), "image.img");
        assert_eq!(
            built_date("Tue, 01 Dec 2026 03:00:00 +0000"),
            "01 Dec 2026 03:00 +0000"
        );
        assert_eq!(built_date("yesterday"), "yesterday");
        assert_eq!(interval_name(3600), "hour");
        assert_eq!(interval_name(7200), "2h 00m");
        let target = Some("image.img");
        assert_eq!(
            folder_of(Path::new("/b/image.img"), target),
            PathBuf::from("/b")
        );
        assert_eq!(folder_of(Path::new("/b"), target), PathBuf::from("/b"));
        assert_eq!(
            folder_of(Path::new("/b/x.img"), None),
            PathBuf::from("/b/x.img")
        );
    }
}
