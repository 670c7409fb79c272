//! The casync index (`.caibx` for a blob, `.caidx` for a `.catar` archive): which chunks,
//! in which order, make up the file.
//!
//! Layout (`caformat.h`), all little-endian u64:
//!
//! ```text
//! index header  size=48, type=CA_FORMAT_INDEX, feature_flags, chunk_size_min/avg/max
//! table header  size=u64::MAX, type=CA_FORMAT_TABLE
//! items         end offset of the chunk in the blob, 32-byte chunk id   (40 bytes each)
//! tail          0, 0, index_offset=48, table size, CA_FORMAT_TABLE_TAIL_MARKER  (40 bytes)
//! ```
//!
//! An index comes from the network: every field is checked the way casync's reader
//! (`caindex.c`) checks it, and the item count follows from the bytes present, never
//! from a claim, so hostile input costs at most what it weighs.

use std::ops::Range;

use super::chunker::ChunkSizes;
use super::id::{ChunkDigest, ChunkId, ID_LEN};
use crate::error::{Error, Result};
use crate::format::Format;

/// `CA_FORMAT_INDEX`: the type of the index header.
const INDEX_MAGIC: u64 = 0x9682_4d9c_7b12_9ff9;
/// `CA_FORMAT_TABLE`: the type of the table header.
const TABLE_MAGIC: u64 = 0xe75b_9e11_2f17_417d;
/// `CA_FORMAT_TABLE_TAIL_MARKER`: the last word of the file.
const TAIL_MARKER: u64 = 0x4b4f_050e_5549_ecd1;

/// `sizeof(CaFormatIndex)`: header, feature flags, three chunk sizes.
const INDEX_HEADER_LEN: usize = 48;
/// `offsetof(CaFormatTable, items)`.
const TABLE_HEADER_LEN: usize = 16;
/// `sizeof(CaFormatTableItem)`, which is also `sizeof(CaFormatTableTail)`.
const ITEM_LEN: usize = 8 + ID_LEN;
/// An index without a single chunk: an empty blob.
const MIN_LEN: usize = INDEX_HEADER_LEN + TABLE_HEADER_LEN + ITEM_LEN;

/// Every feature flag casync knows (`CA_FORMAT_FEATURE_FLAGS_MAX`): the `WITH_*` bits
/// 0..=32 and the four top bits (exclusions and the digest).
const KNOWN_FLAGS: u64 = 0x1_ffff_ffff | 0xf000_0000_0000_0000;

/// One chunk of the blob: where it lies and its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// Where the chunk starts in the blob.
    pub(crate) offset: u64,
    /// Its length in bytes: at least 1, at most the index's maximum chunk size.
    pub(crate) len: u64,
    /// The hash of its bytes, which names it in the store.
    pub(crate) id: ChunkId,
}

impl Chunk {
    /// The bytes of the blob it covers.
    pub(crate) fn range(&self) -> Range<u64> {
        self.offset..self.offset + self.len
    }
}

/// A parsed, checked index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Index {
    feature_flags: u64,
    sizes: ChunkSizes,
    /// End offset and id of each chunk, ends strictly increasing from above 0.
    items: Vec<(u64, ChunkId)>,
}

impl Index {
    /// Parses a whole `.caibx` or `.caidx`; `source_name` (a URL or path) names it in errors.
    pub(crate) fn parse(bytes: &[u8], source_name: &str) -> Result<Index> {
        let bad = |problem: String| Error::control(Format::Casync, source_name, None, problem);
        let (feature_flags, sizes) = parse_header(bytes).map_err(bad)?;
        let items = parse_items(bytes, sizes.max()).map_err(bad)?;
        Ok(Index {
            feature_flags,
            sizes,
            items,
        })
    }

    #[cfg(test)]
    /// The feature flags as written (for an archive index, what the archive records).
    pub(crate) fn feature_flags(&self) -> u64 {
        self.feature_flags
    }

    /// The hash that names this index's chunks.
    pub(crate) fn digest(&self) -> ChunkDigest {
        ChunkDigest::from_feature_flags(self.feature_flags)
    }

    /// The chunker parameters the index was cut with.
    pub(crate) fn sizes(&self) -> ChunkSizes {
        self.sizes
    }

    /// The length of the blob (or archive) the index describes.
    pub(crate) fn blob_len(&self) -> u64 {
        self.items.last().map_or(0, |&(end, _)| end)
    }

    #[cfg(test)]
    /// How many chunks the blob has.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    #[cfg(test)]
    /// True for the index of an empty blob.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The `i`th chunk, if there are that many.
    pub(crate) fn chunk(&self, i: usize) -> Option<Chunk> {
        let &(end, id) = self.items.get(i)?;
        let offset = i.checked_sub(1).map_or(0, |prev| self.items[prev].0);
        Some(Chunk {
            offset,
            len: end - offset,
            id,
        })
    }

