//! Estimates of seeds whose share of the target is known by construction: sampled (the
//! seeds are big enough not to be read whole), with contents the seed holds several
//! times, zero runs, a `.gz`, and a cancel. `tests/tests/seed_estimate.rs` checks them
//! against the real scan, on files made by the formats' own tools.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::*;
use crate::casync::chunker::{ChunkSizes, Chunks};
use crate::casync::id::ChunkDigest;
use crate::casync::index::{BLOB_FLAGS, Index, write_index};
use crate::control::ControlFile;
use crate::error::Error;
use crate::test_data::noise;

const MIB: usize = 1 << 20;

/// The control file `make` writes for `target`, with 2 KiB blocks.
fn zsync_control(dir: &Path, target: &[u8]) -> ControlFile {
    let path = dir.join("target");
    std::fs::write(&path, target).unwrap();
    let options = crate::make::MakeOptions {
        block_size: Some(2048),
        ..Default::default()
    };
    crate::make::make(&path, &options).unwrap()
}

/// casync's index of `target`, cut with small chunks (so that a few MiB are sampled).
fn casync_index(target: &[u8]) -> Index {
    let sizes = ChunkSizes::new(1 << 10, 4 << 10, 16 << 10).unwrap();
    let items: Vec<_> = Chunks::new(target, sizes, ChunkDigest::Sha512_256, Path::new("t"))
        .map(|chunk| {
            let chunk = chunk.unwrap();
            (chunk.range().end, chunk.id)
        })
        .collect();
    let bytes = write_index(BLOB_FLAGS, [sizes.min(), sizes.avg(), sizes.max()], &items);
    Index::parse(&bytes, "t").unwrap()
}

/// `seed` written as a file in `dir`; its path.
fn seed_file(dir: &Path, name: &str, seed: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, seed).unwrap();
    path
}

/// Whether a seed of `len` bytes is sampled with `sampling`, not read whole.
fn is_sampled(len: usize, sampling: sample::Sampling) -> bool {
    sample::regions(len as u64, sampling).len() > 1
}

/// The share of the target `estimator` says the seed holds.
fn share(estimator: &dyn Estimator, seed: &Path) -> f64 {
    let bytes = estimator.estimate(seed, &Control::default()).unwrap();
    bytes as f64 / estimator.target_len() as f64
}

/// How far an estimate may be from the share held: 3 points, or 5 (the bound the
/// estimates are held to against the real scan) for a seed that holds its content
/// several times, where the estimate rests on the few places whose samples saw the same
/// content twice.
fn assert_near(got: f64, want: f64, what: &str) {
    let bound = if what.contains("times") { 0.05 } else { 0.03 };
    assert!(
        (got - want).abs() <= bound,
        "{what}: estimated {got:.3}, holds {want:.3}"
    );
}

/// Seeds built from `target`, each with the share of it it holds: all of it; its first
/// 40% and then other data; a third of it three times over (samples see the target in
/// nearly every region, but the same third); nothing.
fn built_seeds(target: &[u8]) -> Vec<(&'static str, Vec<u8>, f64)> {
    let n = target.len();
    let third = &target[..n / 3];
    vec![
        ("the same", target.to_vec(), 1.0),
        (
            "first 40%",
            [&target[..n * 2 / 5], &noise(n * 3 / 5, 2)[..]].concat(),
            0.4,
        ),
        (
            "a third, three times",
            [third, third, third].concat(),
            1.0 / 3.0,
        ),
        ("unrelated", noise(n, 3), 0.0),
    ]
}

#[test]
fn zsync_seeds_are_estimated_near_what_they_hold() {
    let dir = tempfile::tempdir().unwrap();
    let target = noise(24 * MIB, 1);
    let cf = zsync_control(dir.path(), &target);
    let estimator = ZsyncTarget::new(&cf);
    for (name, seed, holds) in built_seeds(&target) {
        assert!(is_sampled(seed.len(), estimator.sampling()), "{name}");
        let path = seed_file(dir.path(), "seed", &seed);
        let got = share(&estimator, &path);
        assert_near(got, holds, name);
        if holds == 0.0 {
            assert_eq!(got, 0.0, "{name}");
        }
    }
}

#[test]
fn casync_seeds_are_estimated_near_what_they_hold() {
    let dir = tempfile::tempdir().unwrap();
    let target = noise(32 * MIB, 4);
    let estimator = CasyncTarget::new(&casync_index(&target));
    for (name, seed, holds) in built_seeds(&target) {
        assert!(is_sampled(seed.len(), estimator.sampling()), "{name}");
        let path = seed_file(dir.path(), "seed", &seed);
        let got = share(&estimator, &path);
        assert_near(got, holds, name);
        if holds == 0.0 {
            assert_eq!(got, 0.0, "{name}");
        }
    }
}

