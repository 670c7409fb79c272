//! The `.zsync` control file: parsing (every file Debian's zsyncmake 0.6.2 writes, and the
//! newer format of zsync's 0.8 specification: `File-Hash`, `Strong-Hash-Algorithm`) and
//! writing (for `make`).
//!
//! The format is a block of `Name: value` header lines, an empty line, then a binary table
//! with one `(weak sum, strong sum)` record per block. A `Z-Map2: N` header is followed by
//! `N * 4` raw bytes *inside* the header block, so the parser reads lines and raw bytes from
//! one stream. Everything here comes from the network: sizes are bounded before anything is
//! allocated, and every problem is reported with its line number.

use std::io::{BufRead, Read, Write};

use crate::blocks::{FileHash, FileHashAlgorithm, StrongHash, StrongSum};
use crate::blocks::{Geometry, Rsum};
use crate::error::Result;

mod parse;

/// The zsync version we write and claim compatibility with.
pub const ZSYNC_VERSION: &str = "0.6.2";

/// Longest header line we accept; zsync itself reads lines into a 1 KiB buffer, but URLs
/// (signed, expiring ones especially) get longer.
const MAX_LINE: usize = 64 * 1024;
/// Block tables beyond this many blocks (2^26 blocks = 128 GiB at 2 KiB) are refused
/// before allocation rather than trusted.
const MAX_BLOCKS: u64 = 1 << 26;
/// Largest `Blocksize` taken: the scan holds two blocks per thread, so this bounds what a
/// control file from the network can make us allocate. zsyncmake picks at most 8 KiB.
const MAX_BLOCK_SIZE: u32 = 1 << 24;
/// Blocks (and Z-Map2 entries) reserved for before any of their bytes arrive: tables grow
/// with the bytes actually read, so a short file claiming a huge table allocates little.
const PREALLOC_BLOCKS: u64 = 1 << 16;

/// `Hash-Lengths: seq_matches,rsum_bytes,checksum_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashLengths {
    /// How many consecutive blocks must match before a match is trusted (1 or 2).
    pub seq_matches: u8,
    /// Bytes of the weak sum stored per block (1..=4): the *last* bytes of `[a_hi a_lo b_hi b_lo]`.
    pub rsum_bytes: u8,
    /// Bytes of the strong sum stored per block (at most the digest's length): the
    /// *first* bytes.
    pub checksum_bytes: u8,
}

impl Default for HashLengths {
    /// What a control file without a `Hash-Lengths` header means.
    fn default() -> Self {
        HashLengths {
            seq_matches: 1,
            rsum_bytes: 4,
            checksum_bytes: 16,
        }
    }
}

impl HashLengths {
    /// zsyncmake 0.6.2's choice for a file of `length` bytes (its arithmetic, including its
    /// integer division and its float-to-int truncations).
    pub fn for_file(length: u64, block_size: u32) -> Self {
        let seq_matches: u8 = if length > u64::from(block_size) { 2 } else { 1 };
        let len = length as f64;
        let blocks_div = (length / u64::from(block_size)) as f64;
        let seq = f64::from(seq_matches);
        let rsum = (((len.ln() + f64::from(block_size).ln()) / 2f64.ln() - 8.6) / seq / 8.0).ceil();
        let rsum_bytes = saturating_int(rsum).clamp(2, 4) as u8;
        let checksum =
            ((20.0 + (len.ln() + (1.0 + blocks_div).ln()) / 2f64.ln()) / seq / 8.0).ceil();
        let checksum2 = ((7.9 + (20.0 + (1.0 + blocks_div).ln() / 2f64.ln())) / 8.0) as i64;
        let checksum_bytes = saturating_int(checksum).max(checksum2).min(16) as u8;
        HashLengths {
            seq_matches,
            rsum_bytes,
            checksum_bytes,
        }
    }

    /// Mask selecting the stored bytes of a packed `(a << 16) | b` weak sum.
    pub fn rsum_mask(&self) -> u32 {
        u32::MAX >> (8 * (4 - u32::from(self.rsum_bytes)))
    }

