//! Seed estimates (`Mode::EstimateSeeds`) against the real scan (`Mode::PlanOnly`), for
//! each format, on targets made by the formats' own tools (Debian's `zsyncmake`, `zck`,
//! `casync make`) and pairs of files of the kinds users have: edited text and data, disk
//! images with rewritten stretches, zero runs and repeated content, mostly different
//! files, unrelated ones, seeds bigger and smaller than the target. Each estimate must be
//! within 5 points of the share the scan really finds; the table is printed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use deltadrop_core::{Control, ControlSource, Error, Event, EventSink, Job, JobSpec, Mode, Phase};
use deltadrop_tests::*;

/// How far an estimate may be from the share the scan finds.
const BOUND: f64 = 0.05;
/// The seed that holds half the target three times over, for casync: how often the seed
/// holds a content is told by the contents samples saw in two places, and casync's
/// regions (8 chunks, read with the longest chunk more at each end) see them in bundles
/// of a few chunks, so that a handful of sightings decides.
const THRICE: &str = "half the target, 3 times";
const LOOSE_BOUND: f64 = 0.10;
/// The size of the targets: big enough that seeds are sampled, not read whole.
const LEN: usize = 32 << 20;
/// The targets are built of units of this size: `bench/bench.py`'s images, built of
/// MiBs, scaled down as the tests' blocks and chunks are (2 KiB blocks, casync chunks
/// of 4 KiB on average, against 4 KiB and 64 KiB for images of a GiB).
const UNIT: usize = 64 << 10;

/// A target (the new version) and a seed a user might offer for it.
struct Pair {
    name: &'static str,
    seed: Vec<u8>,
    target: Vec<u8>,
}

/// A disk image's stand-in, a unit at a time, as `bench/bench.py` makes them: zero runs;
/// a line of twelve words repeated (after 64 random bytes), as in a log; random data.
fn image(len: usize, seed: u64) -> Vec<u8> {
    let words = [
        "usr", "lib", "systemd", "kernel", "mount", "ok", "error", "image",
    ];
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(len);
    for i in 0..len.div_ceil(UNIT) {
        let kind = rng.fraction();
        let part = if kind < 0.25 {
            vec![0; UNIT]
        } else if kind < 0.55 {
            let line: Vec<&str> = (0..12)
                .map(|_| words[rng.next_u64() as usize % words.len()])
                .collect();
            let line = format!("{}\n", line.join(" "));
            let mut part = random_bytes(64, seed * 1000 + i as u64);
            part.extend(line.as_bytes().iter().cycle().take(UNIT - 64));
            part
        } else {
            random_bytes(UNIT, seed * 1000 + i as u64)
        };
        out.extend(part);
    }
    out.truncate(len);
    out
}

/// `old` with a stretch of a quarter to a whole unit rewritten in about `share` of its
/// units, and a few bytes inserted or deleted in some (shifting all that follows): a new
/// build of an image.
fn rewritten(old: &[u8], share: f64, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut new = Vec::with_capacity(old.len() + UNIT);
    for (i, part) in old.chunks(UNIT).enumerate() {
        let mut part = part.to_vec();
        if rng.fraction() < share {
            let len = (UNIT / 4 + rng.next_u64() as usize % (3 * UNIT / 4)).min(part.len());
            let at = rng.next_u64() as usize % (part.len() - len + 1);
            part[at..at + len].copy_from_slice(&random_bytes(len, seed * 100_000 + i as u64));
        }
        match rng.next_u64() % 32 {
            0 => {
                part.splice(100..100, *b"inserted");
            }
            1 => {
                part.drain(100..117);
            }
            _ => {}
        }
        new.extend(part);
    }
    new
}

/// Repeated content as much as possible: zero runs and eight patterns of a unit, each
/// used many times, between units of data found once.
fn duplicate_heavy(len: usize, seed: u64) -> Vec<u8> {
    let unit = UNIT;
    let patterns: Vec<Vec<u8>> = (0..8).map(|p| random_bytes(unit, seed + p)).collect();
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(len);
    let mut i = 0;
    while out.len() < len {
        let kind = rng.fraction();
        if kind < 0.4 {
            out.extend(vec![0; unit]);
        } else if kind < 0.7 {
            out.extend(&patterns[rng.next_u64() as usize % patterns.len()]);
        } else {
            out.extend(random_bytes(unit, seed * 100_000 + i));
        }
        i += 1;
    }
    out.truncate(len);
    out
}

