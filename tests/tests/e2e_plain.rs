//! Plain targets end to end: Debian's zsyncmake makes the control files, nginx (or a
//! server that misbehaves) serves them, the engine downloads; and the other way round,
//! our `make` output is consumed by Debian's zsync.

use std::process::Command;

use deltadrop_core::{
    BlockSource, BlockState, ControlSource, Error, Event, JobSpec, Mode, Summary,
};
use deltadrop_core::{MakeOptions, write_control_file};
use deltadrop_tests::*;

/// [`publish`], served by nginx.
fn on_nginx(name: &str, content: &[u8], make_args: &[&str]) -> Option<(TempDir, Server)> {
    let (www, _) = publish(name, content, make_args)?;
    let server = nginx(www.path(), None, "")?;
    Some((www, server))
}

#[test]
fn downloads_a_changed_file_reusing_a_shifted_seed() {
    let old = random_bytes(3_000_000, 1);
    let new = edited(&old, 2);
    let Some((_www, server)) = on_nginx("image.img", &new, &["-u", "image.img"]) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let seed = work.path().join("old.img");
    std::fs::write(&seed, &old).unwrap();
    let out = work.path().join("image.img");

    let (result, events) = run_job(job_spec(server.url("image.img.zsync"), &[&seed], &out));
    let summary = result.unwrap();
    assert_eq!(read(&out), new);
    assert_eq!(read(&seed), old, "the seed was modified");
    assert!(!work.path().join("image.img.part").exists());
    // Three edits touch a handful of blocks; everything else comes from the seed.
    let fetched = summary.progress.fetched_bytes;
    assert!(fetched > 0 && fetched < 200_000, "fetched {fetched}");
    assert_eq!(summary.progress.local_bytes + fetched, new.len() as u64);
    let (requests, body_bytes) = server.requests_for("image.img");
    assert_eq!(requests, 1, "one multi-range request is enough");
    assert_eq!(body_bytes, summary.progress.wire_bytes);
    // The map saw every block: local ones from seed 0, the rest fetched.
    let states = block_map(&events, new.len().div_ceil(2048));
    assert!(
        states
            .iter()
            .all(|s| matches!(s, BlockState::Local | BlockState::Fetched))
    );
    assert!(matches!(events.last(), Some(Event::Finished(Ok(_)))));
}

#[test]
fn matches_what_zsync_fetches_for_the_same_job() {
    let old = text_bytes(2_000_000, 3);
    let new = edited(&old, 4);
    let Some((_www, server)) = on_nginx("f.txt", &new, &[]) else {
        return;
    };
    let Some(zsync) = peer("zsync") else { return };
    let work = tempfile::tempdir().unwrap();
    let seed = work.path().join("old.txt");
    std::fs::write(&seed, &old).unwrap();

    let (result, _) = run_job(job_spec(
        server.url("f.txt.zsync"),
        &[&seed],
        &work.path().join("ours"),
    ));
    let ours = result.unwrap().progress;
    let status = Command::new(zsync)
        .args(["-q", "-i"])
        .arg(&seed)
        .arg("-o")
        .arg(work.path().join("theirs"))
        .arg(server.url("f.txt.zsync"))
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "zsync failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert_eq!(read(&work.path().join("theirs")), new);
    // zsync's requests for the target, told from ours by who made them: each client may
    // make any number of requests, for the control file and for the target.
    let (zsync_requests, zsync_bytes) = server.requests_by("zsync/", "f.txt");
    assert!(zsync_requests > 0, "{:#?}", server.access_log());
    assert!(
        ours.wire_bytes <= zsync_bytes,
        "we fetched {} bytes, zsync {zsync_bytes}",
        ours.wire_bytes
    );
}

