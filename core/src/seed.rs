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

use crate::control::ControlFile;
use crate::error::{Error, Result};
use crate::event::{BlockSource, BlockState, Event};
use crate::index::{AtomicBitmap, BlockIndex};
use crate::job::Control;
use crate::output::{PartFile, read_at};
use crate::ranges::{Geometry, runs};
use crate::report::Reporter;
use crate::rsum::{Rsum, strong_sum};

/// Window starts handled per chunk of a plain seed.
const CHUNK: usize = 4 << 20;

/// The MD4s of the last two windows computed, by offset.
#[derive(Default)]
struct StrongCache {
    entries: [Option<(usize, [u8; 16])>; 2],
}

impl StrongCache {
    fn at(&mut self, buf: &[u8], offset: usize, bs: usize) -> [u8; 16] {
        if let Some((_, sum)) = self.entries.iter().flatten().find(|(at, _)| *at == offset) {
            return *sum;
        }
        let sum = strong_sum(&buf[offset..offset + bs]);
        self.entries = [self.entries[1], Some((offset, sum))];
        sum
    }
}

/// What a scan needs and shares between its threads.
pub(crate) struct Scan<'a> {
    pub index: &'a BlockIndex<'a>,
    pub geometry: Geometry,
    pub found: &'a AtomicBitmap,
    /// Where matched blocks go; `None` when only planning.
    pub output: Option<&'a PartFile>,
    pub reporter: &'a Reporter<'a>,
    pub control: &'a Control,
}