/// The pairs compared, each made when its turn comes (they are big).
const PAIRS: usize = 9;

fn pair(i: usize) -> Pair {
    let old_image = || image(LEN, 3);
    let new_image = || rewritten(&old_image(), 0.2, 4);
    let (name, seed, target) = match i {
        0 => {
            let text = text_bytes(LEN, 1);
            ("text, edited", text.clone(), edited(&text, 6))
        }
        1 => {
            let data = random_bytes(LEN, 2);
            ("random data, edited", data.clone(), edited(&data, 7))
        }
        2 => ("image, a fifth rewritten", old_image(), new_image()),
        3 => {
            let old = old_image();
            let new = rewritten(&old, 0.9, 8);
            ("image, mostly different", old, new)
        }
        4 => {
            let heavy = duplicate_heavy(LEN, 5);
            let new = rewritten(&heavy, 0.2, 9);
            ("duplicate-heavy, edited", heavy, new)
        }
        5 => ("unrelated", random_bytes(LEN, 10), new_image()),
        6 => {
            let seed = [old_image(), random_bytes(2 * LEN, 11)].concat();
            ("seed 3x the target", seed, new_image())
        }
        7 => {
            let seed = old_image()[..LEN * 2 / 5].to_vec();
            ("seed 40% of the target", seed, new_image())
        }
        _ => {
            let new = new_image();
            let half = &new[..LEN / 2];
            let seed = [half, half, half].concat();
            (THRICE, seed, new)
        }
    };
    Pair { name, seed, target }
}

/// Where a format publishes a target: the control file (or the URL the job is given it
/// by) and what the job needs besides.
struct Published {
    _dirs: Vec<TempDir>,
    /// Serves a `.zck`, which a job only takes by URL.
    _server: Option<Server>,
    control: ControlSource,
    /// The seed as the format's seeds are: the file itself, or made into a `.zck`.
    seed: PathBuf,
}

/// A job in `mode` for `published`, with `seeds`, its output in a fresh folder.
fn spec(published: &Published, seeds: &[&Path], mode: Mode, work: &Path) -> JobSpec {
    let mut spec = JobSpec::new(published.control.clone());
    spec.seeds = seeds.iter().map(|p| p.to_path_buf()).collect();
    spec.output = Some(work.join("out"));
    // A local .zsync names its file relatively; nothing is fetched from here.
    spec.options.base_url = Some("http://127.0.0.1:9/target.zsync".into());
    spec.options.mode = mode;
    spec
}

/// The target bytes the real scan finds in the seed, the estimate's, and the target's
/// length.
fn real_and_estimate(published: &Published) -> (u64, u64, u64) {
    let work = tempfile::tempdir().unwrap();
    let seeds = [published.seed.as_path()];
    let plan = run_job(spec(published, &seeds, Mode::PlanOnly, work.path()))
        .0
        .unwrap()
        .plan;
    let (result, events) = run_job(spec(published, &seeds, Mode::EstimateSeeds, work.path()));
    result.unwrap();
    let estimates: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::SeedEstimate { bytes, .. } => Some(*bytes),
            _ => None,
        })
        .collect();
    assert_eq!(estimates.len(), 1, "{events:?}");
    (plan.local_bytes, estimates[0], plan.total_bytes)
}

/// How an estimate is held to the scan's share.
#[derive(Clone, Copy, PartialEq)]
enum Held {
    /// Within `BOUND`.
    Near,
    /// Within `BOUND`, but `THRICE` within `LOOSE_BOUND`.
    NearButThrice,
    /// To the byte.
    Exactly,
}

/// Publishes each pair with `publish`, compares, prints the table and checks the bound.
fn compare(format: &str, held: Held, publish: impl Fn(&Pair) -> Option<Published>) {
    let mut rows = Vec::new();
    for i in 0..PAIRS {
        let pair = pair(i);
        let Some(published) = publish(&pair) else {
            return;
        };
        rows.push((pair.name, real_and_estimate(&published)));
    }
    eprintln!("{format}: seed                        estimate   real scan");
    for (name, (real, estimate, total)) in &rows {
        let share = |bytes: &u64| *bytes as f64 * 100.0 / *total as f64;
        eprintln!(
            "{format}: {name:<26} {:>7.1}%   {:>7.1}%",
            share(estimate),
            share(real)
        );
    }
    for (name, (real, estimate, total)) in rows {
        let off = real.abs_diff(estimate) as f64 / total as f64;
        let bound = if held == Held::NearButThrice && name == THRICE {
            LOOSE_BOUND
        } else {
            BOUND
        };
        assert!(
            off <= bound,
            "{format}, {name}: estimated {estimate} bytes, the scan finds {real} of {total}"
        );
        if held == Held::Exactly || real == 0 {
            assert_eq!(estimate, real, "{format}, {name}");
        }
    }
}