    fn record_len(&self) -> usize {
        usize::from(self.rsum_bytes) + usize::from(self.checksum_bytes)
    }
}

/// zsyncmake converts `-inf` (the log of an empty file) to an int; x86 gives `INT_MIN`.
fn saturating_int(x: f64) -> i64 {
    if x.is_nan() { i64::MIN } else { x as i64 }
}

/// A parsed control file. Immutable once read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlFile {
    /// The `zsync:` version line.
    pub version: String,
    /// `Filename`: the name to save the file as, untrusted until checked; `None` if absent.
    pub filename: Option<String>,
    /// `Z-Filename`: the name of the gzip file it was made from, if it was made from one.
    pub z_filename: Option<String>,
    /// `MTime` as written (RFC 2822).
    pub mtime: Option<String>,
    /// `Blocksize`: bytes per block; the last block is zero-padded to it.
    pub block_size: u32,
    /// `Length`: the finished file's size in bytes.
    pub length: u64,
    /// `Hash-Lengths`: how many bytes of each block's sums are stored.
    pub hash_lengths: HashLengths,
    /// `URL` lines, as written (possibly relative).
    pub urls: Vec<String>,
    /// `Z-URL` lines, as written (possibly relative).
    pub z_urls: Vec<String>,
    /// The digest the per-block strong sums come from.
    pub strong_hash: StrongHash,
    /// What the finished file must hash to: `File-Hash`, else `SHA-1`.
    pub file_hash: FileHash,
    /// `Recompress: <hex gzip header> <gzip options>`, as written.
    pub recompress: Option<String>,
    /// The raw `Z-Map2` entries (4 bytes each), undecoded.
    pub z_map: Option<Vec<u8>>,
    /// Per block: the stored weak sum (masked by `hash_lengths.rsum_mask()`).
    rsums: Vec<u32>,
    /// Per block: `checksum_bytes` bytes of MD4, back to back.
    strong: Vec<u8>,
}

impl ControlFile {
    /// Parses a control file. `source_name` (a URL or path) is used in error messages.
    pub fn parse(reader: &mut dyn BufRead, source_name: &str) -> Result<ControlFile> {
        parse::parse(reader, source_name)
    }

    /// Parses a control file held in memory.
    pub fn from_bytes(bytes: &[u8], source_name: &str) -> Result<ControlFile> {
        Self::parse(&mut &bytes[..], source_name)
    }

    /// Builds a control file from computed sums (for `make`). `rsums` are full packed sums;
    /// `strong` holds 16 bytes per block; both are cut down to `hash_lengths` here.
    pub(crate) fn from_sums(
        header: MakeHeader,
        full_rsums: &[u32],
        full_strong: &[[u8; 16]],
    ) -> ControlFile {
        let hl = header.hash_lengths;
        let mask = hl.rsum_mask();
        let take = usize::from(hl.checksum_bytes);
        ControlFile {
            version: ZSYNC_VERSION.to_string(),
            filename: header.filename,
            z_filename: None,
            mtime: header.mtime,
            block_size: header.block_size,
            length: header.length,
            hash_lengths: hl,
            urls: header.urls,
            z_urls: Vec::new(),
            strong_hash: StrongHash::Md4,
            file_hash: header.file_hash,
            recompress: None,
            z_map: None,
            rsums: full_rsums.iter().map(|r| r & mask).collect(),
            strong: full_strong
                .iter()
                .flat_map(|s| s[..take].iter().copied())
                .collect(),
        }
    }

