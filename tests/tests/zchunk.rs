//! zchunk downloads end to end: Debian's `zck` makes the files, nginx (or a server that
//! misbehaves) serves them, the engine downloads with older `.zck` files as seeds, and
//! zchunk's own `zckdl` and `unzck` are the yardsticks: the same file, no more bytes.

use std::path::PathBuf;

use deltadrop_core::{BlockState, Event, Format, Mode};
use deltadrop_tests::*;

/// An old and a new version of a text file, as `.zck` files: the new one published in
/// `www`, the old one in `work` as the seed.
struct Pair {
    www: TempDir,
    work: TempDir,
    new: Vec<u8>,
    new_zck: Vec<u8>,
    seed: PathBuf,
}

fn pair(len: usize, seed: u64, args: &[&str]) -> Option<Pair> {
    let old = text_bytes(len, seed);
    let new = edited(&old, seed + 1);
    let www = public_dir();
    let work = tempfile::tempdir().unwrap();
    let published = zck(www.path(), "data.txt", &new, args)?;
    let seed = zck(work.path(), "old.txt", &old, args)?;
    Some(Pair {
        new_zck: read(&published),
        www,
        work,
        new,
        seed,
    })
}

#[test]
fn downloads_a_zck_reusing_an_older_one_and_fetches_no_more_than_zckdl() {
    let Some(p) = pair(4_000_000, 31, &[]) else {
        return;
    };
    let (Some(server), Some(zckdl), Some(unzck)) =
        (nginx(p.www.path(), None, ""), peer("zckdl"), peer("unzck"))
    else {
        return;
    };
    let out = p.work.path().join("data.txt.zck");
    let seed_before = read(&p.seed);
    let mut spec = job_spec(server.url("data.txt.zck"), &[&p.seed], &out);
    spec.options.uncompress = true;
    let (result, events) = run_job(spec);
    let summary = result.unwrap();
    assert_eq!(read(&out), p.new_zck, "the .zck exactly as published");
    assert_eq!(read(&p.work.path().join("data.txt")), p.new, "--uncompress");
    assert_eq!(read(&p.seed), seed_before, "the seed was modified");
    assert!(!p.work.path().join("data.txt.zck.part").exists());
    let (ours_requests, ours_bytes) = server.requests_by("deltadrop/", "data.txt.zck");

    // unzck reads our file back to the original.
    let check = tempfile::tempdir().unwrap();
    std::fs::copy(&out, check.path().join("data.txt.zck")).unwrap();
    let unzipped = run(&unzck, &["data.txt.zck"], check.path());
    assert!(unzipped.status.success(), "{}", text(&unzipped.stderr));
    assert_eq!(read(&check.path().join("data.txt")), p.new);

    // zckdl with the same seed.
    let theirs_dir = tempfile::tempdir().unwrap();
    let seed_arg = format!("--source={}", p.seed.display());
    let theirs = run(
        &zckdl,
        &[&seed_arg, &server.url("data.txt.zck")],
        theirs_dir.path(),
    );
    assert!(theirs.status.success(), "zckdl: {}", text(&theirs.stderr));
    assert_eq!(read(&theirs_dir.path().join("data.txt.zck")), p.new_zck);
    let (all_requests, all_bytes) = server.requests_for("data.txt.zck");
    let (theirs_requests, theirs_bytes) = (all_requests - ours_requests, all_bytes - ours_bytes);
    eprintln!(
        "deltadrop: {ours_bytes} bytes in {ours_requests} requests; zckdl: {theirs_bytes} bytes in {theirs_requests} requests"
    );
    assert!(
        ours_bytes <= theirs_bytes,
        "{ours_bytes} > zckdl's {theirs_bytes}"
    );
    assert!(ours_requests <= theirs_requests.max(3));
    let fetched = summary.progress.fetched_bytes;
    assert!(
        fetched > 0 && fetched < p.new_zck.len() as u64 / 2,
        "fetched {fetched}"
    );

    // The map: one cell per chunk (and the header), local ones from the seed.
    let Some(info) = events.iter().find_map(|e| match e {
        Event::ControlLoaded(info) => Some(info.clone()),
        _ => None,
    }) else {
        panic!("no ControlLoaded event");
    };
    assert_eq!(info.format, Format::Zchunk);
    assert_eq!(info.block_ends.len() as u64, info.block_count);
    assert_eq!(info.block_ends.last(), Some(&(p.new_zck.len() as u64)));
    let states = block_map(&events, info.block_count as usize);
    let local = states.iter().filter(|&&s| s == BlockState::Local).count();
    let network = states.iter().filter(|&&s| s == BlockState::Fetched).count();
    assert!(local > network, "{local} chunks local, {network} fetched");
    assert_eq!(local + network, states.len(), "{states:?}");
    assert_eq!(states[0], BlockState::Fetched, "the header");
}