#[test]
fn several_seeds_each_supply_their_part_and_tiny_files_work() {
    let first = random_bytes(500_000, 5);
    let second = random_bytes(500_000, 6);
    let new: Vec<u8> = [first.as_slice(), second.as_slice(), b"tail"].concat();
    let Some((www, _)) = publish("joined.bin", &new, &[]) else {
        return;
    };
    for (name, content) in [
        ("empty", &b""[..]),
        ("one", &b"x"[..]),
        ("block", &[7u8; 2048][..]),
        ("blockplus", &[9u8; 2049][..]),
    ] {
        std::fs::write(www.path().join(name), content).unwrap();
        zsyncmake(www.path(), name, &[]).unwrap();
    }
    let Some(server) = nginx(www.path(), None, "") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let (a, b) = (work.path().join("a"), work.path().join("b"));
    std::fs::write(&a, &second).unwrap();
    std::fs::write(&b, &first).unwrap();
    let out = work.path().join("joined.bin");
    let (result, events) = run_job(job_spec(server.url("joined.bin.zsync"), &[&a, &b], &out));
    let summary = result.unwrap();
    assert_eq!(read(&out), new);
    let supplied: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::SeedFinished {
                source: BlockSource::Seed(_),
                blocks,
                ..
            } => Some(*blocks),
            _ => None,
        })
        .collect();
    assert_eq!(supplied.len(), 2);
    assert!(supplied.iter().all(|&n| n >= 240), "{supplied:?}");
    assert!(summary.progress.fetched_bytes < 3 * 2048);

    for (name, content) in [
        ("empty", &b""[..]),
        ("one", &b"x"[..]),
        ("block", &[7u8; 2048][..]),
        ("blockplus", &[9u8; 2049][..]),
    ] {
        let out = work.path().join(name);
        let (result, _) = run_job(job_spec(server.url(&format!("{name}.zsync")), &[], &out));
        result.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(read(&out), content, "{name}");
    }
}

#[test]
fn a_server_without_ranges_still_gets_a_verified_file() {
    let old = random_bytes(1_000_000, 7);
    let new = edited(&old, 8);
    let Some((www, _)) = publish("f.bin", &new, &[]) else {
        return;
    };
    let Some(server) = python_http(www.path()) else {
        return;
    };
    let (work, seed) = work_with_seed(&old);
    let out = work.path().join("f.bin");
    let (result, events) = run_job(job_spec(server.url("f.bin.zsync"), &[&seed], &out));
    let summary = result.unwrap();
    assert_eq!(read(&out), new);
    assert!(
        events.iter().any(
            |e| matches!(e, Event::Notice(n) if n.contains("does not support range requests"))
        )
    );
    assert_eq!(
        summary.progress.wire_bytes,
        new.len() as u64,
        "the whole file, once"
    );
}

#[test]
fn an_interrupted_download_resumes_from_its_part_file() {
    let new = random_bytes(800_000, 9);
    let Some((_www, server)) = on_nginx("f.bin", &new, &[]) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("f.bin");
    // What a killed run leaves: the first half verified, the rest zeros (a sparse file).
    let mut part = new[..400_000].to_vec();
    part.resize(new.len(), 0);
    std::fs::write(work.path().join("f.bin.part"), &part).unwrap();
    let (result, events) = run_job(job_spec(server.url("f.bin.zsync"), &[], &out));
    let summary = result.unwrap();
    assert_eq!(read(&out), new);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::SeedFinished {
            source: BlockSource::PartFile,
            blocks: 195,
            ..
        }
    )));
    assert!(
        summary.progress.fetched_bytes <= 400_000 + 2048,
        "fetched {}",
        summary.progress.fetched_bytes
    );
}

#[test]
fn the_old_output_is_a_seed_kept_as_zs_old_and_mtime_comes_from_the_control_file() {
    let old = random_bytes(600_000, 10);
    let new = edited(&old, 11);
    let Some((www, zsync)) = publish("f.bin", &new, &[]) else {
        return;
    };
    let Some(server) = nginx(www.path(), None, "") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("f.bin");
    std::fs::write(&out, &old).unwrap();
    let (result, _) = run_job(job_spec(server.url("f.bin.zsync"), &[], &out));
    let summary = result.unwrap();
    assert_eq!(read(&out), new);
    assert_eq!(read(&work.path().join("f.bin.zs-old")), old);
    assert!(summary.progress.local_bytes > 500_000);
    let control = String::from_utf8_lossy(&read(&zsync)).into_owned();
    let mtime_line = control
        .lines()
        .find_map(|l| l.strip_prefix("MTime: "))
        .unwrap()
        .to_string();
    let expected = std::fs::metadata(www.path().join("f.bin"))
        .unwrap()
        .modified()
        .unwrap();
    let got = std::fs::metadata(&out).unwrap().modified().unwrap();
    let secs =
        |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(secs(got), secs(expected), "MTime {mtime_line}");
}

