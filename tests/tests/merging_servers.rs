//! Servers that merge ranges. RFC 9110 §14.2 lets a server send overlapping or nearby
//! ranges as fewer parts, and several common ones do: lighttpd merges ranges that lie
//! close together, Apache merges overlapping and adjacent ones, and so does our own
//! `serve`. A reply with fewer parts than ranges asked is then no sign of a server that
//! drops ranges: the same download must cost about what it costs against nginx, which
//! sends every range as its own part, and the user must not be told that the server
//! needs fewer ranges per request.

use std::path::Path;

use deltadrop_core::{Event, Summary};

use deltadrop_tests::*;

/// A 24 MB image-like pair: compressible binary, with stretches of several megabytes
/// rewritten (the transport cuts those into pieces for parallel requests, and pieces
/// that share a request touch) and many small edits between them.
fn image_pair() -> (Vec<u8>, Vec<u8>) {
    let compressible = |len, seed| -> Vec<u8> {
        random_bytes(len, seed)
            .into_iter()
            .map(|b| (b % 7).wrapping_mul(37))
            .collect()
    };
    let old = compressible(24 << 20, 41);
    let mut new = old.clone();
    for (i, at) in [3usize, 9, 15].into_iter().enumerate() {
        let start = at << 20;
        new[start..start + (3 << 20)].copy_from_slice(&compressible(3 << 20, 50 + i as u64));
    }
    let mut rng = Rng::new(42);
    for _ in 0..20 {
        let at = (rng.fraction() * (new.len() - 100) as f64) as usize;
        new[at] ^= 0x55;
    }
    (old, new)
}

/// One download of `file` (its control file is `file.zsync` at `base`) with `seed`,
/// checked to give the exact file: what it cost, and the notices that the server needs
/// fewer ranges per request.
fn download(
    base: &str,
    file: &str,
    seed: &Path,
    new: &[u8],
    server: &str,
) -> (Summary, Vec<String>) {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let (result, events) = run_job(job_spec(format!("{base}{file}.zsync"), &[seed], &out));
    let summary = result.unwrap_or_else(|e| panic!("{server}: {e}"));
    assert!(
        read(&out) == new,
        "{server}: the file is not the published one"
    );
    let ladder = events
        .into_iter()
        .filter_map(|e| match e {
            Event::Notice(n) if n.contains("ranges per request") => Some(n),
            _ => None,
        })
        .collect();
    (summary, ladder)
}

/// Publishes the pair's newer file with `zsyncmake` (`args`; `served` is the file the
/// control file points at) and downloads it from nginx, Apache, `serve` and lighttpd,
/// for about nginx's bytes. Apache and `serve` send every byte asked for: asking them for
/// fewer ranges would be wrong, and they cost no more than twice nginx's requests.
/// lighttpd really leaves out ranges past its tenth: the client must ask it for fewer,
/// and then costs no more than twice the requests of ten ranges each.
fn same_cost_on_every_server(args: &[&str], file: &str, served: &str) {
    let (old, new) = image_pair();
    let www = public_dir();
    std::fs::write(www.path().join(file), &new).unwrap();
    if zsyncmake(www.path(), file, args).is_none() {
        return;
    }
    if served != file {
        std::fs::remove_file(www.path().join(file)).unwrap();
    }
    let (Some(nginx), Some(lighttpd), Some(apache)) = (
        nginx(www.path(), None, ""),
        lighttpd(www.path()),
        apache(www.path()),
    ) else {
        return;
    };
    let serve =
        deltadrop_core::serve::Server::start(www.path(), "127.0.0.1:0".parse().unwrap(), None)
            .unwrap();
    let (_work, seed) = work_with_seed(&old);

    let (nginx_summary, ladder) = download(&nginx.url(""), file, &seed, &new, "nginx");
    assert!(ladder.is_empty(), "nginx: {ladder:?}");
    let baseline = nginx_summary.progress;
    let ranges = nginx_summary.plan.ranges;
    for (name, base, ranges_per_reply) in [
        ("Apache", apache.url(""), None),
        ("serve", serve.url(), None),
        ("lighttpd", lighttpd.url(""), Some(10)),
    ] {
        let (summary, ladder) = download(&base, file, &seed, &new, name);
        let progress = summary.progress;
        println!(
            "{name}: {} requests, {} bytes ({ladder:?}); nginx: {} requests, {} bytes",
            progress.requests, progress.wire_bytes, baseline.requests, baseline.wire_bytes
        );
        assert_eq!(
            ladder.is_empty(),
            ranges_per_reply.is_none(),
            "{name} sends at most {ranges_per_reply:?} ranges per reply, and: {ladder:?}"
        );
        let fair = ranges_per_reply.map_or(baseline.requests, |n| ranges.div_ceil(n));
        assert!(
            progress.requests <= 2 * fair,
            "{name} took {} requests where {fair} would do (nginx: {})",
            progress.requests,
            baseline.requests
        );
        assert!(
            progress.wire_bytes <= baseline.wire_bytes + baseline.wire_bytes / 10,
            "{name} sent {} bytes where nginx sent {}",
            progress.wire_bytes,
            baseline.wire_bytes
        );
    }
    // The servers' own logs agree with the client's count.
    drop(lighttpd);
    for (name, server) in [("nginx", &nginx), ("Apache", &apache)] {
        assert!(
            server.requests_for(served).0 > 0,
            "{name} logged no request"
        );
    }
}

#[test]
fn a_plain_target_costs_the_same_on_servers_that_merge_ranges() {
    same_cost_on_every_server(&["-b", "2048", "-u", "image.img"], "image.img", "image.img");
}

#[test]
fn a_gzip_target_costs_the_same_on_servers_that_merge_ranges() {
    same_cost_on_every_server(&["-z", "-u", "image.img.gz"], "image.img", "image.img.gz");
}
