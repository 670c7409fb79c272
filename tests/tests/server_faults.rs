//! Servers as they are in the wild, each against the same download: object stores and
//! CDNs that take one range per request, and servers that misbehave. Every case ends in
//! the exact file or a clear message naming the server, in bounded time and bytes.

use std::time::{Duration, Instant};

use deltadrop_core::Event;
use deltadrop_tests::*;

/// An 8 MB file and a seed that differs from it in one byte of every 40th 2 KiB block:
/// about a hundred separate stretches to fetch, so requests carry many ranges each.
fn scattered_edits() -> (Vec<u8>, Vec<u8>) {
    let new = random_bytes(8_000_000, 31);
    let mut old = new.clone();
    for offset in (1000..old.len()).step_by(40 * 2048) {
        old[offset] ^= 0xff;
    }
    (old, new)
}

#[test]
fn a_server_taking_one_range_per_request_costs_about_what_a_multi_range_one_does() {
    let (old, new) = scattered_edits();
    let Some((www, _)) = publish("f.bin", &new, &["-b", "2048", "-u", "f.bin"]) else {
        return;
    };
    let Some(nginx) = nginx(www.path(), None, "") else {
        return;
    };
    let (work, seed) = work_with_seed(&old);

    let out = work.path().join("from-nginx");
    let (result, _) = run_job(job_spec(nginx.url("f.bin.zsync"), &[&seed], &out));
    let multi = result.unwrap().progress;
    assert_eq!(read(&out), new);

    let store = misbehaving(www.path(), Misbehaviour::WholeFileForSeveralRanges);
    let out = work.path().join("from-store");
    let (result, events) = run_job(job_spec(store.url("f.bin.zsync"), &[&seed], &out));
    let single = result.unwrap().progress;
    assert_eq!(read(&out), new);
    assert!(
        events.iter().any(|e| matches!(e,
            Event::Notice(n) if n.contains("at most 1 ranges per request") && n.contains("whole file"))),
        "the user is told why requests changed: {events:?}"
    );
    assert!(
        !events.iter().any(
            |e| matches!(e, Event::Notice(n) if n.contains("does not support range requests"))
        ),
        "a 200 to several ranges is not a server without ranges"
    );
    println!(
        "multi-range server: {} bytes in {} requests; one range per request: {} bytes in {} requests",
        multi.wire_bytes, multi.requests, single.wire_bytes, single.requests
    );
    assert!(
        single.wire_bytes * 10 <= multi.wire_bytes * 11,
        "one range per request cost {} bytes against {}",
        single.wire_bytes,
        multi.wire_bytes
    );
    assert_eq!(single.fetched_bytes, multi.fetched_bytes);
}

#[test]
fn a_busy_server_is_waited_for_as_it_asks_within_bounds() {
    let old = random_bytes(500_000, 32);
    let new = edited(&old, 33);
    let Some((www, _)) = publish("f.bin", &new, &["-u", "f.bin"]) else {
        return;
    };
    let (work, seed) = work_with_seed(&old);

    // Two 503s asking for 2 s each: the download waits them out and succeeds.
    let busy = misbehaving(
        www.path(),
        Misbehaviour::Busy {
            requests: 3,
            seconds: 2,
        },
    );
    let out = work.path().join("waited");
    let started = Instant::now();
    let (result, _) = run_job(job_spec(busy.url("f.bin.zsync"), &[&seed], &out));
    result.unwrap();
    assert_eq!(read(&out), new);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(4),
        "did not wait as asked: {took:?}"
    );

    // A server that asks for an hour is given up on at once, with a message saying so.
    let closed = misbehaving(
        www.path(),
        Misbehaviour::Busy {
            requests: usize::MAX,
            seconds: 3600,
        },
    );
    let out = work.path().join("refused");
    let started = Instant::now();
    let (result, _) = run_job(job_spec(closed.url("f.bin.zsync"), &[&seed], &out));
    let error = result.unwrap_err().to_string();
    assert!(error.contains("asks to come back in 3600 s"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!out.exists());
}

/// The download every fault case below runs: a 600 kB file with a few edits against its
/// seed, published with zsyncmake; a server is started over `www` by each case.
struct Case {
    www: TempDir,
    work: TempDir,
    seed: std::path::PathBuf,
    new: Vec<u8>,
}

