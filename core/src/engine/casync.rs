//! A casync download. The `.caibx` index lists the blob's chunks by the hash of their
//! bytes; each lives, zstd-compressed, as its own file in a chunk store. So: cut every
//! seed with casync's chunker and take the chunks the index names, then fetch each
//! missing chunk from the store, check its hash and put it at every place the blob has
//! it. The chunks are documents for the shared `fetch::Transport` (one request per chunk,
//! many in flight, over HTTP/2 where the server offers it): retries, `Retry-After`, the
//! stall timeout, mirror redirectors and the limit on bad copies are the other formats'.
//! A local store is read where it is, through `file:` URLs.
//!
//! A chunk is checked by the hash of all its bytes, so it is held whole until written,
//! and an index may declare chunks of up to 128 MiB: the chunks in flight share a memory
//! budget, which bounds the download's memory whatever the index declares.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use url::Url;

use super::pipeline::{Described, Target};
use super::stages::{Stages, parse_url};
use crate::blocks::{FileHash, runs};
use crate::casync::chunker::Cuts;
use crate::casync::id::{ChunkDigest, ChunkId};
use crate::casync::index::{Chunk, Index};
use crate::casync::store::{Store, UnpackError, unpack_chunk};
use crate::error::{Error, Result, shown_url};
use crate::estimate::CasyncTarget;
use crate::event::{BlockSource, BlockState, Event, Summary, TargetInfo};
use crate::fetch::{
    BlockWriter, ByteBudget, Document, DocumentReceiver, Http, ReceiveError, Room, Transport,
    broken,
};
use crate::format::Format;
use crate::job::{ControlSource, JobSpec};
use crate::part::{Assembly, Bounds, Ends, Layout};
use crate::scan::open_seed;

/// Memory for the bytes of the chunks in flight. casync's default chunks (64 KiB on
/// average, at most 256 KiB) never fill it; chunks larger than it are fetched one at a
/// time.
const CHUNK_MEMORY: u64 = 64 << 20;

/// The blob an index describes: one piece per chunk.
pub(super) struct Blob {
    index: Index,
    /// The index's URL or path, as given.
    index_name: String,
    /// Where its chunks are.
    store: Store,
    /// Where each chunk ends.
    ends: Ends,
    /// Each chunk's id, in blob order.
    ids: Vec<ChunkId>,
    /// Every chunk with that id (a blob may hold the same chunk many times).
    places: HashMap<ChunkId, Vec<u64>>,
}

impl Blob {
    /// Reads the index from its URL or file, and finds its store.
    fn read_index(spec: &JobSpec, http: &Http) -> Result<Blob> {
        let (bytes, name) = match &spec.control {
            ControlSource::Url(url) => {
                let url = parse_url(url)?;
                let saved = spec.options.saved_control.as_deref();
                let (bytes, final_url) = http.get_control(&url, saved)?;
                (bytes, final_url.to_string())
            }
            ControlSource::File(path) => {
                let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
                (bytes, path.display().to_string())
            }
        };
        let index = Index::parse(&bytes, &shown_url(&name))?;
        let chunks: Vec<_> = index.chunks().collect();
        let mut places: HashMap<ChunkId, Vec<u64>> = HashMap::new();
        for (i, chunk) in chunks.iter().enumerate() {
            places.entry(chunk.id).or_default().push(i as u64);
        }
        // casync's default store is beside the index: beside the URL it was published
        // at when a local copy is read (`-u`, a follow's saved index).
        let published = spec.options.base_url.as_deref().unwrap_or(&name);
        let store = match &spec.options.store {
            Some(store) => Store::new(store),
            None => Store::default_for_index(published),
        };
        Ok(Blob {
            ends: Ends(chunks.iter().map(|c| c.range().end).collect()),
            ids: chunks.iter().map(|c| c.id).collect(),
            places,
            index,
            index_name: name,
            store,
        })
    }

    fn digest(&self) -> ChunkDigest {
        self.index.digest()
    }

