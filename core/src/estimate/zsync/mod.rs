//! A seed estimated for a zsync target: its regions are looked up window by window
//! against the scan's own index, and the target contents they hold are counted.
//!
//! The look-up is the scan's: the weak sums of a pair of blocks roll along every byte
//! offset, the index's filter and buckets give the candidate pairs, the strong sums
//! decide. Every window is looked up, as the scan's second pass does, so that target
//! blocks the seed holds at two alignments (the target repeats a stretch, not a whole
//! number of blocks on) are all seen. A block counts for its *content*: every target
//! block with the same bytes (the target's zero blocks, a file it holds twice) is one
//! content, filled at once by the scan and so counted once, for all the bytes it fills;
//! in how many regions each content was seen is what the estimate is scaled by.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek};
use std::ops::Range;
use std::path::Path;

use rayon::prelude::*;

use super::Estimator;
use super::sample::{self, Sampling};
use super::tally::{SURE, Tally};
use crate::blocks::Rsum;
use crate::control::ControlFile;
use crate::error::{Error, Result};
use crate::job::Control;
use crate::part::read_at;
use crate::scan::{BlockIndex, StrongCache, common_prefix_len, is_gzip, open_seed};
use sightings::{Match, Pattern, Repeats, Saw, Sightings};

mod sightings;

/// Window starts looked up per read: a region read whole (a small seed) is read this
/// much at a time, so memory stays the same for any size.
const PIECE: usize = 4 << 20;
/// How seeds are sampled: regions of 8 blocks (a window is read past a region's end,
/// so no block that starts in it is lost), 1/32 of a big seed, at 512 places at least.
const BLOCKS_PER_REGION: u64 = 8;
const SHARE: u64 = 32;
const MIN_REGIONS: u64 = 512;
/// How often the step is halved when telling how far a pattern's stretch reaches: to
/// within a sixteenth.
const HALVINGS: u32 = 4;

/// A zsync target, ready to estimate seeds against.
pub(crate) struct ZsyncTarget<'c> {
    index: BlockIndex<'c>,
    /// Per target block: the first block with the same contents, which names the content.
    content_of: Vec<u32>,
    /// The blocks of each content more than one block has, by its first block.
    shared: HashMap<u32, Shared>,
}

/// A content more than one target block has.
#[derive(Debug, Clone, Copy)]
struct Shared {
    blocks: u64,
    /// The target bytes they fill.
    bytes: u64,
}

impl<'c> ZsyncTarget<'c> {
    pub fn new(control_file: &'c ControlFile) -> Self {
        let (content_of, shared) = contents(control_file);
        ZsyncTarget {
            index: BlockIndex::new(control_file),
            content_of,
            shared,
        }
    }

