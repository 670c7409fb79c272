//! casync downloads end to end: Debian's `casync make` cuts the files and fills the chunk
//! store, nginx serves index and store, the engine downloads with the old file as seed;
//! `casync extract --seed` is the yardstick: the same file, no more chunks.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use deltadrop_core::{BlockState, ControlSource, Event, Format};
use deltadrop_tests::*;

/// An old file and its new version: the new one published with its store in `www`, the
/// old one in `work` as the seed.
struct Pair {
    www: TempDir,
    work: TempDir,
    old: Vec<u8>,
    new: Vec<u8>,
    seed: PathBuf,
}

fn pair(len: usize, seed: u64, args: &[&str]) -> Option<Pair> {
    let mut old = random_bytes(len / 2, seed);
    old.extend(text_bytes(len - len / 2, seed + 1));
    let new = edited(&old, seed + 2);
    let www = public_dir();
    casync_make(www.path(), "image.img", &new, args)?;
    let work = tempfile::tempdir().unwrap();
    let seed = work.path().join("old.img");
    std::fs::write(&seed, &old).unwrap();
    Some(Pair {
        www,
        work,
        old,
        new,
        seed,
    })
}

/// The compressed size of every chunk file in the store, by chunk file name.
fn store_sizes(store: &Path) -> std::collections::HashMap<String, u64> {
    let mut sizes = std::collections::HashMap::new();
    for dir in std::fs::read_dir(store).unwrap() {
        for file in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let file = file.unwrap();
            let name = file.file_name().to_string_lossy().into_owned();
            sizes.insert(name, file.metadata().unwrap().len());
        }
    }
    sizes
}

