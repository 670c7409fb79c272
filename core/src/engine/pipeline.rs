//! One download, whatever the format, read top to bottom: load the control data, open
//! the `.part`, take what is local, plan, fetch and verify, install. A format says only
//! what differs, as a [`Target`]: how its control data is loaded, its [`Layout`], how a
//! seed is matched and where its missing pieces come from. The stages every format
//! shares are [`Stages`]' methods. What the engine asks of a format before it holds one
//! of its targets (how to run a job of it, how a follow tells its builds apart) is its
//! [`Kind`], made from the same `Target`.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::stages::Stages;
use crate::error::Result;
use crate::event::{Event, EventSink, Phase, Reporter, Summary, TargetInfo};
use crate::fetch::{Http, HttpConfig};
use crate::job::{Control, JobSpec, Mode};
use crate::part::{Assembly, Layout};

/// What a format brings to the run.
pub(super) trait Target: Sized {
    /// Where its pieces are and how each is checked.
    type Layout: Layout;

    /// How much of the control file tells a build apart: all of it (`None`), or its
    /// first bytes, for a format whose control file is the build itself.
    const IDENTIFIED_BY_LEAD: Option<u64> = None;

    /// What the control file `bytes` (named `source` in messages) says of its build,
    /// for a follow's check: read from the bytes alone, without loading the target.
    fn describe(bytes: &[u8], source: &str) -> Result<Described>;

    /// Reads the control data the job names (from its URL, or a local file).
    fn load(stages: &Stages, http: &Http) -> Result<Self>;
    /// The layout the `.part` is built to.
    fn layout(&self) -> &Self::Layout;
    /// What the control data says, for the front ends.
    fn info(&self) -> TargetInfo;
    /// Estimates each seed (`Mode::EstimateSeeds`), writing nothing.
    fn estimate_seeds(&self, stages: &Stages, started: Instant) -> Result<Summary>;
    /// Where the finished file goes: the user's choice, or the name the control data
    /// gives, checked.
    fn output_path(&self, spec: &JobSpec) -> Result<PathBuf>;
    /// Takes what is already local: an interrupted run's `.part`, the old output and the
    /// seeds, in that order.
    fn take_local(
        &self,
        stages: &Stages,
        assembly: &Assembly<Self::Layout>,
        output: &Path,
    ) -> Result<()>;
    /// What fetching the `missing` pieces costs: requests or ranges, and bytes.
    fn cost(&self, assembly: &Assembly<Self::Layout>, missing: &[Range<u64>])
    -> Result<(u64, u64)>;
    /// Fetches the missing pieces into `assembly`, each checked.
    fn fetch(&self, stages: &Stages, http: &Http, assembly: &Assembly<Self::Layout>) -> Result<()>;
    /// The file's time as the publisher gave it (RFC 2822), if the format has one.
    fn mtime(&self) -> Option<&str> {
        None
    }
    /// Whatever the format does once its file is in place and verified.
    fn installed(&self, _stages: &Stages, _output: &Path) -> Result<()> {
        Ok(())
    }
}

/// A build as its control file alone tells it: what a follow compares and names it by.
pub(super) struct Described {
    /// What tells it from other builds (kept in a follow's state: never reworded).
    pub identity: String,
    /// The file name the control file gives it, unchecked; `None` when it gives none.
    pub named: Option<String>,
    /// Its size, or 0 when the control file does not say.
    pub length: u64,
    /// When it was made (RFC 2822), when the control file says.
    pub built: Option<String>,
}

/// What the engine asks of a format before it holds a target of it, taken from its
/// [`Target`] once, so that no caller matches on formats.
pub(super) struct Kind {
    /// Runs a download (or its plan, or a seed estimate) of the format.
    pub run: fn(&JobSpec, &dyn EventSink, &Control) -> Result<Summary>,
    /// [`Target::describe`].
    pub describe: fn(&[u8], &str) -> Result<Described>,
    /// [`Target::IDENTIFIED_BY_LEAD`].
    pub identified_by_lead: Option<u64>,
}

impl Kind {
    /// The kind of the format whose target is `T`.
    pub fn of<T: Target>() -> Kind {
        Kind {
            run: run::<T>,
            describe: T::describe,
            identified_by_lead: T::IDENTIFIED_BY_LEAD,
        }
    }
}

/// Runs a download (or its plan, or a seed estimate) of a `T`.
fn run<T: Target>(spec: &JobSpec, sink: &dyn EventSink, control: &Control) -> Result<Summary> {
    let started = Instant::now();
    let reporter = Reporter::new(sink);
    let stages = Stages::new(spec, &reporter, control);
    reporter.emit(Event::Phase(Phase::LoadingControl));
    let http = Http::new(&HttpConfig::from(&spec.options))?;
    let target = T::load(&stages, &http)?;
    let layout = target.layout();
    reporter.emit(Event::ControlLoaded(target.info()));
    reporter.set_total(layout.length());
    control.checkpoint()?;
    if spec.options.mode == Mode::EstimateSeeds {
        return target.estimate_seeds(&stages, started);
    }

    let output = target.output_path(spec)?;
    let assembly = Assembly::new(layout, stages.open(layout.length(), &output)?);
    reporter.emit(Event::Phase(Phase::ScanningSeeds));
    target.take_local(&stages, &assembly, &output)?;

    let missing = assembly.missing();
    let plan = stages.report_plan(layout, &missing, target.cost(&assembly, &missing)?);
    let summary = |output, file_hash| Summary {
        output,
        plan,
        progress: reporter.snapshot(),
        file_hash,
        elapsed: started.elapsed(),
        follow: None,
    };
    if assembly.file().is_none() {
        reporter.emit(Event::Phase(Phase::Done));
        let named = layout.file_hash().map(|(hash, _)| hash.clone());
        return Ok(summary(None, named));
    }

    let file_hash = stages.fetch_and_verify(&assembly, &plan, || {
        reporter.emit(Event::Phase(Phase::Fetching));
        target.fetch(&stages, &http, &assembly)?;
        reporter.progress_now();
        Ok(())
    })?;
    stages.install(assembly, &output, target.mtime())?;
    target.installed(&stages, &output)?;
    reporter.emit(Event::Phase(Phase::Done));
    Ok(summary(Some(output), Some(file_hash)))
}