    fn control_file(&self) -> &'c ControlFile {
        self.index.control()
    }

    fn block_size(&self) -> usize {
        self.control_file().block_size as usize
    }

    /// The bytes a window spans: one block, or the pair its look-up key is made of.
    fn span(&self) -> usize {
        self.block_size() * usize::from(self.index.seq())
    }

    pub(super) fn sampling(&self) -> Sampling {
        Sampling {
            region: BLOCKS_PER_REGION * self.block_size() as u64,
            share: SHARE,
            min_regions: MIN_REGIONS,
        }
    }

    /// How many target blocks have the content named by block `content`, and the target
    /// bytes they fill.
    fn blocks_of(&self, content: u32) -> Shared {
        self.shared
            .get(&content)
            .copied()
            .unwrap_or_else(|| Shared {
                blocks: 1,
                bytes: self.control_file().geometry().block_len(u64::from(content)) as u64,
            })
    }

    /// What was seen: each content not in a pattern, and a content the seed was seen to
    /// hold at several alignments at once as held that many times, like one the target
    /// has several blocks of; and each pattern, counted by the chance of seeing a
    /// stretch like the one it was seen in (`chance`).
    fn tally(&self, saw: &Saw, mut chance: impl FnMut(&Pattern) -> Result<f64>) -> Result<Tally> {
        let mut tally = Tally::default();
        let mut in_patterns: HashSet<u32> = HashSet::new();
        for (key, pattern) in &saw.patterns {
            let bytes = key.iter().map(|&c| self.blocks_of(c).bytes).sum();
            tally.add_pattern(bytes, chance(pattern)?);
            in_patterns.extend(key.iter().copied());
        }
        for (content, seen) in &saw.contents {
            if !in_patterns.contains(content) {
                let Shared { blocks, bytes } = self.blocks_of(*content);
                tally.add(seen.regions, bytes, blocks.max(seen.alignments));
            }
        }
        Ok(tally)
    }

    /// The chance that samples of the `len`-byte seed see a pattern seen in a stretch
    /// like `pattern`'s: certain for one seen in several regions (zero runs are all
    /// over a disk image), else told by how long its stretch is.
    fn chance_of_seeing(
        &self,
        file: &File,
        len: u64,
        pattern: &Pattern,
        path: &Path,
    ) -> Result<f64> {
        if pattern.regions >= SURE {
            return Ok(1.0);
        }
        let on = self.reach(file, len, pattern, true, path)?;
        let back = self.reach(file, len, pattern, false, path)?;
        let stretch = back + on + self.span() as u64;
        let needed = (self.span() + pattern.period) as u64;
        Ok(sample::chance_of_reading(
            stretch,
            needed,
            len,
            self.sampling(),
        ))
    }

    /// How far on (or back) from where `pattern` was seen the seed still repeats it:
    /// windows are read at doubling distances until one does not, then the last step is
    /// halved a few times.
    fn reach(
        &self,
        file: &File,
        len: u64,
        pattern: &Pattern,
        on: bool,
        path: &Path,
    ) -> Result<u64> {
        let span = self.span();
        let period = pattern.period as u64;
        let mut window = vec![0u8; span];
        let mut holds = |distance: u64| -> Result<bool> {
            let offset = if on {
                pattern.at.checked_add(distance)
            } else {
                pattern.at.checked_sub(distance)
            };
            let Some(offset) = offset.filter(|&o| o + span as u64 <= len) else {
                return Ok(false);
            };
            let phase = if on {
                distance % period
            } else {
                (period - distance % period) % period
            } as usize;
            let got = read_at(file, &mut window, offset).map_err(|e| Error::io("read", path, e))?;
            Ok(got == span && window[..] == pattern.bytes[phase..phase + span])
        };
        let mut held = 0;
        let mut step = self.sampling().region;
        while step < len && holds(step)? {
            held = step;
            step *= 2;
        }
        let mut failed = step;
        for _ in 0..HALVINGS {
            let middle = held + (failed - held) / 2;
            if holds(middle)? {
                held = middle;
            } else {
                failed = middle;
            }
        }
        Ok(held)
    }

    /// Looks up sample regions of a plain seed. Each region counts the blocks that start
    /// in it, so the share of the seed sampled is the share of its bytes the regions
    /// cover.
    fn estimate_file(&self, file: &File, len: u64, path: &Path, control: &Control) -> Result<u64> {
        let regions = sample::regions(len, self.sampling());
        let saw = regions
            .par_iter()
            .map_init(Vec::new, |buf, region| {
                self.look_up_region(file, region.clone(), buf, path, control)
            })
            .try_reduce(Saw::default, |a, b| Ok(a.merged(b)))?;
        let tally = self.tally(&saw, |pattern| {
            self.chance_of_seeing(file, len, pattern, path)
        })?;
        Ok(tally.estimate(sample::share(&regions, len)))
    }

    /// A `.gz` seed is inflated by the scan, and no offset in the file says where an
    /// inflated byte is: only its start can be read. As many compressed bytes as a plain
    /// seed of its size would be read are inflated and looked up, and the estimate
    /// scaled by the share of the file they are: a fair guess for a file compressed about
    /// evenly, a rough one for a disk image whose first part differs from the rest.
    fn estimate_gzip(&self, file: &File, len: u64, path: &Path, control: &Control) -> Result<u64> {
        let budget: u64 = sample::regions(len, self.sampling())
            .iter()
            .map(|r| r.end - r.start)
            .sum();
        let mut reader = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(file));
        let span = self.span();
        let mut buf = vec![0u8; PIECE + span - 1];
        // The inflated start is one region, of a length known at its end.
        let mut sightings = Sightings::new(self.block_size(), u64::MAX);
        // `filled` bytes of `buf` are inflated data from seed offset `at` on.
        let (mut at, mut filled) = (0u64, 0usize);
        loop {
            control.checkpoint()?;
            let (ended, got) = fill(&mut reader, &mut buf[filled..], path)?;
            filled += got;
            let starts = if ended { filled } else { filled + 1 - span };
            buf[filled..].fill(0);
            let piece = at..at + starts as u64;
            self.look_up_piece(&buf, piece.clone(), &mut sightings);
            buf.copy_within(starts..filled, 0);
            filled -= starts;
            at = piece.end;
            // How far into the file the decoder has read (the seed is read from its
            // start: its magic was read at an offset, not through the file's cursor).
            let mut compressed: &File = reader.get_ref().get_ref();
            let read = compressed
                .stream_position()
                .map_err(|e| Error::io("read", path, e))?;
            if ended || read >= budget {
                let sampled = if ended { 1.0 } else { read as f64 / len as f64 };
                // The start is read as one stretch: its patterns are contents like any
                // other, scaled as they are.
                let mut saw = sightings.finish();
                for content in std::mem::take(&mut saw.patterns).into_keys().flatten() {
                    saw.contents.entry(content).or_default().regions = 1;
                }
                return Ok(self.tally(&saw, |_| Ok(1.0))?.estimate(sampled));
            }
        }
    }

    /// Looks up every window that starts in `region` of the seed, a piece at a time.
    fn look_up_region(
        &self,
        file: &File,
        region: Range<u64>,
        buf: &mut Vec<u8>,
        path: &Path,
        control: &Control,
    ) -> Result<Saw> {
        let span = self.span();
        let mut sightings = Sightings::new(self.block_size(), region.end);
        for start in (region.start..region.end).step_by(PIECE) {
            control.checkpoint()?;
            let piece = start..(start + PIECE as u64).min(region.end);
            buf.resize((piece.end - piece.start) as usize - 1 + span, 0);
            let got = read_at(file, buf, piece.start).map_err(|e| Error::io("read", path, e))?;
            // Past the end of the seed, windows see zeros, as the scan pads them.
            buf[got..].fill(0);
            self.look_up_piece(buf, piece, &mut sightings);
        }
        Ok(sightings.finish())
    }

    /// Looks up the windows that start in `piece` of the seed, whose bytes (and `span -
    /// 1` more) are `buf`.
    fn look_up_piece(&self, buf: &[u8], piece: Range<u64>, sightings: &mut Sightings) {
        let seq = usize::from(self.index.seq());
        let span = self.span();
        let starts = (piece.end - piece.start) as usize;
        if starts == 0 {
            return;
        }
        let mut strong = StrongCache::new(self.control_file());
        let mut repeats = Repeats::new(span);
        let mut sums = self.sums_at(buf, 0);
        let mut p = 0;
        if !self.may_hold(sums) {
            p = self.roll_to_candidate(buf, 0, starts, &mut sums);
        }
        while p < starts {
            let key = self.index.window_key(sums.0.packed(), sums.1.packed());
            if let Some(d) = repeats.period_at(key, buf, p) {
                // The windows from here on repeat those `d` bytes back, for as long as
                // the bytes entering them do: the same contents, seen already.
                let more =
                    common_prefix_len(&buf[p + span..starts - 1 + span], &buf[p + span - d..]);
                let seen_at = (piece.start + (p - d) as u64, &buf[p - d..p + span]);
                sightings.repeated(repeats.repeated(p, d), d, seen_at);
                p += more + 1;
                if p >= starts {
                    break;
                }
                sums = self.sums_at(buf, p);
                if self.may_hold(sums) {
                    continue;
                }
            } else if let Some(first) = self.look_up(key, buf, p, &mut strong) {
                let found = Match {
                    first: self.content_of[first as usize],
                    second: (seq == 2).then(|| self.content_of[first as usize + 1]),
                };
                repeats.note(key, p, found.first);
                sightings.window(piece.start + p as u64, found);
            }
            p = self.roll_to_candidate(buf, p, starts, &mut sums);
        }
    }

    /// The weak sums of the window at `p`: of its first block, and of its second (or the
    /// first again, when windows are single blocks).
    fn sums_at(&self, buf: &[u8], p: usize) -> (Rsum, Rsum) {
        let bs = self.block_size();
        let first = Rsum::of_block(&buf[p..p + bs]);
        let second = if self.index.seq() == 2 {
            Rsum::of_block(&buf[p + bs..p + 2 * bs])
        } else {
            first
        };
        (first, second)
    }

    /// Whether the index may hold a pair (or block) for a window with weak sums `sums`.
    fn may_hold(&self, (r0, r1): (Rsum, Rsum)) -> bool {
        self.index
            .may_contain(self.index.window_key(r0.packed(), r1.packed()))
    }

    /// Rolls the window on from `p` (whose sums are `sums`) to the next one the index may
    /// hold a pair (or block) for; returns where it stopped, `starts` if at none. Most of
    /// the time goes here, so it does nothing else.
    fn roll_to_candidate(
        &self,
        buf: &[u8],
        p: usize,
        starts: usize,
        sums: &mut (Rsum, Rsum),
    ) -> usize {
        let bs = self.block_size();
        let shift = bs.trailing_zeros();
        if p + 1 >= starts {
            return starts;
        }
        let last = starts - 1;
        let (r0, r1) = sums;
        if self.index.seq() == 2 {
            let leaving = &buf[p..last];
            let middle = &buf[p + bs..last + bs];
            let entering = &buf[p + 2 * bs..last + 2 * bs];
            for (i, ((&out, &mid), &new)) in leaving.iter().zip(middle).zip(entering).enumerate() {
                r0.roll(out, mid, shift);
                r1.roll(mid, new, shift);
                if self.may_hold((*r0, *r1)) {
                    return p + i + 1;
                }
            }
        } else {
            for (i, (&out, &new)) in buf[p..last].iter().zip(&buf[p + bs..last + bs]).enumerate() {
                r0.roll(out, new, shift);
                *r1 = *r0;
                if self.may_hold((*r0, *r1)) {
                    return p + i + 1;
                }
            }
        }
        starts
    }

    /// The first block of the pair (or the block) the window at `p`, whose weak sums
    /// make `key` (one the index may hold), holds, if it holds one of the target's.
    fn look_up(&self, key: u64, buf: &[u8], p: usize, strong: &mut StrongCache<'_>) -> Option<u64> {
        let bs = self.block_size();
        self.index
            .groups_for(key)
            .find(|&group| {
                self.index
                    .window_holds(group, |i| strong.at(buf, p + i * bs, bs))
            })
            .map(|group| self.index.representative(group))
    }
}

