//! Weak sum -> candidate blocks: the lookup the seed scanner does at every byte offset.
//!
//! With `seq_matches = 2` the key is the weak sums of two consecutive blocks, so a random
//! window almost never gets past the key test. Blocks with identical contents (zero-filled
//! stretches of a disk image are the usual case) are folded into one *group*: a window that
//! matches the group fills every member at once, and a group never makes a chain long.
//! A small filter in front of the table keeps the common "no candidate" answer in cache:
//! a blocked Bloom filter, one 64-bit word per bucket and three bits per key in it, about
//! 16 bits per group (the bucket count is rounded up to a power of two). On the 600 MiB
//! bench pair the whole target's filter is 512 KiB (the one-bit-per-key filter it replaced
//! was 2 MiB), the filter of the 19,680 groups still missing after the first pass 64 KiB,
//! and 0.14% (first pass) and 0.27% (second pass) of the windows tested got past it,
//! matches included. A bucket walk sees every group behind its word, so it clears the
//! bits no live group needs: a seed's long runs of data we already have (zero-filled
//! stretches, repeated content) then cost one cached word test per byte, not a walk of an
//! emptied bucket.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::blocks::StrongSum;
use crate::control::ControlFile;

const KEY_MIX: u64 = 0x9E37_79B9_7F4A_7C15;
/// Groups per bucket (and per filter word), on average.
const GROUPS_PER_BUCKET: usize = 4;
/// Filter bits set per key.
const BITS_PER_KEY: u32 = 3;
/// In `group_of`: a start block left out of the index.
const NO_GROUP: u32 = u32::MAX;

/// The lookup table over one control file's blocks.
pub struct BlockIndex<'c> {
    control: &'c ControlFile,
    /// 2 when windows are looked up by a pair of blocks.
    seq: u8,
    mask: u32,
    table_shift: u32,
    /// Per bucket: the filter bits of the groups behind it not matched yet (and perhaps
    /// of some matched since).
    filter: Vec<AtomicU64>,
    /// Per bucket: first group + 1 (0 = empty). Matched groups are unlinked as lookups
    /// pass them, so a stretch of seed data we already have costs no chain walks.
    heads: Vec<AtomicU32>,
    /// Per group: what a bucket walk reads, side by side.
    nodes: Vec<Node>,
    /// Per group: where its members start in `members` (one extra at the end).
    group_start: Vec<u32>,
    /// Block numbers, grouped.
    members: Vec<u32>,
    /// Per candidate start block: its group.
    group_of: Vec<u32>,
}

/// A group as a bucket walk sees it: one cache line holds four.
struct Node {
    /// Its lookup key.
    key: u64,
    /// The next group in the bucket + 1.
    next: AtomicU32,
    /// Already matched: skip it.
    done: AtomicBool,
}

impl<'c> BlockIndex<'c> {
    pub fn new(control: &'c ControlFile) -> Self {
        Self::over(control, |_| true)
    }

    /// An index of only the candidates that could still supply a block not
    /// `is_present`: small, so the filter stays in cache for a second look at a seed.
    pub fn of_missing(control: &'c ControlFile, is_present: impl Fn(u64) -> bool) -> Self {
        let seq = Self::seq_for(control);
        Self::over(control, |start| {
            (start..start + u64::from(seq)).any(|block| !is_present(block))
        })
    }

    /// With `seq_matches = 2` a one-block file still cannot be matched as a pair.
    fn seq_for(control: &ControlFile) -> u8 {
        if control.block_count() < 2 {
            1
        } else {
            control.hash_lengths.seq_matches
        }
    }