/// Every chunk file in the store, in order of name.
fn chunk_files(store: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(store)
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn downloads_a_blob_fetching_only_the_chunks_casync_extract_fetches() {
    let Some(p) = pair(6_000_000, 71, &[]) else {
        return;
    };
    let (Some(server), Some(casync)) = (nginx(p.www.path(), None, ""), peer("casync")) else {
        return;
    };
    let out = p.work.path().join("image.img");
    let (result, events) = run_job(job_spec(server.url("image.img.caibx"), &[&p.seed], &out));
    let summary = result.unwrap();
    assert_eq!(read(&out), p.new);
    assert_eq!(read(&p.seed), p.old, "the seed was modified");
    assert!(!p.work.path().join("image.img.part").exists());
    let ours: Vec<String> = server
        .access_log()
        .into_iter()
        .filter(|l| l.starts_with("GET /default.castr/"))
        .collect();
    let ours_bytes: u64 = ours
        .iter()
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(summary.progress.wire_bytes, ours_bytes);
    assert!(summary.progress.local_bytes > p.new.len() as u64 / 2);

    // casync extract, with the same seed, from the same server.
    let theirs = p.work.path().join("theirs.img");
    let store = format!("--store={}", server.url("default.castr"));
    let seed = format!("--seed={}", p.seed.display());
    let extracted = run(
        &casync,
        &[
            "extract",
            &store,
            &seed,
            &server.url("image.img.caibx"),
            &theirs.display().to_string(),
        ],
        p.work.path(),
    );
    assert!(extracted.status.success(), "{}", text(&extracted.stderr));
    assert_eq!(read(&theirs), p.new);
    let theirs_log: Vec<String> = server
        .access_log()
        .into_iter()
        .filter(|l| l.starts_with("GET /default.castr/"))
        .skip(ours.len())
        .collect();
    let chunk_of = |line: &String| line.split(' ').nth(1).map(str::to_string);
    let ours_set: std::collections::BTreeSet<_> = ours.iter().filter_map(chunk_of).collect();
    let theirs_set: std::collections::BTreeSet<_> =
        theirs_log.iter().filter_map(chunk_of).collect();
    eprintln!(
        "deltadrop: {} chunk requests, {ours_bytes} bytes; casync extract: {} chunk requests",
        ours.len(),
        theirs_log.len()
    );
    assert_eq!(ours.len(), ours_set.len(), "a chunk fetched twice");
    assert!(
        ours_set.is_subset(&theirs_set),
        "we fetched chunks casync did not need: {:?}",
        ours_set.difference(&theirs_set).collect::<Vec<_>>()
    );
    let sizes = store_sizes(&p.www.path().join("default.castr"));
    let needed: u64 = theirs_set
        .iter()
        .filter_map(|path| sizes.get(path.rsplit('/').next()?))
        .sum();
    assert!(ours_bytes <= needed, "{ours_bytes} > {needed}");

    // The map: chunks of any size, local ones from the seed, the rest fetched.
    let info = events
        .iter()
        .find_map(|e| match e {
            Event::ControlLoaded(info) => Some(info.clone()),
            _ => None,
        })
        .expect("ControlLoaded");
    assert_eq!(info.format, Format::Casync);
    assert_eq!(info.block_ends.last(), Some(&(p.new.len() as u64)));
    let states = block_map(&events, info.block_count as usize);
    assert!(
        states
            .iter()
            .all(|s| matches!(s, BlockState::Local | BlockState::Fetched)),
        "{states:?}"
    );
}

#[test]
fn a_local_index_and_store_other_chunk_sizes_and_a_resumed_part() {
    let Some(p) = pair(2_000_000, 81, &["--chunk-size=4096:16384:65536"]) else {
        return;
    };
    // Index and store on disk, no server.
    let out = p.work.path().join("a.img");
    let mut spec = job_spec(String::new(), &[&p.seed], &out);
    spec.control = ControlSource::File(p.www.path().join("image.img.caibx"));
    let (result, _) = run_job(spec);
    let summary = result.unwrap();
    assert_eq!(read(&out), p.new);
    assert_eq!(summary.progress.requests, 0);

    // From nginx with --store given, no seed, half of it already in the .part.
    let Some(server) = nginx(p.www.path(), None, "") else {
        return;
    };
    let out = p.work.path().join("b.img");
    std::fs::write(p.work.path().join("b.img.part"), &p.new[..p.new.len() / 2]).unwrap();
    let mut spec = job_spec(server.url("image.img.caibx"), &[], &out);
    spec.options.store = Some(server.url("default.castr"));
    let summary = run_job(spec).0.unwrap();
    assert_eq!(read(&out), p.new);
    let kept = summary.progress.local_bytes;
    assert!(
        kept > p.new.len() as u64 / 3,
        "kept {kept} bytes of the .part"
    );

    // Over HTTPS, where nginx offers HTTP/2: every chunk request used it.
    let Some((tls, ca)) = nginx_tls(p.www.path(), "") else {
        return;
    };
    let out = p.work.path().join("c.img");
    let mut spec = job_spec(tls.url("image.img.caibx"), &[], &out);
    spec.options.ca_certs = vec![ca];
    run_job(spec).0.unwrap();
    assert_eq!(read(&out), p.new);
    let chunk_requests: Vec<String> = tls
        .access_log()
        .into_iter()
        .filter(|l| l.starts_with("GET /default.castr/"))
        .collect();
    assert!(chunk_requests.len() > 10);
    assert!(
        chunk_requests.iter().all(|l| l.contains(" HTTP/2.0 200 ")),
        "{chunk_requests:?}"
    );
}

#[test]
fn a_damaged_or_missing_chunk_fails_naming_it_and_keeps_the_old_output() {
    let Some(p) = pair(1_000_000, 91, &[]) else {
        return;
    };
    let Some(server) = nginx(p.www.path(), None, "") else {
        return;
    };
    let files = chunk_files(&p.www.path().join("default.castr"));
    // One chunk file replaced by another's bytes; no seed, so every chunk is fetched.
    let other = read(&files[1]);
    std::fs::write(&files[0], other).unwrap();
    let out = p.work.path().join("image.img");
    std::fs::write(&out, b"the previous version").unwrap();
    let (result, _) = run_job(job_spec(server.url("image.img.caibx"), &[], &out));
    let error = result.unwrap_err().to_string();
    let damaged = files[0]
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .replace(".cacnk", "");
    assert!(error.contains(&damaged[..16]), "{error}");
    assert_eq!(read(&out), b"the previous version");

    // A chunk missing from the store.
    std::fs::remove_file(&files[0]).unwrap();
    let (result, _) = run_job(job_spec(server.url("image.img.caibx"), &[], &out));
    let error = result.unwrap_err().to_string();
    assert!(error.contains("404"), "{error}");
    let chunk_url = server.url(&format!("default.castr/{}/{damaged}.cacnk", &damaged[..4]));
    assert!(
        error.contains(&chunk_url),
        "the chunk's URL is named: {error}"
    );
    assert_eq!(read(&out), b"the previous version");
}

#[test]
fn make_caibx_writes_casyncs_own_index_and_a_store_casync_extract_reads() {
    let Some(casync) = peer("casync") else {
        return;
    };
    let mut content = random_bytes(1_500_000, 101);
    content.extend(text_bytes(1_500_000, 102));
    let theirs = tempfile::tempdir().unwrap();
    let Some(their_index) = casync_make(theirs.path(), "image.img", &content, &[]) else {
        return;
    };
    let www = public_dir();
    let file = www.path().join("image.img");
    std::fs::write(&file, &content).unwrap();
    let index = www.path().join("image.img.caibx");
    let store = www.path().join("default.castr");
    let made = deltadrop_core::write_casync_index(&file, &index, &store).unwrap();
    assert_eq!(
        read(&index),
        read(&their_index),
        "the same index, byte for byte"
    );
    assert_eq!(made.new_chunk_files as usize, store_sizes(&store).len());
    // Again: every chunk is there already.
    let again = deltadrop_core::write_casync_index(&file, &index, &store).unwrap();
    assert_eq!((again.chunks, again.new_chunk_files), (made.chunks, 0));

    // casync extract reads our store over HTTP.
    let Some(server) = nginx(www.path(), None, "") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out.img");
    let store_arg = format!("--store={}", server.url("default.castr"));
    let extracted = run(
        &casync,
        &[
            "extract",
            &store_arg,
            &server.url("image.img.caibx"),
            &out.display().to_string(),
        ],
        work.path(),
    );
    assert!(extracted.status.success(), "{}", text(&extracted.stderr));
    assert!(read(&out) == content);
}

/// A store behind a server that is busy for the first chunk requests: the download waits
/// as `Retry-After` asks and succeeds; a server asking for an hour is given up on at once,
/// with a message saying so.
#[test]
fn a_busy_store_is_waited_for_as_it_asks_within_bounds() {
    let Some(p) = pair(1_000_000, 111, &[]) else {
        return;
    };
    // The index is request 0; chunk requests 1 and 2 are answered 503, wait 2 s.
    let busy = misbehaving(
        p.www.path(),
        Misbehaviour::Busy {
            requests: 3,
            seconds: 2,
        },
    );
    let out = p.work.path().join("waited.img");
    let started = Instant::now();
    let (result, _) = run_job(job_spec(busy.url("image.img.caibx"), &[&p.seed], &out));
    result.unwrap();
    assert_eq!(read(&out), p.new);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2),
        "did not wait as asked: {took:?}"
    );

    let closed = misbehaving(
        p.www.path(),
        Misbehaviour::Busy {
            requests: usize::MAX,
            seconds: 3600,
        },
    );
    let out = p.work.path().join("refused.img");
    let started = Instant::now();
    let (result, _) = run_job(job_spec(closed.url("image.img.caibx"), &[&p.seed], &out));
    let error = result.unwrap_err().to_string();
    assert!(error.contains("asks to come back in 3600 s"), "{error}");
    assert!(error.contains(".cacnk"), "the chunk is named: {error}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!out.exists());
}

