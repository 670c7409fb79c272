//! The checksums zchunk writes: SHA-1 and SHA-256 for the header and the data, those and
//! SHA-512 and SHA-512/128 for the chunks.
//!
//! SHA-512/128 here is *not* FIPS SHA-512/t (which has its own initial values): zchunk
//! computes a plain SHA-512 and keeps its first 16 bytes (`hash_setup` sets a 16-byte
//! digest size on the SHA-512 context). Hashing is the crate's [`FileHasher`].

use std::fmt;

use crate::blocks::{FileHashAlgorithm, FileHasher};

/// The longest digest zchunk writes (SHA-512).
pub(crate) const MAX_LEN: usize = 64;

/// One of the checksum types a zchunk header names by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ChecksumType {
    /// 0: SHA-1, 20 bytes.
    Sha1,
    /// 1: SHA-256, 32 bytes.
    Sha256,
    /// 2: SHA-512, 64 bytes (chunk checksums only).
    Sha512,
    /// 3: the first 16 bytes of SHA-512 (chunk checksums only; zck's default).
    Sha512_128,
}

impl ChecksumType {
    /// The type the header numbers `code`.
    pub fn from_code(code: u64) -> Option<ChecksumType> {
        Some(match code {
            0 => ChecksumType::Sha1,
            1 => ChecksumType::Sha256,
            2 => ChecksumType::Sha512,
            3 => ChecksumType::Sha512_128,
            _ => return None,
        })
    }

    /// The number a header gives it (the inverse of [`ChecksumType::from_code`]).
    pub fn code(self) -> u64 {
        match self {
            ChecksumType::Sha1 => 0,
            ChecksumType::Sha256 => 1,
            ChecksumType::Sha512 => 2,
            ChecksumType::Sha512_128 => 3,
        }
    }

    /// The name zchunk's tools show, e.g. `SHA-512/128`.
    pub fn name(self) -> &'static str {
        self.algorithm().name()
    }

    /// Bytes in a digest of this type.
    pub fn len(self) -> usize {
        self.algorithm().len()
    }

    /// The same hash as the crate's other formats name it.
    pub fn algorithm(self) -> FileHashAlgorithm {
        match self {
            ChecksumType::Sha1 => FileHashAlgorithm::Sha1,
            ChecksumType::Sha256 => FileHashAlgorithm::Sha256,
            ChecksumType::Sha512 => FileHashAlgorithm::Sha512,
            ChecksumType::Sha512_128 => FileHashAlgorithm::Sha512_128,
        }
    }

    /// A hasher to feed in pieces.
    pub fn hasher(self) -> Hasher {
        Hasher {
            kind: self,
            hasher: FileHasher::new(self.algorithm()),
        }
    }

    #[cfg(test)]
    /// The checksum of `data` in one go.
    pub fn of(self, data: &[u8]) -> Checksum {
        let mut hasher = self.hasher();
        hasher.update(data);
        hasher.finish()
    }
}

/// A digest with its type: two checksums are equal only if both are.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Checksum {
    kind: ChecksumType,
    bytes: [u8; MAX_LEN],
}

impl Checksum {
    /// `digest`, which must be `kind.len()` bytes long (the parser takes exactly that).
    pub fn new(kind: ChecksumType, digest: &[u8]) -> Checksum {
        let mut bytes = [0; MAX_LEN];
        bytes[..kind.len()].copy_from_slice(digest);
        Checksum { kind, bytes }
    }

    pub fn kind(&self) -> ChecksumType {
        self.kind
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.kind.len()]
    }

    /// All zeros: what zchunk writes for a missing dictionary (and, in files with
    /// uncompressed checksums, for a chunk stored uncompressed).
    pub fn is_zero(&self) -> bool {
        self.as_bytes().iter().all(|&b| b == 0)
    }
}

/// Lowercase hexadecimal, as `zck_read_header` shows it.
impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.as_bytes()))
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {self}", self.kind.name())
    }
}

/// A checksum fed in order.
pub(crate) struct Hasher {
    kind: ChecksumType,
    hasher: FileHasher,
}

impl Hasher {
    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    pub fn finish(self) -> Checksum {
        Checksum::new(self.kind, &self.hasher.finish().digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        let hex_of = |kind: ChecksumType| kind.of(b"abc").to_string();
        assert_eq!(
            hex_of(ChecksumType::Sha1),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex_of(ChecksumType::Sha256),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let sha512 = "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
                      2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";
        assert_eq!(hex_of(ChecksumType::Sha512), sha512);
        // The first 16 bytes of SHA-512, not FIPS SHA-512/t's 2ed6d9b3...
        assert_eq!(hex_of(ChecksumType::Sha512_128), sha512[..32]);
    }

    #[test]
    fn codes_and_pieces() {
        for code in 0..4 {
            let kind = ChecksumType::from_code(code).unwrap();
            assert_eq!(kind.code(), code);
            let mut hasher = kind.hasher();
            hasher.update(b"ab");
            hasher.update(b"c");
            assert_eq!(hasher.finish(), kind.of(b"abc"));
            assert_eq!(kind.of(b"").as_bytes().len(), kind.len());
        }
        assert_eq!(ChecksumType::from_code(4), None);
        let zero = Checksum::new(ChecksumType::Sha1, &[0; 20]);
        assert!(zero.is_zero());
        assert_ne!(zero, Checksum::new(ChecksumType::Sha256, &[0; 32]));
    }
}