fn case(seed: u64) -> Option<Case> {
    let old = random_bytes(600_000, seed);
    let new = edited(&old, seed + 1);
    let (www, _) = publish("f.bin", &new, &["-u", "f.bin"])?;
    let (work, seed) = work_with_seed(&old);
    Some(Case {
        www,
        work,
        seed,
        new,
    })
}

impl Case {
    /// Runs the download from `url` (with `options` changed by `tune`) into a fresh
    /// output; the result, the output's path, and how long it took. The seed is checked
    /// unchanged.
    fn get(
        &self,
        url: String,
        tune: impl FnOnce(&mut deltadrop_core::JobOptions),
    ) -> (
        Result<deltadrop_core::Summary, deltadrop_core::Error>,
        std::path::PathBuf,
        Duration,
    ) {
        let seed_before = read(&self.seed);
        static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out = self.work.path().join(format!("out-{run}"));
        let mut spec = job_spec(url, &[&self.seed], &out);
        tune(&mut spec.options);
        let started = Instant::now();
        let (result, _) = run_job(spec);
        assert_eq!(read(&self.seed), seed_before, "the seed was changed");
        (result, out, started.elapsed())
    }

    /// The download succeeded with the exact file; the bytes it fetched.
    fn exact(
        &self,
        result: Result<deltadrop_core::Summary, deltadrop_core::Error>,
        out: &std::path::Path,
    ) -> u64 {
        let summary = result.unwrap_or_else(|e| panic!("expected the exact file: {e}"));
        assert_eq!(read(out), self.new);
        assert!(
            summary.progress.wire_bytes < self.new.len() as u64,
            "fetched {} bytes, more than the file",
            summary.progress.wire_bytes
        );
        summary.progress.wire_bytes
    }

    /// The download failed with a message naming the server and saying `what`; no output.
    fn refused(
        &self,
        result: Result<deltadrop_core::Summary, deltadrop_core::Error>,
        out: &std::path::Path,
        server: &Misbehaving,
        what: &str,
    ) {
        let error = result.expect_err("the download should fail").to_string();
        println!("message: {error}");
        assert!(
            error.contains(&format!("127.0.0.1:{}", server.port)),
            "{error}"
        );
        assert!(error.contains(what), "{error}");
        assert!(!out.exists(), "a failed download left an output");
    }
}

#[test]
fn a_reply_that_goes_silent_is_retried_after_the_stall_timeout() {
    let Some(case) = case(40) else { return };
    let quick = |o: &mut deltadrop_core::JobOptions| o.stall_timeout = Duration::from_secs(1);

    let stalls_twice = misbehaving(case.www.path(), Misbehaviour::Stall { requests: 3 });
    let (result, out, took) = case.get(stalls_twice.url("f.bin.zsync"), quick);
    case.exact(result, &out);
    assert!(took < Duration::from_secs(20), "took {took:?}");

    let stalls_always = misbehaving(
        case.www.path(),
        Misbehaviour::Stall {
            requests: usize::MAX,
        },
    );
    let (result, out, took) = case.get(stalls_always.url("f.bin.zsync"), quick);
    case.refused(result, &out, &stalls_always, "stopped sending");
    assert!(
        took < Duration::from_secs(40),
        "gave up only after {took:?}"
    );
}

