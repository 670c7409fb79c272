//! A seed estimated for a casync target: its regions are cut with casync's chunker, as
//! the scan cuts the whole seed, and each chunk the index names is counted.
//!
//! A region starts at no border casync would cut at, so the chunker is started the
//! longest chunk size before it: it cuts there at the latest, and the chunker only looks
//! at the bytes just before a border, so from its first cut at a border the bytes chose
//! it cuts where casync cuts (but for the rare first cut that falls where casync's chunk
//! was still too short to end). A cut forced by the longest chunk size is not one the
//! bytes chose: in a stretch with no border at all (a line of text repeated), casync's
//! cuts fall every longest chunk size from the last border before it, which may be far
//! back. When chunks cut before any chosen border are not the target's, the region is
//! cut again from that last border, looked for up to a few longest chunks back.
//!
//! The chunks that *start* in the region are counted, and read to their end: each chunk
//! of the seed is as likely to be counted as any other, whatever its size (zero runs are
//! cut into chunks of the longest size, data into shorter ones), so the share of the
//! seed sampled is the share of its bytes the regions cover.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::path::Path;

use rayon::prelude::*;

use super::Estimator;
use super::sample::{self, Sampling};
use super::tally::Tally;
use crate::casync::chunker::{ChunkSizes, Chunks, Cuts};
use crate::casync::id::{ChunkDigest, ChunkId};
use crate::casync::index::Index;
use crate::error::Result;
use crate::job::Control;
use crate::part::read_at;
use crate::scan::open_seed;

/// How seeds are sampled: regions of 8 average chunks (each read with the longest chunk
/// size more at both ends), 1/8 of a big seed, at 256 places at least.
const CHUNKS_PER_REGION: u64 = 8;
const SHARE: u64 = 8;
const MIN_REGIONS: u64 = 256;
/// How far back a border is looked for, in longest chunks.
const LOOK_BACK: u64 = 8;

/// A casync target, ready to estimate seeds against.
pub(crate) struct CasyncTarget {
    sizes: ChunkSizes,
    digest: ChunkDigest,
    length: u64,
    /// Per chunk id: the places the blob has it, and the target bytes it fills there.
    places_of: HashMap<ChunkId, Places>,
}

/// Where the blob has a chunk.
#[derive(Debug, Clone, Copy, Default)]
struct Places {
    count: u64,
    bytes: u64,
}

/// In how many regions each chunk the target has was seen.
type Hits = HashMap<ChunkId, u64>;

impl CasyncTarget {
    pub fn new(index: &Index) -> Self {
        let mut places_of: HashMap<ChunkId, Places> = HashMap::new();
        for chunk in index.chunks() {
            let places = places_of.entry(chunk.id).or_default();
            places.count += 1;
            places.bytes += chunk.len;
        }
        CasyncTarget {
            sizes: index.sizes(),
            digest: index.digest(),
            length: index.blob_len(),
            places_of,
        }
    }

    pub(super) fn sampling(&self) -> Sampling {
        Sampling {
            region: CHUNKS_PER_REGION * self.sizes.avg(),
            share: SHARE,
            min_regions: MIN_REGIONS,
        }
    }

    /// Cuts the seed (`len` bytes) around `region` and counts the chunks the target has
    /// that start in it.
    fn look_up_region(
        &self,
        file: &File,
        (region, len): (Range<u64>, u64),
        path: &Path,
        control: &Control,
    ) -> Result<Hits> {
        control.checkpoint()?;
        let from = region.start.saturating_sub(self.sizes.max());
        let (hits, in_step) = self.cut_from(file, from, (region.clone(), len), path, control)?;
        if in_step {
            return Ok(hits);
        }
        match self.last_border_before(file, region.start, path)? {
            Some(border) => Ok(self.cut_from(file, border, (region, len), path, control)?.0),
            None => Ok(hits),
        }
    }

    /// Cuts the seed from `from` and counts the chunks the target has that start in
    /// `region`. Also says whether the cuts were casync's: a chunk the target lacks was
    /// cut after a border the bytes chose (or the seed's start), or none was.
    fn cut_from(
        &self,
        file: &File,
        from: u64,
        (region, len): (Range<u64>, u64),
        path: &Path,
        control: &Control,
    ) -> Result<(Hits, bool)> {
        let read = from..(region.end + self.sizes.max()).min(len);
        let reader = RegionReader {
            file,
            at: read.start,
            end: read.end,
        };
        let mut hits = Hits::new();
        let mut in_step = from == 0;
        let mut all_in_step = true;
        for chunk in Chunks::new(reader, self.sizes, self.digest, path) {
            control.checkpoint()?;
            // A chunk that starts in the region ends before the read does (no chunk is
            // longer than the margin), or where the seed ends: it is whole.
            let chunk = chunk?;
            let start = read.start + chunk.offset;
            if start >= region.end {
                break;
            }
            if start >= region.start {
                if self.places_of.contains_key(&chunk.id) {
                    // Seen in this region: copies read together tell no more than one.
                    hits.insert(chunk.id, 1);
                } else {
                    all_in_step &= in_step;
                }
            }
            in_step |= chunk.len < self.sizes.max();
        }
        Ok((hits, all_in_step))
    }

    /// The last cut before `offset` at a border the bytes chose, looked for up to
    /// `LOOK_BACK` longest chunks back; the seed's start counts as one.
    fn last_border_before(&self, file: &File, offset: u64, path: &Path) -> Result<Option<u64>> {
        let from = offset.saturating_sub(LOOK_BACK * self.sizes.max());
        let reader = RegionReader {
            file,
            at: from,
            end: offset,
        };
        let mut border = (from == 0).then_some(0);
        for cut in Cuts::new(reader, self.sizes, path) {
            let cut = cut?;
            let end = from + cut.offset + cut.len;
            if cut.len < self.sizes.max() && end < offset {
                border = Some(end);
            }
        }
        Ok(border)
    }
}

impl Estimator for CasyncTarget {
    fn target_len(&self) -> u64 {
        self.length
    }

    fn estimate(&self, path: &Path, control: &Control) -> Result<u64> {
        let (file, len) = open_seed(path)?;
        let regions = sample::regions(len, self.sampling());
        let hits = regions
            .par_iter()
            .map(|region| self.look_up_region(&file, (region.clone(), len), path, control))
            .try_reduce(Hits::new, |a, b| Ok(merged(a, b)))?;
        let mut tally = Tally::default();
        for (id, &n) in &hits {
            let places = self.places_of[id];
            tally.add(n, places.bytes, places.count);
        }
        Ok(tally
            .estimate(sample::share(&regions, len))
            .min(self.length))
    }
}

fn merged(mut a: Hits, b: Hits) -> Hits {
    for (id, n) in b {
        *a.entry(id).or_default() += n;
    }
    a
}

/// A region of a file read as a stream, at its own offsets: regions on other threads
/// read the same file at once.
struct RegionReader<'f> {
    file: &'f File,
    at: u64,
    end: u64,
}

impl Read for RegionReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.end - self.at).unwrap_or(usize::MAX));
        let got = read_at(self.file, &mut buf[..want], self.at)?;
        self.at += got as u64;
        Ok(got)
    }
}
