//! A seed estimated for a zchunk target: exactly, from the seed's header alone. The
//! scan takes a chunk from an older `.zck` when its header lists a chunk with the same
//! checksum and lengths, so the header says all the scan would take, without a sample.

use std::path::Path;

use super::Estimator;
use crate::error::{Error, Result};
use crate::job::Control;
use crate::zck::header::Header;
use crate::zck::seed::Seed;

/// A zchunk target's header, ready to estimate seeds against.
pub(crate) struct ZchunkTarget<'h> {
    pub header: &'h Header,
    /// The whole `.zck`'s length, its header included.
    pub length: u64,
}

impl Estimator for ZchunkTarget<'_> {
    fn target_len(&self) -> u64 {
        self.length
    }

    /// The bytes of the target's chunks the seed lists. A file that is not a `.zck`
    /// (or whose header is damaged) holds none; one that cannot be read is an error.
    fn estimate(&self, path: &Path, control: &Control) -> Result<u64> {
        control.checkpoint()?;
        let seed = match Seed::open(path) {
            Ok(seed) => seed,
            Err(e @ (Error::Io { .. } | Error::InUse { .. })) => return Err(e),
            Err(_) => return Ok(0),
        };
        Ok(seed
            .matches(self.header)
            .map(|(wanted, _)| wanted.comp_len())
            .sum())
    }
}
