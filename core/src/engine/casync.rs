//! A casync download. The `.caibx` index lists the blob's chunks by the hash of their
//! bytes; each lives, zstd-compressed, as its own file in a chunk store. So: cut every
//! seed with casync's chunker and take the chunks the index names, then fetch each
//! missing chunk from the store (one request per chunk, many in flight, over HTTP/2
//! where the server offers it), check its hash and put it at every place the blob has
//! it.
//!
//! A chunk is checked by the hash of all its bytes, so it is held whole until written,
//! and an index may declare chunks of up to 128 MiB: the chunks in flight share a memory
//! budget, which bounds the download's memory whatever the index declares.

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::pipeline::Target;
use super::stages::{Stages, parse_url};
use crate::blocks::{FileHash, runs};
use crate::casync::chunker::Chunks;
use crate::casync::id::{ChunkDigest, ChunkId};
use crate::casync::index::{Chunk, Index};
use crate::casync::store::{ChunkLocation, Store, UnpackError, unpack_chunk};
use crate::error::{Error, Result, shown_url};
use crate::estimate::CasyncTarget;
use crate::event::{BlockSource, BlockState, Event, Reporter, Summary, TargetInfo};
use crate::fetch::{ByteBudget, Http, Retry};
use crate::format::Format;
use crate::job::{Control, ControlSource, JobSpec};
use crate::part::{Assembly, Ends, Layout, Offer};
use crate::scan::open_seed;