impl Scan<'_> {
    fn control_file(&self) -> &ControlFile {
        self.index.control()
    }

    fn block_size(&self) -> usize {
        self.geometry.block_size as usize
    }

    /// Scans one seed file; returns how many blocks it supplied.
    pub fn scan_path(&self, path: &Path, source: BlockSource) -> Result<u64> {
        let before = self.found.count();
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("read", path, e))?
            .len();
        self.reporter.emit(Event::SeedStarted {
            source,
            path: path.to_path_buf(),
            size: len,
        });
        // Sniffed on the open file: a seed is opened once.
        let mut magic = [0u8; 2];
        let is_gzip = read_at(&file, &mut magic, 0).is_ok_and(|n| n == 2) && magic == [0x1f, 0x8b];
        if is_gzip {
            let decoder = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(file));
            self.scan_stream(decoder, path, source)?;
        } else {
            self.scan_file(&file, len, path, source)?;
        }
        let blocks = self.found.count() - before;
        let bytes = blocks * u64::from(self.geometry.block_size);
        self.reporter.emit(Event::SeedFinished {
            source,
            blocks,
            bytes: bytes.min(self.geometry.length),
        });
        Ok(blocks)
    }

    fn scan_file(&self, file: &File, len: u64, path: &Path, source: BlockSource) -> Result<()> {
        let span = self.block_size() * usize::from(self.index.seq());
        let chunks = len.div_ceil(CHUNK as u64);
        (0..chunks)
            .into_par_iter()
            .try_for_each_init(Vec::new, |buf, chunk| {
                self.control.checkpoint()?;
                let start = chunk * CHUNK as u64;
                let starts = (len - start).min(CHUNK as u64) as usize;
                buf.resize(starts - 1 + span, 0);
                let got = read_at(file, buf, start).map_err(|e| Error::io("read", path, e))?;
                // Past the end of the seed, windows see zeros, as zsync pads them.
                buf[got..].fill(0);
                self.scan_buffer(buf, starts, source)
            })
    }

    fn scan_stream(&self, mut reader: impl Read, path: &Path, source: BlockSource) -> Result<()> {
        let span = self.block_size() * usize::from(self.index.seq());
        let mut buf = vec![0u8; CHUNK + span];
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
            self.scan_buffer(&buf, starts, source)?;
            buf.copy_within(starts..filled, 0);
            filled -= starts;
        }
        Ok(())
    }

    /// Tests windows starting at `0..starts` of `buf` (which holds at least
    /// `starts - 1 + span` bytes) and writes what matches.
    ///
    /// As zsync does, a hit moves the window on by the blocks it matched, and a run of
    /// matches is followed block by block before any lookup. Unlike zsync, a window that
    /// only matches blocks we already have is no hit: skipping ahead there would jump
    /// over data other missing blocks may need (repeated content derails runs).
    fn scan_buffer(&self, buf: &[u8], starts: usize, source: BlockSource) -> Result<()> {
        let cf = self.control_file();
        let bs = self.block_size();
        let shift = bs.trailing_zeros();
        let seq = usize::from(self.index.seq());
        let mask = self.index.mask();
        let strong_len = usize::from(cf.hash_lengths.checksum_bytes);
        let block_count = self.geometry.block_count();
        let mut taken: Vec<u64> = Vec::new();
        let mut strong = StrongCache::default();

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
        // The block expected at the current window if a run of matches goes on.
        let mut next_in_run: Option<u64> = None;
        let mut p = 0;
        while p < starts {
            let mut advance = 0;
            if let Some(block) = next_in_run.take()
                && block < block_count
                && !self.found.contains(block)
                && r0.packed() & mask == cf.weak_sum(block)
                && strong.at(buf, p, bs)[..strong_len] == *cf.strong_sum(block)
            {
                self.take_block(block, &buf[p..p + bs], &mut taken)?;
                next_in_run = Some(block + 1);
                advance = bs;
            }
            let key = self.index.window_key(r0.packed(), r1.packed());
            if advance == 0 && self.index.may_contain(key) {
                for group in self.index.groups_for(key) {
                    let rep = self.index.representative(group);
                    if strong.at(buf, p, bs)[..strong_len] != *cf.strong_sum(rep)
                        || (seq == 2
                            && strong.at(buf, p + bs, bs)[..strong_len] != *cf.strong_sum(rep + 1))
                        || !self.index.claim(group)
                    {
                        continue;
                    }
                    let mut new_blocks = false;
                    for first in self.index.members(group) {
                        for i in 0..seq {
                            let window = &buf[p + i * bs..p + (i + 1) * bs];
                            new_blocks |= self.take_block(first + i as u64, window, &mut taken)?;
                        }
                    }
                    if new_blocks {
                        next_in_run = Some(rep + seq as u64);
                        advance = seq * bs;
                    }
                }
            }
            if advance > 0 {
                p += advance;
                if p < starts {
                    // One block on, the second sum already is the first.
                    (r0, r1) = if advance == bs && seq == 2 {
                        (r1, Rsum::of_block(&buf[p + bs..p + 2 * bs]))
                    } else {
                        sums_at(p)
                    };
                }
                continue;
            }
            if p + 1 >= starts {
                break;
            }
            r0.roll(buf[p], buf[p + bs], shift);
            if seq == 2 {
                r1.roll(buf[p + bs], buf[p + 2 * bs], shift);
            }
            p += 1;
        }
        self.report_taken(taken, source);
        Ok(())
    }

    /// Writes `block` from `window` if nobody has yet; true if this call took it.
    fn take_block(&self, block: u64, window: &[u8], taken: &mut Vec<u64>) -> Result<bool> {
        if !self.found.insert(block) {
            return Ok(false);
        }
        if let Some(out) = self.output {
            out.write_at(
                self.geometry.block_start(block),
                &window[..self.geometry.block_len(block)],
            )?;
        }
        taken.push(block);
        Ok(true)
    }

    fn report_taken(&self, mut taken: Vec<u64>, source: BlockSource) {
        if taken.is_empty() {
            return;
        }
        taken.sort_unstable();
        let bytes: u64 = taken
            .iter()
            .map(|&b| self.geometry.block_len(b) as u64)
            .sum();
        self.reporter.blocks(runs(taken), BlockState::Local, source);
        self.reporter.add_local(bytes);
    }

    /// Keeps the blocks of an interrupted run's `.part` that verify at their own offsets.
    pub fn check_in_place(&self, file: &File, path: &Path) -> Result<u64> {
        let cf = self.control_file();
        let bs = self.block_size();
        let per_chunk = (CHUNK / bs).max(1) as u64;
        let block_count = self.geometry.block_count();
        let chunks: Vec<Range<u64>> = (0..block_count.div_ceil(per_chunk))
            .map(|c| c * per_chunk..((c + 1) * per_chunk).min(block_count))
            .collect();
        let kept = chunks
            .into_par_iter()
            .map_init(Vec::new, |buf, blocks| -> Result<u64> {
                self.control.checkpoint()?;
                buf.resize((blocks.end - blocks.start) as usize * bs, 0);
                let got = read_at(file, buf, self.geometry.block_start(blocks.start))
                    .map_err(|e| Error::io("read", path, e))?;
                buf[got..].fill(0);
                let mut taken = Vec::new();
                for (i, block) in blocks.enumerate() {
                    let data = &buf[i * bs..(i + 1) * bs];
                    if !self.found.contains(block)
                        && cf.block_matches(block, data)
                        && self.found.insert(block)
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
