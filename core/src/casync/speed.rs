//! Throughput of the chunker, for comparing with `casync make` and desync on the same
//! file. Ignored by default (it wants a release build and a big file):
//!
//! ```text
//! DELTADROP_CASYNC_BENCH_FILE=/path/to/256MiB cargo test --release -p deltadrop-core \
//!     --lib casync::speed -- --ignored --nocapture
//! ```
//!
//! Without the variable it cuts 256 MiB of generated data in a temporary file. With
//! `DELTADROP_CASYNC_BENCH_INDEX` naming the `.caibx` that `casync make` wrote for that
//! file, the chunks must also equal the index's.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::chunker::{ChunkSizes, Chunks, Cuts};
use super::id::ChunkDigest;
use super::index::{Chunk, Index};

fn bench_file(dir: &Path) -> PathBuf {
    if let Some(path) = std::env::var_os("DELTADROP_CASYNC_BENCH_FILE") {
        return path.into();
    }
    let path = dir.join("bench.bin");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..256 {
        file.write_all(&crate::test_data::noise(1 << 20, i + 1))
            .unwrap();
    }
    file.flush().unwrap();
    path
}

fn report(what: &str, bytes: u64, chunks: usize, start: Instant) {
    let secs = start.elapsed().as_secs_f64();
    let mb_s = bytes as f64 / 1e6 / secs;
    let _ = writeln!(
        std::io::stderr(),
        "{what}: {bytes} bytes, {chunks} chunks in {secs:.3} s: {mb_s:.0} MB/s"
    );
}

#[test]
#[ignore = "a benchmark: run in release with --ignored --nocapture"]
fn chunker_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let path = bench_file(dir.path());
    let len = std::fs::metadata(&path).unwrap().len();
    let sizes = ChunkSizes::DEFAULT;
    // Once to warm the page cache, then measured.
    for round in 0..2 {
        let start = Instant::now();
        let file = std::fs::File::open(&path).unwrap();
        let cuts = Cuts::new(file, sizes, &path).map(Result::unwrap).count();
        if round == 1 {
            report("cuts only", len, cuts, start);
        }
    }
    for digest in [ChunkDigest::Sha512_256, ChunkDigest::Sha256] {
        let start = Instant::now();
        let file = std::fs::File::open(&path).unwrap();
        let chunks = Chunks::new(file, sizes, digest, &path);
        let chunks: Vec<Chunk> = chunks.map(Result::unwrap).collect();
        report(
            &format!("cuts and {digest:?} ids"),
            len,
            chunks.len(),
            start,
        );
        if let Some(index) = std::env::var_os("DELTADROP_CASYNC_BENCH_INDEX") {
            let index = Index::parse(&std::fs::read(&index).unwrap(), "bench index").unwrap();
            if index.digest() == digest {
                assert!(index.chunks().eq(chunks), "the chunks differ from casync's");
                let _ = writeln!(std::io::stderr(), "same chunks as casync's index");
            }
        }
    }
}

#[test]
#[ignore = "a benchmark: run in release with --ignored --nocapture"]
fn digest_throughput() {
    let data = crate::test_data::noise(64 << 20, 3);
    for digest in [ChunkDigest::Sha512_256, ChunkDigest::Sha256] {
        let start = Instant::now();
        let id = digest.id_of(&data);
        report(
            &format!("{digest:?} of 64 MiB ({id})"),
            data.len() as u64,
            1,
            start,
        );
    }
}
