//! Seeds: local older .zck files whose chunks the target may share.
//!
//! As zckdl does (`zck_copy_chunks`), a target chunk is taken from a seed when a seed
//! chunk has the same checksum of its stored bytes and the same lengths: identical
//! compressed bytes, so they are copied as they are, no decompression needed. Only the
//! seed's header is read up front; each copied chunk is checked against the *target's*
//! checksum as it is read, so a seed that changed or is damaged costs a download, never
//! a bad chunk.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::scan::open_seed;

use super::chunk::{Chunk, ChunkKey};
use super::header::Header;
use super::read;

/// A local .zck file and the chunks it holds.
pub(crate) struct Seed {
    pub path: PathBuf,
    /// Its length in bytes.
    pub len: u64,
    pub header: Header,
    /// Chunk number (index into `header.chunks`) by key; the first of equal chunks.
    by_key: HashMap<ChunkKey, usize>,
}

impl Seed {
    /// Reads the seed's header. Chunks past the file's end (a seed cut short) are left
    /// out; the rest are not read until copied.
    pub fn open(path: &Path) -> Result<Seed> {
        let (file, len) = open_seed(path)?;
        let (header, _) = read::read_from(file, path)?;
        let mut by_key = HashMap::new();
        for chunk in header.chunks.iter().filter(|c| c.range.end <= len) {
            by_key.entry(chunk.key()).or_insert(chunk.number);
        }
        Ok(Seed {
            path: path.to_path_buf(),
            len,
            header,
            by_key,
        })
    }

    /// The seed's chunk with the same stored bytes as `wanted`, if it has one.
    pub fn find(&self, wanted: &Chunk) -> Option<&Chunk> {
        self.by_key
            .get(&wanted.key())
            .map(|&number| &self.header.chunks[number])
    }

    /// Every chunk of `target` this seed has, with the seed's copy.
    pub fn matches<'a>(
        &'a self,
        target: &'a Header,
    ) -> impl Iterator<Item = (&'a Chunk, &'a Chunk)> + 'a {
        target
            .chunks
            .iter()
            .filter_map(|wanted| self.find(wanted).map(|have| (wanted, have)))
    }

    /// Opens the seed for [`Seed::read_chunk`].
    pub fn reader(&self) -> Result<BufReader<File>> {
        let file = File::open(&self.path).map_err(|e| Error::io("open", &self.path, e))?;
        Ok(BufReader::with_capacity(read::PIECE, file))
    }

    /// Reads `have` (a chunk of this seed, from [`Seed::find`]) and checks its bytes
    /// against `wanted`, the target's chunk: `None` if they do not match (the seed
    /// changed since its header was read, or is damaged). Holds one chunk in memory.
    pub fn read_chunk(
        &self,
        reader: &mut (impl Read + Seek),
        have: &Chunk,
        wanted: &Chunk,
    ) -> Result<Option<Vec<u8>>> {
        let io = |e| Error::io("read", &self.path, e);
        reader.seek(SeekFrom::Start(have.range.start)).map_err(io)?;
        let mut bytes = Vec::new();
        reader
            .take(have.comp_len())
            .read_to_end(&mut bytes)
            .map_err(io)?;
        Ok(wanted.verify(&bytes).then_some(bytes))
    }
}
