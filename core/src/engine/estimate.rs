//! A job that only estimates seeds (`Mode::EstimateSeeds`): once the format's own stage
//! has loaded the target, each seed gets an estimate of how much of the target it would
//! supply ([`crate::estimate`]), reported as it is made. Nothing is written, and nothing
//! fetched but the control file.

use std::time::Instant;

use super::stages::Stages;
use crate::blocks::FileHash;
use crate::error::{Error, Result};
use crate::estimate::Estimator;
use crate::event::{BlockSource, Event, Phase, Plan, Summary};

impl Stages<'_> {
    /// Estimates each seed against `target`, in order, and reports it; a seed that
    /// cannot be read is reported skipped. `file_hash` is the target's, for the summary.
    pub fn estimate_seeds(
        &self,
        target: &dyn Estimator,
        file_hash: Option<FileHash>,
        started: Instant,
    ) -> Result<Summary> {
        self.reporter.emit(Event::Phase(Phase::ScanningSeeds));
        for (i, path) in self.spec.seeds.iter().enumerate() {
            self.control.checkpoint()?;
            let (source, path) = (BlockSource::Seed(i), path.clone());
            match target.estimate(&path, self.control) {
                Ok(bytes) => self.reporter.emit(Event::SeedEstimate {
                    source,
                    path,
                    bytes,
                    fraction_of_target: share(bytes, target.target_len()),
                }),
                Err(Error::Cancelled) => return Err(Error::Cancelled),
                Err(e) => self.reporter.emit(Event::SeedSkipped {
                    source,
                    path,
                    reason: e.to_string(),
                }),
            }
        }
        self.reporter.emit(Event::Phase(Phase::Done));
        Ok(Summary {
            output: None,
            plan: Plan::default(),
            progress: self.reporter.snapshot(),
            file_hash,
            elapsed: started.elapsed(),
            follow: None,
        })
    }
}

/// `bytes` as a share of `total`; all of an empty target.
fn share(bytes: u64, total: u64) -> f32 {
    if total == 0 {
        1.0
    } else {
        (bytes as f64 / total as f64) as f32
    }
}