    /// Writes the control file in zsyncmake's header order.
    pub fn write(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "zsync: {}", self.version)?;
        if let Some(name) = &self.z_filename {
            writeln!(out, "Safe: Z-Filename Recompress MTime\nZ-Filename: {name}")?;
        }
        if let Some(name) = &self.filename {
            writeln!(out, "Filename: {name}")?;
        }
        if let Some(mtime) = &self.mtime {
            writeln!(out, "MTime: {mtime}")?;
        }
        writeln!(out, "Blocksize: {}", self.block_size)?;
        writeln!(out, "Length: {}", self.length)?;
        let hl = self.hash_lengths;
        writeln!(
            out,
            "Hash-Lengths: {},{},{}",
            hl.seq_matches, hl.rsum_bytes, hl.checksum_bytes
        )?;
        if self.strong_hash != StrongHash::Md4 {
            writeln!(out, "Strong-Hash-Algorithm: {}", self.strong_hash.name())?;
        }
        for url in &self.z_urls {
            writeln!(out, "Z-URL: {url}")?;
        }
        for url in &self.urls {
            writeln!(out, "URL: {url}")?;
        }
        match self.file_hash.algorithm {
            FileHashAlgorithm::Sha1 => writeln!(out, "SHA-1: {}", self.file_hash.hex())?,
            other => writeln!(out, "File-Hash: {}:{}", other.name(), self.file_hash.hex())?,
        }
        if let Some(recompress) = &self.recompress {
            writeln!(out, "Recompress: {recompress}")?;
        }
        if let Some(map) = &self.z_map {
            writeln!(out, "Z-Map2: {}", map.len() / 4)?;
            out.write_all(map)?;
        }
        writeln!(out)?;
        let rsum_bytes = usize::from(hl.rsum_bytes);
        for block in 0..self.rsums.len() {
            out.write_all(&self.rsums[block].to_be_bytes()[4 - rsum_bytes..])?;
            out.write_all(self.strong_sum(block as u64))?;
        }
        Ok(())
    }

    /// Blocks in the file: `length` divided by `block_size`, rounded up.
    pub fn block_count(&self) -> u64 {
        self.rsums.len() as u64
    }

    /// Where each block is.
    pub(crate) fn geometry(&self) -> Geometry {
        Geometry::new(self.block_size, self.length)
    }

    /// The stored (masked) weak sum of `block`.
    pub fn weak_sum(&self, block: u64) -> u32 {
        self.rsums[block as usize]
    }

    /// The stored prefix of `block`'s strong sum.
    pub fn strong_sum(&self, block: u64) -> &[u8] {
        let n = usize::from(self.hash_lengths.checksum_bytes);
        &self.strong[block as usize * n..][..n]
    }

    /// True when the data comes from a gzip-compressed copy.
    pub fn is_compressed(&self) -> bool {
        self.z_map.is_some() && !self.z_urls.is_empty()
    }

    /// Whether a window whose weak sum is `weak` may be block `block` (the stored sum is
    /// a masked prefix).
    #[inline]
    pub fn weak_fits(&self, block: u64, weak: Rsum) -> bool {
        weak.packed() & self.hash_lengths.rsum_mask() == self.weak_sum(block)
    }

    /// Whether `sum`, a whole digest of [`Self::strong_hash`], is block `block`'s stored
    /// strong sum (a prefix).
    #[inline]
    pub fn strong_fits(&self, block: u64, sum: &StrongSum) -> bool {
        sum[..usize::from(self.hash_lengths.checksum_bytes)] == *self.strong_sum(block)
    }

    /// Whether each of `blocks` (at most `md4x::LANES`, each zero-padded to the block
    /// size) is the block of its position from `first` on; their strong sums are computed
    /// together.
    pub(crate) fn blocks_match(&self, first: u64, blocks: &[&[u8]]) -> Vec<bool> {
        let strong = self.strong_hash.of_blocks(blocks);
        (first..)
            .zip(blocks.iter().zip(strong))
            .map(|(block, (data, md4))| {
                self.weak_fits(block, Rsum::of_block(data)) && self.strong_fits(block, &md4)
            })
            .collect()
    }

    /// Whether `data` (one block, zero-padded to the block size) is block `block`.
    pub fn block_matches(&self, block: u64, data: &[u8]) -> bool {
        self.weak_fits(block, Rsum::of_block(data))
            && self.strong_fits(block, &self.strong_hash.of(data))
    }
}