/// `content` written as `name` in a fresh folder; the folder and the file's path.
fn file(name: &str, content: &[u8]) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    (dir, path)
}

#[test]
fn zsync_estimates_are_within_five_points_of_the_scan() {
    compare("zsync", Held::Near, |pair| {
        let (www, zsync) = publish("target", &pair.target, &[])?;
        let (work, seed) = file("seed", &pair.seed);
        Some(Published {
            _dirs: vec![www, work],
            _server: None,
            control: ControlSource::File(zsync),
            seed,
        })
    });
}

#[test]
fn casync_estimates_are_within_five_points_of_the_scan() {
    // Chunks of 4 KiB on average (casync's default is 64 KiB): seeds of a few dozen MiB
    // are then sampled as a few GiB are with the default.
    compare("casync", Held::NearButThrice, |pair| {
        let www = public_dir();
        let index = casync_make(
            www.path(),
            "target",
            &pair.target,
            &["--chunk-size=1K:4K:16K"],
        )?;
        let (work, seed) = file("seed", &pair.seed);
        Some(Published {
            _dirs: vec![www, work],
            _server: None,
            control: ControlSource::File(index),
            seed,
        })
    });
}

#[test]
fn zchunk_estimates_are_the_scans_exactly() {
    // A .zck seed's header lists its chunks: the estimate is exact, and reads no more.
    compare("zchunk", Held::Exactly, |pair| {
        let www = public_dir();
        zck(www.path(), "target", &pair.target, &[])?;
        let work = tempfile::tempdir().unwrap();
        let seed = zck(work.path(), "seed", &pair.seed, &[])?;
        let server = nginx(www.path(), None, "")?;
        Some(Published {
            control: ControlSource::Url(server.url("target.zck")),
            _dirs: vec![www, work],
            _server: Some(server),
            seed,
        })
    });
}

/// Which event a job is cancelled at.
type CancelAt = fn(&Event) -> bool;

/// Collects a job's events, and cancels it at the first event `cancel_at` accepts.
#[derive(Clone)]
struct CancellingSink {
    control: Control,
    cancel_at: CancelAt,
    events: Arc<Mutex<Vec<Event>>>,
}

impl EventSink for CancellingSink {
    fn emit(&self, event: Event) {
        if (self.cancel_at)(&event) {
            self.control.cancel();
        }
        self.events.lock().unwrap().push(event);
    }
}

#[test]
fn a_cancelled_estimate_ends_with_cancelled_at_its_next_seed() {
    let target = random_bytes(4 << 20, 12);
    let Some((_www, zsync)) = publish("target", &target, &[]) else {
        return;
    };
    let (work, seed) = file("seed", &target);
    let published = Published {
        _dirs: vec![],
        _server: None,
        control: ControlSource::File(zsync),
        seed,
    };
    let seeds = [published.seed.as_path(); 3];
    // Cancelled as the estimates start, and after the first: no estimate, then one.
    let cancel_points: [(CancelAt, usize); 2] = [
        (|e| matches!(e, Event::Phase(Phase::ScanningSeeds)), 0),
        (|e| matches!(e, Event::SeedEstimate { .. }), 1),
    ];
    for (cancel_at, estimates) in cancel_points {
        let sink = CancellingSink {
            control: Control::default(),
            cancel_at,
            events: Arc::default(),
        };
        let spec = spec(&published, &seeds, Mode::EstimateSeeds, work.path());
        let result = Job::run(&spec, &sink, &sink.control.clone());
        assert_eq!(result, Err(Error::Cancelled));
        let events = sink.events.lock().unwrap();
        let made: Vec<&Event> = events
            .iter()
            .filter(|e| matches!(e, Event::SeedEstimate { .. }))
            .collect();
        assert_eq!(made.len(), estimates, "{made:?}");
        assert!(matches!(
            events.last(),
            Some(Event::Finished(Err(Error::Cancelled)))
        ));
    }
}