    /// The distinct ids of the chunks in `runs`, in blob order.
    fn ids_of(&self, runs: &[Range<u64>]) -> Vec<ChunkId> {
        let mut seen = std::collections::HashSet::new();
        runs.iter()
            .flat_map(|run| run.clone())
            .map(|piece| self.ids[piece as usize])
            .filter(|id| seen.insert(*id))
            .collect()
    }

    /// The chunk at `piece`: where it is and its id.
    fn chunk(&self, piece: u64) -> Chunk {
        let bytes = self.piece_range(piece);
        Chunk {
            offset: bytes.start,
            len: bytes.end - bytes.start,
            id: self.ids[piece as usize],
        }
    }

    /// Every place of the blob that holds the same chunk as `piece`.
    fn places_of(&self, piece: u64) -> &[u64] {
        &self.places[&self.ids[piece as usize]]
    }

    /// Uncompressed bytes of the chunks named `ids`, once each.
    fn bytes_of(&self, ids: &[ChunkId]) -> u64 {
        ids.iter()
            .map(|id| self.places[id][0])
            .map(|piece| self.piece_range(piece))
            .map(|r| r.end - r.start)
            .sum()
    }
}

impl Target for Blob {
    type Layout = Blob;

    /// An index names no hash of the blob: its own hash tells the build.
    fn describe(bytes: &[u8], source: &str) -> Result<Described> {
        let index = Index::parse(bytes, source)?;
        let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
        Ok(Described {
            identity: format!("casync index SHA-256:{}", hex::encode(hash.as_ref())),
            named: None,
            length: index.blob_len(),
            built: None,
        })
    }

    fn load(stages: &Stages, http: &Http) -> Result<Blob> {
        Blob::read_index(stages.spec, http)
    }

    fn layout(&self) -> &Blob {
        self
    }

    fn info(&self) -> TargetInfo {
        let count = self.piece_count();
        let store = match &self.store {
            Store::Remote(url) => shown_url(url.as_str()),
            Store::Local(path) => path.display().to_string(),
        };
        TargetInfo {
            format: Format::Casync,
            filename: file_name_of(&self.index_name).unwrap_or_default(),
            length: self.length(),
            block_size: u32::try_from(self.index.sizes().avg()).unwrap_or(u32::MAX),
            block_count: count,
            block_ends: self.ends.0.clone(),
            urls: vec![store],
            // Compressed chunks, but not a gzip target.
            compressed: false,
            file_hash: None,
            mtime: None,
        }
    }

    fn estimate_seeds(&self, stages: &Stages, started: Instant) -> Result<Summary> {
        stages.estimate_seeds(&CasyncTarget::new(&self.index), None, started)
    }

    fn output_path(&self, spec: &JobSpec) -> Result<PathBuf> {
        output_path(spec, &self.index_name)
    }

    /// The chunks of the `.part`, then those casync's chunker cuts from each seed.
    fn take_local(&self, stages: &Stages, assembly: &Assembly<Blob>, output: &Path) -> Result<()> {
        stages.find_pieces(assembly, output, |path, source| {
            copy_from_seed(stages, self, assembly, path, source)
        })
    }

    /// One request per distinct chunk missing.
    fn cost(&self, _: &Assembly<Blob>, missing: &[Range<u64>]) -> Result<(u64, u64)> {
        let needed = self.ids_of(missing);
        Ok((needed.len() as u64, self.bytes_of(&needed)))
    }

    /// Each missing chunk as a document of its own, through the transport.
    fn fetch(&self, stages: &Stages, http: &Http, assembly: &Assembly<Blob>) -> Result<()> {
        let chunks = StoreChunks {
            blob: self,
            writer: BlockWriter::new(assembly, stages.reporter),
            budget: ByteBudget::new(CHUNK_MEMORY),
        };
        let store = self.store.url()?;
        let options = &stages.spec.options;
        Transport::new(http, vec![store], stages.reporter, stages.control, options)
            .run_documents(&chunks)
    }
}

impl Layout for Blob {
    fn length(&self) -> u64 {
        self.index.blob_len()
    }

