//! What the look-ups of a region of a seed saw: which target contents, and which of them
//! the seed holds at two alignments at once.
//!
//! A content counts once per region, however many windows of the region hold it: the
//! copies a region holds were read together, so they tell no more than one about how
//! often the seed holds the content elsewhere, which is what the estimate needs to know
//! (`super::super::tally`). A stretch that repeats a short run of bytes (a run of zeros,
//! a line of text over and over) holds target blocks at every alignment, all from one
//! place: its contents are kept apart, as one *pattern*.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// What the samples saw of one content of the target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Seen {
    /// The regions it was seen in.
    pub regions: u64,
    /// At how many alignments at once the seed was seen to hold it, at most: 2 when the
    /// target holds its bytes twice, once as a block of its own and once straddling two
    /// (it repeats a stretch a whole number of blocks and some bytes on). The seed, a
    /// version of the target, then holds them twice too.
    pub alignments: u64,
}

/// What was seen of each content, by the content's first block.
pub(super) type Contents = HashMap<u32, Seen>;

/// A pattern, as seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pattern {
    /// How many bytes on it repeats itself.
    pub period: usize,
    /// Where in the seed it was first seen, and its bytes from there on (a period and a
    /// window's worth): what tells how far the stretch reaches.
    pub at: u64,
    pub bytes: Vec<u8>,
    /// The regions it was seen in.
    pub regions: u64,
}

/// The patterns seen, by the contents their windows hold (sorted).
pub(super) type Patterns = BTreeMap<Vec<u32>, Pattern>;

/// What one region, or several, saw.
#[derive(Debug, Default)]
pub(super) struct Saw {
    pub contents: Contents,
    pub patterns: Patterns,
}

/// A window that holds target blocks.
pub(super) struct Match {
    /// The content of its first block.
    pub first: u32,
    /// The content of its second block, when windows are pairs of blocks.
    pub second: Option<u32>,
}

/// The look-ups of one region, in the order of the windows.
pub(super) struct Sightings {
    block_size: u64,
    /// Where the region ends in the seed: blocks that start there or later are not its.
    end: u64,
    saw: Saw,
    /// The last matches whose first block overlaps the next window's: where they
    /// start, and their first block's content.
    recent: VecDeque<(u64, u32)>,
}

impl Sightings {
    pub fn new(block_size: usize, end: u64) -> Self {
        Sightings {
            block_size: block_size as u64,
            end,
            saw: Saw::default(),
            recent: VecDeque::new(),
        }
    }

    /// The window starting at seed offset `at` held `found`.
    pub fn window(&mut self, at: u64, found: Match) {
        self.see(found.first);
        self.note_alignment(at, found.first);
        if let Some(second) = found.second.filter(|_| at + self.block_size < self.end) {
            self.see(second);
        }
    }

    /// Notes that the region holds `content`.
    pub fn see(&mut self, content: u32) {
        self.saw.contents.entry(content).or_insert(Seen {
            regions: 1,
            alignments: 1,
        });
    }

    /// The `period` windows from seed offset `at` on held `contents`, and the stretch
    /// goes on repeating them (`bytes` from `at` on): they are a pattern.
    pub fn repeated(&mut self, contents: Vec<u32>, period: usize, (at, bytes): (u64, &[u8])) {
        let mut key = contents;
        key.sort_unstable();
        key.dedup();
        for content in &key {
            self.saw.contents.remove(content);
        }
        self.recent.clear();
        if !key.is_empty() {
            self.saw.patterns.entry(key).or_insert_with(|| Pattern {
                period,
                at,
                bytes: bytes.to_vec(),
                regions: 1,
            });
        }
    }

    pub fn finish(self) -> Saw {
        self.saw
    }

    /// Notes the match at `at`: if others overlap it at other alignments, each of their
    /// contents is held at that many alignments at once.
    fn note_alignment(&mut self, at: u64, content: u32) {
        let bs = self.block_size;
        while self
            .recent
            .front()
            .is_some_and(|&(start, _)| start + bs <= at)
        {
            self.recent.pop_front();
        }
        self.recent.push_back((at, content));
        let mut phases: Vec<u64> = self.recent.iter().map(|&(start, _)| start % bs).collect();
        phases.sort_unstable();
        phases.dedup();
        let alignments = phases.len() as u64;
        if alignments > 1 {
            for &(_, content) in &self.recent {
                let seen = self.saw.contents.entry(content).or_default();
                seen.alignments = seen.alignments.max(alignments);
            }
        }
    }
}

/// Windows that repeat earlier ones byte for byte, told without looking them up: a run
/// of zeros (each window the one a byte back), a line of a log repeated (each the one a
/// line back). Such runs have a window match at every offset; looked up, each would cost
/// its strong sums.
pub(super) struct Repeats {
    span: usize,
    /// The content of the first block of each window that held target blocks, by where
    /// the window starts.
    firsts: HashMap<usize, u32>,
    /// Where the last window with each key that held target blocks starts.
    matched: HashMap<u64, usize>,
}

impl Repeats {
    pub fn new(span: usize) -> Self {
        Repeats {
            span,
            firsts: HashMap::new(),
            matched: HashMap::new(),
        }
    }

    /// Notes that the window at `p`, with weak-sum key `key`, held a pair (or block)
    /// whose first block is `first`.
    pub fn note(&mut self, key: u64, p: usize, first: u32) {
        self.firsts.insert(p, first);
        self.matched.insert(key, p);
    }

    /// If the window at `p` (of `buf`), whose key is `key`, has the bytes of one less
    /// than a window back that held target blocks: how far back.
    pub fn period_at(&self, key: u64, buf: &[u8], p: usize) -> Option<usize> {
        let &earlier = self.matched.get(&key)?;
        let d = p - earlier;
        (d < self.span && buf[p..p + self.span] == buf[earlier..earlier + self.span]).then_some(d)
    }

