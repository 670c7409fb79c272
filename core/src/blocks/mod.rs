//! Blocks and their sums, with no I/O: the rolling weak sum (zsync's rsum), the strong
//! sums (MD4 one block or eight lanes at a time, and the other digests the 0.8 format
//! names), and the geometry that maps blocks to byte ranges. Everything above builds on
//! these; they depend on nothing else in the crate.

mod digest;
pub(crate) mod md4x;
mod ranges;
mod rsum;

pub use digest::{FileHash, FileHashAlgorithm, StrongHash};
pub(crate) use digest::{FileHasher, MAX_STRONG_LEN, StrongSum};
pub(crate) use ranges::{Geometry, merge, range_header, runs};
pub(crate) use rsum::Rsum;
