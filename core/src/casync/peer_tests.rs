//! The format layer against the real `casync` (Debian's package): `casync make` indexes
//! generated files, and our parser, chunker and store reader must agree with what it
//! wrote, cut for cut and id for id, then rebuild each file from its store as a download
//! does.
//!
//! Needs `casync` on PATH; without it the tests skip with a visible message, unless
//! `DELTADROP_REQUIRE_PEERS=1` makes that a failure.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::chunker::{ChunkSizes, Chunks};
use super::id::{ChunkDigest, ChunkId};
use super::index::{Chunk, Index};
use crate::test_data::{Rng, download_from_store, noise, peer_available, run_peer};

/// A file indexed by `casync make`: its path, the index (parsed, and its file) and the
/// store's folder.
struct Made {
    file: PathBuf,
    index: Index,
    index_path: PathBuf,
    store: PathBuf,
}

impl Made {
    /// The file downloaded from the store, no seed given, into `output`.
    fn rebuilt(&self, output: &Path) -> Vec<u8> {
        download_from_store(&self.index_path, &self.store, output)
            .unwrap_or_else(|e| panic!("{}: {e}", self.index_path.display()))
    }
}

/// Writes `data` to `dir/name`, runs `casync make` on it with `args`.
fn make(dir: &Path, name: &str, data: &[u8], args: &[&str]) -> Made {
    let file = dir.join(name);
    std::fs::write(&file, data).unwrap();
    let index_path = dir.join(format!("{name}.caibx"));
    let store = dir.join("store.castr");
    let store_arg = format!("--store={}", store.display());
    let (index_arg, file_arg) = (index_path.display().to_string(), file.display().to_string());
    let make = [
        &["make", store_arg.as_str()][..],
        args,
        &[&index_arg, &file_arg],
    ]
    .concat();
    run_peer("casync", &make, dir);
    let bytes = std::fs::read(&index_path).unwrap();
    let index = Index::parse(&bytes, &index_path.display().to_string()).unwrap();
    Made {
        file,
        index,
        index_path,
        store,
    }
}

/// Our chunks of the file, with the index's sizes and digest.
fn our_chunks(made: &Made) -> Vec<Chunk> {
    let file = std::fs::File::open(&made.file).unwrap();
    let (sizes, digest) = (made.index.sizes(), made.index.digest());
    Chunks::new(file, sizes, digest, &made.file)
        .map(Result::unwrap)
        .collect()
}

/// The whole check for one file: same cuts and ids as casync, and the store rebuilds it.
fn agree(dir: &Path, name: &str, data: &[u8], args: &[&str]) -> Made {
    let made = make(dir, name, data, args);
    assert_eq!(made.index.blob_len(), data.len() as u64, "{name} {args:?}");
    let theirs: Vec<_> = made.index.chunks().collect();
    let ours = our_chunks(&made);
    assert_eq!(ours.len(), theirs.len(), "{name} {args:?}: chunk count");
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(o, t, "{name} {args:?}: chunk {i} of {}", theirs.len());
    }
    let rebuilt = made.rebuilt(&dir.join(format!("{name}.rebuilt")));
    assert!(rebuilt == data, "{name} {args:?}: rebuilt from the store");
    made
}

/// Text-like data with runs, repeats and noise.
fn mixed(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    let mut data = Vec::with_capacity(len);
    while data.len() < len {
        let n = (1 + rng.below(20_000) as usize).min(len - data.len());
        match rng.below(4) {
            0 => data.extend(noise(n, rng.next())),
            1 => data.extend(std::iter::repeat_n(rng.next() as u8, n)),
            2 => {
                let line = format!("line {} of the log, all is well\n", rng.below(1000));
                data.extend(line.bytes().cycle().take(n));
            }
            _ => {
                let from = rng.below(data.len() as u64 + 1) as usize;
                let piece = data[from..(from + n).min(data.len())].to_vec();
                data.extend(piece);
                data.push(rng.next() as u8);
            }
        }
    }
    data.truncate(len);
    data
}

#[test]
fn default_chunking_matches_casync() {
    if !peer_available("casync", "--version", "casync") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let empty = agree(dir.path(), "empty", &[], &[]);
    assert!(empty.index.is_empty());
    assert_eq!(empty.index.sizes(), ChunkSizes::DEFAULT);
    assert_eq!(empty.index.digest(), ChunkDigest::Sha512_256);
    for len in [1, 47, 48, 49, 16 << 10, (16 << 10) + 1, 100_000] {
        agree(
            dir.path(),
            &format!("noise{len}"),
            &noise(len, len as u64),
            &[],
        );
    }
    let made = agree(dir.path(), "noise", &noise(5 << 20, 1), &[]);
    assert!(made.index.len() > 40, "{} chunks", made.index.len());
    // Zeros hash the same everywhere: nothing but the maximum size ends a chunk.
    let zeros = agree(dir.path(), "zeros", &vec![0; 3 << 20], &[]);
    assert!(zeros.index.chunks().take(11).all(|c| c.len == 256 << 10));
    agree(dir.path(), "mixed", &mixed(6 << 20, 2), &[]);
}

