//! Finding the target's blocks in local files.
//!
//! A seed is scanned with the rolling weak sum at every byte offset, so inserted or
//! deleted bytes only cost the blocks they touch. Plain files are cut into chunks scanned
//! in parallel (each chunk reads a little past its end so windows straddling the cut are
//! still tried); gzip seeds are inflated and scanned as one stream. Matched blocks are
//! written straight into the `.part` at their target offsets. Seeds are only ever read.
//!
//! The `.part` left by an interrupted run is different: its verified blocks already sit at
//! their own offsets, so it is checked block by block in place, not scanned.

use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::path::Path;

use rayon::prelude::*;

use crate::blocks::Rsum;
use crate::blocks::StrongSum;
use crate::blocks::md4x;
use crate::blocks::{Geometry, runs};
use crate::control::ControlFile;
use crate::error::{Error, Result};
use crate::event::Reporter;
use crate::event::{BlockSource, BlockState, Event};
use crate::job::Control;
use crate::part::{Assembly, read_at};
use crate::scan::{BlockIndex, Group, is_gzip, open_seed};
use crate::spares::Spares;

/// Window starts handled per chunk of a plain seed. Each scanning thread holds one chunk
/// (and a window's span more): 256 KiB keeps that memory small beside the index (2 MiB
/// less peak than 1 MiB chunks on the bench), and the span read twice at each cut (8 KiB
/// for pairs of 4 KiB blocks) costs about 3% more reading, from the page cache.
const CHUNK: usize = 256 << 10;
/// Windows rolled, then tested, at a time: at first, and at most. The largest tile's
/// sums are 128 KiB, a quarter of a core's L2 here; tiles of at most 4K windows (16 KiB,
/// to stay in L1) cost more CPU on the bench (user 1.63 s against 1.40 s, 300 MiB plain).
const FIRST_TILE: usize = 4 << 10;
const LAST_TILE: usize = 32 << 10;

/// The strong sums of the last two windows computed, by offset: a run of matches asks
/// for each block twice, as the second of one pair and the first of the next.
pub(crate) struct StrongCache<'c> {
    control_file: &'c ControlFile,
    entries: [Option<(usize, StrongSum)>; 2],
}

impl<'c> StrongCache<'c> {
    pub fn new(control_file: &'c ControlFile) -> Self {
        StrongCache {
            control_file,
            entries: [None; 2],
        }
    }

    /// The strong sum of the `bs` bytes at `buf[offset..]`.
    pub fn at(&mut self, buf: &[u8], offset: usize, bs: usize) -> StrongSum {
        if let Some((_, sum)) = self.entries.iter().flatten().find(|(at, _)| *at == offset) {
            return *sum;
        }
        let sum = self.control_file.strong_hash.of(&buf[offset..offset + bs]);
        self.entries = [self.entries[1], Some((offset, sum))];
        sum
    }
}

/// Windows whose contents repeat with a period: those of one period are looked up, the
/// rest skipped, since the same contents give the same outcome.
#[derive(Clone, Copy)]
struct Periodic {
    /// The last window of the first period.
    last_distinct: usize,
    /// The last window that repeats one of the first period: where the scan goes on.
    resume: usize,
}

/// Whether `data` is all zeros: tested 32 bytes at a time, since the scan asks it of
/// every block it takes (a byte at a time it was 80% of `take_group`'s CPU samples on
/// the bench's image, whose zero-filled blocks are read to their end).
fn all_zeros(data: &[u8]) -> bool {
    let (whole, rest) = data.as_chunks::<32>();
    whole.iter().all(|chunk| *chunk == [0; 32]) && rest.iter().all(|&b| b == 0)
}

/// How many bytes `a` and `b` have in common from their start: compared 32 at a time,
/// since a run of one value (a zero-filled stretch) can be megabytes long.
pub(crate) fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    let len = a.len().min(b.len());
    let (a, b) = (&a[..len], &b[..len]);
    let whole = (a.as_chunks::<32>().0.iter())
        .zip(b.as_chunks::<32>().0)
        .take_while(|(a, b)| a == b)
        .count()
        * 32;
    whole
        + (a[whole..].iter())
            .zip(&b[whole..])
            .take_while(|(a, b)| a == b)
            .count()
}

