//! The digests a control file names.
//!
//! Each block is checked with a *strong hash*: MD4 in every file zsyncmake 0.6.2 writes;
//! MD5, SHA-224 or SHA-256 where the newer format (zsync's 0.8 specification) names one
//! in `Strong-Hash-Algorithm`. A control file keeps a prefix of each block's digest, so
//! digests are compared by that prefix. The finished file is checked against the *file
//! hash*: `SHA-1:` in 0.6.2 files, `File-Hash: SHA-256:...` (or SHA-1) in newer ones.

use std::fmt;

use md4::{Digest, Md4};

use crate::blocks::md4x;

/// The longest strong hash (SHA-256); shorter ones fill the front.
pub const MAX_STRONG_LEN: usize = 32;

/// A whole strong-hash digest of one block.
pub type StrongSum = [u8; MAX_STRONG_LEN];

/// The digest a control file's per-block strong sums are taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StrongHash {
    /// MD4, zsync 0.6.2's block sum and the default when none is named.
    #[default]
    Md4,
    /// MD5, a 16-byte digest like MD4's.
    Md5,
    /// SHA-224, a 28-byte digest.
    Sha224,
    /// SHA-256, a 32-byte digest, the longest a control file can name.
    Sha256,
}

impl StrongHash {
    /// The names the format uses, as accepted in `Strong-Hash-Algorithm`.
    pub const NAMES: &'static str = "MD4, MD5, SHA-224, SHA-256";

    /// Reads a `Strong-Hash-Algorithm` value such as `SHA-256`; `None` for any other name.
    pub fn from_name(name: &str) -> Option<StrongHash> {
        Some(match name {
            "MD4" => StrongHash::Md4,
            "MD5" => StrongHash::Md5,
            "SHA-224" => StrongHash::Sha224,
            "SHA-256" => StrongHash::Sha256,
            _ => return None,
        })
    }

    /// The name as a control file writes it, e.g. `MD4`.
    pub fn name(self) -> &'static str {
        match self {
            StrongHash::Md4 => "MD4",
            StrongHash::Md5 => "MD5",
            StrongHash::Sha224 => "SHA-224",
            StrongHash::Sha256 => "SHA-256",
        }
    }

    /// Bytes in a whole digest: the most a control file can keep per block.
    pub fn digest_len(self) -> usize {
        match self {
            StrongHash::Md4 | StrongHash::Md5 => 16,
            StrongHash::Sha224 => 28,
            StrongHash::Sha256 => 32,
        }
    }

    /// The digest of one block (already zero-padded to the block size).
    pub fn of(self, data: &[u8]) -> StrongSum {
        let mut sum = [0u8; MAX_STRONG_LEN];
        match self {
            StrongHash::Md4 => sum[..16].copy_from_slice(&Md4::digest(data)),
            StrongHash::Md5 => sum[..16].copy_from_slice(&md5::Md5::digest(data)),
            StrongHash::Sha224 => sum[..28].copy_from_slice(
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA224, data).as_ref(),
            ),
            StrongHash::Sha256 => sum.copy_from_slice(
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref(),
            ),
        }
        sum
    }

    /// The digests of up to `md4x::LANES` blocks of one length; MD4 hashes them side
    /// by side.
    pub fn of_blocks(self, blocks: &[&[u8]]) -> Vec<StrongSum> {
        if self != StrongHash::Md4 {
            return blocks.iter().map(|b| self.of(b)).collect();
        }
        md4x::strong_sums(blocks)
            .into_iter()
            .map(|md4| {
                let mut sum = [0u8; MAX_STRONG_LEN];
                sum[..16].copy_from_slice(&md4);
                sum
            })
            .collect()
    }
}

/// The algorithm of a whole-file hash. More may come with more formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileHashAlgorithm {
    /// SHA-1 (20 bytes), the `SHA-1:` header of zsync 0.6.2 files.
    Sha1,
    /// SHA-256 (32 bytes), named in the newer format's `File-Hash`.
    Sha256,
    /// SHA-512 (64 bytes), one of zchunk's checksums.
    Sha512,
    /// The first 16 bytes of SHA-512: zchunk's default chunk checksum (not FIPS
    /// SHA-512/t, which starts from other values).
    Sha512_128,
}

impl FileHashAlgorithm {
    /// The name as a control file and the user see it, e.g. `SHA-1`.
    pub fn name(self) -> &'static str {
        match self {
            FileHashAlgorithm::Sha1 => "SHA-1",
            FileHashAlgorithm::Sha256 => "SHA-256",
            FileHashAlgorithm::Sha512 => "SHA-512",
            FileHashAlgorithm::Sha512_128 => "SHA-512/128",
        }
    }

    /// Bytes in a digest.
    pub(crate) fn len(self) -> usize {
        match self {
            FileHashAlgorithm::Sha1 => 20,
            FileHashAlgorithm::Sha256 => 32,
            FileHashAlgorithm::Sha512 => 64,
            FileHashAlgorithm::Sha512_128 => 16,
        }
    }
}

