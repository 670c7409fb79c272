//! Weak sum -> candidate blocks: the lookup the seed scanner does at every byte offset.
//!
//! With `seq_matches = 2` the key is the weak sums of two consecutive blocks, so a random
//! window almost never gets past the key test. Blocks with identical contents (zero-filled
//! stretches of a disk image are the usual case) are folded into one *group*: a window that
//! matches the group fills every member at once, and a group never makes a chain long.
//! A small filter in front of the table keeps the common "no candidate" answer in cache:
//! a blocked Bloom filter, one 32-bit word per bucket, about one group per bucket (the
//! bucket count is the group count rounded up to a power of two) and three bits per key
//! in its word. The groups of four buckets share one chain, so there are as many chain
//! heads as when a 64-bit word held four groups. A chain walk sees every group behind its
//! words, so it clears the bits no live group needs: a seed's long runs of data we already
//! have (zero-filled stretches, repeated content) then cost one cached word test per byte,
//! not a walk of an emptied chain.
//!
//! The scan tests its pair windows eight at a time where the CPU has AVX2: the hashes in
//! vector lanes, then eight word loads. On the bench's 300 MiB image pair the test was
//! 38% of the download's CPU samples a window at a time, and the download went from
//! 0.93 to 0.74 s (best of 5, side by side); a 32-bit word per bucket is what keeps the
//! hashes in 32-bit lanes. On that pair 0.11% of the first pass's 64.3 million windows
//! tested got past the filter (45,099 groups in 256 KiB), and 0.10% of the second pass's
//! 165.9 million (9,351 groups in 64 KiB), matches included; with 64-bit words of four
//! groups each it was 0.18% and 0.24%, in half the memory.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::blocks::StrongSum;
use crate::control::ControlFile;

