//! Getting the missing pieces from the network. [`http`] only speaks HTTP: range
//! requests, whole documents, and how their replies are framed ([`multipart`]). The
//! [`transport`] batches ranges into requests or asks for documents one request each,
//! runs them side by side, retries, asks for fewer ranges and falls back to other URLs,
//! for every format. What the replies fill is a target: the plain file
//! ([`plain_target`]), a gzip-compressed copy read through its Z-Map ([`gzip_target`]),
//! or a casync blob's chunks (a `DocumentReceiver` in the engine). Every piece that
//! arrives is checked by [`pieces`]' `BlockWriter` before it is written. A
//! [`ByteBudget`] bounds the memory of the pieces the workers hold whole at once.

mod budget;
mod gzip_target;
mod http;
mod multipart;
mod pieces;
mod plain_target;
mod transport;

pub(crate) use budget::{ByteBudget, Room};
pub(crate) use gzip_target::{GzipTarget, estimate as estimate_gzip, parse_map as parse_z_map};
pub(crate) use http::{Fresh, Http, HttpConfig, Validators};
// The parsers' fuzzing entry points and the tests reach them here.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use multipart::{PartError, boundary_of, for_each_part, parse_content_range};
pub(crate) use pieces::{BlockWriter, PieceAssembler, broken};
pub(crate) use plain_target::{FeedPieces, PlainTarget};
pub(crate) use transport::{Cuts, Document, DocumentReceiver, ReceiveError, Transport};
