//! Block and byte arithmetic in one place: which bytes a block covers, which blocks a byte
//! range touches, and how sets of blocks become runs. Every conversion between half-open
//! block ranges and byte ranges goes through here, so the last, short block is handled once.

use std::ops::Range;

/// The shape of a target: its length and block size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub block_size: u32,
    pub length: u64,
}

impl Geometry {
    pub fn new(block_size: u32, length: u64) -> Self {
        Geometry { block_size, length }
    }

    pub fn block_count(&self) -> u64 {
        self.length.div_ceil(u64::from(self.block_size))
    }

    pub fn block_start(&self, block: u64) -> u64 {
        block * u64::from(self.block_size)
    }

    /// Bytes of the target in `block` (the last block may be short).
    pub fn block_len(&self, block: u64) -> usize {
        let start = self.block_start(block);
        (self.length.saturating_sub(start)).min(u64::from(self.block_size)) as usize
    }

    /// The target bytes covered by `blocks`, never past the end of the file.
    pub fn byte_range(&self, blocks: Range<u64>) -> Range<u64> {
        self.block_start(blocks.start).min(self.length)
            ..self.block_start(blocks.end).min(self.length)
    }

    /// The block holding byte `offset`.
    pub fn block_of(&self, offset: u64) -> u64 {
        offset / u64::from(self.block_size)
    }

    /// The blocks lying wholly inside `bytes` (a block ending at the end of the file counts).
    pub fn whole_blocks_in(&self, bytes: Range<u64>) -> Range<u64> {
        let bs = u64::from(self.block_size);
        let first = bytes.start.div_ceil(bs);
        let last = if bytes.end >= self.length {
            self.block_count()
        } else {
            bytes.end / bs
        };
        first..last.max(first)
    }
}

/// Turns ascending block numbers into maximal runs: `1,2,3,7` -> `1..4, 7..8`.
pub fn runs(blocks: impl IntoIterator<Item = u64>) -> Vec<Range<u64>> {
    let mut out: Vec<Range<u64>> = Vec::new();
    for block in blocks {
        match out.last_mut() {
            Some(run) if run.end == block => run.end += 1,
            _ => out.push(block..block + 1),
        }
    }
    out
}

/// Sorts ranges and merges those that overlap or touch.
pub fn merge(mut ranges: Vec<Range<u64>>) -> Vec<Range<u64>> {
    ranges.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    merged
}

/// Formats byte ranges as an HTTP `Range` header value (`bytes=0-99,200-299`).
pub fn range_header(ranges: &[Range<u64>]) -> String {
    let parts: Vec<String> = ranges
        .iter()
        .map(|r| format!("{}-{}", r.start, r.end - 1))
        .collect();
    format!("bytes={}", parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_block_is_short_and_ranges_stop_at_the_end() {
        let g = Geometry::new(2048, 5000);
        assert_eq!(g.block_count(), 3);
        assert_eq!(g.block_len(2), 5000 - 4096);
        assert_eq!(g.block_len(3), 0);
        assert_eq!(g.byte_range(1..3), 2048..5000);
        assert_eq!(g.byte_range(0..1), 0..2048);
        assert_eq!(g.block_of(4096), 2);
        let exact = Geometry::new(1024, 4096);
        assert_eq!(exact.block_count(), 4);
        assert_eq!(exact.byte_range(3..4), 3072..4096);
        assert_eq!(Geometry::new(1024, 0).block_count(), 0);
    }

    #[test]
    fn whole_blocks_inside_byte_ranges() {
        let g = Geometry::new(1000, 3500);
        assert_eq!(g.whole_blocks_in(0..3500), 0..4);
        assert_eq!(g.whole_blocks_in(500..2999), 1..2);
        assert_eq!(g.whole_blocks_in(1000..2000), 1..2);
        assert_eq!(g.whole_blocks_in(100..900), 1..1);
        assert_eq!(g.whole_blocks_in(3000..3500), 3..4);
    }

    #[test]
    fn runs_and_headers() {
        assert_eq!(runs([1, 2, 3, 7, 9, 10]), vec![1..4, 7..8, 9..11]);
        assert!(runs([]).is_empty());
        assert_eq!(
            merge(vec![5..7, 0..2, 2..3, 6..9, 10..10]),
            vec![0..3, 5..9, 10..10]
        );
        assert_eq!(range_header(&[0..100, 200..300]), "bytes=0-99,200-299");
    }

    #[test]
    fn every_block_range_maps_back_to_itself() {
        for length in [1u64, 2047, 2048, 2049, 10_000] {
            let g = Geometry::new(2048, length);
            for start in 0..g.block_count() {
                for end in start + 1..=g.block_count() {
                    assert_eq!(
                        g.whole_blocks_in(g.byte_range(start..end)),
                        start..end,
                        "length {length}"
                    );
                }
            }
        }
    }
}