/// Whether the pair window at `p` of `buf` (whose two weak sums are equal: perhaps one
/// block twice) repeats itself every `d` bytes, `d` a power of two up to the block size
/// `bs` (a period of two blocks' worth that divides neither block cannot make them
/// equal), and how far the windows after it go on repeating. Zero runs (`d` = 1) are
/// the usual case; filesystem images also repeat sectors and pages of one pattern.
fn periodic_run(buf: &[u8], p: usize, starts: usize, bs: usize) -> Option<Periodic> {
    let span = 2 * bs;
    let window = &buf[p..p + span];
    let d = std::iter::successors(Some(1), |d| (d * 2 <= bs).then_some(d * 2))
        .find(|&d| window[d..] == window[..span - d])?;
    // Window `p + k` (k >= d) repeats window `p + k - d` when each of the `k` bytes it
    // reaches past window `p` repeats the byte `d` before it.
    let last = starts - 1;
    let repeating = common_prefix_len(&buf[p + span..last + span], &buf[p + span - d..]);
    Some(Periodic {
        last_distinct: p + d - 1,
        resume: p + repeating,
    })
}

/// The packed weak sums of a stretch of one buffer's windows, rolled a tile at a time
/// and kept: the scan rolls a tile, then tests it, each loop tight enough to run at full
/// speed, and the sums stay for the next windows it asks about.
#[derive(Default)]
struct WindowSums {
    /// The window `sums[0]` is of.
    first: usize,
    /// Room for the longest tile so far: only the first `len` are this tile's sums, so
    /// a tile is written once, not zero-filled first.
    sums: Vec<u32>,
    len: usize,
    /// Windows to roll next time: grows while the scan runs through tiles without
    /// stopping, so a long stretch of new data is rolled in few, long loops.
    tile: usize,
}

impl WindowSums {
    /// Forgets the sums, for another buffer (keeping their memory).
    fn clear(&mut self) {
        self.first = 0;
        self.tile = 0;
        self.len = 0;
    }

    /// The sums of the windows from `from` (whose sum is `at_from`) on: at least its
    /// pair (`bs` more), at most up to the pair at `last`.
    fn starting_at(
        &mut self,
        buf: &[u8],
        from: usize,
        at_from: Rsum,
        last: usize,
        bs: usize,
    ) -> &[u32] {
        let end = self.first + self.len;
        if from < self.first || from + bs + 1 >= end {
            // The scan went through the whole tile (it stops at the last window whose
            // pair is known) or elsewhere.
            let went_through = end.checked_sub(bs + 1) == Some(from);
            self.tile = if went_through {
                (self.tile * 2).clamp(FIRST_TILE, LAST_TILE)
            } else {
                FIRST_TILE
            };
            let to = (from + self.tile).min(last);
            self.first = from;
            self.len = to + bs + 1 - from;
            if self.sums.len() < self.len {
                self.sums.resize(self.len, 0);
            }
            at_from.roll_packed(&buf[from..to + 2 * bs], bs, &mut self.sums[..self.len]);
        }
        &self.sums[from - self.first..self.len]
    }
}

/// A scanning thread's buffers (a quarter MiB and up to 128 KiB), kept from one chunk to
/// the next as [`Spares`].
#[derive(Default)]
struct Scratch {
    seed: Vec<u8>,
    sums: WindowSums,
}

/// Blocks one buffer's scan has claimed, and the write not yet made.
#[derive(Default)]
struct Taken {
    blocks: Vec<u64>,
    pending: PendingWrite,
}

/// Consecutive blocks matched at consecutive seed bytes: written with one call, not one
/// per block (fewer system calls, less contention on the file between threads).
#[derive(Default)]
struct PendingWrite {
    /// In the target.
    offset: u64,
    /// In the buffer being scanned.
    at: usize,
    len: usize,
}

/// How a scan goes through a buffer's windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Past the blocks each match covers, and notes the windows jumped over.
    JumpingMatches,
    /// Every window.
    EveryWindow,
}

/// What a scan needs and shares between its threads.
#[derive(Clone, Copy)]
pub(crate) struct Scan<'a> {
    pub index: &'a BlockIndex<'a>,
    /// Where matched blocks go.
    pub assembly: &'a Assembly<'a>,
    pub reporter: &'a Reporter<'a>,
    pub control: &'a Control,
}