/// The hash of a whole file, as a control file gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHash {
    /// Which hash `digest` is.
    pub algorithm: FileHashAlgorithm,
    /// The raw digest bytes (20 for SHA-1, 32 for SHA-256).
    pub digest: Vec<u8>,
}

impl FileHash {
    /// Reads `hex` as a digest of `algorithm`.
    pub fn from_hex(algorithm: FileHashAlgorithm, hex: &str) -> Result<FileHash, String> {
        let mut digest = vec![0u8; algorithm.len()];
        hex::decode_to_slice(hex.trim(), &mut digest).map_err(|_| {
            format!(
                "a {} is {} hexadecimal digits, not \"{hex}\"",
                algorithm.name(),
                2 * algorithm.len()
            )
        })?;
        Ok(FileHash { algorithm, digest })
    }

    /// Reads a `File-Hash` value: `SHA-1:hex` or `SHA-256:hex`.
    pub fn parse(value: &str) -> Result<FileHash, String> {
        let (name, hex) = value
            .split_once(':')
            .ok_or_else(|| format!("\"{value}\" is not algorithm:digest"))?;
        let algorithm = match name.trim() {
            "SHA-1" | "SHA1" => FileHashAlgorithm::Sha1,
            "SHA-256" | "SHA256" => FileHashAlgorithm::Sha256,
            other => {
                return Err(format!(
                    "the algorithm \"{other}\" is not one we can check (SHA-1, SHA-256)"
                ));
            }
        };
        FileHash::from_hex(algorithm, hex)
    }

    /// The digest in lowercase hexadecimal, without the algorithm's name.
    pub fn hex(&self) -> String {
        hex::encode(&self.digest)
    }
}

/// `SHA-256 0123...`: what a user compares against a published checksum.
impl fmt::Display for FileHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.algorithm.name(), self.hex())
    }
}

/// A whole-file hash fed in order.
///
/// aws-lc's SHA-1 (already linked: it is reqwest's TLS provider) runs 1.7x as fast as the
/// `sha1` crate here (1.86 against 1.12 GB/s, both using the CPU's SHA extensions), and a
/// download cannot finish before the hash of its last byte.
pub struct FileHasher {
    context: aws_lc_rs::digest::Context,
    algorithm: FileHashAlgorithm,
}

impl FileHasher {
    pub fn new(algorithm: FileHashAlgorithm) -> FileHasher {
        let digest = match algorithm {
            FileHashAlgorithm::Sha1 => &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            FileHashAlgorithm::Sha256 => &aws_lc_rs::digest::SHA256,
            FileHashAlgorithm::Sha512 | FileHashAlgorithm::Sha512_128 => &aws_lc_rs::digest::SHA512,
        };
        FileHasher {
            context: aws_lc_rs::digest::Context::new(digest),
            algorithm,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.context.update(data);
    }

    pub fn finish(self) -> FileHash {
        FileHash {
            algorithm: self.algorithm,
            digest: self.context.finish().as_ref()[..self.algorithm.len()].to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        let hex_of = |hash: StrongHash| hex::encode(&hash.of(b"abc")[..hash.digest_len()]);
        assert_eq!(hex_of(StrongHash::Md4), "a448017aaf21d8525fc10ae87aa6729d");
        assert_eq!(hex_of(StrongHash::Md5), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            hex_of(StrongHash::Sha224),
            "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"
        );
        assert_eq!(
            hex_of(StrongHash::Sha256),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        for (algorithm, expected) in [
            (
                FileHashAlgorithm::Sha1,
                "a9993e364706816aba3e25717850c26c9cd0d89d",
            ),
            (
                FileHashAlgorithm::Sha256,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
        ] {
            let mut hasher = FileHasher::new(algorithm);
            hasher.update(b"ab");
            hasher.update(b"c");
            assert_eq!(hasher.finish().hex(), expected);
        }
    }

    #[test]
    fn lanes_give_the_digests_one_at_a_time_does() {
        let blocks: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 64]).collect();
        let refs: Vec<&[u8]> = blocks.iter().map(Vec::as_slice).collect();
        for hash in [StrongHash::Md4, StrongHash::Sha256] {
            let one_by_one: Vec<StrongSum> = refs.iter().map(|b| hash.of(b)).collect();
            assert_eq!(hash.of_blocks(&refs), one_by_one);
        }
    }

    #[test]
    fn file_hash_values() {
        let sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let parsed = FileHash::parse(&format!("SHA-256:{sha256}")).unwrap();
        assert_eq!(parsed.algorithm, FileHashAlgorithm::Sha256);
        assert_eq!(parsed.to_string(), format!("SHA-256 {sha256}"));
        assert!(FileHash::parse("SHA-256:abcd").is_err());
        assert!(
            FileHash::parse("BLAKE3:00")
                .unwrap_err()
                .contains("\"BLAKE3\"")
        );
        assert!(FileHash::parse("no colon").is_err());
    }
}