    fn bounds(&self) -> impl Bounds + '_ {
        &self.ends
    }

    fn piece_matches(&self, piece: u64, data: &[u8]) -> bool {
        let bytes = self.piece_range(piece);
        data.len() as u64 == bytes.end - bytes.start
            && self.digest().id_of(data) == self.ids[piece as usize]
    }

    /// casync names no whole-file hash: each chunk's id is the check.
    fn file_hash(&self) -> Option<(&FileHash, Range<u64>)> {
        None
    }
}

/// Chunk bytes cut from a seed at a time: hashing one batch (on every core) overlaps
/// cutting the next, and two batches are all a seed holds in memory.
const SEED_BATCH: usize = 2 << 20;

/// Cuts the file at `path` into chunks as casync does and writes every chunk of the
/// blob it holds, at every place the blob has it: the bytes just cut and hashed, so
/// nothing is read or hashed twice. Cutting is one sequential pass; hashing, most of
/// the work (SHA-512/256), is spread over the cores a batch at a time while the next
/// batch is cut. A chunk of a length the blob has none of cannot be one of its chunks,
/// so it is not hashed at all.
fn copy_from_seed(
    job: &Stages,
    blob: &Blob,
    assembly: &Assembly<Blob>,
    path: &Path,
    source: BlockSource,
) -> Result<()> {
    let (file, size) = open_seed(path)?;
    job.reporter.emit(Event::SeedStarted {
        source,
        path: path.to_path_buf(),
        size,
    });
    let reader = std::io::BufReader::with_capacity(1 << 18, file);
    let mut cuts = Cuts::new(reader, blob.index.sizes(), path);
    let lengths: HashSet<u64> = (0..blob.ids.len() as u64)
        .map(|piece| blob.chunk(piece).len)
        .collect();
    let (mut batch, mut next) = (SeedBatch::default(), SeedBatch::default());
    batch.refill(&mut cuts, &lengths)?;
    let mut found = Vec::new();
    while !batch.chunks.is_empty() {
        job.control.checkpoint()?;
        let (taken, cut) = rayon::join(
            || batch.take(blob, assembly),
            || next.refill(&mut cuts, &lengths),
        );
        found.extend(taken?);
        cut?;
        std::mem::swap(&mut batch, &mut next);
    }
    found.sort_unstable();
    job.report_found(assembly, source, found);
    Ok(())
}

/// Chunks cut from a seed, their bytes side by side.
#[derive(Default)]
struct SeedBatch {
    bytes: Vec<u8>,
    /// Each chunk's bytes in `bytes`.
    chunks: Vec<Range<usize>>,
}

impl SeedBatch {
    /// Cuts the next [`SEED_BATCH`] bytes' worth of chunks of a length in `lengths`
    /// (none at the end of the seed).
    fn refill(&mut self, cuts: &mut Cuts<impl Read>, lengths: &HashSet<u64>) -> Result<()> {
        self.bytes.clear();
        self.chunks.clear();
        while self.bytes.len() < SEED_BATCH {
            let start = self.bytes.len();
            let Some(cut) = cuts.next_appending(&mut self.bytes) else {
                break;
            };
            if lengths.contains(&cut?.len) {
                self.chunks.push(start..self.bytes.len());
            } else {
                self.bytes.truncate(start);
            }
        }
        Ok(())
    }

    /// Hashes the chunks and writes each the blob has wherever it has it; returns the
    /// pieces written. The same chunk twice in a seed is written once, whichever copy
    /// claims it: the same bytes either way.
    fn take(&self, blob: &Blob, assembly: &Assembly<Blob>) -> Result<Vec<u64>> {
        let digest = blob.digest();
        let taken: Vec<Vec<u64>> = self
            .chunks
            .par_iter()
            .map(|range| {
                let bytes = &self.bytes[range.clone()];
                let Some(places) = blob.places.get(&digest.id_of(bytes)) else {
                    return Ok(Vec::new());
                };
                // The id is the hash of these very bytes: nothing more to check.
                let mut written = Vec::new();
                for &piece in places {
                    if assembly.claim(piece) {
                        assembly.write_at(blob.piece_range(piece).start, bytes)?;
                        written.push(piece);
                    }
                }
                Ok(written)
            })
            .collect::<Result<_>>()?;
        Ok(taken.into_iter().flatten().collect())
    }
}

