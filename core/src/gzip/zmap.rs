//! The `Z-Map2` of a `.zsync` file: where in a gzip file decoding may (re)start.
//!
//! zsyncmake (`make.c`, `write_zmap_delta`) walks the deflate stream and records
//! checkpoints: every deflate block start, and, inside blocks, the first point after each
//! zsync block boundary where inflate sits before a literal/length code (or on a raw
//! byte of a stored block). Each is stored as 4 bytes, two big-endian `u16`s:
//!
//! - compressed bits advanced since the previous entry;
//! - uncompressed bytes advanced since the previous entry (at most 0x7fff), with bit
//!   0x8000 set when the entry is *not* a block start. The flag is not part of the delta
//!   (zmap.c masks it off before adding).
//!
//! Entry 0 is the gzip header length in bits with 0 bytes of output: the first block
//! starts there. zsyncmake ends the map with the end of the deflate stream (a block-start
//! entry after the final block's end-of-block code, and one more at the byte boundary
//! where the gzip trailer starts), so the last entry's output offset is the uncompressed
//! length. Deltas are unsigned, so a parsed map is monotonic in both streams by
//! construction.

use std::ops::Range;

/// Errors in a `Z-Map2` or in a request against it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZMapError {
    #[error("the Z-Map is empty")]
    Empty,
    #[error("the Z-Map has {len} bytes, not a whole number of 4-byte entries")]
    Truncated { len: usize },
    #[error("the Z-Map has {got} bytes where {entries} entries need {}", entries * 4)]
    WrongLength { entries: usize, got: usize },
    #[error("the first Z-Map entry must be a block start at output offset 0")]
    BadFirstEntry,
    #[error(
        "Z-Map checkpoint {index} at bit {in_bit} lies beyond the {compressed_len}-byte compressed file"
    )]
    BeyondFile {
        index: usize,
        in_bit: u64,
        compressed_len: u64,
    },
    #[error("uncompressed range {start}..{end} starts past the {len} bytes the Z-Map covers")]
    OutOfRange { start: u64, end: u64, len: u64 },
}

/// What kind of restart point a checkpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointKind {
    /// A deflate block header starts here.
    BlockStart,
    /// Inside a block: decoding needs the tables from the block's header first.
    MidBlock,
}

/// One Z-Map entry with absolute positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Bit offset in the compressed (gzip) file.
    pub in_bit: u64,
    /// Byte offset in the uncompressed data.
    pub out_byte: u64,
    pub kind: CheckpointKind,
    /// Bit where the enclosing block's header starts; `in_bit` for block starts.
    pub block_start_bit: u64,
}

/// A parsed `Z-Map2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZMap {
    checkpoints: Vec<Checkpoint>,
}

impl ZMap {
    /// Parses the raw map bytes (the `N * 4` bytes after the `Z-Map2: N` header line).
    pub fn parse(bytes: &[u8]) -> Result<Self, ZMapError> {
        if !bytes.len().is_multiple_of(4) {
            return Err(ZMapError::Truncated { len: bytes.len() });
        }
        if bytes.is_empty() {
            return Err(ZMapError::Empty);
        }
        let mut checkpoints = Vec::with_capacity(bytes.len() / 4);
        let mut in_bit = 0u64;
        let mut out_byte = 0u64;
        let mut block_start_bit = 0u64;
        for (i, e) in bytes.chunks_exact(4).enumerate() {
            let in_delta = u16::from_be_bytes([e[0], e[1]]);
            let out_field = u16::from_be_bytes([e[2], e[3]]);
            let mid = out_field & 0x8000 != 0;
            // Sums of at most 2^62 entries of 16 bits cannot overflow u64.
            in_bit += u64::from(in_delta);
            out_byte += u64::from(out_field & 0x7fff);
            if i == 0 && (mid || out_byte != 0) {
                return Err(ZMapError::BadFirstEntry);
            }
            let kind = if mid {
                CheckpointKind::MidBlock
            } else {
                block_start_bit = in_bit;
                CheckpointKind::BlockStart
            };
            checkpoints.push(Checkpoint {
                in_bit,
                out_byte,
                kind,
                block_start_bit,
            });
        }
        Ok(Self { checkpoints })
    }

