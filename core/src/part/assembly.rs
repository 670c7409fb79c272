//! The target under construction, owned in one place (zsync's `rcksum_state`): the
//! `.part`, which blocks are in it, checking and writing the blocks seeds and servers
//! supply, reading known data back, and hashing the file in order as it fills. The scan,
//! the fetchers and the engine only talk to it; none holds the file or the bitmap itself.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::Layout;
use super::file::{PartFile, read_at};
use crate::blocks::{FileHash, FileHashAlgorithm, Geometry, md4x, runs};
use crate::control::ControlFile;
use crate::error::{Error, Result};

/// What became of a block offered to the [`Assembly`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    /// It was missing, matched its sums and is now written.
    Written,
    /// It was there already; nothing was written.
    AlreadyPresent,
    /// It does not match the control file's sums; nothing was written.
    WrongSums,
}

/// The `.part` being filled and which of its pieces are there: blocks of a zsync
/// control file by default, or the pieces of another [`Layout`].
pub(crate) struct Assembly<'a, L: Layout + ?Sized = ControlFile> {
    layout: &'a L,
    /// `None` when only planning: pieces are counted, nothing is written.
    file: Option<PartFile>,
    present: Present,
}

impl<'a, L: Layout + ?Sized> Assembly<'a, L> {
    pub fn new(layout: &'a L, file: Option<PartFile>) -> Self {
        Assembly {
            layout,
            file,
            present: Present::new(layout.piece_count()),
        }
    }

    pub fn layout(&self) -> &'a L {
        self.layout
    }

    /// The `.part`; `None` when only planning.
    pub fn file(&self) -> Option<&PartFile> {
        self.file.as_ref()
    }

    /// Gives the `.part` up, to be put in place.
    pub fn into_file(self) -> Option<PartFile> {
        self.file
    }

    /// True when this run created the `.part`: it reads as zeros where nothing was
    /// written, so blocks of zeros need no write (and the file stays sparse).
    pub fn reads_as_zeros(&self) -> bool {
        self.file.as_ref().is_some_and(|f| !f.existed())
    }

    pub fn is_present(&self, piece: u64) -> bool {
        self.present.contains(piece)
    }

    pub fn present_count(&self) -> u64 {
        self.present.count()
    }

    pub fn is_complete(&self) -> bool {
        self.present_count() == self.layout.piece_count()
    }

    /// Runs of pieces not there yet: what is left to fetch.
    pub fn missing(&self) -> Vec<Range<u64>> {
        runs((0..self.layout.piece_count()).filter(|&p| !self.is_present(p)))
    }

    /// Keeps the pieces a `.part` from an interrupted run already holds, each read back
    /// and checked; returns them. (zsync's blocks are found by the seed scan instead,
    /// which also finds them where they are not.)
    pub fn keep_verified(&self) -> Result<Vec<u64>> {
        let Some(file) = &self.file else {
            return Ok(Vec::new());
        };
        let mut kept = Vec::new();
        let mut buf = Vec::new();
        for piece in (0..self.layout.piece_count()).filter(|&p| !self.is_present(p)) {
            let bytes = self.layout.piece_range(piece);
            buf.resize((bytes.end - bytes.start) as usize, 0);
            let got = read_at(file.file(), &mut buf, bytes.start)
                .map_err(|e| Error::io("read", file.path(), e))?;
            if got == buf.len() && self.layout.piece_matches(piece, &buf) && self.claim(piece) {
                kept.push(piece);
            }
        }
        Ok(kept)
    }

    /// Takes `block` for data the caller has checked (the seed scan, against its own
    /// sums) and will write before the file is hashed; true if it was missing.
    pub fn claim(&self, block: u64) -> bool {
        self.present.insert(block)
    }

    /// Writes target bytes at `offset` (nothing when only planning).
    pub fn write_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        match &self.file {
            Some(file) => file.write_at(offset, data),
            None => Ok(()),
        }
    }

    /// Reads target bytes at `offset` back, all of `buf` (the window a gzip read restarts
    /// from: blocks already present).
    pub fn read_present(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let file = self
            .file
            .as_ref()
            .ok_or_else(|| Error::Invalid("nothing is written when only planning".into()))?;
        let got =
            read_at(file.file(), buf, offset).map_err(|e| Error::io("read", file.path(), e))?;
        if got < buf.len() {
            let e = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the file got shorter");
            return Err(Error::io("read", file.path(), e));
        }
        Ok(())
    }

    /// Offers `data` (a whole piece; a block may be zero-padded to the block size) as
    /// `piece`: written if it is missing and matches its sums. It is marked present only
    /// once written, so the in-order hash never reads a piece before its bytes.
    pub fn offer(&self, piece: u64, data: &[u8]) -> Result<Offer> {
        if self.is_present(piece) {
            return Ok(Offer::AlreadyPresent);
        }
        if !self.layout.piece_matches(piece, data) {
            return Ok(Offer::WrongSums);
        }
        let bytes = self.layout.piece_range(piece);
        self.write_at(bytes.start, &data[..(bytes.end - bytes.start) as usize])?;
        Ok(self.mark(piece))
    }

    /// Marks a written piece present; whether it was missing (another thread may have
    /// written the same piece first).
    fn mark(&self, piece: u64) -> Offer {
        if self.present.insert(piece) {
            Offer::Written
        } else {
            Offer::AlreadyPresent
        }
    }

    /// The whole file's hash, read in order as its pieces become present (pieces arrive
    /// out of order; the reader only moves forward), so hashing overlaps fetching: the
    /// hash the layout names, or for a layout checked only piece by piece, the whole
    /// file's SHA-256, for the user. `Ok(None)` once `gave_up` is set with pieces still
    /// missing, or when only planning.
    pub fn hash_in_order(&self, gave_up: &AtomicBool) -> Result<Option<FileHash>> {
        let Some(file) = &self.file else {
            return Ok(None);
        };
        let mut next = 0;
        let mut wait_for = |bytes: Range<u64>| {
            let last = self.layout.piece_at(bytes.end - 1);
            loop {
                while next <= last && self.is_present(next) {
                    next += 1;
                }
                if next > last {
                    return true;
                }
                if gave_up.load(Ordering::Relaxed) {
                    return false;
                }
                // Fetched blocks arrive by the thousand per second; a short nap costs
                // nothing.
                std::thread::sleep(Duration::from_millis(2));
            }
        };
        let (algorithm, hashed) = match self.layout.file_hash() {
            Some((hash, hashed)) => (hash.algorithm, hashed),
            None => (FileHashAlgorithm::Sha256, 0..self.layout.length()),
        };
        if !self.is_complete() && hashed.is_empty() {
            // Nothing to read, so nothing waits for the pieces: wait for them here.
            let all = self.layout.length();
            if all > 0 && !wait_for(0..all) {
                return Ok(None);
            }
        }
        file.hash_as_filled(algorithm, hashed, wait_for)
    }
}