impl Scan<'_> {
    fn control_file(&self) -> &ControlFile {
        self.index.control()
    }

    fn geometry(&self) -> Geometry {
        self.assembly.geometry()
    }

    fn block_size(&self) -> usize {
        self.geometry().block_size as usize
    }

    /// Scans one seed file; returns how many blocks it supplied.
    pub fn scan_path(&self, path: &Path, source: BlockSource) -> Result<u64> {
        let before = self.assembly.present_count();
        let (file, len) = open_seed(path)?;
        self.reporter.emit(Event::SeedStarted {
            source,
            path: path.to_path_buf(),
            size: len,
        });
        // Sniffed on the open file: a seed is opened once.
        if is_gzip(&file) {
            let decoder = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(file));
            self.scan_stream(decoder, path, source)?;
        } else {
            self.scan_file(&file, len, path, source)?;
        }
        let blocks = self.assembly.present_count() - before;
        let bytes = blocks * u64::from(self.geometry().block_size);
        self.reporter.emit(Event::SeedFinished {
            source,
            blocks,
            bytes: bytes.min(self.geometry().length),
        });
        Ok(blocks)
    }

    /// Two passes over a plain seed. The first jumps past the blocks each match covers,
    /// as zsync does: fast where the seed is much like the target. The windows it jumped
    /// over can still hold blocks (repeated content, a block copied at another offset),
    /// and what the first pass finds depends on which thread matched what first; the
    /// second pass looks every jumped-over window up, against an index of only the blocks
    /// still missing. Every window is then looked up for every block it could supply, so
    /// what is found is the same whatever the threads did.
    fn scan_file(&self, file: &File, len: u64, path: &Path, source: BlockSource) -> Result<()> {
        let whole: Vec<Range<u64>> = (0..len.div_ceil(CHUNK as u64))
            .map(|c| c * CHUNK as u64..((c + 1) * CHUNK as u64).min(len))
            .collect();
        let jumped = self.scan_windows(file, &whole, path, source, Pass::JumpingMatches)?;
        if jumped.is_empty() || self.assembly.present_count() == self.geometry().block_count() {
            return Ok(());
        }
        let missing = BlockIndex::of_missing(self.control_file(), |b| self.assembly.is_present(b));
        let second = Scan {
            index: &missing,
            ..*self
        };
        let pieces: Vec<Range<u64>> = jumped
            .into_iter()
            .flat_map(|r| {
                (r.start..r.end)
                    .step_by(CHUNK)
                    .map(move |at| at..(at + CHUNK as u64).min(r.end))
            })
            .collect();
        second.scan_windows(file, &pieces, path, source, Pass::EveryWindow)?;
        Ok(())
    }

    /// Scans the windows starting in each of `pieces` of `file`, in parallel; returns the
    /// windows the pass jumped over, in order, as seed offsets.
    fn scan_windows(
        &self,
        file: &File,
        pieces: &[Range<u64>],
        path: &Path,
        source: BlockSource,
        pass: Pass,
    ) -> Result<Vec<Range<u64>>> {
        let span = self.block_size() * usize::from(self.index.seq());
        let scratches: Spares<Scratch> = Spares::new();
        let jumped: Vec<Vec<Range<u64>>> = pieces
            .par_iter()
            .map(|piece| {
                self.control.checkpoint()?;
                let mut scratch = scratches.take();
                let (buf, sums) = (&mut scratch.seed, &mut scratch.sums);
                let starts = (piece.end - piece.start) as usize;
                buf.resize(starts - 1 + span, 0);
                let got =
                    read_at(file, buf, piece.start).map_err(|e| Error::io("read", path, e))?;
                // Past the end of the seed, windows see zeros, as zsync pads them.
                buf[got..].fill(0);
                let jumped = self.scan_buffer(buf, starts, source, pass, sums)?;
                scratches.give_back(scratch);
                Ok(jumped
                    .into_iter()
                    .map(|r| piece.start + r.start as u64..piece.start + r.end as u64)
                    .collect())
            })
            .collect::<Result<_>>()?;
        Ok(crate::blocks::merge(jumped.into_iter().flatten().collect()))
    }

    fn scan_stream(&self, mut reader: impl Read, path: &Path, source: BlockSource) -> Result<()> {
        let span = self.block_size() * usize::from(self.index.seq());
        let mut buf = vec![0u8; CHUNK + span];
        let mut sums = WindowSums::default();
        // `filled` bytes of `buf` are seed data; window starts before `filled` are tested
        // once `span - 1` bytes past them are known (or the stream has ended).
        let mut filled = 0;
        let mut at_end = false;
        while !at_end {
            self.control.checkpoint()?;
            while filled < buf.len() {
                let n = reader
                    .read(&mut buf[filled..])
                    .map_err(|e| Error::io("decompress", path, e))?;
                if n == 0 {
                    at_end = true;
                    break;
                }
                filled += n;
            }
            let starts = if at_end { filled } else { filled + 1 - span };
            if starts == 0 {
                break;
            }
            buf[filled..].fill(0);
            // A stream cannot be read twice cheaply: one pass that looks up every window.
            self.scan_buffer(&buf, starts, source, Pass::EveryWindow, &mut sums)?;
            buf.copy_within(starts..filled, 0);
            filled -= starts;
        }
        Ok(())
    }

    /// Tests windows starting at `0..starts` of `buf` (which holds at least
    /// `starts - 1 + span` bytes) and writes what matches. Returns the windows `pass`
    /// jumped over.
    ///
    /// With [`Pass::EveryWindow`] every window is looked up, so a block is found when its
    /// window occurs anywhere in the buffer, by whichever thread gets there first. Matched
    /// groups leave the index, so a stretch of data we already have costs the roll and one
    /// filter test per byte. A run of matches is followed [`md4x::LANES`] blocks at a time
    /// (cheaper than a lookup per block); that only saves work, the lookups would find the
    /// same blocks. With [`Pass::JumpingMatches`] the scan moves on past what a match
    /// covered instead.
    fn scan_buffer(
        &self,
        buf: &[u8],
        starts: usize,
        source: BlockSource,
        pass: Pass,
        sums: &mut WindowSums,
    ) -> Result<Vec<Range<usize>>> {
        let bs = self.block_size();
        let shift = bs.trailing_zeros();
        let seq = usize::from(self.index.seq());
        let mut taken = Taken::default();
        let mut strong = StrongCache::new(self.control_file());
        sums.clear();

        let sums_at = |p: usize| {
            let first = Rsum::of_block(&buf[p..p + bs]);
            let second = if seq == 2 {
                Rsum::of_block(&buf[p + bs..p + 2 * bs])
            } else {
                first
            };
            (first, second)
        };
        let (mut r0, mut r1) = sums_at(0);
        // Where a run of matches expects its next block: (window start, block).
        let mut run: Option<(usize, u64)> = None;
        let mut jumped: Vec<Range<usize>> = Vec::new();
        // A stretch of windows that repeat the ones before them, once those are looked up.
        let mut periodic: Option<Periodic> = None;
        let mut p = 0;
        while p < starts {
            // Where the first pass goes on from when a match covers what follows, and the
            // first window it has not looked up.
            let mut past_match = None;
            if let Some((at, block)) = run
                && at <= p
            {
                run = None;
                if at == p {
                    let matched =
                        self.follow_run(buf, (p, starts), block, (r0, pass), &mut taken)?;
                    if matched == md4x::LANES {
                        run = Some((p + matched * bs, block + matched as u64));
                    }
                    if matched > 0 && pass == Pass::JumpingMatches {
                        past_match = Some((p + matched * bs, p));
                    }
                }
            }
            if past_match.is_none() {
                let key = self.index.window_key(r0.packed(), r1.packed());
                if self.index.may_contain(key)
                    && let Some(rep) = self.look_up(key, buf, p, &mut strong, &mut taken)?
                {
                    run.get_or_insert((p + seq * bs, rep + seq as u64));
                    past_match = Some((p + seq * bs, p + 1));
                }
            }
            if pass == Pass::JumpingMatches
                && let Some((to, unseen)) = past_match
            {
                if unseen < to.min(starts) {
                    jumped.push(unseen..to.min(starts));
                }
                if to >= starts {
                    break;
                }
                p = to;
                (r0, r1) = sums_at(p);
                continue;
            }
            if p + 1 >= starts {
                break;
            }
            if seq == 2 && r0 == r1 && periodic.is_none() {
                periodic = periodic_run(buf, p, starts, bs);
            }
            if let Some(Periodic {
                last_distinct,
                resume,
            }) = periodic
                && p >= last_distinct
            {
                periodic = None;
                if p == last_distinct && resume > p {
                    p = resume;
                    (r0, r1) = sums_at(p);
                    continue;
                }
            }
            if seq == 2 {
                let stop = run.map_or(starts - 1, |(at, _)| at.min(starts - 1));
                p = self.roll_to_candidate(buf, (p, stop), (&mut r0, &mut r1), sums);
            } else {
                r0.roll(buf[p], buf[p + bs], shift);
                p += 1;
            }
        }
        self.flush(buf, &mut taken.pending)?;
        self.report_taken(taken.blocks, source);
        Ok(jumped)
    }

    /// Looks the window at `p` up; takes every group not matched yet whose blocks it
    /// holds. Returns the first block of a group it matched, matched before or now.
    fn look_up(
        &self,
        key: u64,
        buf: &[u8],
        p: usize,
        strong: &mut StrongCache<'_>,
        taken: &mut Taken,
    ) -> Result<Option<u64>> {
        let bs = self.block_size();
        let mut matched = None;
        for group in self.index.groups_for(key) {
            if !self
                .index
                .window_holds(group, |i| strong.at(buf, p + i * bs, bs))
            {
                continue;
            }
            self.take_group(group, buf, p, taken)?;
            matched.get_or_insert(self.index.representative(group));
        }
        Ok(matched)
    }

    /// Takes every member of `group`, whose data is at `buf[p..]`, unless another
    /// window matched the group first.
    fn take_group(&self, group: Group, buf: &[u8], p: usize, taken: &mut Taken) -> Result<()> {
        if !self.index.claim(group) {
            return Ok(());
        }
        let bs = self.block_size();
        for first in self.index.members(group) {
            for i in 0..usize::from(self.index.seq()) {
                self.take_block(first + i as u64, buf, p + i * bs, taken)?;
            }
        }
        Ok(())
    }

    /// Follows a run of matches: block `first` may be at `p` (where the weak sum is
    /// `r0`), the blocks after it one block apart; the block before it matched at
    /// `p - block size`. Up to [`md4x::LANES`] blocks whose weak sums fit are
    /// strong-checked together; the groups they complete are taken (as the lookups of
    /// their windows would take them). Returns how many matched in a row. When every
    /// window is looked up, the run stops at a block already found: from there lookups do
    /// the work, if there is any left. The first pass follows it on, to jump the further.
    fn follow_run(
        &self,
        buf: &[u8],
        (p, starts): (usize, usize),
        first: u64,
        (r0, pass): (Rsum, Pass),
        taken: &mut Taken,
    ) -> Result<usize> {
        let cf = self.control_file();
        let bs = self.block_size();
        let block_count = self.geometry().block_count();
        let mut candidates: Vec<&[u8]> = Vec::with_capacity(md4x::LANES);
        for k in 0..md4x::LANES {
            let (block, at) = (first + k as u64, p + k * bs);
            // The first pass jumps over what a run covers, found before or not.
            let stop_at_found = pass == Pass::EveryWindow;
            if at >= starts
                || block >= block_count
                || (stop_at_found && self.assembly.is_present(block))
            {
                break;
            }
            let window = &buf[at..at + bs];
            let weak = if k == 0 { r0 } else { Rsum::of_block(window) };
            if !cf.weak_fits(block, weak) {
                break;
            }
            candidates.push(window);
        }
        if candidates.is_empty() {
            return Ok(0);
        }
        let sums = cf.strong_hash.of_blocks(&candidates);
        let matched = (0..candidates.len())
            .take_while(|&k| cf.strong_fits(first + k as u64, &sums[k]))
            .count();
        // With pairs, block `first + k` completes the pair that starts one block before.
        let back = usize::from(self.index.seq()) - 1;
        for k in 0..matched {
            let start = first + k as u64 - back as u64;
            if let Some(group) = self.index.group_of(start) {
                self.take_group(group, buf, p + k * bs - back * bs, taken)?;
            }
        }
        Ok(matched)
    }

    /// Slides a pair window on from `p` (whose lookup is done) until one that may
    /// match (the filter lets its key through, or its sums are equal: perhaps a run of one
    /// value), or until `last`; returns where it stopped, with `r0`, `r1` its sums.
    fn roll_to_candidate(
        &self,
        buf: &[u8],
        (p, last): (usize, usize),
        (r0, r1): (&mut Rsum, &mut Rsum),
        sums: &mut WindowSums,
    ) -> usize {
        let bs = self.block_size();
        let mut from = p;
        while from < last {
            let known = sums.starting_at(buf, from, *r0, last, bs);
            let to = (from + known.len() - 1 - bs).min(last);
            let found = self.index.first_pair_candidate(known, bs, 1..to - from + 1);
            let stop = found.unwrap_or(to - from);
            *r0 = Rsum::from_packed(known[stop]);
            *r1 = Rsum::from_packed(known[stop + bs]);
            if found.is_some() {
                return from + stop;
            }
            from = to;
        }
        last
    }

    /// Claims `block` with the data at `buf[at..]` if nobody has yet; true if this call
    /// took it. The write waits in `taken.pending` while the next block continues it.
    fn take_block(&self, block: u64, buf: &[u8], at: usize, taken: &mut Taken) -> Result<bool> {
        if !self.assembly.claim(block) {
            return Ok(false);
        }
        taken.blocks.push(block);
        let len = self.geometry().block_len(block);
        let data = &buf[at..at + len];
        if self.assembly.reads_as_zeros() && all_zeros(data) {
            // Already there: a fresh .part reads as zeros, and stays sparse.
            return Ok(true);
        }
        let offset = self.geometry().block_start(block);
        let pending = &mut taken.pending;
        if pending.len > 0
            && pending.at + pending.len == at
            && pending.offset + pending.len as u64 == offset
        {
            pending.len += len;
        } else {
            self.flush(buf, pending)?;
            *pending = PendingWrite { offset, at, len };
        }
        Ok(true)
    }

    fn flush(&self, buf: &[u8], pending: &mut PendingWrite) -> Result<()> {
        if pending.len > 0 {
            self.assembly
                .write_at(pending.offset, &buf[pending.at..pending.at + pending.len])?;
        }
        pending.len = 0;
        Ok(())
    }

    fn report_taken(&self, mut taken: Vec<u64>, source: BlockSource) {
        if taken.is_empty() {
            return;
        }
        taken.sort_unstable();
        let bytes: u64 = taken
            .iter()
            .map(|&b| self.geometry().block_len(b) as u64)
            .sum();
        self.reporter.blocks(runs(taken), BlockState::Local, source);
        self.reporter.add_local(bytes);
    }

    /// Keeps the blocks of an interrupted run's `.part` that verify at their own offsets.
    pub fn check_in_place(&self, file: &File, path: &Path) -> Result<u64> {
        let cf = self.control_file();
        let bs = self.block_size();
        let per_chunk = (CHUNK / bs).max(1) as u64;
        let block_count = self.geometry().block_count();
        let chunks: Vec<Range<u64>> = (0..block_count.div_ceil(per_chunk))
            .map(|c| c * per_chunk..((c + 1) * per_chunk).min(block_count))
            .collect();
        let kept = chunks
            .into_par_iter()
            .map_init(Vec::new, |buf, blocks| -> Result<u64> {
                self.control.checkpoint()?;
                buf.resize((blocks.end - blocks.start) as usize * bs, 0);
                let got = read_at(file, buf, self.geometry().block_start(blocks.start))
                    .map_err(|e| Error::io("read", path, e))?;
                buf[got..].fill(0);
                let mut taken = Vec::new();
                for (i, block) in blocks.enumerate() {
                    let data = &buf[i * bs..(i + 1) * bs];
                    if !self.assembly.is_present(block)
                        && cf.block_matches(block, data)
                        && self.assembly.claim(block)
                    {
                        taken.push(block);
                    }
                }
                let count = taken.len() as u64;
                self.report_taken(taken, BlockSource::PartFile);
                Ok(count)
            });
        kept.try_reduce(|| 0, |a, b| Ok(a + b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::NullSink;
    use crate::test_data::noise;

    /// The control file `make` writes for `target`.
    fn control_for(dir: &Path, target: &[u8], block_size: u32) -> ControlFile {
        let path = dir.join("target");
        std::fs::write(&path, target).unwrap();
        let options = crate::make::MakeOptions {
            block_size: Some(block_size),
            ..Default::default()
        };
        crate::make::make(&path, &options).unwrap()
    }

    fn scan(target: &[u8], bs: u32, seeds: &[&[u8]]) -> Vec<bool> {
        scan_into(target, bs, seeds, true)
    }

    /// Scans `seeds` (as files, in order) for `target`'s blocks with block size `bs`, into
    /// a fresh `.part` or (`fresh` false) one an earlier run filled with other bytes.
    /// Returns which blocks were found; asserts every found block was written correctly.
    fn scan_into(target: &[u8], bs: u32, seeds: &[&[u8]], fresh: bool) -> Vec<bool> {
        let dir = tempfile::tempdir().unwrap();
        if !fresh {
            std::fs::write(dir.path().join("out.part"), vec![0xA5; target.len()]).unwrap();
        }
        let cf = control_for(dir.path(), target, bs);
        let index = BlockIndex::new(&cf);
        let part =
            crate::part::PartFile::open(&dir.path().join("out"), target.len() as u64).unwrap();
        let assembly = Assembly::new(&cf, Some(part));
        let geometry = assembly.geometry();
        let sink = NullSink;
        let reporter = Reporter::new(&sink);
        let control = Control::default();
        let scan = Scan {
            index: &index,
            assembly: &assembly,
            reporter: &reporter,
            control: &control,
        };
        for (i, seed) in seeds.iter().enumerate() {
            let path = dir.path().join(format!("seed{i}"));
            std::fs::write(&path, seed).unwrap();
            scan.scan_path(&path, BlockSource::Seed(i)).unwrap();
        }
        let written = std::fs::read(assembly.file().unwrap().path()).unwrap();
        (0..geometry.block_count())
            .map(|b| {
                let have = assembly.is_present(b);
                if have {
                    let r = geometry.byte_range(b..b + 1);
                    let r = r.start as usize..r.end as usize;
                    assert!(written[r.clone()] == target[r], "block {b} written wrong");
                }
                have
            })
            .collect()
    }

    fn missing(found: &[bool]) -> Vec<usize> {
        (0..found.len()).filter(|&b| !found[b]).collect()
    }

    #[test]
    fn all_zeros_sees_any_byte_that_is_not() {
        let zeros = vec![0u8; 100];
        assert!(all_zeros(&zeros) && all_zeros(&[]));
        for at in [0, 31, 32, 63, 64, 95, 96, 99] {
            let mut data = zeros.clone();
            data[at] = 1;
            assert!(!all_zeros(&data), "byte {at}");
        }
    }

    #[test]
    fn common_prefixes_are_measured_to_the_byte() {
        let a = noise(200, 1);
        for differs_at in [0, 1, 31, 32, 33, 95, 128, 199] {
            let mut b = a.clone();
            b[differs_at] ^= 4;
            assert_eq!(common_prefix_len(&a, &b), differs_at);
        }
        assert_eq!(common_prefix_len(&a, &a), 200);
        assert_eq!(common_prefix_len(&a[..70], &a), 70);
        assert_eq!(common_prefix_len(&a, &a[..33]), 33);
        assert_eq!(common_prefix_len(&[], &a), 0);
    }

    #[test]
    fn an_identical_seed_supplies_every_block() {
        for len in [4096, 4097, 5000, 1 << 15] {
            let target = noise(len, 1);
            assert!(
                missing(&scan(&target, 1024, &[&target])).is_empty(),
                "len {len}"
            );
        }
    }

    #[test]
    fn insertions_deletions_and_reordering_only_cost_the_blocks_they_touch() {
        let bs = 1024;
        let target = noise(64 * bs, 2);
        let mut seed = target.clone();
        // Blocks 10..14 moved to the front, 37 bytes inserted inside block 30 and 5
        // deleted inside block 50: every byte offset after each edit differs.
        let moved: Vec<u8> = seed.drain(10 * bs..14 * bs).collect();
        seed.splice(0..0, moved);
        seed.splice(30 * bs + 100..30 * bs + 100, noise(37, 3));
        seed.drain(50 * bs + 7..50 * bs + 12);
        let found = scan(&target, bs as u32, &[&seed]);
        // With pairs of blocks matched, each edit costs at most the two blocks around it.
        let lost = missing(&found);
        assert!(lost.len() <= 6, "lost {lost:?}");
        assert!(
            lost.iter()
                .all(|b| [9, 14, 29, 30, 31, 49, 50, 51].contains(b)),
            "lost {lost:?}"
        );
    }

    #[test]
    fn empty_and_tiny_targets_and_seeds() {
        assert!(scan(&[], 2048, &[b"anything"]).is_empty());
        assert_eq!(scan(b"x", 2048, &[b"x"]), [true]);
        assert_eq!(scan(b"x", 2048, &[b"y", b""]), [false]);
        // The last, partial block matches a seed that ends the same way (zero padded).
        let target = noise(3000, 4);
        let mut seed = noise(500, 5);
        seed.extend_from_slice(&target);
        assert_eq!(scan(&target, 2048, &[&seed]), [true, true]);
    }

    #[test]
    fn several_seeds_each_supply_their_part() {
        let bs = 512;
        let target = noise(40 * bs, 6);
        let first = [noise(100, 7), target[..20 * bs].to_vec()].concat();
        let second = [target[20 * bs..].to_vec(), noise(300, 8)].concat();
        assert!(missing(&scan(&target, bs as u32, &[&first, &second])).is_empty());
        let found = scan(&target, bs as u32, &[&first]);
        assert_eq!(missing(&found), (20..40).collect::<Vec<_>>());
    }

    #[test]
    fn blocks_inside_runs_of_repeated_content_are_found_at_any_offset() {
        // A target block that starts inside a zero run: skipping block by block through the
        // zeros of the seed (already matched) would step over its start.
        let bs = 1024;
        let mut target = vec![0u8; 8 * bs];
        target.extend(noise(8 * bs, 9));
        target.extend(vec![0u8; 5 * bs + 300]);
        target.extend(noise(8 * bs - 300, 10));
        let mut seed = noise(3 * bs, 11);
        seed.extend(vec![0u8; 7 * bs + 555]);
        seed.extend_from_slice(&target[16 * bs..]);
        seed.extend_from_slice(&target[8 * bs..16 * bs]);
        for fresh in [true, false] {
            let found = scan_into(&target, bs as u32, &[&seed], fresh);
            assert!(missing(&found).is_empty(), "lost {:?}", missing(&found));
        }
    }

    #[test]
    fn blocks_in_and_around_periodic_runs_are_found_at_any_offset() {
        // Runs that repeat a pattern of 1, 2, 64, half a block or a block: the scan looks
        // up one period's windows and skips the repeats. Blocks straddle the runs' ends,
        // a run breaks after one stray byte, and the whole target sits in the seed at an
        // odd offset after more of a pattern, so every block is there to be found.
        let bs = 512;
        let periodic =
            |d: usize, len: usize, seed: u64| noise(d, seed).repeat(len / d + 1)[..len].to_vec();
        let mut target = Vec::new();
        for (i, d) in [1, 2, 64, bs / 2, bs, 64].into_iter().enumerate() {
            let i = i as u64;
            let mut run = periodic(d, 3 * bs + 97 * (i as usize + 1), 20 + i);
            if i == 5 {
                let middle = run.len() / 2;
                run[middle] ^= 1;
            }
            target.extend(run);
            target.extend(noise(bs + 41 * i as usize, 30 + i));
        }
        // Whole blocks: a short last block is matched padded with zeros.
        target.extend(noise(target.len().next_multiple_of(bs) - target.len(), 39));
        let mut seed = noise(77, 40);
        seed.extend(periodic(64, 2 * bs + 64 * 5, 22));
        seed.extend_from_slice(&target);
        seed.extend(periodic(2, 3 * bs + 1, 21));
        for fresh in [true, false] {
            let found = scan_into(&target, bs as u32, &[&seed], fresh);
            assert!(missing(&found).is_empty(), "lost {:?}", missing(&found));
        }
    }

    #[test]
    fn a_periodic_run_ends_at_the_last_window_that_repeats_one_before_it() {
        let bs = 256;
        let span = 2 * bs;
        for d in [1, 2, 64, bs / 2, bs] {
            for run_len in [span, span + 1, span + d, 3 * span + 5] {
                let pattern = noise(d, d as u64);
                let mut buf = noise(40, 1);
                buf.extend(pattern.repeat(run_len / d + 1)[..run_len].to_vec());
                buf.extend(noise(span + 30, 2));
                let starts = buf.len() - span + 1;
                let window = |q: usize| &buf[q..q + span];
                let p = 40;
                let run = periodic_run(&buf, p, starts, bs).expect("a periodic window");
                assert_eq!(run.last_distinct, p + d - 1, "d {d}, run {run_len}");
                // Every window up to `resume` repeats the one `d` before it; the next not.
                let repeats = |q: usize| window(q) == window(q - d);
                assert!((p + d..=run.resume).all(repeats), "d {d}, run {run_len}");
                if run.resume + 1 < starts && run.resume + 1 >= p + d {
                    assert!(!repeats(run.resume + 1), "d {d}, run {run_len}");
                }
            }
        }
        let plain = noise(3 * bs, 5);
        assert!(periodic_run(&plain, 0, bs, bs).is_none());
    }

    #[test]
    fn runs_break_exactly_at_changed_blocks_wherever_they_fall_in_a_batch() {
        // Runs are strong-checked md4x::LANES blocks at a time; a changed block at every
        // distance from the run's start must end the run there and cost only itself.
        // (Gaps of at least 3: the first match after a change needs a pair of blocks.)
        let bs = 512;
        let mut changed = Vec::new();
        let mut block = 3;
        for gap in 3..=2 * md4x::LANES + 3 {
            changed.push(block);
            block += gap;
        }
        let mut target = noise((block + 4) * bs, 14);
        let mut seed = target.clone();
        for (i, &c) in changed.iter().enumerate() {
            let at = c * bs + 17;
            if i % 2 == 0 {
                seed[at] ^= 0x5a;
            } else {
                // +1 -1 ... -1 +1 keeps both weak sums: only MD4 tells these apart.
                target[at..at + 4].fill(10);
                seed[at..at + 4].copy_from_slice(&[11, 9, 9, 11]);
                let block = c * bs..(c + 1) * bs;
                assert_eq!(
                    Rsum::of_block(&target[block.clone()]),
                    Rsum::of_block(&seed[block])
                );
            }
        }
        let seed = [noise(33, 15), seed].concat();
        assert_eq!(missing(&scan(&target, bs as u32, &[&seed])), changed);
    }

    #[test]
    fn every_block_anywhere_in_a_seed_is_found_whatever_the_number_of_threads() {
        // The target is a stretch of the seed, then copies of pairs of the seed's blocks
        // taken at every offset class near the chunk borders: inside the stretch the
        // scan matches block after block, and each planted pair starts inside it.
        let bs = 1024;
        let seed = noise(2 * CHUNK + 8 * bs, 16);
        let mut target = seed[..2 * CHUNK + 4 * bs].to_vec();
        let mut planted = Vec::new();
        for border in [CHUNK, 2 * CHUNK] {
            for before in [2 * bs + 1, bs + 1, bs, bs - 1, 1] {
                planted.push(border - before);
            }
            for after in [0, 1, bs / 2, bs, bs + 7] {
                planted.push(border + after);
            }
        }
        planted.extend([1, bs / 3, 3 * bs + 5]);
        for &at in &planted {
            target.extend_from_slice(&seed[at..at + 2 * bs]);
        }
        let found_with = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| scan(&target, bs as u32, &[&seed]))
        };
        let one = found_with(1);
        assert!(missing(&one).is_empty(), "lost {:?}", missing(&one));
        for threads in [2, 8] {
            assert_eq!(found_with(threads), one, "{threads} threads");
        }
    }

    #[test]
    fn windows_across_chunk_boundaries_match() {
        // A plain seed is scanned in CHUNK-sized pieces in parallel; a block straddling
        // the cut must still be found, shifted by an odd offset.
        let bs = 4096;
        let target = noise(CHUNK + 16 * bs, 12);
        let seed = [noise(777, 13), target.clone()].concat();
        assert!(missing(&scan(&target, bs as u32, &[&seed])).is_empty());
    }
}