    /// Parses a map announced as `Z-Map2: entries`; `bytes` must hold exactly that many.
    pub fn parse_entries(entries: usize, bytes: &[u8]) -> Result<Self, ZMapError> {
        if entries.checked_mul(4) != Some(bytes.len()) {
            return Err(ZMapError::WrongLength {
                entries,
                got: bytes.len(),
            });
        }
        Self::parse(bytes)
    }

    pub fn checkpoints(&self) -> &[Checkpoint] {
        &self.checkpoints
    }

    /// Uncompressed bytes covered: the last checkpoint's output offset.
    pub fn uncompressed_len(&self) -> u64 {
        self.last().out_byte
    }

    /// The last checkpoint: for zsyncmake's maps, the end of the deflate data.
    pub fn last(&self) -> &Checkpoint {
        self.checkpoints
            .last()
            .expect("a parsed map is never empty")
    }

    /// Index of the checkpoint to start from for uncompressed offset `out`: the last one
    /// at or before it (the latest such is the cheapest start).
    pub fn start_index(&self, out: u64) -> usize {
        // Entry 0 has out_byte 0, so the partition point is at least 1.
        self.checkpoints.partition_point(|c| c.out_byte <= out) - 1
    }

    /// Index of the first checkpoint at or after uncompressed offset `out`, if any.
    pub fn end_index(&self, out: u64) -> Option<usize> {
        let i = self.checkpoints.partition_point(|c| c.out_byte < out);
        (i < self.checkpoints.len()).then_some(i)
    }

    /// Checks every checkpoint lies within a compressed file of `compressed_len` bytes.
    pub fn check_compressed_len(&self, compressed_len: u64) -> Result<(), ZMapError> {
        // Monotonic, so only the last can be the first one out of bounds.
        match self
            .checkpoints
            .iter()
            .position(|c| c.in_bit > compressed_len.saturating_mul(8))
        {
            Some(index) => Err(ZMapError::BeyondFile {
                index,
                in_bit: self.checkpoints[index].in_bit,
                compressed_len,
            }),
            None => Ok(()),
        }
    }

    /// Maps needed uncompressed ranges to compressed reads.
    ///
    /// `needed` may come in any order and overlap; empty ranges are ignored and ranges
    /// are clipped to [`ZMap::uncompressed_len`] (a last zsync block rounded up past the
    /// end is fine), but one starting at or past it is an error. Each read starts at the
    /// last checkpoint at or before its range and ends at the first checkpoint at or
    /// after it; reads whose compressed bytes overlap or touch are merged, since decoding
    /// straight through costs no extra fetch. Reads come out in stream order, which is
    /// also the order to decode them in: a read's window (the 32 KiB before
    /// `out.start`) may be output of an earlier read.
    ///
    /// With `compressed_len` known, no range reaches past it.
    pub fn reads_for(
        &self,
        needed: &[Range<u64>],
        compressed_len: Option<u64>,
    ) -> Result<Vec<CompressedRead>, ZMapError> {
        if let Some(len) = compressed_len {
            self.check_compressed_len(len)?;
        }
        let total = self.uncompressed_len();
        let mut wanted: Vec<Range<u64>> =
            needed.iter().filter(|r| r.start < r.end).cloned().collect();
        wanted.sort_by_key(|r| r.start);

        let mut reads: Vec<CompressedRead> = Vec::new();
        for r in wanted {
            if r.start >= total {
                return Err(ZMapError::OutOfRange {
                    start: r.start,
                    end: r.end,
                    len: total,
                });
            }
            let end = r.end.min(total);
            let start = self.checkpoints[self.start_index(r.start)];
            let stop = self.checkpoints[self
                .end_index(end)
                .expect("the last checkpoint covers `end`")];
            let data = start.in_bit / 8..stop.in_bit.div_ceil(8);
            if let Some(last) = reads.last_mut()
                && data.start <= last.data.end
            {
                last.data.end = last.data.end.max(data.end);
                last.out.end = last.out.end.max(stop.out_byte);
                continue;
            }
            let header = (start.kind == CheckpointKind::MidBlock).then(|| {
                let from = start.block_start_bit / 8;
                let mut to = (from + MAX_BLOCK_HEADER_BYTES).min(start.in_bit.div_ceil(8));
                if let Some(len) = compressed_len {
                    to = to.min(len);
                }
                from..to
            });
            reads.push(CompressedRead {
                start,
                header,
                data,
                out: start.out_byte..stop.out_byte,
            });
        }
        Ok(reads)
    }
}

