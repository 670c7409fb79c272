//! Weak sum -> candidate blocks: the lookup the seed scanner does at every byte offset.
//!
//! With `seq_matches = 2` the key is the weak sums of two consecutive blocks, so a random
//! window almost never gets past the key test. Blocks with identical contents (zero-filled
//! stretches of a disk image are the usual case) are folded into one *group*: a window that
//! matches the group fills every member at once, and a group never makes a chain long.
//! A small bit filter in front of the table keeps the common "no candidate" answer in cache.
//! Bits are cleared once every group behind them is matched: a seed's long runs of data we
//! already have (zero-filled stretches, repeated content) then cost one cached bit test
//! per byte, not a walk of an emptied bucket.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::blocks::StrongSum;
use crate::control::ControlFile;

const KEY_MIX: u64 = 0x9E37_79B9_7F4A_7C15;
/// log2 of the largest filter in bits (4 MiB).
const FILTER_BITS_CAP: u32 = 25;
/// In `group_of`: a start block left out of the index.
const NO_GROUP: u32 = u32::MAX;

/// The lookup table over one control file's blocks.
pub struct BlockIndex<'c> {
    control: &'c ControlFile,
    /// 2 when windows are looked up by a pair of blocks.
    seq: u8,
    mask: u32,
    table_shift: u32,
    filter_shift: u32,
    filter: Vec<AtomicU64>,
    /// Per bucket: first group + 1 (0 = empty). Matched groups are unlinked as lookups
    /// pass them, so a stretch of seed data we already have costs no chain walks.
    heads: Vec<AtomicU32>,
    /// Per group: next group in the bucket + 1.
    next: Vec<AtomicU32>,
    /// Per group: its lookup key, kept here so a bucket walk touches one array, not the
    /// members and the control file's sums.
    keys: Vec<u64>,
    /// Per group: where its members start in `members` (one extra at the end).
    group_start: Vec<u32>,
    /// Block numbers, grouped.
    members: Vec<u32>,
    /// Per candidate start block: its group.
    group_of: Vec<u32>,
    /// Per group: already matched, skip it.
    done: Vec<AtomicBool>,
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

        // At most one group per bucket on average: the filter, not the table, keeps
        // lookups of random windows cheap.
        let table_bits = groups.max(1).next_power_of_two().trailing_zeros().max(4);
        // 64 filter bits per bucket: about 1 random window in 100 gets past the filter
        // (each one costs a walk with cache misses), and the filter (2 MiB for 600 MB
        // targets) still fits a core's L2. Capped at 4 MiB, so memory grows with the
        // target by the table, not by the filter; a bigger target lets more through.
        let filter_bits = (table_bits + 6).min(FILTER_BITS_CAP).max(table_bits);
        let index = BlockIndex {
            control,
            seq,
            mask,
            table_shift: 64 - table_bits,
            filter_shift: 64 - filter_bits,
            filter: (0..(1usize << filter_bits).div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
            heads: (0..1usize << table_bits)
                .map(|_| AtomicU32::new(0))
                .collect(),
            next: (0..groups).map(|_| AtomicU32::new(0)).collect(),
            keys: group_start[..groups]
                .iter()
                .map(|&start| key_of(control, seq, u64::from(order[start as usize])))
                .collect(),
            group_start,
            members: order,
            group_of,
            done: (0..groups).map(|_| AtomicBool::new(false)).collect(),
        };
        for group in 0..groups {
            let key = index.keys[group];
            let f = index.filter_slot(key);
            index.filter[f / 64].fetch_or(1 << (f % 64), Ordering::Relaxed);
            let bucket = index.bucket(key);
            let head = index.heads[bucket].load(Ordering::Relaxed);
            index.next[group].store(head, Ordering::Relaxed);
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
        let f = self.filter_slot(key);
        self.filter[f / 64].load(Ordering::Relaxed) & (1 << (f % 64)) != 0
    }

    /// Groups whose key is `key` and that are not matched yet.
    pub fn groups_for(&self, key: u64) -> impl Iterator<Item = Group> + '_ {
        let slot = self.filter_slot(key);
        let mut link = &self.heads[self.bucket(key)];
        // Whether a group not yet matched still sits behind this key's filter bit.
        let mut slot_live = false;
        std::iter::from_fn(move || {
            loop {
                let cursor = link.load(Ordering::Relaxed);
                if cursor == 0 {
                    if !slot_live {
                        // Groups are only ever removed, so a cleared bit stays right.
                        self.filter[slot / 64].fetch_and(!(1 << (slot % 64)), Ordering::Relaxed);
                    }
                    return None;
                }
                let group = (cursor - 1) as usize;
                let next = &self.next[group];
                if self.done[group].load(Ordering::Relaxed) {
                    // Unlink it. A race with another thread unlinking a neighbour can only
                    // put a matched group back, which costs a skip, never a wrong answer.
                    link.store(next.load(Ordering::Relaxed), Ordering::Relaxed);
                    continue;
                }
                link = next;
                let group_key = self.keys[group];
                if group_key == key {
                    slot_live = true;
                    return Some(Group(group));
                }
                slot_live |= self.filter_slot(group_key) == slot;
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
        !self.done[group.0].swap(true, Ordering::Relaxed)
    }

    /// A key's bucket is its filter slot without the low bits, so every group behind a
    /// filter bit sits in one bucket and an emptied bucket walk can clear the bit.
    #[inline(always)]
    fn bucket(&self, key: u64) -> usize {
        (key.wrapping_mul(KEY_MIX) >> self.table_shift) as usize
    }

    #[inline(always)]
    fn filter_slot(&self, key: u64) -> usize {
        (key.wrapping_mul(KEY_MIX) >> self.filter_shift) as usize
    }
}

/// A set of candidate start blocks with identical contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group(usize);

fn key_of(control: &ControlFile, seq: u8, block: u64) -> u64 {
    if seq == 2 {
        (u64::from(control.weak_sum(block)) << 32) | u64::from(control.weak_sum(block + 1))
    } else {
        u64::from(control.weak_sum(block))
    }
}