/// Header values `make` computes.
pub(crate) struct MakeHeader {
    pub filename: Option<String>,
    pub mtime: Option<String>,
    pub block_size: u32,
    pub length: u64,
    pub hash_lengths: HashLengths,
    pub urls: Vec<String>,
    pub file_hash: FileHash,
}

fn read_line(reader: &mut dyn BufRead) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let n = Read::take(&mut *reader, MAX_LINE as u64).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if n == MAX_LINE && line.last() != Some(&b'\n') {
        return Err(std::io::Error::other(format!(
            "a header line is longer than {MAX_LINE} bytes"
        )));
    }
    Ok(Some(line))
}

fn parse_hash_lengths(value: &str) -> std::result::Result<HashLengths, String> {
    let bad = || {
        format!(
            "Hash-Lengths \"{value}\" must be seq,rsum,checksum with seq 1-2, rsum 1-4, checksum 1-32"
        )
    };
    let parts: Vec<u8> = value
        .split(',')
        .map(|p| p.trim().parse::<u8>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad())?;
    let [seq_matches, rsum_bytes, checksum_bytes] = parts[..] else {
        return Err(bad());
    };
    if !(1..=2).contains(&seq_matches)
        || !(1..=4).contains(&rsum_bytes)
        || !(1..=32).contains(&checksum_bytes)
    {
        return Err(bad());
    }
    Ok(HashLengths {
        seq_matches,
        rsum_bytes,
        checksum_bytes,
    })
}