/// Attempts per chunk for passing network problems.
const MAX_ATTEMPTS: u32 = 5;
/// Chunks fetched side by side per request the user allows in parallel: each chunk is a
/// request of its own, mostly small, so several per connection keep the link busy.
const WORKERS_PER_REQUEST: usize = 4;
/// The most chunks fetched side by side, whatever `--parallel` asks.
const MAX_WORKERS: usize = 64;
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
        let store = match &spec.options.store {
            Some(store) => Store::new(store),
            None => Store::default_for_index(&name),
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

    fn load(stages: &Stages, http: &Http) -> Result<Blob> {
        Blob::read_index(stages.spec, http)
    }

    fn layout(&self) -> &Blob {
        self
    }

    fn info(&self) -> TargetInfo {
        let count = self.ends.count();
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

    fn fetch(&self, stages: &Stages, http: &Http, assembly: &Assembly<Blob>) -> Result<()> {
        let needed = self.ids_of(&assembly.missing());
        let workers = (stages.spec.options.parallel_requests.max(1) * WORKERS_PER_REQUEST)
            .min(MAX_WORKERS)
            .min(needed.len());
        let fetcher = StoreFetcher {
            http,
            store: &self.store,
            blob: self,
            assembly,
            reporter: stages.reporter,
            control: stages.control,
            queue: Mutex::new(needed.into_iter().collect()),
            budget: ByteBudget::new(CHUNK_MEMORY),
            failure: Mutex::new(None),
        };
        fetcher.run(workers)
    }
}

impl Layout for Blob {
    fn length(&self) -> u64 {
        self.index.blob_len()
    }

    fn piece_count(&self) -> u64 {
        self.ends.count()
    }

    fn piece_range(&self, piece: u64) -> Range<u64> {
        self.ends.range(piece)
    }

    fn piece_at(&self, offset: u64) -> u64 {
        self.ends.at(offset)
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

/// Cuts the file at `path` into chunks as casync does and writes every chunk of the
/// blob it holds, at every place the blob has it: the bytes just cut and hashed, so
/// nothing is read or hashed twice.
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
    let mut chunks = Chunks::new(reader, blob.index.sizes(), blob.digest(), path);
    let mut found = Vec::new();
    let mut bytes = Vec::new();
    while let Some(chunk) = chunks.next_with_bytes(&mut bytes) {
        let chunk = chunk?;
        let Some(places) = blob.places.get(&chunk.id) else {
            continue;
        };
        job.control.checkpoint()?;
        for &piece in places {
            // The id is the hash of these very bytes: nothing more to check.
            if assembly.claim(piece) {
                assembly.write_at(blob.piece_range(piece).start, &bytes)?;
                found.push(piece);
            }
        }
    }
    found.sort_unstable();
    job.report_found(assembly, source, found);
    Ok(())
}

/// Fetches chunks from the store, `parallel` at a time as far as their memory budget
/// allows: each one request, its body unpacked and checked, then written wherever the
/// blob has it.
struct StoreFetcher<'a> {
    http: &'a Http,
    store: &'a Store,
    blob: &'a Blob,
    assembly: &'a Assembly<'a, Blob>,
    reporter: &'a Reporter<'a>,
    control: &'a Control,
    queue: Mutex<VecDeque<ChunkId>>,
    /// Held by each chunk for its bytes, from unpacking until written.
    budget: ByteBudget,
    /// Why the job ends early: the first error, or the cancel.
    failure: Mutex<Option<Error>>,
}

impl StoreFetcher<'_> {
    fn run(&self, parallel: usize) -> Result<()> {
        std::thread::scope(|scope| {
            for _ in 0..parallel {
                scope.spawn(|| {
                    while let Some(id) = self.next() {
                        if let Err(e) = self.fetch_with_retries(id) {
                            self.fail(e);
                        }
                    }
                });
            }
        });
        match self.failure.lock().unwrap().take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// The next chunk to fetch, unless the job is over.
    fn next(&self) -> Option<ChunkId> {
        if !self.goes_on() {
            return None;
        }
        self.queue.lock().unwrap().pop_front()
    }

    /// False once the job is cancelled or a chunk failed.
    fn goes_on(&self) -> bool {
        if let Err(e) = self.control.checkpoint() {
            self.fail(e);
        }
        self.failure.lock().unwrap().is_none()
    }

    /// Ends the job with `error`, unless it has already failed.
    fn fail(&self, error: Error) {
        self.failure.lock().unwrap().get_or_insert(error);
    }

    fn fetch_with_retries(&self, id: ChunkId) -> Result<()> {
        let places = &self.blob.places[&id];
        let bytes = self.blob.piece_range(places[0]);
        let chunk = Chunk {
            offset: bytes.start,
            len: bytes.end - bytes.start,
            id,
        };
        self.reporter.blocks(
            runs(places.iter().copied()),
            BlockState::InFlight,
            BlockSource::Network,
        );
        let mut attempt = 0;
        loop {
            attempt += 1;
            let fetched = {
                let _room = self.budget.take(chunk.len);
                // Waiting for room can take as long as other chunks take to arrive.
                if !self.goes_on() {
                    return Ok(());
                }
                self.fetch(&chunk).map(|data| self.put(places, &data))
            };
            match fetched {
                Ok(written) => return written,
                Err((Retry::Later(wait), _)) if attempt < MAX_ATTEMPTS => {
                    let pause = wait.unwrap_or(Duration::from_millis(250 << attempt));
                    self.control.sleep(pause.min(Duration::from_secs(60)))?;
                }
                Err((_, error)) => {
                    self.reporter.blocks(
                        runs(places.iter().copied()),
                        BlockState::Failed,
                        BlockSource::Network,
                    );
                    return Err(error);
                }
            }
        }
    }

    /// One chunk from the store, unpacked and checked against its id.
    fn fetch(&self, chunk: &Chunk) -> std::result::Result<Vec<u8>, (Retry, Error)> {
        let url = match self.store.locate(&chunk.id) {
            ChunkLocation::Url(url) => url,
            ChunkLocation::Path(_) => {
                // A local file that does not unpack would read the same again.
                let local = self.store.read_local(chunk, self.blob.digest());
                return local
                    .expect("a local store reads locally")
                    .map_err(|e| (Retry::Never, e));
            }
        };
        self.reporter.add_request();
        let body = self.http.get_body(&url).map_err(|e| (e.retry, e.error))?;
        match unpack_chunk(body, chunk, self.blob.digest(), url.as_str()) {
            Ok(unpacked) => {
                self.reporter.add_wire(unpacked.compressed_len);
                Ok(unpacked.data)
            }
            Err(UnpackError::Read(e)) => Err((
                Retry::Later(None),
                Error::http(&url, format!("the download broke off: {e}")),
            )),
            // A chunk that does not unpack to its id is the store's fault: asking again
            // would bring the same bytes.
            Err(UnpackError::Bad(error)) => Err((Retry::Never, error)),
        }
    }

    /// Writes a fetched chunk at every place the blob has it.
    fn put(&self, places: &[u64], data: &[u8]) -> Result<()> {
        let mut written = Vec::new();
        for &piece in places {
            if self.assembly.offer(piece, data)? == Offer::Written {
                self.reporter.add_fetched(data.len() as u64);
                written.push(piece);
            }
        }
        self.reporter
            .blocks(runs(written), BlockState::Fetched, BlockSource::Network);
        Ok(())
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