#[test]
fn a_wrong_sha1_fails_verification_and_leaves_the_old_output_alone() {
    let new = random_bytes(100_000, 12);
    let Some((www, zsync)) = publish("f.bin", &new, &[]) else {
        return;
    };
    let text = read(&zsync);
    let at = text.windows(6).position(|w| w == b"SHA-1:").unwrap() + 7;
    let mut bad = text.clone();
    bad[at] = if bad[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(www.path().join("bad.zsync"), &bad).unwrap();
    let Some(server) = nginx(www.path(), None, "") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("f.bin");
    std::fs::write(&out, b"precious old version").unwrap();
    let (result, _) = run_job(job_spec(server.url("bad.zsync"), &[], &out));
    let error = result.unwrap_err();
    assert!(error.is_verification(), "{error}");
    assert_eq!(read(&out), b"precious old version");
    assert_eq!(
        read(&work.path().join("f.bin.part")),
        new,
        "the data is kept for inspection"
    );
}

#[test]
fn a_server_whose_file_changed_is_reported_not_written() {
    let new = random_bytes(300_000, 13);
    let Some((www, _)) = publish("f.bin", &new, &[]) else {
        return;
    };
    let mut changed = new.clone();
    changed[150_000..150_100].fill(0);
    std::fs::write(www.path().join("f.bin"), &changed).unwrap();
    let Some(server) = nginx(www.path(), None, "") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("f.bin");
    let (result, _) = run_job(job_spec(server.url("f.bin.zsync"), &[], &out));
    let error = result.unwrap_err();
    assert!(matches!(error, Error::BadData { .. }), "{error}");
    assert!(error.to_string().contains(&server.url("f.bin")), "{error}");
    assert!(!out.exists());
    // Only verified blocks reached the .part: the bad block is still zeros there.
    let part = read(&work.path().join("f.bin.part"));
    assert_eq!(&part[149_504..151_552], &[0u8; 2048][..]);
    assert_eq!(&part[..149_504], &new[..149_504]);
}

#[test]
fn misbehaving_servers_get_fewer_ranges_or_fail_cleanly() {
    let old = random_bytes(1_000_000, 14);
    let new = edited(&old, 15);
    let Some((www, _)) = publish("f.bin", &new, &["-u", "f.bin"]) else {
        return;
    };
    let (work, seed) = work_with_seed(&old);

    for how in [Misbehaviour::FirstRangeOnly, Misbehaviour::GarbledMultipart] {
        let server = misbehaving(www.path(), how);
        let out = work.path().join(format!("{how:?}"));
        let (result, events) = run_job(job_spec(server.url("f.bin.zsync"), &[&seed], &out));
        result.unwrap_or_else(|e| panic!("{how:?}: {e}"));
        assert_eq!(read(&out), new, "{how:?}");
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::Notice(n) if n.contains("ranges per request"))),
            "{how:?}"
        );
        assert!(
            server.requests() < 20,
            "{how:?}: {} requests",
            server.requests()
        );
    }

    let server = misbehaving(
        www.path(),
        Misbehaviour::CorruptAt(new.len() as u64 / 2 + 10),
    );
    let out = work.path().join("corrupt");
    let (result, _) = run_job(job_spec(server.url("f.bin.zsync"), &[&seed], &out));
    let error = result.unwrap_err();
    assert!(error.to_string().contains("failed its checksum"), "{error}");
    assert!(
        server.requests() < 20,
        "gave up after {} requests",
        server.requests()
    );
    assert!(!out.exists());
}

#[test]
fn missing_files_and_bad_urls_are_clear_errors() {
    let www = public_dir();
    std::fs::write(
        www.path().join("not-a-zsync.zsync"),
        b"<html><body>Sorry</body></html>\n",
    )
    .unwrap();
    let Some(server) = nginx(www.path(), None, "") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("x");
    let (result, _) = run_job(job_spec(server.url("missing.zsync"), &[], &out));
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains("404") && message.contains("missing.zsync"),
        "{message}"
    );
    let (result, _) = run_job(job_spec(server.url("not-a-zsync.zsync"), &[], &out));
    assert!(
        result
            .unwrap_err()
            .to_string()
            .contains("not a zsync control file")
    );
    let (result, _) = run_job(job_spec("http://127.0.0.1:1/x.zsync".into(), &[], &out));
    assert!(
        result
            .unwrap_err()
            .to_string()
            .contains("could not connect")
    );
    // A password in the URL goes to the server, never into a message or an event.
    for name in ["missing.zsync", "not-a-zsync.zsync"] {
        let with_password = server
            .url(name)
            .replacen("http://", "http://user:s3cret@", 1);
        let (result, events) = run_job(job_spec(with_password, &[], &out));
        let shown = format!("{} {events:?}", result.unwrap_err());
        assert!(!shown.contains("s3cret"), "{shown}");
    }
    let missing_seed = work.path().join("no-such-seed");
    let (result, events) = run_job(job_spec(
        server.url("missing.zsync"),
        &[&missing_seed],
        &out,
    ));
    assert!(result.is_err());
    assert!(!events.iter().any(|e| matches!(e, Event::Finished(Ok(_)))));
}

