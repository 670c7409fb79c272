//! One check of a followed build ([`Mode::Follow`]): is there a new build, and if so,
//! download it into the folder with the builds kept there as seeds.
//!
//! The check is cheap: the control file is asked for with the validators the server sent
//! last time, and a `304` ends the check after one request and no body. A server without
//! validators sends the control file again; the build's identity (the whole-file hash a
//! `.zsync` promises, a `.zck` header's checksum, a casync index's own hash) then says
//! whether it is new. A new build is downloaded from the very control file the check read,
//! saved in the folder's state, so a build published in between cannot mix into it; if
//! the data no longer matches it (the next build replaced it meanwhile), the check reads
//! the control file again once and the newer build wins.
//!
//! The newest build always has the name its control file gives it; the build it replaces
//! is renamed to carry its date, and builds past `keep_builds` are removed, but only after
//! the new one is verified and in place, and only files the follow wrote and nobody has
//! changed since. A check that fails leaves every kept build as it was; the download's
//! `.part` is picked up by the next check.
//!
//! The first build into a folder has no kept build to start from; the folder's other
//! files are then estimated against it, and those that hold enough of it are seeds.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use url::Url;

use super::kind_of;
use super::pipeline::{Described, Kind};
use super::stages::{parse_mtime, parse_url};
use crate::error::{Error, Result, shown_url};
use crate::estimate::{WORTH_A_SEED, candidate_seeds};
use crate::event::{Event, EventSink, FollowReport, Plan, Reporter, Summary};
use crate::fetch::{Fresh, Http, HttpConfig, Validators};
use crate::follow::{FolderLock, FollowState, KeptBuild, Pattern, kept_name, resolve_latest};
use crate::format::Format;
use crate::job::{Control, ControlSource, JobSpec, Mode};
use crate::part::{is_safe_file_name, safe_name_from_url};
use crate::part::{old_path, part_path, write_atomically};

/// Runs one check of the follow `spec` describes: `spec.output` is its folder.
pub(super) fn run(spec: &JobSpec, sink: &dyn EventSink, control: &Control) -> Result<Summary> {
    let started = Instant::now();
    let folder = spec
        .output
        .clone()
        .ok_or_else(|| Error::Invalid("a follow needs the folder its builds go into".into()))?;
    let ControlSource::Url(source) = &spec.control else {
        return Err(Error::Invalid(
            "a follow needs the URL the builds are published at, not a local file".into(),
        ));
    };
    let lock = FolderLock::take(&folder)?;
    let mut state = lock.load()?;
    if state.source != *source {
        // Another URL's validators say nothing about this one.
        state = FollowState {
            source: source.clone(),
            builds: state.builds,
            ..FollowState::default()
        };
    }
    let reporter = Reporter::new(sink);
    let check = Check {
        spec,
        sink,
        control,
        reporter: &reporter,
        folder: &folder,
        lock: &lock,
    };
    let result = check.run(&mut state);
    match &result {
        Ok(_) => state.failures_in_a_row = 0,
        Err(Error::Cancelled) => {}
        Err(_) => state.failures_in_a_row += 1,
    }
    lock.save(&state)?;
    let report = result?;
    Ok(Summary {
        output: Some(report.newest.clone()),
        plan: report.plan,
        progress: reporter.snapshot(),
        file_hash: None,
        elapsed: started.elapsed(),
        follow: Some(report.report),
    })
}

/// What a check did.
struct Checked {
    newest: PathBuf,
    plan: Plan,
    report: FollowReport,
}

/// The build a control file describes, as far as the check needs to know it.
struct Build {
    /// What the control file says of it.
    described: Described,
    /// Its file name in the folder.
    name: String,
}

struct Check<'a> {
    spec: &'a JobSpec,
    sink: &'a dyn EventSink,
    control: &'a Control,
    reporter: &'a Reporter<'a>,
    folder: &'a Path,
    lock: &'a FolderLock,
}