/// Compares dotted version numbers numerically ("0.10" > "0.6.2").
fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let nums = |v: &str| {
        v.split('.')
            .map(|p| p.parse::<u64>().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    nums(a).cmp(&nums(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(extra: &str, hash_lengths: &str, length: u64) -> Vec<u8> {
        format!(
            "zsync: 0.6.2\nFilename: f.bin\nMTime: Sat, 21 Nov 2026 15:45:58 +0000\nBlocksize: 2048\nLength: {length}\n{hash_lengths}URL: f.bin\nURL: http://mirror/f.bin\nSHA-1: 186ec9ce4cad7d8bff7e8c36c3f455834ee2df3e\n{extra}\n"
        )
        .into_bytes()
    }

    #[test]
    fn parses_every_hash_length_combination() {
        for seq in 1..=2u8 {
            for rsum in 1..=4u8 {
                for checksum in 3..=16u8 {
                    let mut file = header(
                        "",
                        &format!("Hash-Lengths: {seq},{rsum},{checksum}\n"),
                        5000,
                    );
                    let record = usize::from(rsum + checksum);
                    for block in 0..3u8 {
                        file.extend(
                            (0..record).map(|i| block.wrapping_mul(31).wrapping_add(i as u8)),
                        );
                    }
                    let cf = ControlFile::from_bytes(&file, "t").unwrap();
                    assert_eq!(
                        cf.hash_lengths,
                        HashLengths {
                            seq_matches: seq,
                            rsum_bytes: rsum,
                            checksum_bytes: checksum
                        }
                    );
                    assert_eq!(cf.block_count(), 3);
                    let expected_weak = (0..usize::from(rsum))
                        .fold(0u32, |a, i| (a << 8) | u32::from(62 + i as u8));
                    assert_eq!(cf.weak_sum(2), expected_weak);
                    assert_eq!(cf.strong_sum(2)[0], 62 + rsum);
                    let mut written = Vec::new();
                    cf.write(&mut written).unwrap();
                    assert_eq!(ControlFile::from_bytes(&written, "t").unwrap(), cf);
                }
            }
        }
    }

    #[test]
    fn default_hash_lengths_and_urls() {
        let mut file = header("", "", 2048);
        file.extend([7u8; 20]);
        let cf = ControlFile::from_bytes(&file, "t").unwrap();
        assert_eq!(cf.hash_lengths, HashLengths::default());
        assert_eq!(cf.urls, ["f.bin", "http://mirror/f.bin"]);
        assert_eq!(cf.filename.as_deref(), Some("f.bin"));
        assert_eq!(cf.weak_sum(0), 0x07070707);
    }

    #[test]
    fn errors_name_the_line() {
        let file = header("Frobnicate: yes\n", "", 10);
        let e = ControlFile::from_bytes(&file, "x.zsync").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 9 of the control file x.zsync: unknown header \"Frobnicate\": it needs a newer client"
        );
        let file = header("Safe: Frobnicate Other\nFrobnicate: yes\n", "", 10);
        let mut file = file;
        file.extend([0u8; 20]);
        assert!(ControlFile::from_bytes(&file, "x").is_ok());
        let e = ControlFile::from_bytes(&header("", "Hash-Lengths: 3,2,4\n", 10), "x").unwrap_err();
        assert!(e.to_string().starts_with("line 6 of"), "{e}");
        let e = ControlFile::from_bytes(b"<html>\n<body>\n", "x").unwrap_err();
        assert!(e.to_string().contains("not a zsync control file"), "{e}");
        let e = ControlFile::from_bytes(&header("Min-Version: 0.10\n", "", 10), "x").unwrap_err();
        assert!(e.to_string().contains("0.10"), "{e}");
    }

    /// A control file in zsync's 0.8 format: `File-Hash`, `Strong-Hash-Algorithm`, no
    /// `SHA-1`; three blocks whose records are `record` bytes of 5.
    fn format_0_8(headers: &str, record: usize) -> Vec<u8> {
        let mut file = format!(
            "zsync: 0.8.0\nFilename: f.bin\nBlocksize: 8\nLength: 20\n{headers}URL: f.bin\n\n"
        )
        .into_bytes();
        file.extend(vec![5u8; 3 * record]);
        file
    }

    #[test]
    fn reads_the_0_8_format_and_small_blocks() {
        let sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let headers = format!(
            "Safe: File-Hash,Strong-Hash-Algorithm\nStrong-Hash-Algorithm: SHA-256\nFile-Hash: SHA-256:{sha256}\n"
        );
        // Without Hash-Lengths, whole digests: 4 + 32 bytes per block.
        let cf = ControlFile::from_bytes(&format_0_8(&headers, 36), "t").unwrap();
        assert_eq!(cf.block_size, 8);
        assert_eq!(cf.strong_hash, StrongHash::Sha256);
        assert_eq!(cf.hash_lengths.checksum_bytes, 32);
        assert_eq!(
            cf.file_hash,
            FileHash::from_hex(FileHashAlgorithm::Sha256, sha256).unwrap()
        );
        let mut written = Vec::new();
        cf.write(&mut written).unwrap();
        assert_eq!(ControlFile::from_bytes(&written, "t").unwrap(), cf);

        let md5 = format!(
            "Hash-Lengths: 2,3,10\nStrong-Hash-Algorithm: MD5\nFile-Hash: SHA-1:{}\n",
            "1".repeat(40)
        );
        let cf = ControlFile::from_bytes(&format_0_8(&md5, 13), "t").unwrap();
        assert_eq!(cf.strong_hash, StrongHash::Md5);
        assert_eq!(cf.file_hash.algorithm, FileHashAlgorithm::Sha1);
    }

    #[test]
    fn what_cannot_be_read_names_the_header_and_why() {
        let file_hash = format!("File-Hash: SHA-256:{}\n", "0".repeat(64));
        let cases = [
            (
                format!("Strong-Hash-Algorithm: BLAKE3\n{file_hash}"),
                "line 5 of the control file t: Strong-Hash-Algorithm \"BLAKE3\" is not one we can check (MD4, MD5, SHA-224, SHA-256)",
            ),
            (
                "File-Hash: SHA-512:00\n".to_string(),
                "line 5 of the control file t: File-Hash: the algorithm \"SHA-512\" is not one we can check (SHA-1, SHA-256)",
            ),
            (
                format!("Hash-Lengths: 2,2,20\n{file_hash}"),
                "control file t: Hash-Lengths keeps 20 bytes of each block's MD4, which has only 16",
            ),
            (
                "".to_string(),
                "control file t: no SHA-1 or File-Hash header",
            ),
        ];
        for (headers, expected) in cases {
            let e = ControlFile::from_bytes(&format_0_8(&headers, 24), "t").unwrap_err();
            assert_eq!(e.to_string(), expected);
        }
        for bs in [3, 12, 1 << 25] {
            let file = format!(
                "zsync: 0.6.2\nBlocksize: {bs}\nLength: 1\nURL: f\nSHA-1: {}\n\n",
                "0".repeat(40)
            );
            let e = ControlFile::from_bytes(file.as_bytes(), "t").unwrap_err();
            assert!(
                e.to_string().contains("not a power of two up to 16 MiB"),
                "{e}"
            );
        }
    }

    #[test]
    fn truncated_and_hostile_files_fail_cleanly() {
        let full = {
            let mut f = header("", "Hash-Lengths: 2,2,4\n", 10000);
            f.extend([1u8; 30]);
            f
        };
        for cut in 0..full.len() {
            assert!(
                ControlFile::from_bytes(&full[..cut], "x").is_err(),
                "accepted a file cut at {cut}"
            );
        }
        assert!(ControlFile::from_bytes(&full, "x").is_ok());
        let huge = header("", "", u64::MAX);
        assert!(ControlFile::from_bytes(&huge, "x").is_err());
        let map = header("Z-Map2: 99999999999\n", "", 10);
        assert!(ControlFile::from_bytes(&map, "x").is_err());
        assert!(ControlFile::from_bytes(&header("", "", 10).repeat(0), "x").is_err());
    }

    /// Claims no real table backs: refused outright, or failing on the missing table,
    /// which is only reserved for as it arrives (`tests/allocation.rs` measures that).
    #[test]
    fn huge_claims_are_refused() {
        let refused = |file: &[u8], why: &str| {
            let e = ControlFile::from_bytes(file, "x").unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        };
        let length = |length: u64, block_size: u32| {
            format!(
                "zsync: 0.6.2\nBlocksize: {block_size}\nLength: {length}\nURL: f\nSHA-1: {}\n\n",
                "0".repeat(40)
            )
        };
        // 2^62 bytes, or a billion blocks, at any block size.
        for bs in [8, 2048, 1 << 24] {
            refused(
                length(1 << 62, bs).as_bytes(),
                "more than this client handles",
            );
        }
        refused(
            length(1_000_000_000 * 2048, 2048).as_bytes(),
            "1000000000 blocks is more than this client handles",
        );
        // The most blocks taken, claimed by a file holding none of them.
        refused(length(MAX_BLOCKS << 24, 1 << 24).as_bytes(), "truncated");
        refused(
            length((MAX_BLOCKS << 24) + 1, 1 << 24).as_bytes(),
            "67108865 blocks",
        );
        refused(&header("Z-Map2: 268435456\n", "", 10), "ends inside");
        refused(&header("Z-Map2: 268435457\n", "", 10), "more than any real");
    }

    #[test]
    fn stray_bytes_after_the_table_are_ignored() {
        let mut file = header("", "Hash-Lengths: 1,2,3\n", 100);
        file.extend([9u8; 5]);
        file.extend(b"stray");
        let cf = ControlFile::from_bytes(&file, "x").unwrap();
        assert_eq!(cf.block_count(), 1);
    }

    #[test]
    fn hash_lengths_match_what_debian_zsyncmake_wrote() {
        let seen = [
            (0, 2048, (1, 2, 3)),
            (5, 2048, (1, 2, 3)),
            (1000, 2048, (1, 2, 4)),
            (100_000, 2048, (2, 2, 4)),
            (300_000, 2048, (2, 2, 4)),
            (10_000_000, 2048, (2, 2, 5)),
            (600_000_000, 4096, (2, 3, 5)),
        ];
        for (len, bs, (s, r, c)) in seen {
            assert_eq!(
                HashLengths::for_file(len, bs),
                HashLengths {
                    seq_matches: s,
                    rsum_bytes: r,
                    checksum_bytes: c
                },
                "length {len}"
            );
        }
    }
}