/// Odd multipliers (xxHash's primes) for a key's two halves: one pair gives its bucket,
/// the other its filter bits.
const BUCKET_MIX: [u32; 2] = [0x9E37_79B1, 0x85EB_CA77];
const BITS_MIX: [u32; 2] = [0xC2B2_AE3D, 0x27D4_EB2F];
/// Buckets (filter words) whose groups share one chain: a walk of the chain clears the
/// dead bits of each.
const BUCKETS_PER_CHAIN: usize = 4;
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
    filter: Vec<AtomicU32>,
    /// Per [`BUCKETS_PER_CHAIN`] buckets: first group + 1 (0 = empty). Matched groups are
    /// unlinked as lookups pass them, so a stretch of seed data we already have costs no
    /// chain walks.
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

        let table_bits = groups.max(1).next_power_of_two().trailing_zeros().max(4);
        let index = BlockIndex {
            control,
            seq,
            mask,
            table_shift: 32 - table_bits,
            filter: (0..1usize << table_bits)
                .map(|_| AtomicU32::new(0))
                .collect(),
            heads: (0..(1usize << table_bits) / BUCKETS_PER_CHAIN)
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
            let chain = &index.heads[bucket / BUCKETS_PER_CHAIN];
            node.next
                .store(chain.load(Ordering::Relaxed), Ordering::Relaxed);
            chain.store(group as u32 + 1, Ordering::Relaxed);
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
    /// most of its time in on data that matches nothing.
    pub fn first_pair_candidate(
        &self,
        sums: &[u32],
        block_size: usize,
        windows: Range<usize>,
    ) -> Option<usize> {
        let firsts = &sums[windows.clone()];
        let seconds = &sums[windows.start + block_size..windows.end + block_size];
        let test = self.pair_test();
        let from = test.first_group_of_eight_to_look_at(firsts, seconds);
        let found = firsts[from..]
            .iter()
            .zip(&seconds[from..])
            .position(|(&first, &second)| test.may_match(first, second));
        found.map(|i| windows.start + from + i)
    }

    /// What the filter test of a pair window reads of the index, taken once per batch.
    fn pair_test(&self) -> PairTest<'_> {
        PairTest {
            filter: &self.filter,
            mask: self.mask,
            table_shift: self.table_shift,
        }
    }

    /// Groups whose key is `key` and that are not matched yet. A walk to the end of the
    /// chain clears the filter bits no group left in it sets.
    pub fn groups_for(&self, key: u64) -> impl Iterator<Item = Group> + '_ {
        let (bucket, _) = self.slot(key);
        let chain = bucket / BUCKETS_PER_CHAIN;
        let mut link = &self.heads[chain];
        let mut live_bits = [0; BUCKETS_PER_CHAIN];
        std::iter::from_fn(move || {
            loop {
                let cursor = link.load(Ordering::Relaxed);
                if cursor == 0 {
                    // Groups are only ever matched, never unmatched, so bits cleared now
                    // stay right; a racing walk can only clear fewer.
                    let words = &self.filter[chain * BUCKETS_PER_CHAIN..][..BUCKETS_PER_CHAIN];
                    for (word, live_bits) in words.iter().zip(live_bits) {
                        if word.load(Ordering::Relaxed) & !live_bits != 0 {
                            word.fetch_and(live_bits, Ordering::Relaxed);
                        }
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
                let (bucket, bits) = self.slot(node.key);
                live_bits[bucket % BUCKETS_PER_CHAIN] |= bits;
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
    fn slot(&self, key: u64) -> (usize, u32) {
        slot(key, self.table_shift)
    }
}

/// A set of candidate start blocks with identical contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group(usize);

/// A key's bucket, which is also its filter word, and its bits in that word: the top bits
/// of two multiply-adds of the key's halves, in 32-bit arithmetic so that
/// [`eight_at_a_time`] computes the same in vector lanes. `table_shift` is 32 - log2 of
/// the bucket count.
#[inline(always)]
fn slot(key: u64, table_shift: u32) -> (usize, u32) {
    let (high, low) = ((key >> 32) as u32, key as u32);
    let mix = |[m0, m1]: [u32; 2]| high.wrapping_mul(m0).wrapping_add(low.wrapping_mul(m1));
    let bits_hash = mix(BITS_MIX);
    let bits =
        1 << (bits_hash >> 27) | 1 << ((bits_hash >> 22) & 31) | 1 << ((bits_hash >> 17) & 31);
    ((mix(BUCKET_MIX) >> table_shift) as usize, bits)
}

/// The filter test of a pair window, by its two packed weak sums.
#[derive(Clone, Copy)]
struct PairTest<'i> {
    filter: &'i [AtomicU32],
    mask: u32,
    table_shift: u32,
}

impl PairTest<'_> {
    #[inline(always)]
    fn may_match(&self, first: u32, second: u32) -> bool {
        let key = (u64::from(first & self.mask) << 32) | u64::from(second & self.mask);
        let (bucket, bits) = slot(key, self.table_shift);
        first == second || self.filter[bucket].load(Ordering::Relaxed) & bits == bits
    }

    /// Where a window at a time must take over: the start of the first group of eight
    /// pair windows (`firsts[i]`, `seconds[i]`) in which one may match, or of the last,
    /// shorter group. Eight at a time where the CPU can.
    fn first_group_of_eight_to_look_at(&self, firsts: &[u32], seconds: &[u32]) -> usize {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU was just checked to have AVX2.
            return unsafe { eight_at_a_time::first_group_to_look_at(self, firsts, seconds) };
        }
        self.first_group_of_eight_one_at_a_time(firsts, seconds)
    }

    fn first_group_of_eight_one_at_a_time(&self, firsts: &[u32], seconds: &[u32]) -> usize {
        let groups = firsts.len().min(seconds.len()) / 8;
        (0..groups)
            .find(|&g| (g * 8..g * 8 + 8).any(|i| self.may_match(firsts[i], seconds[i])))
            .map_or(groups * 8, |g| g * 8)
    }
}

/// [`PairTest`] eight windows at a time in AVX2: the masking, both hashes, the bucket and
/// the bits in vector lanes; then eight word loads, atomic as everywhere else (a gather
/// would read the words other threads clear bits in without an atomic load, and was no
/// faster in a microbenchmark: 1.10 against 1.14 ns a window, against 2.20 for the
/// scalar loop).
#[cfg(target_arch = "x86_64")]
mod eight_at_a_time {
    use std::arch::x86_64::*;
    use std::sync::atomic::Ordering;

    use super::{BITS_MIX, BUCKET_MIX, PairTest};

    #[target_feature(enable = "avx2")]
    pub(super) fn first_group_to_look_at(
        test: &PairTest,
        firsts: &[u32],
        seconds: &[u32],
    ) -> usize {
        let groups = firsts.len().min(seconds.len()) / 8;
        let mask = _mm256_set1_epi32(test.mask as i32);
        let table_shift = _mm_cvtsi32_si128(test.table_shift as i32);
        let one = _mm256_set1_epi32(1);
        let low_five = _mm256_set1_epi32(31);
        let mix = |high: __m256i, low: __m256i, [m0, m1]: [u32; 2]| {
            _mm256_add_epi32(
                _mm256_mullo_epi32(high, _mm256_set1_epi32(m0 as i32)),
                _mm256_mullo_epi32(low, _mm256_set1_epi32(m1 as i32)),
            )
        };
        let bit_at = |hash: __m256i, shift: i32| {
            let place =
                _mm256_and_si256(_mm256_srl_epi32(hash, _mm_cvtsi32_si128(shift)), low_five);
            _mm256_sllv_epi32(one, place)
        };
        for g in 0..groups {
            let (first, second) = (load(&firsts[g * 8..]), load(&seconds[g * 8..]));
            let (high, low) = (
                _mm256_and_si256(first, mask),
                _mm256_and_si256(second, mask),
            );
            let bits_hash = mix(high, low, BITS_MIX);
            let bits = _mm256_or_si256(
                _mm256_or_si256(bit_at(bits_hash, 27), bit_at(bits_hash, 22)),
                bit_at(bits_hash, 17),
            );
            let buckets = _mm256_srl_epi32(mix(high, low, BUCKET_MIX), table_shift);
            let equal = _mm256_movemask_epi8(_mm256_cmpeq_epi32(first, second));
            let (buckets, bits) = (store(buckets), store(bits));
            let passed = buckets
                .iter()
                .zip(&bits)
                .fold(false, |passed, (&bucket, &bits)| {
                    passed | (test.filter[bucket as usize].load(Ordering::Relaxed) & bits == bits)
                });
            if equal != 0 || passed {
                return g * 8;
            }
        }
        groups * 8
    }

    #[target_feature(enable = "avx2")]
    fn load(values: &[u32]) -> __m256i {
        let eight: &[u32; 8] = values[..8].try_into().expect("eight values");
        // SAFETY: `eight` is the 32 bytes the unaligned load reads.
        unsafe { _mm256_loadu_si256(eight.as_ptr().cast()) }
    }

    #[target_feature(enable = "avx2")]
    fn store(lanes: __m256i) -> [u32; 8] {
        let mut out = [0u32; 8];
        // SAFETY: `out` is the 32 bytes the unaligned store writes.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), lanes) };
        out
    }
}

fn key_of(control: &ControlFile, seq: u8, block: u64) -> u64 {
    if seq == 2 {
        (u64::from(control.weak_sum(block)) << 32) | u64::from(control.weak_sum(block + 1))
    } else {
        u64::from(control.weak_sum(block))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::Rng;

    #[test]
    fn eight_windows_at_a_time_stop_where_one_at_a_time_do() {
        // Where the CPU has AVX2 the portable loop never runs in a scan; check it too.
        let mut rng = Rng(11);
        // One word in ten dense, so about one window in a hundred gets past the filter.
        let filter: Vec<AtomicU32> = (0..1 << 12)
            .map(|_| {
                AtomicU32::new(if rng.below(10) == 0 {
                    rng.next() as u32
                } else {
                    0
                })
            })
            .collect();
        let mut firsts: Vec<u32> = (0..20_000).map(|_| rng.next() as u32).collect();
        let seconds: Vec<u32> = (0..20_000).map(|_| rng.next() as u32).collect();
        for at in (0..firsts.len()).step_by(997) {
            firsts[at] = seconds[at];
        }
        for mask in [0xFFFF, 0x00FF_FFFF, u32::MAX] {
            let test = PairTest {
                filter: &filter,
                mask,
                table_shift: 32 - 12,
            };
            let (mut from, mut stops) = (0, 0);
            while from < firsts.len() {
                let (firsts, seconds) = (&firsts[from..], &seconds[from..]);
                let group = test.first_group_of_eight_to_look_at(firsts, seconds);
                assert_eq!(
                    group,
                    test.first_group_of_eight_one_at_a_time(firsts, seconds),
                    "mask {mask:#x}, from window {from}"
                );
                stops += 1;
                from += group + 1;
            }
            assert!(stops > 150, "mask {mask:#x}: only {stops} stops");
        }
    }
}