    /// The index over the candidate start blocks `include` accepts.
    fn over(control: &'c ControlFile, include: impl Fn(u64) -> bool) -> Self {
        let n = control.block_count();
        let seq = Self::seq_for(control);
        let mask = control.hash_lengths.rsum_mask();
        let starts = if seq == 2 { n - 1 } else { n };

        // Sort candidate start blocks by content so equal ones sit together; no hash map
        // of a million keys needed.
        let content = |k: u32| {
            let k = u64::from(k);
            let second = if seq == 2 {
                control.strong_sum(k + 1)
            } else {
                &[][..]
            };
            (key_of(control, seq, k), control.strong_sum(k), second)
        };
        let mut order: Vec<u32> = (0..starts as u32)
            .filter(|&k| include(u64::from(k)))
            .collect();
        order.sort_unstable_by(|&x, &y| content(x).cmp(&content(y)).then(x.cmp(&y)));
        let mut group_start = Vec::new();
        for (i, &k) in order.iter().enumerate() {
            if i == 0 || content(order[i - 1]) != content(k) {
                group_start.push(i as u32);
            }
        }
        group_start.push(order.len() as u32);
        let groups = group_start.len() - 1;
        let mut group_of = vec![NO_GROUP; starts as usize];
        for group in 0..groups {
            for &block in &order[group_start[group] as usize..group_start[group + 1] as usize] {
                group_of[block as usize] = group as u32;
            }
        }

        let table_bits = groups
            .div_ceil(GROUPS_PER_BUCKET)
            .max(1)
            .next_power_of_two()
            .trailing_zeros()
            .max(4);
        let index = BlockIndex {
            control,
            seq,
            mask,
            table_shift: 64 - table_bits,
            filter: (0..1usize << table_bits)
                .map(|_| AtomicU64::new(0))
                .collect(),
            heads: (0..1usize << table_bits)
                .map(|_| AtomicU32::new(0))
                .collect(),
            nodes: group_start[..groups]
                .iter()
                .map(|&start| Node {
                    key: key_of(control, seq, u64::from(order[start as usize])),
                    next: AtomicU32::new(0),
                    done: AtomicBool::new(false),
                })
                .collect(),
            group_start,
            members: order,
            group_of,
        };
        for (group, node) in index.nodes.iter().enumerate() {
            let (bucket, bits) = index.slot(node.key);
            index.filter[bucket].fetch_or(bits, Ordering::Relaxed);
            let head = index.heads[bucket].load(Ordering::Relaxed);
            node.next.store(head, Ordering::Relaxed);
            index.heads[bucket].store(group as u32 + 1, Ordering::Relaxed);
        }
        index
    }

