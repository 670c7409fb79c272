//! How much of a target a local file would supply, estimated in a fraction of the time a
//! scan takes: for choosing seeds among many candidate files (the output folder, recent
//! downloads), where scanning each whole would cost as much as the download saves.
//!
//! A zsync or casync seed is read at hundreds of evenly spread regions ([`sample`]),
//! 1/32 of a big file (1/8 for casync's longer chunks): each region is looked up the
//! way the scan looks up the whole seed (zsync's index and sums, casync's chunker and
//! ids), and what the regions saw is scaled to the whole seed by how often they saw
//! each content ([`tally`]), so that a seed holding the target's zero blocks, or one
//! file twice, is not counted as if every sample were new. A `.gz` seed is inflated from
//! its start only (see `zsync`). A zchunk seed's header says exactly which chunks it
//! has, so it is not sampled at all. Estimates come from the bytes alone, the same for
//! the same files whatever the threads did, and a cancel is seen between samples.

mod candidates;
mod casync;
mod sample;
mod tally;
#[cfg(test)]
mod tests;
mod zchunk;
mod zsync;

use std::path::Path;

use crate::error::Result;
use crate::job::Control;

pub use candidates::{MAX_CANDIDATES, MIN_CANDIDATE_LEN, WORTH_A_SEED, candidate_seeds};
pub(crate) use casync::CasyncTarget;
pub(crate) use zchunk::ZchunkTarget;
pub(crate) use zsync::ZsyncTarget;

/// A target, loaded, that seeds can be estimated against.
pub(crate) trait Estimator: Sync {
    /// The target's length in bytes.
    fn target_len(&self) -> u64;

    /// The target bytes the seed at `path` would supply, estimated (at most
    /// [`Self::target_len`]); fails with `Error::Cancelled` once `control` is cancelled.
    fn estimate(&self, path: &Path, control: &Control) -> Result<u64>;
}
