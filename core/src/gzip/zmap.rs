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
    #[cfg(any(test, feature = "fuzzing"))]
    #[error("the Z-Map has {got} bytes where {entries} entries need {}", entries * 4)]
    WrongLength { entries: usize, got: usize },
    #[error("the first Z-Map entry must be a block start at output offset 0")]
    BadFirstEntry,
    #[error("Z-Map entry {index} cannot be in a deflate stream: {reason}")]
    Impossible { index: usize, reason: &'static str },
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
///
/// A map has about one entry per zsync block: over a million for a 4 GiB image. Each
/// entry is kept as its 4 raw bytes, with every [`ANCHOR_EVERY`]th checkpoint also kept in
/// full (5 bytes per entry in all, against 32 for full checkpoints); any checkpoint is
/// its anchor plus at most `ANCHOR_EVERY - 1` deltas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZMap {
    entries: Vec<[u8; 4]>,
    /// Checkpoints `0, ANCHOR_EVERY, 2 * ANCHOR_EVERY, ...`.
    anchors: Vec<Checkpoint>,
    last: Checkpoint,
}

/// Entries per full checkpoint kept.
const ANCHOR_EVERY: usize = 32;

impl Checkpoint {
    /// The checkpoint one raw entry after this one.
    fn then(self, entry: [u8; 4]) -> Checkpoint {
        let in_delta = u16::from_be_bytes([entry[0], entry[1]]);
        let out_field = u16::from_be_bytes([entry[2], entry[3]]);
        // Sums of at most 2^62 entries of 16 bits cannot overflow u64.
        let in_bit = self.in_bit + u64::from(in_delta);
        let out_byte = self.out_byte + u64::from(out_field & 0x7fff);
        let (kind, block_start_bit) = if out_field & 0x8000 != 0 {
            (CheckpointKind::MidBlock, self.block_start_bit)
        } else {
            (CheckpointKind::BlockStart, in_bit)
        };
        Checkpoint {
            in_bit,
            out_byte,
            kind,
            block_start_bit,
        }
    }
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
        let entries: Vec<[u8; 4]> = bytes
            .chunks_exact(4)
            .map(|e| e.try_into().expect("4 bytes"))
            .collect();
        let origin = Checkpoint {
            in_bit: 0,
            out_byte: 0,
            kind: CheckpointKind::BlockStart,
            block_start_bit: 0,
        };
        let first = origin.then(entries[0]);
        if first.kind != CheckpointKind::BlockStart || first.out_byte != 0 {
            return Err(ZMapError::BadFirstEntry);
        }
        let mut anchors = Vec::with_capacity(entries.len().div_ceil(ANCHOR_EVERY));
        let mut last = first;
        for (i, &entry) in entries.iter().enumerate() {
            if i > 0 {
                let next = last.then(entry);
                // Either would give a read no compressed bytes to fetch (a header range
                // or a data range), which nothing downstream can hand the decoder.
                let reason = if next.out_byte > last.out_byte && next.in_bit == last.in_bit {
                    Some("output from no compressed input")
                } else if next.kind == CheckpointKind::MidBlock
                    && next.in_bit == next.block_start_bit
                {
                    Some("inside a block but where its header starts")
                } else {
                    None
                };
                if let Some(reason) = reason {
                    return Err(ZMapError::Impossible { index: i, reason });
                }
                last = next;
            }
            if i % ANCHOR_EVERY == 0 {
                anchors.push(last);
            }
        }
        Ok(Self {
            entries,
            anchors,
            last,
        })
    }

    /// Parses a map announced as `Z-Map2: entries`; `bytes` must hold exactly that many.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn parse_entries(entries: usize, bytes: &[u8]) -> Result<Self, ZMapError> {
        if entries.checked_mul(4) != Some(bytes.len()) {
            return Err(ZMapError::WrongLength {
                entries,
                got: bytes.len(),
            });
        }
        Self::parse(bytes)
    }

    /// How many checkpoints there are (never 0).
    pub fn checkpoint_count(&self) -> usize {
        self.entries.len()
    }

    /// Checkpoint `index` (below [`ZMap::checkpoint_count`]).
    pub fn checkpoint(&self, index: usize) -> Checkpoint {
        let anchor = index / ANCHOR_EVERY * ANCHOR_EVERY;
        self.entries[anchor + 1..=index]
            .iter()
            .fold(self.anchors[anchor / ANCHOR_EVERY], |c, &e| c.then(e))
    }

    /// Every checkpoint, in order.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn checkpoints(&self) -> impl Iterator<Item = Checkpoint> + '_ {
        self.entries[1..]
            .iter()
            .scan(self.anchors[0], |c, &e| {
                let here = *c;
                *c = c.then(e);
                Some(here)
            })
            .chain(std::iter::once(self.last))
    }

    /// Uncompressed bytes covered: the last checkpoint's output offset.
    pub fn uncompressed_len(&self) -> u64 {
        self.last.out_byte
    }

    /// The last checkpoint: for zsyncmake's maps, the end of the deflate data.
    pub fn last(&self) -> Checkpoint {
        self.last
    }

    /// How many checkpoints from the first satisfy `pred`, which must hold for a prefix
    /// of them (as `slice::partition_point`).
    fn partition_point(&self, pred: impl Fn(&Checkpoint) -> bool) -> usize {
        let anchors = self.anchors.partition_point(&pred);
        if anchors == 0 {
            return 0;
        }
        // The first failing checkpoint is after anchor `anchors - 1`, at or before the
        // next anchor.
        let from = (anchors - 1) * ANCHOR_EVERY;
        let to = (from + ANCHOR_EVERY).min(self.checkpoint_count());
        let mut c = self.anchors[anchors - 1];
        for i in from + 1..to {
            c = c.then(self.entries[i]);
            if !pred(&c) {
                return i;
            }
        }
        to
    }

    /// Index of the checkpoint to start from for uncompressed offset `out`: the last one
    /// at or before it (the latest such is the cheapest start).
    pub fn start_index(&self, out: u64) -> usize {
        // Entry 0 has out_byte 0, so the partition point is at least 1.
        self.partition_point(|c| c.out_byte <= out) - 1
    }

    /// Index of the first checkpoint at or after uncompressed offset `out`, if any.
    pub fn end_index(&self, out: u64) -> Option<usize> {
        let i = self.partition_point(|c| c.out_byte < out);
        (i < self.checkpoint_count()).then_some(i)
    }

    /// Checks every checkpoint lies within a compressed file of `compressed_len` bytes.
    pub fn check_compressed_len(&self, compressed_len: u64) -> Result<(), ZMapError> {
        let index = self.partition_point(|c| c.in_bit <= compressed_len.saturating_mul(8));
        if index < self.checkpoint_count() {
            return Err(ZMapError::BeyondFile {
                index,
                in_bit: self.checkpoint(index).in_bit,
                compressed_len,
            });
        }
        Ok(())
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
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn reads_for(
        &self,
        needed: &[Range<u64>],
        compressed_len: Option<u64>,
    ) -> Result<Vec<CompressedRead>, ZMapError> {
        self.reads_in_cells(needed, compressed_len, u64::MAX)
    }

    /// [`ZMap::reads_for`], with the output cut into cells of `cell` bytes: a read
    /// covers needed bytes of one cell only, so its output is about a cell at most. A
    /// needed range is cut at a cell's end, and the reads of two cells are not merged,
    /// even where their compressed bytes overlap (those are still fetched once:
    /// [`fetch_ranges`] merges them).
    ///
    /// A read is a unit of memory for its user, whose bytes are held until all of them
    /// are in; each one more restarts the decoder at a checkpoint, a small cost. Cells
    /// at a multiple of the block size leave every whole block inside one read.
    pub fn reads_in_cells(
        &self,
        needed: &[Range<u64>],
        compressed_len: Option<u64>,
        cell: u64,
    ) -> Result<Vec<CompressedRead>, ZMapError> {
        if let Some(len) = compressed_len {
            self.check_compressed_len(len)?;
        }
        let total = self.uncompressed_len();
        let mut wanted: Vec<Range<u64>> = needed
            .iter()
            .filter(|r| r.start < r.end)
            .flat_map(|r| cut_into_cells(r.clone(), cell))
            .collect();
        wanted.sort_by_key(|r| r.start);

        let mut reads: Vec<CompressedRead> = Vec::new();
        let mut last_cell = None;
        for r in wanted {
            if r.start >= total {
                return Err(ZMapError::OutOfRange {
                    start: r.start,
                    end: r.end,
                    len: total,
                });
            }
            let end = r.end.min(total);
            let start = self.checkpoint(self.start_index(r.start));
            let stop = self.checkpoint(
                self.end_index(end)
                    .expect("the last checkpoint covers `end`"),
            );
            let data = start.in_bit / 8..stop.in_bit.div_ceil(8);
            let this_cell = r.start / cell;
            if let Some(last) = reads.last_mut()
                && data.start <= last.data.end
                && last_cell == Some(this_cell)
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
            last_cell = Some(this_cell);
        }
        Ok(reads)
    }
}