/// A store whose first chunk replies go silent half-way: each is given up after the
/// stall timeout and asked again; one that never answers ends the job saying so.
#[test]
fn a_chunk_reply_that_goes_silent_is_retried_after_the_stall_timeout() {
    let Some(p) = pair(1_000_000, 115, &[]) else {
        return;
    };
    let get = |server: &Misbehaving, name: &str| {
        let out = p.work.path().join(name);
        let mut spec = job_spec(server.url("image.img.caibx"), &[&p.seed], &out);
        spec.options.stall_timeout = Duration::from_secs(1);
        let started = Instant::now();
        let (result, _) = run_job(spec);
        (result, out, started.elapsed())
    };

    let stalls_twice = misbehaving(p.www.path(), Misbehaviour::Stall { requests: 3 });
    let (result, out, took) = get(&stalls_twice, "retried.img");
    result.unwrap();
    assert_eq!(read(&out), p.new);
    assert!(took < Duration::from_secs(20), "took {took:?}");

    let stalls_always = misbehaving(
        p.www.path(),
        Misbehaviour::Stall {
            requests: usize::MAX,
        },
    );
    let (result, out, took) = get(&stalls_always, "refused.img");
    let error = result.unwrap_err().to_string();
    assert!(error.contains("stopped sending"), "{error}");
    assert!(
        error.contains(&format!("127.0.0.1:{}", stalls_always.port)),
        "{error}"
    );
    assert!(
        took < Duration::from_secs(40),
        "gave up only after {took:?}"
    );
    assert!(!out.exists());
}