#[test]
fn zero_runs_count_once_for_all_the_blocks_they_fill() {
    // Nearly half of the target is zeros, in runs of many lengths between stretches of data. A
    // seed of nothing but zeros fills all of them (a zero pair matches every zero block
    // of the target at once); sampled, it shows zero blocks thousands of times, which
    // must count once.
    let mut target = Vec::new();
    for run in 0..60 {
        target.extend(noise(240 * 1024, 10 + run));
        target.extend(vec![0u8; (80 + 4 * run as usize) * 1024]);
    }
    let zeros = target.iter().filter(|&&b| b == 0).count() as f64 / target.len() as f64;
    assert!((0.4..0.5).contains(&zeros), "{zeros}");
    let dir = tempfile::tempdir().unwrap();
    let cf = zsync_control(dir.path(), &target);
    let estimator = ZsyncTarget::new(&cf);
    assert!(is_sampled(target.len(), estimator.sampling()));
    let all_zeros = seed_file(dir.path(), "zeros", &vec![0u8; target.len()]);
    assert_near(share(&estimator, &all_zeros), zeros, "zeros");
    let same = seed_file(dir.path(), "same", &target);
    assert_near(share(&estimator, &same), 1.0, "the same");
}

#[test]
fn a_gzip_seed_is_estimated_from_its_inflated_start() {
    let dir = tempfile::tempdir().unwrap();
    let target = noise(24 * MIB, 5);
    let cf = zsync_control(dir.path(), &target);
    let estimator = ZsyncTarget::new(&cf);
    // Only the start is read: seeds that hold the target evenly all along.
    for (name, seed, holds) in [
        ("the same", target.clone(), 1.0),
        ("unrelated", noise(24 * MIB, 9), 0.0),
    ] {
        let path = dir.path().join("seed.gz");
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        gz.write_all(&seed).unwrap();
        gz.finish().unwrap();
        assert_near(share(&estimator, &path), holds, name);
    }
}

#[test]
fn estimates_are_the_same_on_any_number_of_threads() {
    let dir = tempfile::tempdir().unwrap();
    let target = noise(32 * MIB, 6);
    let cf = zsync_control(dir.path(), &target);
    let zsync = ZsyncTarget::new(&cf);
    let casync = CasyncTarget::new(&casync_index(&target));
    assert!(is_sampled(target.len(), zsync.sampling()));
    assert!(is_sampled(target.len(), casync.sampling()));
    let mut seed = target.clone();
    for at in (0..seed.len()).step_by(3 * MIB + 12345) {
        seed[at..at + 100_000].copy_from_slice(&noise(100_000, at as u64));
    }
    let path = seed_file(dir.path(), "seed", &seed);
    let estimates = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let control = Control::default();
                let estimators: [&dyn Estimator; 2] = [&zsync, &casync];
                estimators.map(|e| e.estimate(&path, &control).unwrap())
            })
    };
    let one = estimates(1);
    assert!(one.iter().all(|&bytes| bytes > 0), "{one:?}");
    for threads in [2, 8] {
        assert_eq!(estimates(threads), one, "{threads} threads");
    }
}

#[test]
fn a_cancelled_estimate_ends_before_it_reads() {
    let dir = tempfile::tempdir().unwrap();
    let target = noise(MIB, 7);
    let cf = zsync_control(dir.path(), &target);
    let index = casync_index(&target);
    let seed = seed_file(dir.path(), "seed", &target);
    let control = Control::default();
    control.cancel();
    let zsync = ZsyncTarget::new(&cf);
    let casync = CasyncTarget::new(&index);
    for estimator in [&zsync as &dyn Estimator, &casync] {
        assert_eq!(estimator.estimate(&seed, &control), Err(Error::Cancelled));
    }
}

#[test]
fn a_seed_that_cannot_be_read_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let target = noise(MIB, 8);
    let cf = zsync_control(dir.path(), &target);
    let missing = dir.path().join("not-here");
    let zsync = ZsyncTarget::new(&cf);
    let casync = CasyncTarget::new(&casync_index(&target));
    for estimator in [&zsync as &dyn Estimator, &casync] {
        let error = estimator
            .estimate(&missing, &Control::default())
            .unwrap_err();
        assert_eq!(error.local_path(), Some(missing.as_path()), "{error}");
    }
}