/// `range` cut at every multiple of `cell`.
fn cut_into_cells(range: Range<u64>, cell: u64) -> impl Iterator<Item = Range<u64>> {
    let mut start = range.start;
    std::iter::from_fn(move || {
        (start < range.end).then(|| {
            let cell_end = (start / cell + 1).saturating_mul(cell);
            let piece = start..cell_end.min(range.end);
            start = piece.end;
            piece
        })
    })
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
    crate::blocks::merge(all)
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
        let c: Vec<Checkpoint> = m.checkpoints().collect();
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
    fn lookups_agree_with_a_plain_list_of_checkpoints() {
        // Maps of every length around the anchor spacing, with repeated output offsets
        // (zero deltas) and both kinds of entry, against the obvious representation.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for len in [1, 2, 31, 32, 33, 64, 65, 100, 1000] {
            let mut entries = vec![(80, 0, false)];
            for _ in 1..len {
                let r = next();
                let out = if r % 4 == 0 {
                    0
                } else {
                    (r >> 8) as u16 & 0x7fff
                };
                entries.push(((r >> 24) as u16, out, r & 0x10 != 0));
            }
            let m = map(&entries);
            let mut plain = Vec::new();
            let (mut in_bit, mut out_byte, mut block_start_bit) = (0u64, 0u64, 0u64);
            for &(i, o, mid) in &entries {
                in_bit += u64::from(i);
                out_byte += u64::from(o);
                if !mid {
                    block_start_bit = in_bit;
                }
                let kind = if mid {
                    CheckpointKind::MidBlock
                } else {
                    CheckpointKind::BlockStart
                };
                plain.push(Checkpoint {
                    in_bit,
                    out_byte,
                    kind,
                    block_start_bit,
                });
            }
            assert_eq!(m.checkpoint_count(), len);
            assert_eq!(m.checkpoints().collect::<Vec<_>>(), plain, "len {len}");
            assert_eq!(m.last(), plain[len - 1]);
            for (i, c) in plain.iter().enumerate() {
                assert_eq!(m.checkpoint(i), *c, "len {len}, checkpoint {i}");
                for out in [c.out_byte.saturating_sub(1), c.out_byte, c.out_byte + 1] {
                    let starts = plain.partition_point(|c| c.out_byte <= out) - 1;
                    assert_eq!(m.start_index(out), starts, "len {len}, out {out}");
                    let ends = plain.partition_point(|c| c.out_byte < out);
                    assert_eq!(m.end_index(out), (ends < len).then_some(ends));
                }
                for bytes in [c.in_bit / 8, c.in_bit.div_ceil(8)] {
                    let beyond = plain.iter().position(|c| c.in_bit > bytes * 8);
                    let got = m.check_compressed_len(bytes).err();
                    assert_eq!(
                        got,
                        beyond.map(|index| ZMapError::BeyondFile {
                            index,
                            in_bit: plain[index].in_bit,
                            compressed_len: bytes,
                        })
                    );
                }
            }
        }
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
        // Found by fuzzing: both gave reads with an empty byte range, which the fetcher
        // could not find among the fetched ranges.
        let no_input = [entry(0, 0, false), entry(0, 100, false)].concat();
        assert_eq!(
            ZMap::parse(&no_input),
            Err(ZMapError::Impossible {
                index: 1,
                reason: "output from no compressed input"
            })
        );
        let at_header = [entry(80, 0, false), entry(0, 0, true)].concat();
        assert!(matches!(
            ZMap::parse(&at_header),
            Err(ZMapError::Impossible { index: 1, .. })
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

    /// Block starts at bits 80, 8080, 16080 (out 0, 1000, 2000), mid-block points at
    /// bits 4080 and 12081 (out 500, 1500), stream end at bit 20000 (out 3000).
    fn three_blocks() -> ZMap {
        map(&[
            (80, 0, false),
            (4000, 500, true),
            (4000, 500, false),
            (4001, 500, true),
            (3999, 500, false),
            (3920, 1000, false),
        ])
    }

    #[test]
    fn reads_start_and_end_on_checkpoints_and_merge() {
        let m = three_blocks();
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
    fn reads_stay_within_their_cells_and_are_fetched_as_before() {
        let m = three_blocks();
        let whole = m.reads_for(&[600..1100], None).unwrap();
        assert_eq!(whole.len(), 1);
        assert_eq!(
            (whole[0].data.clone(), whole[0].out.clone()),
            (510..1511, 500..1500)
        );

        // Cells of 1000 bytes: the range is cut at 1000, and the second read starts from
        // the checkpoint at or before the cut, although its bytes touch the first's.
        let cut = m.reads_in_cells(&[600..1100], None, 1000).unwrap();
        let spans: Vec<_> = cut
            .iter()
            .map(|r| (r.data.clone(), r.out.clone()))
            .collect();
        assert_eq!(spans, [(510..1010, 500..1000), (1010..1511, 1000..1500)]);
        assert_eq!(fetch_ranges(&cut), fetch_ranges(&whole));

        // Ranges within one cell still merge.
        let merged = m.reads_in_cells(&[600..700, 900..990], None, 1000).unwrap();
        assert_eq!(merged.len(), 1);
    }

    #[test]
    fn header_range_never_passes_the_checkpoint_or_the_file() {
        let m = map(&[(80, 0, false), (100, 10, true), (100, 10, false)]);
        let reads = m.reads_for(&[12..13], Some(36)).unwrap();
        assert_eq!(reads[0].header, Some(10..23));
        assert_eq!(reads[0].data, 22..35);
    }
}