impl Check<'_> {
    fn run(&self, state: &mut FollowState) -> Result<Checked> {
        let http = Http::new(&HttpConfig::from(&self.spec.options))?;
        let url = self.control_url(&http, state)?;
        let format = Format::of_name(url.path());
        let kind = kind_of(format);
        let newest_intact = state.builds.first().filter(|b| b.is_intact(self.folder));
        // Without an intact newest build, "unchanged" would leave the folder empty; the
        // validators are those of the control file the last check read.
        let same_control = state.control_url.as_deref() == Some(url.as_str());
        let known = match newest_intact {
            Some(_) if same_control => Validators {
                etag: state.etag.clone(),
                last_modified: state.last_modified.clone(),
            },
            _ => Validators::default(),
        };
        let first = kind.identified_by_lead;
        let (bytes, final_url, validators) = match http.get_if_changed(&url, &known, first)? {
            Fresh::Unchanged { final_url } => {
                self.reporter.emit(Event::Notice(format!(
                    "{} is unchanged (HTTP 304): no new build",
                    shown_url(final_url.as_str())
                )));
                return Ok(self.up_to_date(state, &final_url));
            }
            Fresh::Changed {
                bytes,
                final_url,
                validators,
            } => (bytes, final_url, validators),
        };
        self.control.checkpoint()?;
        let build = read_build(format, &kind, &bytes, &final_url)?;
        state.etag = validators.etag;
        state.last_modified = validators.last_modified;
        state.control_url = Some(url.to_string());
        if let Some(newest) = state.builds.first()
            && newest.identity == build.described.identity
            && newest.is_intact(self.folder)
        {
            self.reporter.emit(Event::Notice(format!(
                "{} describes the build already in {}: no new build",
                shown_url(final_url.as_str()),
                self.folder.display()
            )));
            return Ok(self.up_to_date(state, &final_url));
        }
        match self.download(state, format, &build, &bytes, &final_url) {
            Err(e @ (Error::BadData { .. } | Error::Verification { .. })) => {
                // The data no longer fits the control file read a moment ago: a newer
                // build may have replaced it since. Read the control file once more.
                let Fresh::Changed {
                    bytes, final_url, ..
                } = http.get_if_changed(&url, &Validators::default(), first)?
                else {
                    return Err(e);
                };
                let newer = read_build(format, &kind, &bytes, &final_url)?;
                if newer.described.identity == build.described.identity {
                    return Err(e);
                }
                self.reporter.emit(Event::Notice(format!(
                    "a newer build was published during the download: downloading it ({e})"
                )));
                state.etag = None;
                state.last_modified = None;
                self.download(state, format, &newer, &bytes, &final_url)
            }
            other => other,
        }
    }

    /// The control file to check: the one followed, or the newest build's that the
    /// listing followed leads to.
    fn control_url(&self, http: &Http, state: &FollowState) -> Result<Url> {
        let followed = parse_url(&state.source)?;
        let Some(pattern) = &self.spec.options.listing_pattern else {
            return Ok(followed);
        };
        let latest = resolve_latest(http, &followed, &Pattern::parse(pattern)?)?;
        if let Some(note) = latest.note() {
            self.reporter.emit(Event::Notice(note));
        }
        parse_url(&latest.url)
    }

    /// The check found nothing new: the folder stays as it is.
    fn up_to_date(&self, state: &FollowState, final_url: &Url) -> Checked {
        let newest = state
            .builds
            .first()
            .map(|b| self.folder.join(&b.file))
            .unwrap_or_default();
        Checked {
            newest: newest.clone(),
            plan: Plan::default(),
            report: FollowReport {
                new_build: false,
                newest,
                built: state.builds.first().and_then(|b| b.built.clone()),
                kept: state.builds[1.min(state.builds.len())..]
                    .iter()
                    .map(|b| self.folder.join(&b.file))
                    .collect(),
                removed: Vec::new(),
                control_url: shown_url(final_url.as_str()),
            },
        }
    }

    /// Downloads `build` (its control file is `bytes`, from `final_url`) into the
    /// folder, then keeps and removes builds.
    fn download(
        &self,
        state: &mut FollowState,
        format: Format,
        build: &Build,
        bytes: &[u8],
        final_url: &Url,
    ) -> Result<Checked> {
        let output = self.folder.join(&build.name);
        self.check_room(&output, build.described.length)?;
        let kept: Vec<KeptBuild> = state
            .builds
            .iter()
            .filter(|b| b.is_intact(self.folder))
            .cloned()
            .collect();
        let mut spec = self.spec.clone();
        spec.options.mode = Mode::Download;
        spec.options.keep_old = true;
        spec.output = Some(output.clone());
        spec.seeds = kept
            .iter()
            .map(|b| self.folder.join(&b.file))
            .chain(self.spec.seeds.iter().cloned())
            .collect();
        if format.opens_locally() {
            // The download reads the very control file the check read, and what it names
            // relative to itself (its URLs, casync's default store) beside the URL.
            let copy = self.lock.control_copy(&control_name(final_url)?);
            write_atomically(&copy, bytes)?;
            spec.control = ControlSource::File(copy);
            spec.options.base_url = Some(final_url.to_string());
        } else {
            // The control file is the head of the build itself (a `.zck`), read again
            // by the download.
            spec.control = ControlSource::Url(final_url.to_string());
        }
        if kept.is_empty() {
            let found = self.seeds_found_by_content(&spec)?;
            spec.seeds.extend(found);
        }
        let replacing = output.exists();
        let summary = super::run(&spec, self.sink, self.control)?;
        self.keep_builds(state, build, &output, replacing, &kept, &summary, final_url)
    }

    /// The first build into the folder has no kept build to start from, but the folder
    /// may hold an older one under another name (downloaded by hand, copied in): its
    /// files are estimated against the build (about 1/32 of each is read) and those that
    /// would supply at least [`WORTH_A_SEED`] of it become seeds of `download`, each
    /// named in a notice. An estimate that fails only costs the seeds it would have found.
    fn seeds_found_by_content(&self, download: &JobSpec) -> Result<Vec<PathBuf>> {
        let mut chosen = download.seeds.clone();
        // The build's own name is reused by the download anyway.
        chosen.extend(download.output.clone());
        let candidates = candidate_seeds(&[self.folder.to_path_buf()], &chosen);
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let mut spec = download.clone();
        spec.options.mode = Mode::EstimateSeeds;
        spec.seeds = candidates;
        let estimates = Estimates::default();
        match super::run(&spec, &estimates, self.control) {
            Ok(_) => {}
            Err(Error::Cancelled) => return Err(Error::Cancelled),
            Err(e) => {
                self.reporter.emit(Event::Notice(format!(
                    "could not estimate the files in {} as seeds, so none is used: {e}",
                    self.folder.display()
                )));
                return Ok(Vec::new());
            }
        }
        let worth = estimates.worth_a_seed();
        for (path, share) in &worth {
            self.reporter.emit(Event::Notice(format!(
                "Using {} as a seed: about {:.0}% of the target",
                file_name(path),
                share * 100.0
            )));
        }
        Ok(worth.into_iter().map(|(path, _)| path).collect())
    }

    /// Puts the verified build first among the kept ones: the build it replaced (if
    /// `replacing`) gets a dated name, and builds past `keep_builds` go.
    #[allow(clippy::too_many_arguments)]
    fn keep_builds(
        &self,
        state: &mut FollowState,
        build: &Build,
        output: &Path,
        replacing: bool,
        kept: &[KeptBuild],
        summary: &Summary,
        final_url: &Url,
    ) -> Result<Checked> {
        let mut builds = vec![KeptBuild::record(
            output,
            build.described.identity.clone(),
            build.described.built.clone(),
            summary.plan.local_bytes,
        )?];
        let replaced = old_path(output);
        if replacing && replaced.exists() {
            let previous = kept.iter().find(|b| self.folder.join(&b.file) == output);
            let built = previous
                .and_then(|b| b.built.as_deref())
                .and_then(parse_mtime)
                .or_else(|| std::fs::metadata(&replaced).and_then(|m| m.modified()).ok())
                .unwrap_or_else(SystemTime::now);
            let dated = kept_name(self.folder, &build.name, built);
            std::fs::rename(&replaced, &dated).map_err(|e| Error::io("rename", &replaced, e))?;
            // Only a build the follow wrote is kept (and later removed) as its own.
            if let Some(previous) = previous {
                builds.push(KeptBuild {
                    file: file_name(&dated),
                    ..previous.clone()
                });
            }
        }
        builds.extend(
            kept.iter()
                .filter(|b| self.folder.join(&b.file) != output)
                .cloned(),
        );
        let keep = self.spec.options.keep_builds.max(1);
        let mut removed = Vec::new();
        for old in builds.split_off(keep.min(builds.len())) {
            let path = self.folder.join(&old.file);
            if old.is_intact(self.folder) {
                std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
                removed.push(path);
            }
        }
        state.builds = builds;
        Ok(Checked {
            newest: output.to_path_buf(),
            plan: summary.plan,
            report: FollowReport {
                new_build: true,
                newest: output.to_path_buf(),
                built: build.described.built.clone(),
                kept: state.builds[1..]
                    .iter()
                    .map(|b| self.folder.join(&b.file))
                    .collect(),
                removed,
                control_url: shown_url(final_url.as_str()),
            },
        })
    }

    /// Fails before anything is downloaded if the folder's disk cannot hold the build.
    fn check_room(&self, output: &Path, length: u64) -> Result<()> {
        let have_part = std::fs::metadata(part_path(output)).map_or(0, |m| m.len());
        let needed = length.saturating_sub(have_part);
        let Ok(free) = fs4::available_space(self.folder) else {
            return Ok(());
        };
        if free >= needed {
            return Ok(());
        }
        Err(Error::Io {
            action: "download the new build into",
            path: self.folder.to_path_buf(),
            kind: std::io::ErrorKind::StorageFull,
            message: format!(
                "it needs {needed} bytes and the disk has {free} free: {} more are needed",
                needed - free
            ),
        })
    }
}

