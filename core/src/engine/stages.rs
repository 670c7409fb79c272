//! The stages every format's run shares ([`super::pipeline`] puts them in order):
//! opening the `.part`, handing it the old output and the seeds, reporting what was
//! found and the plan, fetching while hashing in order, verifying and installing.

use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use url::Url;

use crate::blocks::{FileHash, runs};
use crate::error::{Error, Result};
use crate::event::Reporter;
use crate::event::{BlockSource, BlockState, Event, Phase, Plan};
use crate::job::{Control, JobSpec, Mode};
use crate::part::{Assembly, Layout, PartFile, canonical, part_path};

/// What every stage of a job uses.
pub(super) struct Stages<'a> {
    pub spec: &'a JobSpec,
    pub reporter: &'a Reporter<'a>,
    pub control: &'a Control,
}

impl<'a> Stages<'a> {
    pub fn new(spec: &'a JobSpec, reporter: &'a Reporter<'a>, control: &'a Control) -> Self {
        Stages {
            spec,
            reporter,
            control,
        }
    }

    /// Opens (or, planning only, does not) the `.part` the target is built in.
    pub fn open(&self, length: u64, output: &Path) -> Result<Option<PartFile>> {
        match self.spec.options.mode {
            // A follow downloads its build through a job of its own, in Download mode.
            Mode::Download | Mode::Follow => {
                if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| Error::io("create the folder", dir, e))?;
                }
                Ok(Some(PartFile::open(output, length)?))
            }
            Mode::PlanOnly | Mode::EstimateSeeds => Ok(None),
        }
    }

    /// Hands the old output, then each seed, in order, to `take`, until `complete` says
    /// nothing is missing; a file named twice (or the `.part` itself) only once. A
    /// problem with a seed skips the seed; one with the `.part` (a full disk) stops the
    /// job: decided by which file failed, not by what was being done.
    pub fn each_seed(
        &self,
        output: &Path,
        complete: impl Fn() -> bool,
        mut take: impl FnMut(&Path, BlockSource) -> Result<()>,
    ) -> Result<()> {
        let mut scanned: HashSet<PathBuf> = [canonical(&part_path(output))].into_iter().collect();
        let mut seeds: Vec<(PathBuf, BlockSource)> = Vec::new();
        if output.is_file() {
            seeds.push((output.to_path_buf(), BlockSource::OldOutput));
        }
        seeds.extend(
            self.spec
                .seeds
                .iter()
                .enumerate()
                .map(|(i, p)| (p.clone(), BlockSource::Seed(i))),
        );
        for (path, source) in seeds {
            self.control.checkpoint()?;
            if complete() {
                break;
            }
            if !scanned.insert(canonical(&path)) {
                continue;
            }
            match take(&path, source) {
                Ok(()) => {}
                Err(Error::Cancelled) => return Err(Error::Cancelled),
                Err(e) if e.local_path().is_some_and(|failed| failed != path) => return Err(e),
                Err(e) => self.reporter.emit(Event::SeedSkipped {
                    source,
                    path,
                    reason: e.to_string(),
                }),
            }
        }
        self.reporter.progress_now();
        Ok(())
    }

    /// Takes what is already local for a layout whose pieces are found by their own
    /// check, not by a scan: the pieces an interrupted run left in the `.part`, then what
    /// `take` finds in the old output and each seed.
    pub fn find_pieces<L: Layout + ?Sized>(
        &self,
        assembly: &Assembly<L>,
        output: &Path,
        take: impl FnMut(&Path, BlockSource) -> Result<()>,
    ) -> Result<()> {
        self.keep_part(assembly)?;
        self.each_seed(output, || assembly.is_complete(), take)
    }

    /// Keeps the pieces an interrupted run left in the `.part`, each checked.
    fn keep_part<L: Layout + ?Sized>(&self, assembly: &Assembly<L>) -> Result<()> {
        let Some(part) = assembly.file().filter(|p| p.existed()) else {
            return Ok(());
        };
        self.reporter.emit(Event::SeedStarted {
            source: BlockSource::PartFile,
            path: part.path().to_path_buf(),
            size: assembly.layout().length(),
        });
        let kept = assembly.keep_verified()?;
        self.report_found(assembly, BlockSource::PartFile, kept);
        Ok(())
    }

    /// Reports the pieces `found` (ascending) in `source`, and that it is done.
    pub fn report_found<L: Layout + ?Sized>(
        &self,
        assembly: &Assembly<L>,
        source: BlockSource,
        found: Vec<u64>,
    ) {
        let layout = assembly.layout();
        let bytes: u64 = found
            .iter()
            .map(|&p| layout.piece_range(p))
            .map(|r| r.end - r.start)
            .sum();
        let blocks = found.len() as u64;
        self.reporter.add_local(bytes);
        self.reporter.blocks(runs(found), BlockState::Local, source);
        self.reporter.emit(Event::SeedFinished {
            source,
            blocks,
            bytes,
        });
    }

    /// Reports the plan: what is left to fetch (`cost`: in how many ranges, how many
    /// bytes).
    pub fn report_plan<L: Layout + ?Sized>(
        &self,
        layout: &L,
        missing: &[Range<u64>],
        (ranges, bytes_to_fetch): (u64, u64),
    ) -> Plan {
        let plan = Plan {
            total_bytes: layout.length(),
            local_bytes: self.reporter.snapshot().local_bytes,
            missing_blocks: missing.iter().map(|r| r.end - r.start).sum(),
            ranges,
            bytes_to_fetch,
        };
        self.reporter.emit(Event::Planned(plan));
        plan
    }

    /// Three things at once: fetching what is missing; hashing the `.part` in file order
    /// as it fills; and flushing what the scan wrote to disk, so the final flush is short.
    /// Then checks the file against the hash its layout names, if any; returns its hash.
    pub fn fetch_and_verify<L: Layout + ?Sized>(
        &self,
        assembly: &Assembly<L>,
        plan: &Plan,
        fetch: impl FnOnce() -> Result<()>,
    ) -> Result<FileHash> {
        let part = assembly.file().expect("a download has a .part");
        let gave_up = AtomicBool::new(false);
        let (fetched, hashed, flushed) = std::thread::scope(|s| {
            let flushed = s.spawn(|| part.flush_early());
            let hashed = s.spawn(|| assembly.hash_in_order(&gave_up));
            let fetched = if plan.missing_blocks == 0 {
                Ok(())
            } else {
                fetch()
            };
            if fetched.is_err() || !assembly.is_complete() {
                gave_up.store(true, Ordering::Relaxed);
            }
            let hashed = hashed.join().expect("the hashing thread does not panic");
            (
                fetched,
                hashed,
                flushed.join().expect("the flushing thread does not panic"),
            )
        });
        fetched?;
        self.reporter.emit(Event::Phase(Phase::Verifying));
        flushed?;
        let actual = hashed?.ok_or_else(|| {
            Error::Invalid(
                "fetching ended with blocks still missing; run the download again".into(),
            )
        })?;
        if let Some((expected, _)) = assembly.layout().file_hash()
            && actual != *expected
        {
            return Err(Error::Verification {
                expected: expected.to_string(),
                actual: actual.to_string(),
                part: part.path().to_path_buf(),
            });
        }
        Ok(actual)
    }

    /// Puts the verified file in place, with the modification time the publisher gave.
    pub fn install<L: Layout + ?Sized>(
        &self,
        assembly: Assembly<L>,
        output: &Path,
        mtime: Option<&str>,
    ) -> Result<()> {
        let part = assembly.into_file().expect("a download has a .part");
        self.reporter.emit(Event::Phase(Phase::Finishing));
        part.finish(
            output,
            self.spec.options.keep_old,
            mtime.and_then(parse_mtime),
        )
    }
}

/// What fetching the plain file's `missing` pieces costs: ranges and bytes.
pub(crate) fn plain_cost<L: Layout + ?Sized>(layout: &L, missing: &[Range<u64>]) -> (u64, u64) {
    let bytes = missing
        .iter()
        .map(|run| layout.byte_range(run.clone()))
        .map(|r| r.end - r.start)
        .sum();
    (missing.len() as u64, bytes)
}

pub(super) fn parse_url(text: &str) -> Result<Url> {
    let url = Url::parse(text)
        .map_err(|e| Error::Invalid(format!("\"{text}\" is not a valid URL ({e})")))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(Error::Invalid(format!(
            "\"{text}\": only http and https URLs are supported, not {other}"
        ))),
    }
}

pub(super) fn parse_mtime(text: &str) -> Option<SystemTime> {
    chrono::DateTime::parse_from_rfc2822(text)
        .ok()
        .map(SystemTime::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtime_is_read_as_utc() {
        let t = parse_mtime("Sat, 21 Nov 2026 15:45:58 +0000").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            1_795_275_958
        );
    }
}