/// The blob's missing chunks, as documents in its store: each unpacked and checked
/// against its id as it arrives, then written wherever the blob has it.
struct StoreChunks<'a> {
    blob: &'a Blob,
    writer: BlockWriter<'a, Blob>,
    /// Held by each chunk for its bytes, from before its request until written.
    budget: ByteBudget,
}

impl StoreChunks<'_> {
    /// Writes a checked chunk at every place the blob has it.
    fn put(&self, url: &Url, piece: u64, data: &[u8]) -> Result<()> {
        let mut written = Vec::new();
        for &place in self.blob.places_of(piece) {
            if self.writer.accept(url, place, data)? {
                written.push(place);
            }
        }
        self.writer
            .reporter
            .blocks(runs(written), BlockState::Fetched, BlockSource::Network);
        Ok(())
    }

    fn report(&self, places: impl Iterator<Item = u64>, state: BlockState) {
        self.writer
            .reporter
            .blocks(runs(places), state, BlockSource::Network);
    }
}

impl DocumentReceiver for StoreChunks<'_> {
    /// One document per distinct chunk missing.
    fn next_round(&self) -> Result<Option<Vec<Document>>> {
        let needed = self.blob.ids_of(&self.writer.assembly.missing());
        if needed.is_empty() {
            return Ok(None);
        }
        let documents = needed.into_iter().map(|id| {
            Ok(Document {
                url: self.blob.store.chunk_url(&id)?,
                piece: self.blob.places[&id][0],
            })
        });
        documents.collect::<Result<_>>().map(Some)
    }

    fn room(&self, document: &Document) -> Room<'_> {
        self.budget.take(self.blob.chunk(document.piece).len)
    }

    fn feed(
        &self,
        document: &Document,
        url: &Url,
        body: &mut dyn Read,
    ) -> std::result::Result<(), ReceiveError> {
        let chunk = self.blob.chunk(document.piece);
        match unpack_chunk(body, &chunk, self.blob.digest(), url.as_str()) {
            Ok(data) => self
                .put(url, document.piece, &data)
                .map_err(ReceiveError::Fatal),
            Err(UnpackError::Read(e)) => Err(broken(e)),
            // Another copy (another mirror's, or the next reply) may be good: counted,
            // and asked for again a bounded number of times.
            Err(UnpackError::Bad(error)) => {
                let problem = match error {
                    Error::BadData { problem, .. } => problem,
                    other => other.to_string(),
                };
                let rejected = self.writer.reject(url, document.piece, &problem);
                rejected.map_err(ReceiveError::Fatal)
            }
        }
    }

    fn requested(&self, document: &Document) {
        let places = self.blob.places_of(document.piece).iter().copied();
        self.report(places, BlockState::InFlight);
    }

    fn request_over(&self, document: &Document) {
        // Whatever did not arrive goes back to unknown, to be asked for again.
        let assembly = self.writer.assembly;
        let places = self.blob.places_of(document.piece).iter().copied();
        let unfetched = places.filter(|&place| !assembly.is_present(place));
        self.report(unfetched, BlockState::Unknown);
    }

    fn present(&self) -> u64 {
        self.writer.assembly.present_count()
    }
}

/// The user's choice, or the index's name without `.caibx` in the current directory.
fn output_path(spec: &JobSpec, index_name: &str) -> Result<PathBuf> {
    if let Some(out) = &spec.output
        && !out.is_dir()
    {
        return Ok(out.clone());
    }
    let name = file_name_of(index_name)
        .and_then(|name| {
            let stem = Format::Casync.target_name(&name)?;
            crate::part::is_safe_file_name(stem).then(|| stem.to_string())
        })
        .ok_or_else(|| {
            Error::Invalid(
                "the index's name gives no usable file name: choose the output file (-o)".into(),
            )
        })?;
    Ok(spec.output.clone().unwrap_or_default().join(name))
}

/// The last part of a URL's path or of a file path.
fn file_name_of(index_name: &str) -> Option<String> {
    let path = index_name.split(['?', '#']).next().unwrap_or(index_name);
    path.rsplit(['/', '\\'])
        .next()
        .map(str::to_string)
        .filter(|n| !n.is_empty())
}