#[test]
fn relative_urls_resolve_after_a_redirect() {
    let new = random_bytes(200_000, 16);
    let www = public_dir();
    std::fs::create_dir(www.path().join("real")).unwrap();
    std::fs::write(www.path().join("real/f.bin"), &new).unwrap();
    let Some(_) = zsyncmake(&www.path().join("real"), "f.bin", &[]) else {
        return;
    };
    let Some(server) = nginx(
        www.path(),
        None,
        "location = /latest.zsync { return 302 /real/f.bin.zsync; }",
    ) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("f.bin");
    let (result, _) = run_job(job_spec(server.url("latest.zsync"), &[], &out));
    result.unwrap();
    assert_eq!(read(&out), new);
}

#[test]
fn plan_only_reports_the_cost_and_writes_nothing() {
    let old = random_bytes(1_000_000, 17);
    let new = edited(&old, 18);
    let Some((_www, server)) = on_nginx("f.bin", &new, &[]) else {
        return;
    };
    let (work, seed) = work_with_seed(&old);
    let out = work.path().join("f.bin");
    let mut plan_spec = job_spec(server.url("f.bin.zsync"), &[&seed], &out);
    plan_spec.options.mode = Mode::PlanOnly;
    let (result, _) = run_job(plan_spec);
    let plan = result.unwrap().plan;
    assert!(!out.exists() && !work.path().join("f.bin.part").exists());
    assert_eq!(
        server.requests_for("f.bin").0,
        0,
        "nothing of the target was downloaded"
    );
    assert_eq!(plan.local_bytes + plan.bytes_to_fetch, new.len() as u64);
    let (result, _) = run_job(job_spec(server.url("f.bin.zsync"), &[&seed], &out));
    assert_eq!(
        result.unwrap().progress.fetched_bytes,
        plan.bytes_to_fetch,
        "the plan was right"
    );
}

#[test]
fn our_make_matches_zsyncmake_and_zsync_reads_it() {
    let Some(zsync) = peer("zsync") else { return };
    let www = public_dir();
    let cases: [(&str, Vec<u8>, &[&str]); 6] = [
        ("empty", Vec::new(), &[]),
        ("one", b"x".to_vec(), &[]),
        ("exact", random_bytes(4096, 19), &[]),
        ("odd", random_bytes(300_001, 20), &[]),
        ("text", text_bytes(1_500_000, 21), &["-b", "1024"]),
        ("big-blocks", random_bytes(700_000, 22), &["-b", "8192"]),
    ];
    for (name, content, args) in &cases {
        std::fs::write(www.path().join(name), content).unwrap();
        let Some(theirs) = zsyncmake(www.path(), name, args) else {
            return;
        };
        let theirs = read(&theirs);
        let block_size = args.get(1).map(|b| b.parse().unwrap());
        let ours_path = www.path().join(format!("{name}.ours.zsync"));
        let options = MakeOptions {
            block_size,
            urls: vec![name.to_string()],
            ..MakeOptions::default()
        };
        write_control_file(&www.path().join(name), Some(&ours_path), &options).unwrap();
        let ours = read(&ours_path);
        // Identical but for MTime, which zsyncmake takes from the same file: compare all.
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
            "{name}"
        );
    }
    // Debian's zsync downloads from our control file, with a seed.
    let Some(server) = nginx(www.path(), None, "") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let seed = work.path().join("seed");
    std::fs::write(&seed, edited(&cases[4].1, 23)).unwrap();
    let status = Command::new(zsync)
        .args(["-q", "-i"])
        .arg(&seed)
        .arg("-o")
        .arg(work.path().join("text"))
        .arg(server.url("text.ours.zsync"))
        .current_dir(work.path())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(read(&work.path().join("text")), cases[4].1);
}