use super::inflate::MAX_BLOCK_HEADER_BYTES;

/// One run of decoding: fetch `data` (and `header`), decode from `start`, and keep
/// `out`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompressedRead {
    /// The checkpoint decoding starts at.
    pub start: Checkpoint,
    /// For a mid-block start, the compressed bytes holding the enclosing block's header:
    /// from the byte of `start.block_start_bit`, as much as a worst-case header needs
    /// (never past the start checkpoint). Feed them as the header of
    /// [`super::Resume::MidBlock`].
    pub header: Option<Range<u64>>,
    /// Compressed bytes from the byte holding `start.in_bit` to the byte holding the
    /// ending checkpoint's bit.
    pub data: Range<u64>,
    /// Uncompressed bytes decoding `data` yields: checkpoint to checkpoint, so usually
    /// more than was asked for.
    pub out: Range<u64>,
}

impl CompressedRead {
    /// Bytes of output to ask the decoder for.
    pub fn out_len(&self) -> u64 {
        self.out.end - self.out.start
    }
}

/// The byte ranges to fetch for `reads`: every data and header range, sorted, with
/// overlapping or touching ranges merged. Each read's data and its header each lie
/// within one returned range.
pub fn fetch_ranges(reads: &[CompressedRead]) -> Vec<Range<u64>> {
    let all: Vec<Range<u64>> = reads
        .iter()
        .flat_map(|r| {
            r.header
                .iter()
                .cloned()
                .chain(std::iter::once(r.data.clone()))
        })
        .filter(|r| r.start < r.end)
        .collect();
    crate::ranges::merge(all)
}