/// zsync's blocks, which come in runs of one size.
impl<'a> Assembly<'a, ControlFile> {
    pub fn control_file(&self) -> &'a ControlFile {
        self.layout
    }

    pub fn geometry(&self) -> Geometry {
        self.layout.geometry()
    }

    /// Offers consecutive full-size blocks from `first` on, all of `data`: checked
    /// [`md4x::LANES`] at a time, each stretch of good missing ones written with one call.
    /// What became of each block, in order.
    pub fn offer_run(&self, first: u64, data: &[u8]) -> Result<Vec<Offer>> {
        let geometry = self.geometry();
        let bs = geometry.block_size as usize;
        let blocks: Vec<&[u8]> = data.chunks_exact(bs).collect();
        let mut good = Vec::with_capacity(blocks.len());
        for (i, group) in blocks.chunks(md4x::LANES).enumerate() {
            let group_first = first + (i * md4x::LANES) as u64;
            good.extend(self.layout.blocks_match(group_first, group));
        }
        let mut offers: Vec<Offer> = (0..blocks.len())
            .map(|k| match (good[k], self.is_present(first + k as u64)) {
                (_, true) => Offer::AlreadyPresent,
                (false, false) => Offer::WrongSums,
                (true, false) => Offer::Written,
            })
            .collect();
        let mut k = 0;
        while k < blocks.len() {
            if offers[k] != Offer::Written {
                k += 1;
                continue;
            }
            let start = k;
            while k < blocks.len() && offers[k] == Offer::Written {
                k += 1;
            }
            let block = first + start as u64;
            self.write_at(geometry.block_start(block), &data[start * bs..k * bs])?;
            for (i, offer) in offers.iter_mut().enumerate().take(k).skip(start) {
                *offer = self.mark(first + i as u64);
            }
        }
        Ok(offers)
    }
}

/// A set of block numbers that several threads add to.
struct Present {
    words: Vec<AtomicU64>,
}

impl Present {
    fn new(len: u64) -> Self {
        Present {
            words: (0..len.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Adds `i`; true if it was not there before.
    fn insert(&self, i: u64) -> bool {
        let bit = 1u64 << (i % 64);
        self.words[(i / 64) as usize].fetch_or(bit, Ordering::Relaxed) & bit == 0
    }

    fn contains(&self, i: u64) -> bool {
        self.words[(i / 64) as usize].load(Ordering::Relaxed) & (1 << (i % 64)) != 0
    }

    fn count(&self) -> u64 {
        self.words
            .iter()
            .map(|w| u64::from(w.load(Ordering::Relaxed).count_ones()))
            .sum()
    }
}
