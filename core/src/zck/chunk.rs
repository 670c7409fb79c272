//! The chunks of a zchunk file and the checks on their bytes.
//!
//! Each chunk (the dictionary first) is one compressed piece of the data, laid end to end
//! after the header; the index gives each one's checksum and lengths. A chunk is checked
//! on its bytes *as stored* (compressed), which is how a downloader matches chunks
//! across files without decompressing anything; the data checksum covers all stored
//! bytes in order.

use std::ops::Range;

use super::checksum::{Checksum, Hasher};
use super::header::Header;

/// One chunk of a .zck file, as its header describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// 0 for the dictionary, then 1, 2... in file order.
    pub number: usize,
    /// Where its stored (compressed) bytes lie in the .zck file.
    pub range: Range<u64>,
    /// The checksum of its stored bytes (the chunk checksum type).
    pub checksum: Checksum,
    /// The checksum of its uncompressed bytes, in files with uncompressed checksums.
    pub uncompressed_checksum: Option<Checksum>,
    /// Bytes once decompressed.
    pub len: u64,
}

/// What identifies a chunk across files, as zckdl matches them: the checksum of the
/// stored bytes, with both lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ChunkKey {
    pub checksum: Checksum,
    pub comp_len: u64,
    pub len: u64,
}

impl Chunk {
    /// Bytes stored in the .zck file.
    pub fn comp_len(&self) -> u64 {
        self.range.end - self.range.start
    }

    pub fn is_dict(&self) -> bool {
        self.number == 0
    }

    pub fn key(&self) -> ChunkKey {
        ChunkKey {
            checksum: self.checksum,
            comp_len: self.comp_len(),
            len: self.len,
        }
    }

    /// A check fed the stored bytes in pieces.
    pub fn check(&self) -> ChunkCheck<'_> {
        ChunkCheck {
            chunk: self,
            hasher: self.checksum.kind().hasher(),
            seen: 0,
        }
    }

    /// True if `stored` are exactly this chunk's stored bytes.
    pub fn verify(&self, stored: &[u8]) -> bool {
        let mut check = self.check();
        check.update(stored);
        check.finish()
    }

    /// The checksum the stored bytes must have. In a file with uncompressed checksums
    /// a chunk kept uncompressed has a zero checksum, and its uncompressed one applies.
    fn stored_checksum(&self) -> Checksum {
        match self.uncompressed_checksum {
            Some(uncompressed) if self.checksum.is_zero() => uncompressed,
            _ => self.checksum,
        }
    }
}

/// A chunk's check, fed its stored bytes in order.
pub(crate) struct ChunkCheck<'a> {
    chunk: &'a Chunk,
    hasher: Hasher,
    seen: u64,
}

impl ChunkCheck<'_> {
    pub fn update(&mut self, stored: &[u8]) {
        self.hasher.update(stored);
        self.seen += stored.len() as u64;
    }

    /// True if the bytes fed were the chunk's. An empty chunk (no dictionary) has a zero
    /// checksum, as zchunk writes and checks it.
    pub fn finish(self) -> bool {
        if self.seen != self.chunk.comp_len() {
            return false;
        }
        if self.seen == 0 {
            return self.chunk.checksum.is_zero();
        }
        self.hasher.finish() == self.chunk.stored_checksum()
    }
}

/// The data checksum, fed every stored byte after the header in order.
pub(crate) struct DataCheck {
    hasher: Hasher,
    expected: Option<Checksum>,
}

impl DataCheck {
    pub fn new(header: &Header) -> DataCheck {
        DataCheck {
            hasher: header.lead.checksum_type.hasher(),
            expected: header.has_data_checksum().then_some(header.data_checksum),
        }
    }

    pub fn update(&mut self, stored: &[u8]) {
        if self.expected.is_some() {
            self.hasher.update(stored);
        }
    }

    /// `Ok` if the data matches, or if the file has no data checksum (see
    /// [`Header::has_data_checksum`]); otherwise the checksum the bytes gave.
    pub fn finish(self) -> Result<(), Checksum> {
        let Some(expected) = self.expected else {
            return Ok(());
        };
        let actual = self.hasher.finish();
        if actual == expected {
            Ok(())
        } else {
            Err(actual)
        }
    }
}
