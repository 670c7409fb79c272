//! The file being built: the `.part` beside the output, written block by block, read
//! back in order for the whole-file hash, and put in place only once verified.

mod file;

pub(crate) use file::{PartFile, part_path, read_at, with_suffix, write_atomically};
