//! Gzip targets end to end: Debian's `zsyncmake -z` compresses the file and maps it,
//! nginx serves the `.gz`, the engine fetches compressed ranges and inflates them
//! mid-stream. Also: a server without ranges (the whole `.gz`), corrupt compressed data,
//! gzip seeds, and what Debian's zsync fetches for the same job.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use deltadrop_core::{ControlSource, Error, Event, JobSpec, Summary};
use deltadrop_tests::*;

/// A client's directory: the seed (if any) and the outputs.
struct Work {
    dir: TempDir,
    seeds: Vec<PathBuf>,
}

impl Work {
    fn new(seed: Option<(&str, &[u8])>) -> Work {
        let dir = tempfile::tempdir().unwrap();
        let seeds = seed
            .map(|(name, content)| {
                let path = dir.path().join(name);
                std::fs::write(&path, content).unwrap();
                path
            })
            .into_iter()
            .collect();
        Work { dir, seeds }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Downloads `name` (its `.zsync` is `name.zsync` on `server`) to `out` here.
    fn get(&self, server: &Server, name: &str, out: &str) -> (Result<Summary, Error>, Vec<Event>) {
        run_job(self.spec(server, name, out))
    }

    fn spec(&self, server: &Server, name: &str, out: &str) -> JobSpec {
        let mut spec = JobSpec::new(ControlSource::Url(server.url(&format!("{name}.zsync"))));
        spec.seeds = self.seeds.clone();
        spec.output = Some(self.path(out));
        spec
    }
}

/// Runs Debian's `zsync` in `work` with its seed, writing `out`; true on success.
fn zsync_get(zsync: &Path, work: &Work, url: &str, out: &Path) -> bool {
    Command::new(zsync)
        .arg("-q")
        .arg("-i")
        .arg(&work.seeds[0])
        .arg("-o")
        .arg(out)
        .arg(url)
        .current_dir(work.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

fn file_len(path: PathBuf) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

/// Publishes `content` as `name.gz` with `zsyncmake -z` (which compresses it with its own
/// zlib and writes the Z-Map); the uncompressed file is not published.
fn publish_gz(name: &str, content: &[u8]) -> Option<(TempDir, PathBuf)> {
    let www = public_dir();
    std::fs::write(www.path().join(name), content).unwrap();
    let gz = format!("{name}.gz");
    let zsync = zsyncmake(www.path(), name, &["-z", "-u", &gz])?;
    std::fs::remove_file(www.path().join(name)).unwrap();
    let control = std::fs::read(&zsync).unwrap();
    assert!(contains(&control, b"Z-Map2: ") && !contains(&control, b"\nURL: "));
    Some((www, zsync))
}

/// [`publish_gz`], served by nginx.
fn on_nginx(name: &str, content: &[u8]) -> Option<(TempDir, Server)> {
    let (www, _) = publish_gz(name, content)?;
    let server = nginx(www.path(), None, "")?;
    Some((www, server))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    let tool = peer("gzip")?;
    let mut child = Command::new(tool)
        .args(["-n", "-6", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start gzip");
    let mut stdin = child.stdin.take().unwrap();
    let input = data.to_vec();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
    let out = child.wait_with_output().expect("gzip");
    writer.join().unwrap().unwrap();
    assert!(out.status.success());
    Some(out.stdout)
}

/// Compressible binary: few distinct byte values, no text.
fn binary_bytes(len: usize, seed: u64) -> Vec<u8> {
    random_bytes(len, seed)
        .into_iter()
        .map(|b| (b % 5).wrapping_mul(51))
        .collect()
}

/// Long runs of one byte with a little noise: output far outruns input.
fn sparse_bytes(len: usize, seed: u64) -> Vec<u8> {
    let noise = random_bytes(len / 4096 + 1, seed);
    let mut data = vec![0u8; len];
    for (i, n) in noise.iter().enumerate() {
        data[i * 4096] = *n;
    }
    data
}

#[test]
fn every_kind_of_content_downloads_from_a_shifted_seed() {
    // Already-compressed content makes zsyncmake emit stored blocks (mid-block
    // checkpoints on raw bytes); sparse content makes checkpoints far apart.
    // (A header in front, as in an archive: a seed starting with the gzip magic would be
    // inflated by the scanner.)
    let Some(gz) = gzip(&text_bytes(8_000_000, 5)) else {
        return;
    };
    let compressed = [b"archive header\n".repeat(40), gz].concat();
    let kinds: [(&str, Vec<u8>); 4] = [
        ("text", text_bytes(3_000_000, 1)),
        ("binary", binary_bytes(3_000_000, 2)),
        ("compressed", compressed),
        ("sparse", sparse_bytes(6_000_000, 4)),
    ];
    for (kind, old) in kinds {
        let new = edited(&old, 9);
        let name = format!("{kind}.img");
        let Some((www, server)) = on_nginx(&name, &new) else {
            return;
        };
        let work = Work::new(Some(("old", &old)));
        let (result, events) = work.get(&server, &name, &name);
        let out = work.path(&name);
        let summary = result.unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert!(read(&out) == new, "{kind}: wrong output");
        assert!(!work.path(&format!("{name}.part")).exists());
        let info = events.iter().find_map(|e| match e {
            Event::ControlLoaded(info) => Some(info.clone()),
            _ => None,
        });
        let info = info.unwrap();
        assert!(info.compressed && info.urls[0].ends_with(".gz"), "{kind}");

        let gz_len = file_len(www.path().join(format!("{name}.gz")));
        let (requests, body_bytes) = server.requests_for(&format!("{name}.gz"));
        let p = summary.progress;
        eprintln!(
            "{kind}: {} bytes, .gz {gz_len}; planned {} compressed bytes in {} ranges; \
             wire {} bytes in {requests} requests; fetched {} uncompressed, local {}",
            new.len(),
            summary.plan.bytes_to_fetch,
            summary.plan.ranges,
            p.wire_bytes,
            p.fetched_bytes,
            p.local_bytes
        );
        assert_eq!(body_bytes, p.wire_bytes, "{kind}");
        assert_eq!(p.local_bytes + p.fetched_bytes, new.len() as u64, "{kind}");
        // Three edits: a small part of the target (for sparse content, the rewritten
        // stretch is most of the compressed file), about what was planned.
        assert!(p.fetched_bytes < new.len() as u64 / 5, "{kind}");
        assert!(p.wire_bytes < gz_len, "{kind}: fetched {}", p.wire_bytes);
        assert!(
            p.wire_bytes <= summary.plan.bytes_to_fetch + 4096 * requests as u64,
            "{kind}: plan {} vs wire {}",
            summary.plan.bytes_to_fetch,
            p.wire_bytes
        );
    }
}

#[test]
fn without_seeds_the_whole_file_comes_compressed() {
    let new = text_bytes(2_000_000, 11);
    let Some((www, server)) = on_nginx("log.txt", &new) else {
        return;
    };
    let work = Work::new(None);
    let (result, _) = work.get(&server, "log.txt", "log.txt");
    let out = work.path("log.txt");
    let summary = result.unwrap();
    assert_eq!(read(&out), new);
    let gz_len = file_len(www.path().join("log.txt.gz"));
    eprintln!(
        "no seed: {} bytes, .gz {gz_len}, wire {} in {} requests",
        new.len(),
        summary.progress.wire_bytes,
        summary.progress.requests
    );
    // Rounds overlap by a checkpoint or so; multipart framing is small.
    assert!(summary.progress.wire_bytes < gz_len + gz_len / 50);
}

#[test]
fn scattered_changes_need_windows_from_seeds_and_earlier_reads() {
    // A byte changed in every fifth block, and a run of changed blocks: each read's
    // 32 KiB window mixes local blocks with blocks fetched by earlier reads.
    let old = text_bytes(1_500_000, 21);
    let mut new = old.clone();
    for block in (3..new.len() / 2048).step_by(5) {
        new[block * 2048 + 100] ^= 0x20;
    }
    for b in &mut new[600_000..700_000] {
        *b = b.wrapping_add(1);
    }
    let Some((_www, server)) = on_nginx("s.txt", &new) else {
        return;
    };
    let work = Work::new(Some(("old", &old)));
    let (result, _) = work.get(&server, "s.txt", "s.txt");
    let out = work.path("s.txt");
    let summary = result.unwrap();
    assert_eq!(read(&out), new);
    assert!(summary.plan.missing_blocks > 100);
    // One round: the reads' ranges fill as few requests as the range limit allows.
    let limit = deltadrop_core::JobOptions::default().max_ranges_per_request as u64;
    assert_eq!(
        summary.progress.requests,
        summary.plan.ranges.div_ceil(limit),
        "{summary:?}"
    );
}

#[test]
fn a_gzip_seed_is_inflated_and_scanned() {
    let old = binary_bytes(2_000_000, 31);
    let new = edited(&old, 32);
    let Some(old_gz) = gzip(&old) else {
        return;
    };
    let Some((_www, server)) = on_nginx("b.bin", &new) else {
        return;
    };
    let work = Work::new(Some(("old.bin.gz", &old_gz)));
    let (result, _) = work.get(&server, "b.bin", "b.bin");
    let out = work.path("b.bin");
    let summary = result.unwrap();
    assert_eq!(read(&out), new);
    assert!(summary.progress.local_bytes > new.len() as u64 * 8 / 10);
}

#[test]
fn corrupt_compressed_data_is_reported_and_never_written() {
    let old = text_bytes(1_000_000, 41);
    let new = edited(&old, 42);
    let Some((www, _)) = publish_gz("c.txt", &new) else {
        return;
    };
    // The served .gz no longer matches the map and block sums made from the good one.
    let gz_path = www.path().join("c.txt.gz");
    let mut gz = read(&gz_path);
    let n = gz.len();
    for i in (n / 2 - 2000..n / 2 + 2000).step_by(97) {
        gz[i] ^= 0x5a;
    }
    std::fs::write(&gz_path, &gz).unwrap();
    let Some(server) = nginx(www.path(), None, "") else {
        return;
    };
    let work = Work::new(Some(("old", &old)));
    let (result, _) = work.get(&server, "c.txt", "c.txt");
    let out = work.path("c.txt");
    let error = result.unwrap_err();
    assert!(
        matches!(&error, Error::BadData { url, .. } if url.ends_with("c.txt.gz")),
        "{error}"
    );
    eprintln!("corrupt .gz: {error}");
    assert!(!out.exists());
    // Every block in the .part is either untouched (zeros) or the right data.
    let part = read(&work.path("c.txt.part"));
    assert_eq!(part.len(), new.len());
    for (got, want) in part.chunks(2048).zip(new.chunks(2048)) {
        assert!(got == want || got.iter().all(|&b| b == 0));
    }
    // Bounded retries: a few rounds, not a loop.
    let (requests, _) = server.requests_for("c.txt.gz");
    assert!((1..=10).contains(&requests), "{requests} requests");
}

#[test]
fn a_server_without_ranges_sends_the_whole_gz() {
    let old = text_bytes(1_000_000, 51);
    let new = edited(&old, 52);
    let Some((www, _)) = publish_gz("p.txt", &new) else {
        return;
    };
    let Some(server) = python_http(www.path()) else {
        return;
    };
    let work = Work::new(Some(("old", &old)));
    let (result, events) = work.get(&server, "p.txt", "p.txt");
    let out = work.path("p.txt");
    let summary = result.unwrap();
    assert_eq!(read(&out), new);
    assert!(
        events.iter().any(
            |e| matches!(e, Event::Notice(n) if n.contains("does not support range requests"))
        )
    );
    let gz_len = file_len(www.path().join("p.txt.gz"));
    assert_eq!(summary.progress.wire_bytes, gz_len);
}

#[test]
fn fetches_about_what_zsync_fetches_for_the_same_job() {
    let Some(zsync) = peer("zsync") else {
        return;
    };
    let old = text_bytes(4_000_000, 61);
    let new = edited(&old, 62);
    let Some((_www, server)) = on_nginx("z.txt", &new) else {
        return;
    };
    let work = Work::new(Some(("old", &old)));
    let theirs = work.path("theirs.txt");
    assert!(zsync_get(
        &zsync,
        &work,
        &server.url("z.txt.zsync"),
        &theirs
    ));
    assert_eq!(read(&theirs), new);
    let (zsync_requests, zsync_bytes) = server.requests_for("z.txt.gz");

    let (result, _) = work.get(&server, "z.txt", "ours.txt");
    let summary = result.unwrap();
    assert_eq!(read(&work.path("ours.txt")), new);
    let (all_requests, all_bytes) = server.requests_for("z.txt.gz");
    let (requests, bytes) = (all_requests - zsync_requests, all_bytes - zsync_bytes);
    eprintln!(
        "gzip target, 4 MB text, 3 edits: zsync {zsync_bytes} bytes in {zsync_requests} requests; \
         deltadrop {bytes} bytes in {requests} requests (planned {})",
        summary.plan.bytes_to_fetch
    );
    assert!(bytes <= zsync_bytes + zsync_bytes / 10);
    assert!(requests <= zsync_requests);
}

#[test]
fn recompress_re_creates_the_publishers_gz() {
    let Some(gzip) = peer("gzip") else {
        return;
    };
    // A .gz as publishers make them (name and mtime in the header), mapped by zsyncmake,
    // which finds the options that reproduce it and writes a Recompress line.
    let old = text_bytes(1_500_000, 71);
    let new = edited(&old, 72);
    let www = public_dir();
    std::fs::write(www.path().join("r.txt"), &new).unwrap();
    let status = Command::new(gzip)
        .args(["-9", "r.txt"])
        .current_dir(www.path())
        .status()
        .unwrap();
    assert!(status.success());
    if zsyncmake(www.path(), "r.txt.gz", &["-u", "r.txt.gz"]).is_none() {
        return;
    }
    let control = read(&www.path().join("r.txt.zsync"));
    assert!(contains(&control, b"Recompress: ") && contains(&control, b"Z-Filename: r.txt.gz"));
    let Some(server) = nginx(www.path(), None, "") else {
        return;
    };
    let work = Work::new(Some(("old", &old)));
    let mut spec = work.spec(&server, "r.txt", "r.txt");
    spec.options.recompress = true;
    let (result, events) = run_job(spec);
    result.unwrap();
    assert_eq!(read(&work.path("r.txt")), new);
    assert_eq!(
        read(&work.path("r.txt.gz")),
        read(&www.path().join("r.txt.gz"))
    );
    let notice = events.iter().find_map(|e| match e {
        Event::Notice(n) if n.contains("re-created") => Some(n.clone()),
        _ => None,
    });
    let notice = notice.expect("a notice about the .gz");
    eprintln!("{notice}");
    assert!(notice.contains("almost certainly identical"), "{notice}");

    // Without a Recompress line there is nothing to re-create, and the user is told.
    let Some((_www, server)) = on_nginx("n.txt", &new) else {
        return;
    };
    let mut spec = work.spec(&server, "n.txt", "n.txt");
    spec.options.recompress = true;
    let (result, events) = run_job(spec);
    result.unwrap();
    assert!(!work.path("n.txt.gz").exists());
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Notice(n) if n.contains("no Recompress line")))
    );
}

#[test]
fn our_make_z_output_is_rebuilt_by_zsync_and_by_us() {
    use deltadrop_core::{MakeOptions, write_control_file};
    let Some(zsync) = peer("zsync") else {
        return;
    };
    // Text, compressible binary and incompressible noise: all three deflate block kinds.
    let old = [
        text_bytes(1_500_000, 71),
        binary_bytes(700_000, 72),
        random_bytes(500_000, 73),
    ]
    .concat();
    let new = edited(&old, 74);
    let www = public_dir();
    let input = tempfile::tempdir().unwrap();
    std::fs::write(input.path().join("img"), &new).unwrap();
    let options = MakeOptions {
        compress: true,
        ..MakeOptions::default()
    };
    let control = www.path().join("img.zsync");
    write_control_file(&input.path().join("img"), Some(&control), &options).unwrap();
    // The .gz lands beside the control file; a plain gzip reader gets the input back.
    let gz = read(&www.path().join("img.gz"));
    let mut back = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut back).unwrap();
    assert!(back == new, "the .gz holds the input");
    let text = read(&control);
    assert!(contains(&text, b"\nZ-URL: img.gz\n") && !contains(&text, b"\nURL: "));
    // zsyncmake -z maps the same input with one checkpoint per block plus three.
    if let Some((_, theirs)) = publish_gz("same", &new) {
        let count = |t: &[u8]| {
            let at = t.windows(8).position(|w| w == b"Z-Map2: ").unwrap() + 8;
            let end = at + t[at..].iter().position(|&b| b == b'\n').unwrap();
            String::from_utf8_lossy(&t[at..end]).into_owned()
        };
        assert_eq!(count(&text), count(&read(&theirs)));
    }

    let Some(server) = nginx(www.path(), None, "") else {
        return;
    };
    let work = Work::new(Some(("old", &old)));
    let theirs = work.path("theirs");
    assert!(
        zsync_get(&zsync, &work, &server.url("img.zsync"), &theirs),
        "zsync accepts our make -z output"
    );
    assert!(read(&theirs) == new, "zsync rebuilt the file");
    let (zsync_requests, zsync_bytes) = server.requests_for("img.gz");
    assert!(
        zsync_bytes < gz.len() as u64 / 2,
        "zsync fetched only pieces: {zsync_bytes}"
    );

    let (result, _) = work.get(&server, "img", "ours");
    result.unwrap();
    assert!(read(&work.path("ours")) == new);
    let (all_requests, all_bytes) = server.requests_for("img.gz");
    eprintln!(
        "make -z, 2.7 MB: zsync fetched {zsync_bytes} bytes in {zsync_requests} requests, \
         deltadrop {} in {}",
        all_bytes - zsync_bytes,
        all_requests - zsync_requests
    );
    assert!(all_bytes - zsync_bytes <= zsync_bytes);
}