impl Estimator for ZsyncTarget<'_> {
    fn target_len(&self) -> u64 {
        self.control_file().length
    }

    fn estimate(&self, path: &Path, control: &Control) -> Result<u64> {
        let (file, len) = open_seed(path)?;
        let bytes = if is_gzip(&file) {
            self.estimate_gzip(&file, len, path, control)?
        } else {
            self.estimate_file(&file, len, path, control)?
        };
        Ok(bytes.min(self.target_len()))
    }
}

/// Reads `reader` until `buf` is full or the stream ends; whether it ended, and the
/// bytes read.
fn fill(reader: &mut impl Read, buf: &mut [u8], path: &Path) -> Result<(bool, usize)> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => return Ok((true, filled)),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("decompress", path, e)),
        }
    }
    Ok((false, filled))
}

/// Per target block, the first block with the same contents (weak and strong sums, as
/// the scan tells blocks apart); and the blocks of each content more than one block has.
fn contents(control_file: &ControlFile) -> (Vec<u32>, HashMap<u32, Shared>) {
    let geometry = control_file.geometry();
    let sums = |b: u32| {
        let b = u64::from(b);
        (control_file.weak_sum(b), control_file.strong_sum(b))
    };
    let blocks = control_file.block_count() as u32;
    let mut order: Vec<u32> = (0..blocks).collect();
    order.sort_unstable_by(|&x, &y| sums(x).cmp(&sums(y)).then(x.cmp(&y)));
    let mut content_of = vec![0; blocks as usize];
    let mut shared = HashMap::new();
    for same in order.chunk_by(|&x, &y| sums(x) == sums(y)) {
        let content = same[0];
        for &block in same {
            content_of[block as usize] = content;
        }
        if same.len() > 1 {
            let bytes = same
                .iter()
                .map(|&b| geometry.block_len(u64::from(b)) as u64)
                .sum();
            let blocks = same.len() as u64;
            shared.insert(content, Shared { blocks, bytes });
        }
    }
    (content_of, shared)
}
