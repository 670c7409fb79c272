//! Chunk ids: the hash of a chunk's uncompressed bytes, which names it in the index and
//! in the store.
//!
//! casync hashes with SHA-512/256 unless the index's feature flags lack
//! `CA_FORMAT_SHA512_256`, in which case it is SHA-256 (`casync --digest=sha256`); both
//! give 32 bytes. aws-lc, already linked for the whole-file SHA-1, computes both.

use std::fmt;

use aws_lc_rs::digest;

/// Bytes in a chunk id (`CA_CHUNK_ID_SIZE`).
pub(crate) const ID_LEN: usize = 32;

/// The hash that names chunks, as an index's feature flags choose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChunkDigest {
    /// `CA_FORMAT_SHA512_256` set: casync's default.
    Sha512_256,
    /// The flag clear (`casync --digest=sha256`).
    Sha256,
}

/// `CA_FORMAT_SHA512_256` in an index's feature flags.
pub(crate) const FLAG_SHA512_256: u64 = 0x2000_0000_0000_0000;

impl ChunkDigest {
    /// The digest an index with these feature flags names its chunks with.
    pub(crate) fn from_feature_flags(flags: u64) -> Self {
        if flags & FLAG_SHA512_256 != 0 {
            ChunkDigest::Sha512_256
        } else {
            ChunkDigest::Sha256
        }
    }

    fn algorithm(self) -> &'static digest::Algorithm {
        match self {
            ChunkDigest::Sha512_256 => &digest::SHA512_256,
            ChunkDigest::Sha256 => &digest::SHA256,
        }
    }

    /// A hasher for one chunk fed in pieces (see [`ChunkHasher`]).
    pub(crate) fn hasher(self) -> ChunkHasher {
        ChunkHasher(digest::Context::new(self.algorithm()))
    }

    /// The id of the chunk holding exactly `data`.
    pub(crate) fn id_of(self, data: &[u8]) -> ChunkId {
        let mut hasher = self.hasher();
        hasher.update(data);
        hasher.finish()
    }
}

/// Hashes one chunk given in pieces, so a chunk of up to 128 MiB needs no buffer.
pub(crate) struct ChunkHasher(digest::Context);

impl ChunkHasher {
    /// Adds the next bytes of the chunk.
    pub(crate) fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The id of the chunk fed so far.
    pub(crate) fn finish(self) -> ChunkId {
        let digest = self.0.finish();
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(digest.as_ref());
        ChunkId(id)
    }
}

/// A chunk's id; `Display` gives the lowercase hex that names its store file.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ChunkId(pub(crate) [u8; ID_LEN]);

impl ChunkId {
    /// The 64 lowercase hex digits, as in store file names.
    pub(crate) fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChunkId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_standard_hashes() {
        // FIPS 180-4 test vectors for "abc".
        assert_eq!(
            ChunkDigest::Sha512_256.id_of(b"abc").to_hex(),
            "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"
        );
        assert_eq!(
            ChunkDigest::Sha256.id_of(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_feature_flag_picks_the_digest() {
        // What `casync make` writes for a blob index: SHA-512/256 plus two exclude flags.
        assert_eq!(
            ChunkDigest::from_feature_flags(0xb000_0000_0000_0000),
            ChunkDigest::Sha512_256
        );
        assert_eq!(
            ChunkDigest::from_feature_flags(0x9000_0000_0000_0000),
            ChunkDigest::Sha256
        );
    }
}
