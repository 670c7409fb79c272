//! `make --caibx`: a casync index of a file and the chunk store beside it, as
//! `casync make` writes them (its default chunk sizes, SHA-512/256 ids, one zstd file per
//! chunk), so that casync, desync and deltadrop can download the file.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use super::chunker::{ChunkSizes, Chunks};
use super::id::ChunkDigest;
use super::index::{BLOB_FLAGS, write_index};
use super::store::chunk_file_name;
use crate::error::{Error, Result};
use crate::part::write_atomically;

/// zstd's level for the chunk files (casync's own default).
const LEVEL: i32 = 3;

/// What [`write_casync_index`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CasyncMade {
    /// Chunks in the index.
    pub chunks: u64,
    /// Chunk files added to the store (the others were there already).
    pub new_chunk_files: u64,
}

/// Cuts `file` into chunks as `casync make` does, writes each chunk the store folder
/// `store` lacks (`<4 hex>/<id>.cacnk`), then the index `index`.
pub fn write_casync_index(file: &Path, index: &Path, store: &Path) -> Result<CasyncMade> {
    let io = |e| Error::io("read", file, e);
    let sizes = ChunkSizes::DEFAULT;
    let reader = BufReader::new(File::open(file).map_err(io)?);
    let mut chunks = Chunks::new(reader, sizes, ChunkDigest::Sha512_256, file);
    let mut items = Vec::new();
    let mut new_chunk_files = 0;
    let mut bytes = Vec::new();
    while let Some(chunk) = chunks.next_with_bytes(&mut bytes) {
        let chunk = chunk?;
        items.push((chunk.range().end, chunk.id));
        let path = store.join(chunk_file_name(&chunk.id));
        if path.is_file() {
            continue;
        }
        let packed = zstd::bulk::compress(&bytes, LEVEL).map_err(io)?;
        let folder = path.parent().expect("a chunk file is in a folder");
        std::fs::create_dir_all(folder).map_err(|e| Error::io("create the folder", folder, e))?;
        write_atomically(&path, &packed)?;
        new_chunk_files += 1;
    }
    let table = write_index(BLOB_FLAGS, [sizes.min(), sizes.avg(), sizes.max()], &items);
    write_atomically(index, &table)?;
    Ok(CasyncMade {
        chunks: items.len() as u64,
        new_chunk_files,
    })
}
