//! A casync index may declare chunks of up to 128 MiB, each of which can be a chunk file
//! of a few KiB: what the client holds in memory must not grow with what the index
//! declares times the chunks in flight. Measured with a global allocator that counts the
//! bytes live at once (its own test binary, so nothing else is counted; zstd allocates
//! through it too, `zstd/with-rust-allocator`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lc_rs::digest;
use deltadrop_core::serve::Server;
use deltadrop_core::{Control, ControlSource, JobSpec, NullSink};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let live = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            grew(new_size - layout.size());
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIB: u64 = 1 << 20;
/// The largest chunk casync allows, and the size of every chunk here.
const CHUNK_LEN: u64 = 128 * MIB;
const CHUNKS: u8 = 16;

/// `sizeof(CaFormatIndex)`, and the index's and table's magic numbers (`caformat.h`).
const INDEX_HEADER_LEN: u64 = 48;
const INDEX_MAGIC: u64 = 0x9682_4d9c_7b12_9ff9;
const TABLE_MAGIC: u64 = 0xe75b_9e11_2f17_417d;
const TAIL_MARKER: u64 = 0x4b4f_050e_5549_ecd1;
/// Blob index, chunk ids in SHA-512/256 (casync's default).
const BLOB_FLAGS: u64 = 0xb000_0000_0000_0000;

/// Chunk `i` is `CHUNK_LEN` bytes of this value.
fn fill_of(chunk: u8) -> u8 {
    chunk + 1
}

/// A `.caibx` in casync's layout (this test sees only the crate's public API), its
/// minimum, average and maximum chunk size all `CHUNK_LEN`.
fn index_of(ids: &[[u8; 32]]) -> Vec<u8> {
    let table_len = 16 + (ids.len() as u64 + 1) * 40;
    let header = [INDEX_HEADER_LEN, INDEX_MAGIC, BLOB_FLAGS];
    let sizes = [CHUNK_LEN; 3];
    let mut out = Vec::new();
    for word in header
        .into_iter()
        .chain(sizes)
        .chain([u64::MAX, TABLE_MAGIC])
    {
        out.extend_from_slice(&word.to_le_bytes());
    }
    for (i, id) in ids.iter().enumerate() {
        out.extend_from_slice(&((i as u64 + 1) * CHUNK_LEN).to_le_bytes());
        out.extend_from_slice(id);
    }
    for word in [0, 0, INDEX_HEADER_LEN, table_len, TAIL_MARKER] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out
}

/// Writes chunk `chunk`'s file (a zstd frame of a few KiB) into the store; returns its id.
fn store_chunk(store: &Path, chunk: u8) -> [u8; 32] {
    let bytes = || std::io::repeat(fill_of(chunk)).take(CHUNK_LEN);
    let mut hasher = digest::Context::new(&digest::SHA512_256);
    let mut piece = vec![0; MIB as usize];
    let mut reader = bytes();
    while reader.read(&mut piece).unwrap() > 0 {
        hasher.update(&piece);
    }
    let id: [u8; 32] = hasher.finish().as_ref().try_into().unwrap();
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let folder = store.join(&hex[..4]);
    std::fs::create_dir_all(&folder).unwrap();
    let packed = zstd::stream::encode_all(bytes(), 3).unwrap();
    std::fs::write(folder.join(format!("{hex}.cacnk")), packed).unwrap();
    id
}

/// Whether `path` holds each chunk's bytes in turn, read a MiB at a time.
fn holds_the_blob(path: &Path) -> bool {
    let mut file = std::fs::File::open(path).unwrap();
    let mut piece = vec![0; MIB as usize];
    for chunk in 0..CHUNKS {
        for _ in 0..CHUNK_LEN / MIB {
            file.read_exact(&mut piece).unwrap();
            if piece.iter().any(|&b| b != fill_of(chunk)) {
                return false;
            }
        }
    }
    file.read(&mut piece).unwrap() == 0
}

#[test]
fn an_index_of_huge_chunks_is_fetched_in_bounded_memory() {
    let www = tempfile::tempdir().unwrap();
    let ids: Vec<_> = (0..CHUNKS)
        .map(|chunk| store_chunk(&www.path().join("default.castr"), chunk))
        .collect();
    std::fs::write(www.path().join("huge.img.caibx"), index_of(&ids)).unwrap();
    let server = Server::start(www.path(), "127.0.0.1:0".parse().unwrap(), None).unwrap();
    // A seed holding the first chunk: the seed scan keeps a chunk's bytes too.
    let work = tempfile::tempdir().unwrap();
    let seed = work.path().join("old.img");
    let first = std::io::repeat(fill_of(0)).take(CHUNK_LEN);
    std::io::copy(&mut { first }, &mut std::fs::File::create(&seed).unwrap()).unwrap();
    let out = work.path().join("huge.img");
    let mut spec = JobSpec::new(ControlSource::parse(&format!(
        "{}huge.img.caibx",
        server.url()
    )));
    spec.seeds.push(seed);
    spec.output = Some(out.clone());

    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let result = deltadrop_core::Job::run(&spec, &NullSink, &Control::default());
    let peak = PEAK.load(Ordering::Relaxed) - before;

    let summary = result.unwrap();
    assert_eq!(summary.progress.local_bytes, CHUNK_LEN, "{summary:?}");
    let fetched = u64::from(CHUNKS - 1) * CHUNK_LEN;
    assert_eq!(summary.progress.fetched_bytes, fetched, "{summary:?}");
    assert!(holds_the_blob(&out), "the output is not the blob");
    let peak_mib = peak as u64 / MIB;
    eprintln!("peak allocation: {peak_mib} MiB");
    assert!(
        peak_mib < 192,
        "{peak_mib} MiB live at once for chunks of {} MiB",
        CHUNK_LEN / MIB
    );
}