#[test]
fn a_416_for_ranges_inside_the_file_is_reported_as_such() {
    let Some(case) = case(42) else { return };
    let server = misbehaving(case.www.path(), Misbehaviour::NotSatisfiable);
    let (result, out, took) = case.get(server.url("f.bin.zsync"), |_| {});
    case.refused(result, &out, &server, "HTTP 416");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn a_file_on_the_server_shorter_or_longer_than_the_control_file_says_is_named() {
    let Some(case) = case(44) else { return };
    let Some(nginx) = nginx(case.www.path(), None, "") else {
        return;
    };
    let published = case.www.path().join("f.bin");
    for (how, content) in [
        ("shorter", case.new[..400_000].to_vec()),
        ("longer", [&case.new[..], b"and then some"].concat()),
    ] {
        std::fs::write(&published, &content).unwrap();
        let (result, out, _) = case.get(nginx.url("f.bin.zsync"), |_| {});
        let error = result.expect_err(how).to_string();
        println!("{how}: {error}");
        assert!(
            error.contains(&format!("127.0.0.1:{}", nginx.port)),
            "{error}"
        );
        assert!(
            error.contains(&format!("its file is {} bytes", content.len()))
                || error.contains("HTTP 416"),
            "{error}"
        );
        assert!(!out.exists());
    }
}

#[test]
fn a_lying_content_length_costs_requests_not_the_file() {
    let Some(case) = case(46) else { return };
    let server = misbehaving(case.www.path(), Misbehaviour::LyingLength);
    let (result, out, took) = case.get(server.url("f.bin.zsync"), |_| {});
    case.exact(result, &out);
    println!("{} requests, {took:?}", server.requests());
    assert!(took < Duration::from_secs(60), "took {took:?}");
}

#[test]
fn parts_out_of_order_and_overlapping_are_each_put_where_they_belong() {
    let Some(case) = case(48) else { return };
    let server = misbehaving(case.www.path(), Misbehaviour::OverlappingParts);
    let (result, out, _) = case.get(server.url("f.bin.zsync"), |_| {});
    case.exact(result, &out);
}

#[test]
fn a_body_without_end_is_read_no_further_than_the_file() {
    let Some(case) = case(50) else { return };
    let server = misbehaving(case.www.path(), Misbehaviour::EndlessBody);
    let (result, out, took) = case.get(server.url("f.bin.zsync"), |_| {});
    let summary = result.as_ref().map(|s| s.progress.wire_bytes);
    assert_eq!(read(&out), case.new, "{summary:?}");
    let wire = summary.unwrap();
    assert!(
        wire <= case.new.len() as u64 + (1 << 20),
        "read {wire} bytes of an endless body"
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn a_redirect_loop_ends_with_a_message() {
    let Some(case) = case(52) else { return };
    let server = misbehaving(case.www.path(), Misbehaviour::RedirectLoop);
    let (result, out, took) = case.get(server.url("f.bin.zsync"), |_| {});
    case.refused(result, &out, &server, "redirects in a loop");
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

/// A redirector whose mirrors are: one without the file, one without ranges (Python's
/// http.server) and one good one (nginx). Each request that lands on a bad mirror is
/// asked again; the download completes with about the bytes the good mirror alone costs.
#[test]
fn a_mirror_redirector_with_bad_mirrors_is_asked_again_until_a_good_one_serves() {
    let Some(case) = case(54) else { return };
    let Some(good) = nginx(case.www.path(), None, "") else {
        return;
    };
    let Some(no_ranges) = python_http(case.www.path()) else {
        return;
    };
    let empty = public_dir();
    let Some(without_file) = nginx(empty.path(), None, "") else {
        return;
    };
    let direct = {
        let (result, out, _) = case.get(good.url("f.bin.zsync"), |_| {});
        case.exact(result, &out)
    };
    let base = |server: &Server| server.url("").trim_end_matches('/').to_string();
    let server = redirector(
        case.www.path(),
        vec![base(&without_file), base(&no_ranges), base(&good)],
    );
    // One range per request, so that there are many requests to redirect.
    let (result, out, _) = case.get(server.url("f.bin.zsync"), |o| o.max_ranges_per_request = 1);
    let wire = case.exact(result, &out);
    println!("through the redirector: {wire} bytes; from the good mirror alone: {direct}");
    assert!(wire < case.new.len() as u64 / 2, "{wire} bytes");
}

#[test]
fn credentials_go_to_their_host_and_not_where_a_redirect_leads() {
    let Some(case) = case(56) else { return };
    let mirror = misbehaving(case.www.path(), Misbehaviour::Honest);
    // `localhost` is the same machine under another host name: a cross-host redirect.
    let server = redirector(
        case.www.path(),
        vec![format!("http://localhost:{}", mirror.port)],
    );
    let (result, out, _) = case.get(server.url("f.bin.zsync"), |o| {
        o.credentials.push(deltadrop_core::Credentials {
            host: "127.0.0.1".into(),
            user: "me".into(),
            password: "s3cret".into(),
        })
    });
    case.exact(result, &out);
    assert!(mirror.requests() > 0, "the ranges came from the mirror");
    assert!(
        server.requests_with_credentials() > 0,
        "the credentials went to their host"
    );
    assert_eq!(
        mirror.requests_with_credentials(),
        0,
        "the credentials followed a redirect to another host"
    );
}
