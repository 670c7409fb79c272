//! zchunk (`.zck`) files: the format layer for downloading them by chunks.
//!
//! A zchunk file is a header (lead, preface, index, signatures) followed by the
//! dictionary and the chunks, each compressed on its own. The index lists every chunk's
//! checksum and lengths, so a downloader fetches the header, takes the chunks it already
//! has in an older .zck (a *seed*) by checksum, and fetches the rest as byte ranges; no
//! rolling checksum is needed, unlike zsync. This module reads and writes the format — written from
//! zchunk's `zchunk_format.txt` and checked against its `src/lib` and its tools — and
//! leaves the fetching to the engine:
//!
//! - [`header`]: [`header::Lead::parse`] says how many bytes the header takes,
//!   [`header::Header::parse`] checks its checksum and reads it, hostile input included.
//! - [`chunk`]: each [`chunk::Chunk`]'s byte range in the .zck and the checks on its
//!   bytes and on the whole data ([`chunk::DataCheck`]).
//! - [`read`]: a local .zck's header and chunks read from the file, and a whole-file check.
//! - [`seed`]: the chunks of a local older .zck, found by checksum as zckdl finds them.
//! - [`uncompress`]: a complete .zck back to its uncompressed file, chunk by chunk.
//! - `write`: the other way, a file made into a .zck ([`write_zck`], `make --zck`).
//!
//! Errors are the crate's [`Error`], with messages naming the file.

pub(crate) mod checksum;
pub(crate) mod chunk;
mod cursor;
pub(crate) mod header;
pub(crate) mod read;
pub(crate) mod seed;
pub(crate) mod uncompress;
mod write;

pub use write::{ZckMade, write_zck};

#[cfg(test)]
mod tests;

use crate::error::Error;
use crate::format::Format;

/// An error about the zchunk file `name`: `problem` follows its name, e.g. "is not a
/// zchunk file".
fn invalid(name: &str, problem: &str) -> Error {
    Error::Invalid(format!("{name} {problem}"))
}

/// [`invalid`] for a fault of the header, the `.zck`'s control data: the hint then says
/// what a `.zck` is.
fn bad_header(name: &str, problem: &str) -> Error {
    Error::control(Format::Zchunk, name, None, format!("it {problem}"))
}