#[test]
fn an_unreadable_seed_is_skipped_and_the_job_goes_on() {
    let old = random_bytes(300_000, 24);
    let new = edited(&old, 25);
    let Some((_www, server)) = on_nginx("f.bin", &new, &[]) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let (missing, seed) = (work.path().join("gone"), work.path().join("old"));
    std::fs::write(&seed, &old).unwrap();
    let out = work.path().join("f.bin");
    let (result, events) = run_job(job_spec(
        server.url("f.bin.zsync"),
        &[&missing, &seed],
        &out,
    ));
    assert!(result.unwrap().progress.local_bytes > 250_000);
    assert_eq!(read(&out), new);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::SeedSkipped { path, .. } if *path == missing))
    );
}

#[test]
fn https_with_http2_and_basic_auth_against_nginx() {
    let old = random_bytes(2_000_000, 81);
    let new = edited(&old, 82);
    let Some((www, _)) = publish("img", &new, &["-u", "img"]) else {
        return;
    };
    let Some((extra, _htpasswd)) = basic_auth("builds", "tester", "s3cret") else {
        return;
    };
    let Some((server, ca)) = nginx_tls(www.path(), &extra) else {
        return;
    };
    let (work, seed) = work_with_seed(&old);
    let out = work.path().join("img");
    let url = server.url("img.zsync");
    assert!(url.starts_with("https://"));

    // A certificate nobody vouches for is a TLS error, said as such.
    let (result, _) = run_job(job_spec(url.clone(), &[&seed], &out));
    let error = result.unwrap_err();
    assert!(error.to_string().contains("certificate"), "{error}");
    assert!(error.hint().contains("--ca-cert"), "{}", error.hint());

    // Trusted, but without credentials: the server's 401 comes through.
    let mut trusted = job_spec(url.clone(), &[&seed], &out);
    trusted.options.ca_certs = vec![ca.clone()];
    let (result, _) = run_job(trusted.clone());
    let error = result.unwrap_err();
    assert!(error.to_string().contains("401"), "{error}");
    assert!(error.hint().contains("-A"), "{}", error.hint());

    // With -A host=user:pass, the download works, over HTTP/2, fetching only the change.
    trusted.options.credentials = vec!["127.0.0.1=tester:s3cret".parse().unwrap()];
    let (result, _) = run_job(trusted);
    let summary = result.unwrap();
    assert!(read(&out) == new);
    let log = server.access_log();
    let data_requests: Vec<&String> = log.iter().filter(|l| l.starts_with("GET /img ")).collect();
    assert!(!data_requests.is_empty());
    assert!(
        data_requests.iter().all(|l| l.contains(" HTTP/2.0 206 ")),
        "{data_requests:?}"
    );
    assert!(summary.progress.fetched_bytes < new.len() as u64 / 4);
}

/// Runs `spec` on a thread; fails the test if the job has not ended within `limit`.
fn run_job_within(
    spec: JobSpec,
    limit: std::time::Duration,
) -> (Result<Summary, Error>, Vec<Event>) {
    let (done, ended) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(run_job(spec));
    });
    ended
        .recv_timeout(limit)
        .unwrap_or_else(|_| panic!("the job did not end within {limit:?}"))
}

#[test]
fn a_fifo_is_refused_as_a_seed_and_a_disk_is_read() {
    // Whole 512-byte sectors: a loop device drops a partial last sector.
    let old = random_bytes(2 << 20, 26);
    let new = edited(&old, 27);
    let Some((_www, server)) = on_nginx("f.bin", &new, &[]) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let (fifo, seed) = (work.path().join("pipe"), work.path().join("old"));
    std::fs::write(&seed, &old).unwrap();
    assert!(
        run("mkfifo", &[fifo.to_str().unwrap()], work.path())
            .status
            .success()
    );

    // Opening a FIFO waits for a writer: the job would hang without a word.
    let out = work.path().join("from-file");
    let spec = job_spec(server.url("f.bin.zsync"), &[&fifo, &seed], &out);
    let (result, events) = run_job_within(spec, std::time::Duration::from_secs(60));
    let from_file = result.unwrap().progress.local_bytes;
    assert_eq!(read(&out), new);
    let reason = events.iter().find_map(|e| match e {
        Event::SeedSkipped { path, reason, .. } if *path == fifo => Some(reason),
        _ => None,
    });
    assert!(
        reason.is_some_and(|r| r.contains("named pipe (FIFO): only files and disks can be seeds")),
        "{reason:?}"
    );

    // The same seed as a disk (a loop device, read-only): the same blocks are found.
    let Some(disk) = LoopDevice::attach(&seed) else {
        return;
    };
    let out = work.path().join("from-disk");
    let (result, _) = run_job(job_spec(server.url("f.bin.zsync"), &[&disk.path], &out));
    assert_eq!(read(&out), new);
    assert_eq!(result.unwrap().progress.local_bytes, from_file);
}

