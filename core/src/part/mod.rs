//! The file being built: the [`Assembly`] that owns it (the `.part` beside the output,
//! which blocks are in it, checking and writing them, the in-order hash), and the file
//! operations under it, down to putting the verified file in place.

mod assembly;
mod file;
mod layout;
mod names;

pub(crate) use assembly::{Assembly, Offer};
pub(crate) use file::{
    PartFile, canonical, old_path, part_path, read_at, with_suffix, write_atomically,
};
pub(crate) use layout::{Bounds, Ends, Layout};
pub use names::is_safe_file_name;
pub(crate) use names::safe_name_from_url;
