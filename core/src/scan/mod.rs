//! Finding the target's blocks in local files: the index from weak sums to candidate
//! blocks, and the seed scan that slides a window over every byte of a seed and looks it
//! up there.

mod index;
mod seed;
mod seed_file;

pub(crate) use index::{BlockIndex, Group};
pub(crate) use seed::{Scan, StrongCache, common_prefix_len};
pub(crate) use seed_file::{is_gzip, open_seed};