    /// The contents of the windows `d` back from `p`, which the windows from `p` on
    /// repeat.
    pub fn repeated(&self, p: usize, d: usize) -> Vec<u32> {
        (p - d..p)
            .filter_map(|q| self.firsts.get(&q).copied())
            .collect()
    }
}

impl Saw {
    /// This and `other` together (what two regions saw).
    pub fn merged(mut self, other: Saw) -> Saw {
        for (content, seen) in other.contents {
            let total = self.contents.entry(content).or_default();
            total.regions += seen.regions;
            total.alignments = total.alignments.max(seen.alignments);
        }
        for (key, pattern) in other.patterns {
            match self.patterns.entry(key) {
                Entry::Vacant(entry) => {
                    entry.insert(pattern);
                }
                Entry::Occupied(mut entry) => {
                    // Where it was first seen, whichever region came first here.
                    let total = entry.get_mut();
                    let regions = total.regions + pattern.regions;
                    if pattern.at < total.at {
                        *total = pattern;
                    }
                    total.regions = regions;
                }
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(first: u32, second: u32) -> Match {
        Match {
            first,
            second: Some(second),
        }
    }

    #[test]
    fn a_region_sees_each_content_once_and_no_block_past_its_end() {
        // Blocks 1, 2, 3 matched as pairs at 0 and 100 (block size 100), and again a
        // line further on; 8 is the second block of a pair that starts past the end.
        let mut seen = Sightings::new(100, 1000);
        seen.window(0, pair(1, 2));
        seen.window(100, pair(2, 3));
        seen.window(500, pair(1, 2));
        seen.window(950, pair(7, 8));
        let contents = seen.finish().contents;
        for content in [1, 2, 3, 7] {
            assert_eq!(contents[&content].regions, 1, "{content}");
            assert_eq!(contents[&content].alignments, 1, "{content}");
        }
        assert_eq!(contents.get(&8), None);
    }

    #[test]
    fn matches_overlapping_at_two_alignments_mark_their_contents() {
        // The same bytes hold block 1 at 0 and block 5 at 40: the target has them twice.
        let mut seen = Sightings::new(100, 1000);
        seen.window(0, pair(1, 2));
        seen.window(40, pair(5, 6));
        seen.window(100, pair(2, 3));
        seen.window(140, pair(6, 7));
        seen.window(300, pair(9, 9));
        let contents = seen.finish().contents;
        for content in [1, 2, 5, 6] {
            assert_eq!(contents[&content].alignments, 2, "{content}");
        }
        assert_eq!(contents[&9].alignments, 1);
    }

    #[test]
    fn the_contents_of_a_stretch_that_repeats_itself_are_a_pattern() {
        // Windows at 400 and 401 hold 11 and 13, and those after repeat them.
        let mut seen = Sightings::new(100, 1000);
        seen.window(0, pair(1, 2));
        seen.window(400, pair(11, 12));
        seen.window(401, pair(13, 14));
        seen.repeated(vec![13, 11, 13], 2, (400, b"abab"));
        let saw = seen.finish();
        let pattern = &saw.patterns[&vec![11, 13]];
        assert_eq!((pattern.period, pattern.at, pattern.regions), (2, 400, 1));
        assert_eq!(pattern.bytes, b"abab");
        assert!(saw.contents.contains_key(&1) && saw.contents.contains_key(&12));
        assert!(!saw.contents.contains_key(&11) && !saw.contents.contains_key(&13));
    }

    #[test]
    fn windows_repeating_earlier_ones_are_told_without_a_look_up() {
        // A pattern of 3 bytes repeated: the windows at 10, 11 and 12 held contents 4, 5
        // and 6; the ones from 13 on repeat them.
        let buf: Vec<u8> = b"xyz".iter().cycle().take(40).copied().collect();
        let mut repeats = Repeats::new(8);
        for (p, content) in [(10, 4), (11, 5), (12, 6)] {
            repeats.note(100 + p as u64, p, content);
        }
        assert_eq!(repeats.period_at(110, &buf, 13), Some(3));
        assert_eq!(repeats.period_at(110, &buf, 14), None, "not the same bytes");
        assert_eq!(repeats.repeated(13, 3), [4, 5, 6]);
        // Window 19 repeats 16, which repeats 13, which repeats 10.
        assert_eq!(repeats.period_at(110, &buf, 19), None, "too far back");
        repeats.note(110, 16, 4);
        assert_eq!(repeats.period_at(110, &buf, 19), Some(3));
        assert_eq!(
            repeats.repeated(19, 3),
            [4],
            "only windows that held blocks"
        );
    }

    #[test]
    fn what_regions_saw_adds_up() {
        let seen = |regions, alignments| Seen {
            regions,
            alignments,
        };
        let pattern = |at| Pattern {
            period: 1,
            at,
            bytes: vec![0; 3],
            regions: 1,
        };
        let a = Saw {
            contents: Contents::from([(1, seen(1, 1))]),
            patterns: Patterns::from([(vec![7], pattern(500))]),
        };
        let b = Saw {
            contents: Contents::from([(1, seen(1, 2)), (2, seen(1, 1))]),
            patterns: Patterns::from([(vec![7], pattern(100)), (vec![8, 9], pattern(900))]),
        };
        let both = a.merged(b);
        assert_eq!(both.contents[&1], seen(2, 2));
        assert_eq!(both.contents[&2], seen(1, 1));
        assert_eq!(both.patterns[&vec![7]].regions, 2);
        assert_eq!(both.patterns[&vec![7]].at, 100, "where it was first seen");
        assert_eq!(both.patterns[&vec![8, 9]].regions, 1);
    }
}