#[cfg(test)]
// One-range requests are the common case here, not a mistaken `Vec` of a range.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    fn entry(in_delta: u16, out_delta: u16, mid: bool) -> [u8; 4] {
        let out = out_delta | if mid { 0x8000 } else { 0 };
        let [a, b] = in_delta.to_be_bytes();
        let [c, d] = out.to_be_bytes();
        [a, b, c, d]
    }

    fn map(entries: &[(u16, u16, bool)]) -> ZMap {
        let bytes: Vec<u8> = entries
            .iter()
            .flat_map(|&(i, o, m)| entry(i, o, m))
            .collect();
        ZMap::parse(&bytes).unwrap()
    }

    #[test]
    fn deltas_accumulate_and_the_flag_is_not_part_of_the_delta() {
        let m = map(&[
            (80, 0, false),
            (1000, 2048, true),
            (500, 2048, false),
            (65535, 0x7fff, true),
        ]);
        let c = m.checkpoints();
        assert_eq!(
            (c[0].in_bit, c[0].out_byte, c[0].kind),
            (80, 0, CheckpointKind::BlockStart)
        );
        assert_eq!(
            (c[1].in_bit, c[1].out_byte, c[1].kind),
            (1080, 2048, CheckpointKind::MidBlock)
        );
        assert_eq!(c[1].block_start_bit, 80);
        assert_eq!(
            (c[2].in_bit, c[2].out_byte, c[2].block_start_bit),
            (1580, 4096, 1580)
        );
        assert_eq!(
            (c[3].in_bit, c[3].out_byte, c[3].block_start_bit),
            (67115, 4096 + 0x7fff, 1580)
        );
        assert_eq!(m.uncompressed_len(), 4096 + 0x7fff);
    }

    #[test]
    fn hostile_maps_are_errors() {
        assert_eq!(ZMap::parse(&[]), Err(ZMapError::Empty));
        assert_eq!(
            ZMap::parse(&[0, 80, 0]),
            Err(ZMapError::Truncated { len: 3 })
        );
        assert_eq!(
            ZMap::parse(&entry(80, 0, true)),
            Err(ZMapError::BadFirstEntry)
        );
        assert_eq!(
            ZMap::parse(&entry(80, 5, false)),
            Err(ZMapError::BadFirstEntry)
        );
        assert!(matches!(
            ZMap::parse_entries(2, &entry(80, 0, false)),
            Err(ZMapError::WrongLength { .. })
        ));
        assert!(matches!(
            ZMap::parse_entries(usize::MAX, &[]),
            Err(ZMapError::WrongLength { .. })
        ));
        // Maximal deltas everywhere just give large offsets.
        let big: Vec<u8> = std::iter::once(entry(80, 0, false))
            .chain(std::iter::repeat_n([0xff; 4], 10_000))
            .flatten()
            .collect();
        let m = ZMap::parse(&big).unwrap();
        assert_eq!(m.uncompressed_len(), 10_000 * 0x7fff);
        let m = map(&[(80, 0, false), (800, 100, false)]);
        assert!(matches!(
            m.reads_for(&[0..10], Some(99)),
            Err(ZMapError::BeyondFile { index: 1, .. })
        ));
        assert!(matches!(
            m.reads_for(&[100..200], None),
            Err(ZMapError::OutOfRange { .. })
        ));
    }

    #[test]
    fn reads_start_and_end_on_checkpoints_and_merge() {
        // Block starts at bits 80, 8080, 16080 (out 0, 1000, 2000), mid-block points at
        // bits 4080 and 12081 (out 500, 1500), stream end at bit 20000 (out 3000).
        let m = map(&[
            (80, 0, false),
            (4000, 500, true),
            (4000, 500, false),
            (4001, 500, true),
            (3999, 500, false),
            (3920, 1000, false),
        ]);
        let reads = m.reads_for(&[600..700], None).unwrap();
        assert_eq!(reads.len(), 1);
        let r = &reads[0];
        assert_eq!(r.start.in_bit, 4080);
        assert_eq!(r.start.kind, CheckpointKind::MidBlock);
        assert_eq!(r.header, Some(10..10 + MAX_BLOCK_HEADER_BYTES));
        assert_eq!(r.data, 510..1010);
        assert_eq!(r.out, 500..1000);

        // A range starting exactly on a checkpoint starts there.
        let reads = m.reads_for(&[1500..1600], None).unwrap();
        assert_eq!(
            (reads[0].start.in_bit, reads[0].header.clone()),
            (12081, Some(1010..1010 + MAX_BLOCK_HEADER_BYTES))
        );
        assert_eq!(reads[0].data, 1510..2010);

        // Reads whose bytes overlap merge; ranges past the end are clipped to it.
        let reads = m
            .reads_for(&[2500..9000, 600..700, 900..1100], Some(2600))
            .unwrap();
        assert_eq!(reads.len(), 2);
        assert_eq!(
            (reads[0].data.clone(), reads[0].out.clone()),
            (510..1511, 500..1500)
        );
        assert_eq!(
            (reads[1].data.clone(), reads[1].out.clone()),
            (2010..2500, 2000..3000)
        );
        assert_eq!(reads[1].header, None);
        assert_eq!(fetch_ranges(&reads), vec![10..297, 510..1511, 2010..2500]);

        // Separate reads keep their own header ranges; touching fetches merge.
        let reads = m.reads_for(&[600..700, 1600..1700], None).unwrap();
        assert_eq!(reads.len(), 2);
        assert_eq!(reads[1].header, Some(1010..1297));
        assert_eq!(fetch_ranges(&reads), vec![10..297, 510..1297, 1510..2010]);
    }

    #[test]
    fn header_range_never_passes_the_checkpoint_or_the_file() {
        let m = map(&[(80, 0, false), (100, 10, true), (100, 10, false)]);
        let reads = m.reads_for(&[12..13], Some(36)).unwrap();
        assert_eq!(reads[0].header, Some(10..23));
        assert_eq!(reads[0].data, 22..35);
    }
}