    pub fn control(&self) -> &'c ControlFile {
        self.control
    }

    /// 1 or 2: how many consecutive windows a lookup key spans.
    pub fn seq(&self) -> u8 {
        self.seq
    }

    /// The lookup key for windows whose (unmasked, packed) weak sums are `first`, `second`.
    #[inline(always)]
    pub fn window_key(&self, first: u32, second: u32) -> u64 {
        if self.seq == 2 {
            (u64::from(first & self.mask) << 32) | u64::from(second & self.mask)
        } else {
            u64::from(first & self.mask)
        }
    }

    /// Cheap pre-test: false means no block has this key.
    #[inline(always)]
    pub fn may_contain(&self, key: u64) -> bool {
        let (bucket, bits) = self.slot(key);
        self.filter[bucket].load(Ordering::Relaxed) & bits == bits
    }

    /// The first of the pair windows `windows` that may match: the filter lets its key
    /// through, or its two sums are equal (perhaps one byte value fills it, which the
    /// scan skips over). `sums[q]` is the packed weak sum of the block-size window at `q`,
    /// so a pair window's second sum is `sums[q + block_size]`. The loop the scan spends
    /// most of its time in on data that matches nothing, so it is kept free of everything
    /// else, and what it reads of the index is taken once, before it.
    pub fn first_pair_candidate(
        &self,
        sums: &[u32],
        block_size: usize,
        windows: Range<usize>,
    ) -> Option<usize> {
        let firsts = &sums[windows.clone()];
        let seconds = &sums[windows.start + block_size..windows.end + block_size];
        let (filter, mask, table_shift) = (&self.filter[..], self.mask, self.table_shift);
        let found = firsts.iter().zip(seconds).position(|(&first, &second)| {
            let key = (u64::from(first & mask) << 32) | u64::from(second & mask);
            let (bucket, bits) = slot(key, table_shift);
            first == second || filter[bucket].load(Ordering::Relaxed) & bits == bits
        });
        found.map(|i| windows.start + i)
    }

    /// Groups whose key is `key` and that are not matched yet. A walk to the end of the
    /// bucket clears the filter bits no group left in it sets.
    pub fn groups_for(&self, key: u64) -> impl Iterator<Item = Group> + '_ {
        let (bucket, _) = self.slot(key);
        let mut link = &self.heads[bucket];
        let mut live_bits = 0;
        std::iter::from_fn(move || {
            loop {
                let cursor = link.load(Ordering::Relaxed);
                if cursor == 0 {
                    // Groups are only ever matched, never unmatched, so bits cleared now
                    // stay right; a racing walk can only clear fewer.
                    let word = &self.filter[bucket];
                    if word.load(Ordering::Relaxed) & !live_bits != 0 {
                        word.fetch_and(live_bits, Ordering::Relaxed);
                    }
                    return None;
                }
                let group = (cursor - 1) as usize;
                let node = &self.nodes[group];
                if node.done.load(Ordering::Relaxed) {
                    // Unlink it. A race with another thread unlinking a neighbour can only
                    // put a matched group back, which costs a skip, never a wrong answer.
                    link.store(node.next.load(Ordering::Relaxed), Ordering::Relaxed);
                    continue;
                }
                link = &node.next;
                live_bits |= self.slot(node.key).1;
                if node.key == key {
                    return Some(Group(group));
                }
            }
        })
    }

    /// The first block of each member of `group` (each member spans `seq` blocks).
    pub fn members(&self, group: Group) -> impl Iterator<Item = u64> + '_ {
        let span = self.group_start[group.0] as usize..self.group_start[group.0 + 1] as usize;
        self.members[span].iter().map(|&b| u64::from(b))
    }

    /// Whether a window whose weak sums gave `group` holds its contents: `strong(i)` is
    /// the strong sum of the window's block `i` (of [`Self::seq`]), asked for only as
    /// far as the blocks before it fit.
    pub fn window_holds(&self, group: Group, mut strong: impl FnMut(usize) -> StrongSum) -> bool {
        let rep = self.representative(group);
        (0..usize::from(self.seq)).all(|i| self.control.strong_fits(rep + i as u64, &strong(i)))
    }

    /// A block with the group's contents, to compare strong sums against.
    pub fn representative(&self, group: Group) -> u64 {
        u64::from(self.members[self.group_start[group.0] as usize])
    }

    /// The group of the candidate that starts at `block` (a pair when [`Self::seq`] is 2).
    pub fn group_of(&self, block: u64) -> Option<Group> {
        self.group_of
            .get(block as usize)
            .filter(|&&g| g != NO_GROUP)
            .map(|&g| Group(g as usize))
    }

    /// Marks `group` matched; false if another thread did first.
    pub fn claim(&self, group: Group) -> bool {
        !self.nodes[group.0].done.swap(true, Ordering::Relaxed)
    }

    #[inline(always)]
    fn slot(&self, key: u64) -> (usize, u64) {
        slot(key, self.table_shift)
    }
}

/// A set of candidate start blocks with identical contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group(usize);

/// A key's bucket, which is also its filter word, and its bits in that word: taken from
/// the high bits of one multiplication, which every bit of the key reaches (the bits from
/// the top 18, the bucket from those below, so that every shift but one is a constant).
/// `table_shift` is 64 - log2 of the bucket count.
#[inline(always)]
fn slot(key: u64, table_shift: u32) -> (usize, u64) {
    let hash = key.wrapping_mul(KEY_MIX);
    let bits = (1..=BITS_PER_KEY).fold(0, |bits, i| bits | 1 << ((hash >> (64 - 6 * i)) & 63));
    (((hash << (6 * BITS_PER_KEY)) >> table_shift) as usize, bits)
}

fn key_of(control: &ControlFile, seq: u8, block: u64) -> u64 {
    if seq == 2 {
        (u64::from(control.weak_sum(block)) << 32) | u64::from(control.weak_sum(block + 1))
    } else {
        u64::from(control.weak_sum(block))
    }
}