#[test]
fn other_chunk_sizes_and_digests_match_casync() {
    if !peer_available("casync", "--version", "casync") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = mixed(2 << 20, 3);
    let cases: &[(&[&str], [u64; 3])] = &[
        (&["--chunk-size=1K:4K:16K"], [1024, 4096, 16384]),
        // A lone average: casync takes a quarter and four times it.
        (&["--chunk-size=8192"], [2048, 8192, 32768]),
        // Fixed-size chunks.
        (&["--chunk-size=4096:4096:4096"], [4096, 4096, 4096]),
        // A minimum below the 48-byte window: every byte is hashed.
        (&["--chunk-size=16:64:256"], [16, 64, 256]),
        // A maximum far above the average, a minimum near it.
        (&["--chunk-size=30000:32768:1M"], [30000, 32768, 1 << 20]),
        (&["--digest=sha256"], [16 << 10, 64 << 10, 256 << 10]),
    ];
    for (i, (args, sizes)) in cases.iter().enumerate() {
        // Tiny chunks make a store file each: a smaller file for those.
        let data = if sizes[2] < 4096 {
            &data[..40_000]
        } else {
            &data[..]
        };
        let made = agree(dir.path(), &format!("case{i}"), data, args);
        let [min, avg, max] = *sizes;
        assert_eq!(
            made.index.sizes(),
            ChunkSizes::new(min, avg, max).unwrap(),
            "{args:?}"
        );
        let expected = if args[0].starts_with("--digest") {
            ChunkDigest::Sha256
        } else {
            ChunkDigest::Sha512_256
        };
        assert_eq!(made.index.digest(), expected);
    }
}

#[test]
fn a_large_average_matches_casync_too() {
    if !peer_available("casync", "--version", "casync") {
        return;
    }
    // Above an average of ~9.3 MB casync's discriminator formula goes negative and its
    // C conversion wraps: chunks then end at the maximum (or on a rare hash).
    let dir = tempfile::tempdir().unwrap();
    let made = agree(
        dir.path(),
        "big",
        &noise(24 << 20, 4),
        &["--chunk-size=1M:10M:12M"],
    );
    assert_eq!(made.index.sizes().max(), 12 << 20);
}

#[test]
fn a_changed_file_shares_the_chunks_casync_would_seed() {
    if !peer_available("casync", "--version", "casync") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let old = mixed(8 << 20, 5);
    let mut new = old.clone();
    let mut rng = Rng(99);
    for _ in 0..6 {
        let at = rng.below(new.len() as u64) as usize;
        let (removed, inserted) = match rng.below(3) {
            0 => (0, noise(1 + rng.below(5000) as usize, rng.next())),
            1 => (rng.below(7000) as usize, Vec::new()),
            _ => (0, b"x".to_vec()),
        };
        new.splice(at..(at + removed).min(new.len()), inserted);
    }
    new.extend(noise(300_000, 6));
    let old_made = make(dir.path(), "old", &old, &[]);
    let new_made = agree(dir.path(), "new", &new, &[]);

    // What seeding from old gives: the new index's chunks that the old index has.
    let old_ids: HashSet<ChunkId> = old_made.index.chunks().map(|c| c.id).collect();
    let seeded = new_made
        .index
        .chunks()
        .filter(|c| old_ids.contains(&c.id))
        .count();
    // What our chunker finds by cutting the old file itself.
    let found: HashSet<ChunkId> = our_chunks(&old_made).into_iter().map(|c| c.id).collect();
    let ours = new_made
        .index
        .chunks()
        .filter(|c| found.contains(&c.id))
        .count();
    assert_eq!(ours, seeded);
    // Each edit costs the chunks it touches and maybe the next; the appended noise, its
    // own chunks (at least the 16 KiB minimum each) and the one it joins.
    let total = new_made.index.len();
    let bound = 6 * 3 + 300_000 / (16 << 10) + 1;
    assert!(
        total - seeded <= bound,
        "only {seeded} of {total} chunks of the new file are in the old one"
    );
}

#[test]
fn an_archive_index_is_the_same_table_over_the_catar() {
    if !peer_available("casync", "--version", "casync") {
        return;
    }
    // A .caidx indexes the .catar serialisation of a directory: the same table, archive
    // feature flags in the header, and the chunks of the .catar casync writes for it.
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("noise"), noise(300_000, 8)).unwrap();
    std::fs::write(tree.join("sub/text"), mixed(200_000, 9)).unwrap();
    let run = |args: &[&str]| run_peer("casync", args, dir.path());
    run(&["make", "--store=st.castr", "t.caidx", "tree"]);
    run(&["make", "t.catar", "tree"]);
    let index = Index::parse(
        &std::fs::read(dir.path().join("t.caidx")).unwrap(),
        "t.caidx",
    )
    .unwrap();
    assert_ne!(index.feature_flags() & 0xffff_ffff, 0, "archive flags");
    // A download takes a blob's index by its name: the same table under a `.caibx`
    // name downloads the .catar.
    let index_path = dir.path().join("t.catar.caibx");
    std::fs::copy(dir.path().join("t.caidx"), &index_path).unwrap();
    let made = Made {
        file: dir.path().join("t.catar"),
        index,
        index_path,
        store: dir.path().join("st.castr"),
    };
    let catar = std::fs::read(&made.file).unwrap();
    assert_eq!(made.index.blob_len(), catar.len() as u64);
    assert!(made.index.chunks().eq(our_chunks(&made)));
    assert!(made.rebuilt(&dir.path().join("t.rebuilt")) == catar);
}
