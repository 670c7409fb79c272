//! zchunk downloads end to end: Debian's `zck` makes the files, nginx (or a server that
//! misbehaves) serves them, the engine downloads with older `.zck` files as seeds, and
//! zchunk's own `zckdl` and `unzck` are the yardsticks: the same file, no more bytes.
//! The files our writer (`make --zck`) makes are held to the same: zchunk's tools read
//! them, both clients update from them, and an update costs no more than from `zck`'s.

use std::path::{Path, PathBuf};

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

/// `content` made into `dir/name.zck` by our writer (`make --zck`); the input is left
/// beside it.
fn our_zck(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let input = dir.join(name);
    std::fs::write(&input, content).unwrap();
    let output = dir.join(format!("{name}.zck"));
    deltadrop_core::write_zck(&input, &output).unwrap();
    output
}

#[test]
fn zchunks_own_tools_read_the_zck_we_write() {
    let (Some(unzck), Some(read_header)) = (peer("unzck"), peer("zck_read_header")) else {
        return;
    };
    let mut content = text_bytes(3_000_000, 81);
    content.extend(random_bytes(500_000, 82));
    let dir = tempfile::tempdir().unwrap();
    let ours = our_zck(dir.path(), "data.bin", &content);
    std::fs::remove_file(dir.path().join("data.bin")).unwrap();

    let unzipped = run(&unzck, &["data.bin.zck"], dir.path());
    assert!(unzipped.status.success(), "{}", text(&unzipped.stderr));
    assert!(
        read(&dir.path().join("data.bin")) == content,
        "unzck's output"
    );

    // zck_read_header checks the header and data checksums (-f) and lists the chunks.
    let shown = run(&read_header, &["-f", "-c", "data.bin.zck"], dir.path());
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    let shown = text(&shown.stdout);
    let field = |label: &str| {
        shown
            .lines()
            .find_map(|l| l.strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label} in {shown}"))
            .trim()
            .to_string()
    };
    assert_eq!(field("Overall checksum type:"), "SHA-256");
    assert_eq!(field("Chunk checksum type:"), "SHA-512/128");
    let chunks: usize = field("Chunk count:").parse().unwrap();
    assert!(chunks > 50, "{chunks} chunks for 3.5 MB");
    let header_len: u64 = field("Header size:").parse().unwrap();
    let data_len: u64 = field("Data size:").parse().unwrap();
    assert_eq!(header_len + data_len, read(&ours).len() as u64);
}

#[test]
fn our_engine_and_zckdl_update_from_the_zck_we_write() {
    let (Some(zckdl), Some(unzck)) = (peer("zckdl"), peer("unzck")) else {
        return;
    };
    let old = text_bytes(4_000_000, 71);
    let new = edited(&old, 72);
    let www = public_dir();
    let work = tempfile::tempdir().unwrap();
    let published = read(&our_zck(www.path(), "data.txt", &new));
    let seed = our_zck(work.path(), "old.txt", &old);
    let Some(server) = nginx(www.path(), None, "") else {
        return;
    };

    // Ours, with the older .zck as the seed.
    let out = work.path().join("data.txt.zck");
    let mut spec = job_spec(server.url("data.txt.zck"), &[&seed], &out);
    spec.options.uncompress = true;
    let summary = run_job(spec).0.unwrap();
    assert_eq!(read(&out), published, "the .zck exactly as published");
    assert!(read(&work.path().join("data.txt")) == new, "--uncompress");
    let progress = summary.progress;
    assert!(
        progress.local_bytes > published.len() as u64 / 2,
        "{progress:?}"
    );

    // zckdl, with the same seed.
    let theirs = tempfile::tempdir().unwrap();
    let seed_arg = format!("--source={}", seed.display());
    let got = run(
        &zckdl,
        &[&seed_arg, &server.url("data.txt.zck")],
        theirs.path(),
    );
    assert!(got.status.success(), "zckdl: {}", text(&got.stderr));
    assert_eq!(read(&theirs.path().join("data.txt.zck")), published);
    // zckdl names no User-Agent: its bytes are all but ours.
    let theirs_bytes =
        server.requests_for("data.txt.zck").1 - server.requests_by("deltadrop/", "data.txt.zck").1;
    let unzipped = run(&unzck, &["data.txt.zck"], theirs.path());
    assert!(unzipped.status.success(), "{}", text(&unzipped.stderr));
    assert!(
        read(&theirs.path().join("data.txt")) == new,
        "unzck after zckdl"
    );
    eprintln!(
        "from our .zck of {} bytes: deltadrop fetched {}, zckdl {theirs_bytes}",
        published.len(),
        progress.fetched_bytes
    );
}