/// The new file's index and store, and a seed that is the new file but for one byte:
/// exactly one chunk to fetch, so which mirror each request reaches does not depend on
/// timing. Also a copy of the store in which every chunk file holds another's bytes.
fn one_chunk_missing() -> Option<(Pair, TempDir)> {
    let p = pair(1_000_000, 117, &[])?;
    let mut almost = p.new.clone();
    almost[p.new.len() / 2] ^= 0xff;
    std::fs::write(&p.seed, &almost).unwrap();
    let bad = public_dir();
    let files = chunk_files(&p.www.path().join("default.castr"));
    for (i, file) in files.iter().enumerate() {
        let copy = bad.path().join(file.strip_prefix(p.www.path()).unwrap());
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        std::fs::write(copy, read(&files[(i + 1) % files.len()])).unwrap();
    }
    Some((p, bad))
}

/// A mirror redirector sends the one missing chunk to a mirror with a bad copy, then to
/// one without the file, then to a good one: each failure is asked again, and the
/// download ends verified. When every copy is bad, it fails naming the mirror's URL.
#[test]
fn a_mirror_with_a_bad_copy_of_a_chunk_is_asked_again_until_a_good_one_serves() {
    let Some((p, bad_store)) = one_chunk_missing() else {
        return;
    };
    let good = misbehaving(p.www.path(), Misbehaviour::Honest);
    let bad = misbehaving(bad_store.path(), Misbehaviour::Honest);
    let empty = public_dir();
    let without_file = misbehaving(empty.path(), Misbehaviour::Honest);
    let base = |server: &Misbehaving| server.url("").trim_end_matches('/').to_string();
    // The index is the redirector's request 0: chunk requests go to mirrors 1, 2, 0.
    let mirrors = vec![base(&good), base(&bad), base(&without_file)];
    let server = redirector(p.www.path(), mirrors);
    let out = p.work.path().join("mirrored.img");
    let (result, _) = run_job(job_spec(server.url("image.img.caibx"), &[&p.seed], &out));
    result.unwrap();
    assert_eq!(read(&out), p.new);
    let asked = [bad.requests(), without_file.requests(), good.requests()];
    assert_eq!(asked, [1, 1, 1], "bad copy, no file, good copy");

    let only_bad = redirector(p.www.path(), vec![base(&bad)]);
    let out = p.work.path().join("refused.img");
    let (result, _) = run_job(job_spec(only_bad.url("image.img.caibx"), &[&p.seed], &out));
    let error = result.unwrap_err().to_string();
    assert!(
        error.contains(&bad.url("default.castr/")) && error.contains(".cacnk"),
        "the bad copy's URL is named: {error}"
    );
    assert!(error.contains(" 3 times"), "{error}");
    assert_eq!(bad.requests(), 1 + 3, "asked a bounded number of times");
    assert!(!out.exists());
}