/// What the control file `bytes` of `format`, from `url`, says the build is, and the
/// name it goes by: the one the control file gives, or the control file's own name
/// without its extension.
fn read_build(format: Format, kind: &Kind, bytes: &[u8], url: &Url) -> Result<Build> {
    let shown = shown_url(url.as_str());
    let described = (kind.describe)(bytes, &shown)?;
    let from_url = || {
        let control = safe_name_from_url(url)?;
        let target = format.target_name(&control)?;
        is_safe_file_name(target).then(|| target.to_string())
    };
    let name = described
        .named
        .clone()
        .filter(|n| is_safe_file_name(n))
        .or_else(from_url)
        .ok_or_else(|| {
            Error::control(
                format,
                &shown,
                None,
                "it names no usable file name for the build",
            )
        })?;
    Ok(Build { described, name })
}

/// The name the control file at `url` is saved under: its own, which the download
/// derives the build's name from as it would from the URL.
fn control_name(url: &Url) -> Result<String> {
    safe_name_from_url(url).ok_or_else(|| {
        Error::Invalid(format!(
            "{} names no usable file name",
            shown_url(url.as_str())
        ))
    })
}

/// What an estimate job said of each seed, kept rather than passed on: the follow's
/// own events say which seeds it takes.
#[derive(Default)]
struct Estimates(Mutex<Vec<(PathBuf, f32)>>);

impl EventSink for Estimates {
    fn emit(&self, event: Event) {
        if let Event::SeedEstimate {
            path,
            fraction_of_target,
            ..
        } = event
        {
            let mut estimates = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            estimates.push((path, fraction_of_target));
        }
    }
}

impl Estimates {
    /// The seeds estimated to supply at least [`WORTH_A_SEED`] of the target, the
    /// biggest share first (then in the order they were estimated).
    fn worth_a_seed(self) -> Vec<(PathBuf, f32)> {
        let mut worth: Vec<(PathBuf, f32)> = self
            .0
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
            .into_iter()
            .filter(|(_, share)| *share >= WORTH_A_SEED)
            .collect();
        worth.sort_by(|a, b| b.1.total_cmp(&a.1));
        worth
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
