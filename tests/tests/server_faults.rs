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