    /// Every chunk, in blob order.
    pub(crate) fn chunks(&self) -> impl ExactSizeIterator<Item = Chunk> + '_ {
        (0..self.items.len()).map(|i| self.chunk(i).expect("in range"))
    }
}

/// The little-endian u64 at `at`; callers have checked the length.
fn word(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// Checks the index and table headers and returns the feature flags and chunk sizes.
fn parse_header(bytes: &[u8]) -> std::result::Result<(u64, ChunkSizes), String> {
    if bytes.len() < INDEX_HEADER_LEN || word(bytes, 0) != INDEX_HEADER_LEN as u64 {
        return Err(not_an_index(bytes));
    }
    if word(bytes, 8) != INDEX_MAGIC {
        return Err(not_an_index(bytes));
    }
    let flags = word(bytes, 16);
    if flags & !KNOWN_FLAGS != 0 {
        return Err(format!(
            "the index uses feature flags {:#x} that this version does not know (made by a newer casync?)",
            flags & !KNOWN_FLAGS
        ));
    }
    let sizes = ChunkSizes::new(word(bytes, 24), word(bytes, 32), word(bytes, 40))
        .map_err(|problem| format!("the index's chunk sizes are unusable: {problem}"))?;
    if bytes.len() < MIN_LEN {
        return Err(format!(
            "the index is cut short: {} bytes, even an empty one has {MIN_LEN}",
            bytes.len()
        ));
    }
    let table = INDEX_HEADER_LEN;
    if word(bytes, table) != u64::MAX || word(bytes, table + 8) != TABLE_MAGIC {
        return Err("the chunk table's header is missing or damaged".into());
    }
    Ok((flags, sizes))
}

/// What to say when the first bytes are not an index header at all.
fn not_an_index(bytes: &[u8]) -> String {
    let mut expected = [0u8; 16];
    expected[..8].copy_from_slice(&(INDEX_HEADER_LEN as u64).to_le_bytes());
    expected[8..].copy_from_slice(&INDEX_MAGIC.to_le_bytes());
    if bytes.len() < INDEX_HEADER_LEN && expected.starts_with(&bytes[..bytes.len().min(16)]) {
        return format!("the index is cut short: {} bytes", bytes.len());
    }
    if bytes.len() >= 16 && word(bytes, 0) == 64 {
        // A catar archive starts with its ENTRY object, 64 bytes long.
        return "this is not a casync index (a .catar archive? Give the .caidx or .caibx)".into();
    }
    format!(
        "this is not a casync index (.caibx or .caidx): its first {} bytes are no index header",
        bytes.len().min(INDEX_HEADER_LEN)
    )
}

/// Reads the items and checks the tail; `max` is the largest chunk the index allows.
fn parse_items(bytes: &[u8], max: u64) -> std::result::Result<Vec<(u64, ChunkId)>, String> {
    let table = &bytes[INDEX_HEADER_LEN..];
    let rest = table.len() - TABLE_HEADER_LEN;
    if !rest.is_multiple_of(ITEM_LEN) {
        return Err(format!(
            "the chunk table is cut short or has bytes after it ({rest} bytes after its header, not a multiple of {ITEM_LEN})"
        ));
    }
    let count = rest / ITEM_LEN - 1;
    check_tail(&table[table.len() - ITEM_LEN..], table.len())?;
    // `count` follows from the bytes present: reserving it costs at most what they weigh.
    let mut items = Vec::with_capacity(count);
    let mut previous = 0u64;
    for (i, raw) in table[TABLE_HEADER_LEN..]
        .chunks_exact(ITEM_LEN)
        .take(count)
        .enumerate()
    {
        let end = word(raw, 0);
        check_item(i, previous, end, max)?;
        let id = ChunkId(raw[8..].try_into().expect("32 bytes"));
        items.push((end, id));
        previous = end;
    }
    Ok(items)
}

/// A chunk must end after the one before it, and be no longer than the maximum.
fn check_item(i: usize, previous: u64, end: u64, max: u64) -> std::result::Result<(), String> {
    if end <= previous {
        return Err(format!(
            "chunk {} ends at {end}, not after the chunk before it (at {previous})",
            i + 1
        ));
    }
    if end - previous > max {
        return Err(format!(
            "chunk {} is {} bytes long, more than the index's maximum of {max}",
            i + 1,
            end - previous
        ));
    }
    Ok(())
}

/// The tail repeats the table's size and ends with the marker; `table_len` is the real size.
fn check_tail(tail: &[u8], table_len: usize) -> std::result::Result<(), String> {
    if word(tail, 32) != TAIL_MARKER {
        return Err("the index is cut short: its end marker is missing".into());
    }
    let zeros = word(tail, 0) == 0 && word(tail, 8) == 0;
    if !zeros || word(tail, 16) != INDEX_HEADER_LEN as u64 {
        return Err("the chunk table's tail is damaged".into());
    }
    if word(tail, 24) != table_len as u64 {
        return Err(format!(
            "the chunk table's tail gives its size as {}, but it is {table_len} bytes",
            word(tail, 24)
        ));
    }
    Ok(())
}

/// The feature flags `casync make` writes in a blob's index: SHA-512/256 ids, and the
/// bits it always sets.
pub(crate) const BLOB_FLAGS: u64 = 0xb000_0000_0000_0000;

/// Writes an index in casync's layout (`make --caibx`, and the tests).
pub(crate) fn write_index(flags: u64, sizes: [u64; 3], chunks: &[(u64, ChunkId)]) -> Vec<u8> {
    let table_len = TABLE_HEADER_LEN + (chunks.len() + 1) * ITEM_LEN;
    let mut out = Vec::with_capacity(INDEX_HEADER_LEN + table_len);
    let [min, avg, max] = sizes;
    let header = [INDEX_HEADER_LEN as u64, INDEX_MAGIC, flags, min, avg, max];
    for word in header.into_iter().chain([u64::MAX, TABLE_MAGIC]) {
        out.extend_from_slice(&word.to_le_bytes());
    }
    for (end, id) in chunks {
        out.extend_from_slice(&end.to_le_bytes());
        out.extend_from_slice(&id.0);
    }
    let tail = [0, 0, INDEX_HEADER_LEN as u64, table_len as u64, TAIL_MARKER];
    tail.iter()
        .for_each(|w| out.extend_from_slice(&w.to_le_bytes()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::casync::id::FLAG_SHA512_256;

    const FLAGS: u64 = BLOB_FLAGS;
    const SIZES: [u64; 3] = [16 << 10, 64 << 10, 256 << 10];

    fn id(n: u8) -> ChunkId {
        ChunkId([n; ID_LEN])
    }

    fn error(bytes: &[u8]) -> String {
        Index::parse(bytes, "x.caibx").unwrap_err().to_string()
    }

    #[test]
    fn chunks_come_with_their_ranges() {
        let bytes = write_index(FLAGS, SIZES, &[(100, id(1)), (70_000, id(2))]);
        let index = Index::parse(&bytes, "x.caibx").unwrap();
        assert_eq!(index.len(), 2);
        assert_eq!(index.blob_len(), 70_000);
        assert_eq!(index.digest(), ChunkDigest::Sha512_256);
        assert_eq!(index.feature_flags(), FLAGS);
        let sizes = index.sizes();
        assert_eq!([sizes.min(), sizes.avg(), sizes.max()], SIZES);
        let chunks: Vec<_> = index.chunks().collect();
        assert_eq!(chunks[0].range(), 0..100);
        assert_eq!(chunks[1].range(), 100..70_000);
        assert_eq!(chunks[1].id, id(2));
        assert_eq!(index.chunk(2), None);
    }

    #[test]
    fn an_empty_blob_has_no_chunks() {
        let index = Index::parse(&write_index(FLAGS, SIZES, &[]), "e.caibx").unwrap();
        assert!(index.is_empty());
        assert_eq!(index.blob_len(), 0);
    }

    #[test]
    fn sha256_indexes_say_so() {
        let bytes = write_index(FLAGS & !FLAG_SHA512_256, SIZES, &[(1, id(1))]);
        assert_eq!(
            Index::parse(&bytes, "x").unwrap().digest(),
            ChunkDigest::Sha256
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let good = write_index(FLAGS, SIZES, &[(100, id(1)), (200, id(2))]);
        assert!(error(b"zsync: 0.6.2\n").contains("not a casync index"));
        assert!(error(&good[..good.len() - 1]).contains("cut short"));
        assert!(error(&good[..60]).contains("cut short"));
        assert!(error(&good[..20]).contains("cut short"));
        assert!(error(&good[..3]).contains("cut short"));
        assert!(error(b"").contains("cut short"));
        let mut longer = good.clone();
        longer.extend_from_slice(&[0; ITEM_LEN]);
        assert!(error(&longer).contains("end marker"), "{}", error(&longer));
        let backwards = write_index(FLAGS, SIZES, &[(200, id(1)), (100, id(2))]);
        assert!(error(&backwards).contains("chunk 2 ends at 100, not after"));
        let huge = write_index(FLAGS, SIZES, &[(300_000, id(1))]);
        assert!(error(&huge).contains("more than the index's maximum"));
        let bad_sizes = write_index(FLAGS, [10, 5, 20], &[]);
        assert!(
            error(&bad_sizes).contains("chunk sizes"),
            "{}",
            error(&bad_sizes)
        );
        let unknown = write_index(FLAGS | 1 << 40, SIZES, &[]);
        assert!(error(&unknown).contains("feature flags 0x10000000000"));
        assert!(error(&unknown).starts_with("control file x.caibx: "));
    }
}