/// A file attached read-only as a block device, detached when dropped.
struct LoopDevice {
    path: std::path::PathBuf,
}

impl LoopDevice {
    /// `None` (with a visible SKIPPED line) where this process cannot attach one: not
    /// root, or no loop devices. Where the kernel offers them and the peers are required,
    /// failing to attach one fails the test.
    fn attach(file: &std::path::Path) -> Option<LoopDevice> {
        let out = Command::new("losetup")
            .args(["--find", "--show", "--read-only"])
            .arg(file)
            .output();
        match out {
            Ok(out) if out.status.success() => Some(LoopDevice {
                path: text(&out.stdout).trim().into(),
            }),
            _ => {
                let why = "cannot attach a loop device here (needs root)";
                assert!(
                    std::env::var_os("DELTADROP_REQUIRE_PEERS").is_none()
                        || !std::path::Path::new("/dev/loop-control").exists(),
                    "{why}, and DELTADROP_REQUIRE_PEERS is set"
                );
                eprintln!("SKIPPED: {why}");
                None
            }
        }
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.path).status();
    }
}

/// A `.zsync` opened from a share or a folder, beside its target: its relative URL names
/// the file beside it, whose missing blocks are read where they are (only those), as
/// zsyncmake's own relative URLs intend. Plain and `-z` (the `.gz` beside it).
#[test]
fn a_local_control_file_reads_the_target_beside_it() {
    let old = random_bytes(3_000_000, 31);
    let new = edited(&old, 32);
    for make_args in [&[][..], &["-z"][..]] {
        let Some((share, control)) = publish("image.img", &new, make_args) else {
            return;
        };
        if make_args == ["-z"] {
            // Only the compressed copy is on the share, as zsyncmake -z publishes it.
            std::fs::remove_file(share.path().join("image.img")).unwrap();
        }
        let (work, seed) = work_with_seed(&old);
        let out = work.path().join("image.img");
        let mut spec = job_spec(String::new(), &[&seed], &out);
        spec.control = ControlSource::File(control.clone());
        let (result, _) = run_job(spec);
        let summary = result.unwrap_or_else(|e| panic!("{make_args:?}: {e}"));
        assert!(
            read(&out) == new,
            "{make_args:?}: the output is not the target"
        );
        let read_from_share = summary.progress.wire_bytes;
        assert!(
            read_from_share > 0 && read_from_share < 300_000,
            "{make_args:?}: read {read_from_share} bytes of the target, not only the missing blocks"
        );
        assert_eq!(read(&seed), old, "the seed was modified");
    }
}

/// A `.zsync` downloaded on its own (its target not beside it) says where it looked and
/// how to give the URL it came from; with that URL (`-u`) it downloads from the server.
#[test]
fn a_control_file_downloaded_alone_asks_for_its_url() {
    let new = random_bytes(400_000, 33);
    let Some((www, server)) = on_nginx("image.img", &new, &[]) else {
        return;
    };
    let downloads = tempfile::tempdir().unwrap();
    let control = downloads.path().join("image.img.zsync");
    std::fs::copy(www.path().join("image.img.zsync"), &control).unwrap();
    let out = downloads.path().join("image.img");
    let mut spec = job_spec(String::new(), &[], &out);
    spec.control = ControlSource::File(control.clone());
    let (result, _) = run_job(spec.clone());
    let message = result.unwrap_err().to_string();
    let looked_at = downloads.path().join("image.img").display().to_string();
    assert!(
        message.contains(&looked_at) && message.contains("-u"),
        "{message}"
    );
    assert!(!out.exists());
    spec.options.base_url = Some(server.url("image.img.zsync"));
    run_job(spec).0.unwrap();
    assert!(read(&out) == new);
}