/// A realistic next version of `old`: a dozen small edits at scattered places (a line
/// rewritten, a few words inserted, a stretch removed), the way a log, a package list
/// or a disk image changes between two builds.
fn small_edits(old: &[u8], seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut new = old.to_vec();
    for edit in 0..12 {
        let at = (rng.fraction() * (new.len() - 1000) as f64) as usize;
        let len = 20 + (rng.next_u64() % 300) as usize;
        match edit % 3 {
            0 => new[at..at + len].copy_from_slice(&random_bytes(len, rng.next_u64())),
            1 => {
                new.splice(at..at, text_bytes(len, rng.next_u64()));
            }
            _ => {
                new.drain(at..at + len);
            }
        }
    }
    new
}

#[test]
fn an_update_from_our_zck_costs_at_most_5_percent_more_than_from_zcks() {
    // Several MiB: text with binary stretches, as in a disk image; two pairs of versions.
    let mut ours_total = 0;
    let mut theirs_total = 0;
    for pair_seed in [91, 93] {
        let mut old = text_bytes(5_000_000, pair_seed);
        for (i, at) in [1_000_000, 3_000_000].into_iter().enumerate() {
            let binary = random_bytes(400_000, pair_seed * 10 + i as u64);
            old.splice(at..at, binary);
        }
        let new = small_edits(&old, pair_seed + 1);
        let www = public_dir();
        let work = tempfile::tempdir().unwrap();
        let ours_new = read(&our_zck(www.path(), "ours", &new));
        let ours_seed = our_zck(work.path(), "ours-old", &old);
        let Some(theirs_new) = zck(www.path(), "theirs", &new, &[]) else {
            return;
        };
        let theirs_new = read(&theirs_new);
        let Some(theirs_seed) = zck(work.path(), "theirs-old", &old, &[]) else {
            return;
        };
        let Some(server) = nginx(www.path(), None, "") else {
            return;
        };
        let mut fetched = [0, 0];
        for (i, (name, seed, published)) in [
            ("ours.zck", &ours_seed, &ours_new),
            ("theirs.zck", &theirs_seed, &theirs_new),
        ]
        .into_iter()
        .enumerate()
        {
            let out = work.path().join(format!("out-{name}"));
            run_job(job_spec(server.url(name), &[seed], &out))
                .0
                .unwrap();
            assert_eq!(&read(&out), published, "{name}");
            fetched[i] = server.requests_for(name).1;
        }
        eprintln!(
            "pair {pair_seed}: {} bytes made into our .zck of {} bytes and zck's of {}; \
             the update fetched {} bytes from ours, {} from zck's",
            new.len(),
            ours_new.len(),
            theirs_new.len(),
            fetched[0],
            fetched[1]
        );
        ours_total += fetched[0];
        theirs_total += fetched[1];
    }
    eprintln!(
        "in all: {ours_total} bytes from ours, {theirs_total} from zck's ({:.3}x)",
        ours_total as f64 / theirs_total as f64
    );
    assert!(
        ours_total * 100 <= theirs_total * 105,
        "{ours_total} bytes from ours > 1.05 x {theirs_total} from zck's"
    );
}
