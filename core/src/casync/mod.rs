//! casync downloads: the `.caibx` index, the content-defined chunker and the chunk store.
//!
//! casync describes a file (a *blob*) as a list of variable-sized chunks, each named by
//! the hash of its content, and keeps each chunk zstd-compressed in a *store* of files
//! named after that hash. Chunk borders depend only on the bytes nearby (a rolling hash
//! over 48 bytes), so an insertion in a file moves the borders next to it and no others:
//! a client that cuts its old file the same way finds most of the new file's chunks in it
//! and fetches only the rest from the store.
//!
//! This module is the format layer only, with no network and no job: [`index`] parses an
//! index, [`chunker`] cuts a stream exactly where casync cuts it and names the chunks,
//! [`store`] says where a chunk lives and unpacks and checks one; `write` makes an index
//! and its store from a file (`make --caibx`), with the same chunker. The facts (layout,
//! magic numbers, the buzhash table, the cut rule) are taken from casync's own source
//! (`caformat.h`, `caindex.c`, `cachunker.c`, `cachunkid.c`, `castore.c`); the tests run
//! the real `casync make` and demand the same cuts and ids, chunk for chunk.

pub(crate) mod chunker;
pub(crate) mod id;
pub(crate) mod index;
pub(crate) mod store;
mod write;

pub use write::{CasyncMade, write_casync_index};

#[cfg(test)]
mod hostile;
#[cfg(test)]
mod peer_tests;
#[cfg(test)]
mod speed;