#[test]
fn every_chunk_checksum_and_a_dictionary() {
    // zck's chunk checksum types, and a file compressed with a dictionary (zck -D).
    for args in [
        &["-h", "sha256"][..],
        &["-h", "sha512"],
        &["-h", "sha512_128"],
    ] {
        let Some(p) = pair(600_000, 41, args) else {
            return;
        };
        let Some(server) = nginx(p.www.path(), None, "") else {
            return;
        };
        let out = p.work.path().join("new.zck");
        let (result, _) = run_job(job_spec(server.url("data.txt.zck"), &[&p.seed], &out));
        result.unwrap();
        assert_eq!(read(&out), p.new_zck, "{args:?}");
    }
    let dict_dir = tempfile::tempdir().unwrap();
    let text = text_bytes(300_000, 43);
    std::fs::write(dict_dir.path().join("dict"), &text[..50_000]).unwrap();
    let Some(p) = pair(
        300_000,
        43,
        &["-D", &dict_dir.path().join("dict").display().to_string()],
    ) else {
        return;
    };
    let Some(server) = nginx(p.www.path(), None, "") else {
        return;
    };
    let out = p.work.path().join("new.txt.zck");
    let mut spec = job_spec(server.url("data.txt.zck"), &[&p.seed], &out);
    spec.options.uncompress = true;
    run_job(spec).0.unwrap();
    assert_eq!(read(&out), p.new_zck);
    assert_eq!(read(&p.work.path().join("new.txt")), p.new);
}

#[test]
fn single_range_servers_an_interrupted_part_and_nothing_local() {
    let Some(p) = pair(1_500_000, 51, &[]) else {
        return;
    };
    // A server that serves one range per request (nginx max_ranges 1).
    let Some(single) = nginx(p.www.path(), Some(1), "") else {
        return;
    };
    let out = p.work.path().join("a.zck");
    run_job(job_spec(single.url("data.txt.zck"), &[&p.seed], &out))
        .0
        .unwrap();
    assert_eq!(read(&out), p.new_zck);

    // No seed: every chunk from the network.
    let out = p.work.path().join("b.zck");
    let (result, _) = run_job(job_spec(single.url("data.txt.zck"), &[], &out));
    assert_eq!(result.unwrap().progress.local_bytes, 0);
    assert_eq!(read(&out), p.new_zck);

    // A .part holding the first half: its chunks are kept, the rest fetched.
    let out = p.work.path().join("c.zck");
    std::fs::write(
        p.work.path().join("c.zck.part"),
        &p.new_zck[..p.new_zck.len() / 2],
    )
    .unwrap();
    let (result, _) = run_job(job_spec(single.url("data.txt.zck"), &[], &out));
    let summary = result.unwrap();
    assert_eq!(read(&out), p.new_zck);
    let local = summary.progress.local_bytes;
    assert!(
        local > p.new_zck.len() as u64 / 3,
        "kept {local} bytes of the .part"
    );

    // Planning only: what would be fetched, nothing written.
    let out = p.work.path().join("d.zck");
    let mut spec = job_spec(single.url("data.txt.zck"), &[&p.seed], &out);
    spec.options.mode = Mode::PlanOnly;
    let plan = run_job(spec).0.unwrap().plan;
    assert!(plan.local_bytes > 0 && plan.bytes_to_fetch > 0);
    assert!(!out.exists());
}

#[test]
fn a_corrupted_chunk_is_refused_and_nothing_is_replaced() {
    let Some(p) = pair(800_000, 61, &[]) else {
        return;
    };
    // Bits flipped in the last chunk on the server, every time it is sent.
    let server = misbehaving(
        p.www.path(),
        Misbehaviour::CorruptAt(p.new_zck.len() as u64 - 10),
    );
    let out = p.work.path().join("data.txt.zck");
    std::fs::write(&out, b"the previous version").unwrap();
    let (result, _) = run_job(job_spec(server.url("data.txt.zck"), &[], &out));
    let error = result.unwrap_err().to_string();
    assert!(error.contains("failed its checksum"), "{error}");
    assert_eq!(read(&out), b"the previous version");

    // Not a zchunk file, and a local .zck given as the source.
    std::fs::write(p.www.path().join("fake.zck"), b"<html>not found</html>").unwrap();
    let (result, _) = run_job(job_spec(server.url("fake.zck"), &[], &out));
    let error = result.unwrap_err().to_string();
    assert!(error.contains("is not a zchunk file"), "{error}");
    let mut spec = job_spec(String::new(), &[], &out);
    spec.control = deltadrop_core::ControlSource::File(p.seed.clone());
    let error = run_job(spec).0.unwrap_err().to_string();
    assert!(error.contains("give the URL"), "{error}");
    assert_eq!(read(&out), b"the previous version");
}

#[test]
fn a_failed_uncompress_says_the_download_itself_is_good() {
    let Some(p) = pair(300_000, 51, &[]) else {
        return;
    };
    let Some(server) = nginx(p.www.path(), None, "") else {
        return;
    };
    // Where the uncompressed file would go, a folder is in the way.
    std::fs::create_dir(p.work.path().join("data.txt")).unwrap();
    let out = p.work.path().join("data.txt.zck");
    let mut spec = job_spec(server.url("data.txt.zck"), &[&p.seed], &out);
    spec.options.uncompress = true;
    let (result, _) = run_job(spec);
    let error = result.unwrap_err();
    assert_eq!(read(&out), p.new_zck, "the verified .zck is in place");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "{} was downloaded and verified, but uncompressing it failed: ",
            out.display()
        )),
        "{message}"
    );
    assert!(
        error
            .hint()
            .starts_with("The download itself is complete and verified")
    );
    assert!(!message.contains("damaged"), "{message}");
}
