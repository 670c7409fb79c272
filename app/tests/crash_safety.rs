//! Nothing lost: the real `deltadrop-cli` killed with SIGKILL at random moments, a disk
//! that fills up, two downloads into one output, the output named as its own seed and a
//! seed rewritten while it is scanned. Whatever happens, the output is the previous file
//! or the verified new one, seeds are untouched, and the next run finishes the job.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use deltadrop_tests::*;

const CLI: &str = env!("CARGO_BIN_EXE_deltadrop-cli");

/// `deltadrop-cli` started in the background, its output thrown away.
fn spawn(args: &[&str], cwd: &Path) -> Child {
    command(CLI, args, cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start deltadrop-cli")
}

/// `old` with about a third of its 64 KiB stretches replaced: a download that scans the
/// seed and then fetches for a while.
fn rebuilt(old: &[u8], seed: u64) -> Vec<u8> {
    let fresh = random_bytes(old.len(), seed);
    let mut new = old.to_vec();
    for (i, stretch) in new.chunks_mut(64 << 10).enumerate() {
        if i % 3 == 1 {
            let at = i * (64 << 10);
            stretch.copy_from_slice(&fresh[at..at + stretch.len()]);
        }
    }
    new
}

/// Random kill moments; the seed is printed so that a failing sequence can be replayed.
struct Moments(Rng);

impl Moments {
    fn from_clock() -> Self {
        let seed = std::env::var("DELTADROP_KILL_SEED").map_or_else(
            |_| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            },
            |s| s.parse().unwrap(),
        );
        println!("kill moments: DELTADROP_KILL_SEED={seed}");
        Moments(Rng::new(seed))
    }

    /// A moment between none and `within`.
    fn next(&mut self, within: Duration) -> Duration {
        within.mul_f64(self.0.fraction())
    }
}

/// What `get` may leave at `out` at any moment: the previous file or the new one.
fn assert_whole(out: &Path, previous: &[u8], new: &[u8], when: &str) {
    let now = read(out);
    assert!(
        now == previous || now == new,
        "{when}: the output is neither the previous file nor the new one ({} bytes)",
        now.len()
    );
}

#[test]
fn kill_9_at_random_moments_never_leaves_a_mix_and_the_next_run_resumes() {
    let old = random_bytes(8_000_000, 60);
    let new = rebuilt(&old, 61);
    let previous = edited(&old, 62);
    let Some((www, _)) = publish("f.bin", &new, &["-u", "f.bin"]) else {
        return;
    };
    // Slow enough that the fetch lasts about a second and a half.
    let Some(server) = nginx(www.path(), None, "limit_rate 512k;") else {
        return;
    };
    let url = server.url("f.bin.zsync");
    let get = ["get", "-q", "-i", "seed", "-o", "out", url.as_str()];
    let fresh_work = || {
        let work = tempfile::tempdir().unwrap();
        std::fs::write(work.path().join("seed"), &old).unwrap();
        std::fs::write(work.path().join("out"), &previous).unwrap();
        work
    };

    // An uninterrupted run: how long, how many bytes.
    let work = fresh_work();
    let started = Instant::now();
    let done = run(CLI, &get, work.path());
    let whole_run = started.elapsed();
    assert_eq!(done.status.code(), Some(0), "{}", text(&done.stderr));
    assert_eq!(read(&work.path().join("out")), new);
    let (_, uninterrupted) = server.requests_for("f.bin");

    // The same download killed again and again, then run to its end.
    let work = fresh_work();
    let out = work.path().join("out");
    let mut moments = Moments::from_clock();
    let kills = 8;
    for kill in 0..kills {
        let mut child = spawn(&get, work.path());
        std::thread::sleep(moments.next(whole_run.mul_f64(1.1)));
        let _ = child.kill();
        let status = child.wait().unwrap();
        let when = format!("kill {kill} ({status})");
        assert_whole(&out, &previous, &new, &when);
        assert_eq!(
            read(&work.path().join("seed")),
            old,
            "{when}: the seed changed"
        );
        let kept = work.path().join("out.zs-old");
        if kept.exists() {
            assert_whole(&kept, &previous, &new, &when);
        }
    }
    let done = run(CLI, &get, work.path());
    assert_eq!(done.status.code(), Some(0), "{}", text(&done.stderr));
    assert_eq!(read(&out), new);
    assert!(!work.path().join("out.part").exists());
    let (_, all) = server.requests_for("f.bin");
    let interrupted = all - uninterrupted;
    println!(
        "uninterrupted: {uninterrupted} bytes in {whole_run:?}; killed {kills} times then finished: {interrupted} bytes in all"
    );
    assert!(
        interrupted * 100 <= uninterrupted * 115,
        "{kills} kills cost {interrupted} bytes against {uninterrupted} uninterrupted"
    );
}

#[test]
fn a_full_disk_stops_with_a_clear_message_and_the_part_resumes_once_space_is_freed() {
    let old = random_bytes(2_500_000, 70);
    let new = rebuilt(&old, 71);
    let previous = random_bytes(1_000_000, 72);
    let Some((www, _)) = publish("f.bin", &new, &["-u", "f.bin"]) else {
        return;
    };
    let Some(server) = nginx(www.path(), None, "") else {
        return;
    };
    // The previous output (1 MB) plus the new one (2.5 MB) do not fit in 3 MB.
    let Some(disk) = SmallDisk::mount(3_000_000) else {
        return;
    };
    let seeds = tempfile::tempdir().unwrap();
    let seed = seeds.path().join("seed");
    std::fs::write(&seed, &old).unwrap();
    let out = disk.path().join("out");
    std::fs::write(&out, &previous).unwrap();
    let url = server.url("f.bin.zsync");
    let get = [
        "get",
        "-q",
        "-i",
        seed.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        url.as_str(),
    ];

    let full = run(CLI, &get, disk.path());
    let stderr = text(&full.stderr);
    println!("{stderr}");
    assert_eq!(full.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("No space left") && stderr.contains("Free some disk space"),
        "{stderr}"
    );
    assert_eq!(read(&out), previous, "the previous output was touched");
    assert_eq!(read(&seed), old, "the seed was touched");
    let (_, first) = server.requests_for("f.bin");

    disk.grow(8_000_000);
    let done = run(CLI, &get, disk.path());
    assert_eq!(done.status.code(), Some(0), "{}", text(&done.stderr));
    assert_eq!(read(&out), new);
    assert_eq!(read(&disk.path().join("out.zs-old")), previous);
    let (_, all) = server.requests_for("f.bin");
    let changed = new.len() as u64 / 3;
    println!(
        "first run fetched {first} bytes before the disk was full; the second {}",
        all - first
    );
    assert!(
        all - first < changed,
        "the second run fetched {} bytes: it did not resume from the .part",
        all - first
    );
}

#[test]
fn a_second_download_into_the_same_output_is_told_and_the_first_completes() {
    let new = random_bytes(3_000_000, 80);
    let Some((www, _)) = publish("f.bin", &new, &["-u", "f.bin"]) else {
        return;
    };
    let Some(server) = nginx(www.path(), None, "limit_rate 256k;") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let url = server.url("f.bin.zsync");
    let get = ["get", "-q", "-o", "out", url.as_str()];
    let mut first = spawn(&get, work.path());
    let part = work.path().join("out.part");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !part.exists() {
        assert!(
            Instant::now() < deadline,
            "the first download made no .part"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = run(CLI, &get, work.path());
    let stderr = text(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("another download into") && stderr.contains("is running"),
        "{stderr}"
    );
    assert!(first.wait().unwrap().success());
    assert_eq!(read(&work.path().join("out")), new);
    assert!(!part.exists());
}

#[test]
fn the_output_named_as_its_own_seed_is_updated_and_kept_as_zs_old() {
    let old = random_bytes(1_500_000, 90);
    let new = edited(&old, 91);
    let Some((www, _)) = publish("f.bin", &new, &["-u", "f.bin"]) else {
        return;
    };
    let Some(server) = nginx(www.path(), None, "") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("out"), &old).unwrap();
    let url = server.url("f.bin.zsync");
    let done = run(
        CLI,
        &["get", "-q", "-i", "out", "-o", "out", &url],
        work.path(),
    );
    assert_eq!(done.status.code(), Some(0), "{}", text(&done.stderr));
    assert_eq!(read(&work.path().join("out")), new);
    assert_eq!(read(&work.path().join("out.zs-old")), old);
    let (_, fetched) = server.requests_for("f.bin");
    assert!(fetched < new.len() as u64 / 4, "fetched {fetched} bytes");
}

#[test]
fn a_seed_rewritten_during_the_scan_gives_the_exact_file_or_says_why() {
    let old = random_bytes(24_000_000, 100);
    let new = rebuilt(&old, 101);
    let Some((www, _)) = publish("f.bin", &new, &["-u", "f.bin"]) else {
        return;
    };
    let Some(server) = nginx(www.path(), None, "") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let seed: PathBuf = work.path().join("seed");
    std::fs::write(&seed, &old).unwrap();
    let url = server.url("f.bin.zsync");
    let mut download = spawn(&["get", "-q", "-i", "seed", "-o", "out", &url], work.path());
    // Shrink the seed, scramble it and grow it back while the download runs.
    let mut round = 0;
    let status = loop {
        if let Some(status) = download.try_wait().unwrap() {
            break status;
        }
        let noise = random_bytes(old.len() / 2, 200 + round);
        let content = if round % 2 == 0 {
            &old[..old.len() / 3]
        } else {
            &noise[..]
        };
        std::fs::write(&seed, content).unwrap();
        round += 1;
        std::thread::sleep(Duration::from_millis(5));
    };
    println!("the seed was rewritten {round} times during the download ({status})");
    let out = work.path().join("out");
    if status.success() {
        assert_eq!(read(&out), new);
    } else {
        assert!(!out.exists(), "a failed download left an output");
    }
}

#[test]
fn a_follow_killed_mid_download_keeps_its_builds_and_the_next_check_resumes() {
    let build1 = random_bytes(6_000_000, 73);
    let build2 = rebuilt(&build1, 74);
    let www = public_dir();
    let latest = www.path().join("latest");
    std::fs::create_dir_all(&latest).unwrap();
    std::fs::write(latest.join("f.bin"), &build1).unwrap();
    if zsyncmake(&latest, "f.bin", &["-u", "f.bin"]).is_none() {
        return;
    }
    let Some(server) = nginx(www.path(), None, "limit_rate 512k;") else {
        return;
    };
    let url = server.url("latest/f.bin.zsync");
    let work = tempfile::tempdir().unwrap();
    let follow = ["follow", url.as_str(), "--into", "builds", "--once", "-q"];
    let done = run(CLI, &follow, work.path());
    assert_eq!(done.status.code(), Some(0), "{}", text(&done.stderr));
    let folder = work.path().join("builds");

    // Build 2, a new control file a minute younger (nginx's ETag counts seconds).
    std::fs::write(latest.join("f.bin"), &build2).unwrap();
    let control = zsyncmake(&latest, "f.bin", &["-u", "f.bin"]).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&control)
        .and_then(|f| f.set_modified(std::time::SystemTime::now() + Duration::from_secs(60)))
        .unwrap();
    let mut child = spawn(&follow, work.path());
    let part = folder.join("f.bin.part");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !part.exists() {
        assert!(Instant::now() < deadline, "the download never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(700));
    let _ = child.kill();
    child.wait().unwrap();
    assert!(
        read(&folder.join("f.bin")) == build1,
        "the kept build is untouched"
    );
    assert!(part.exists(), "the download waits in its .part");

    let done = run(CLI, &follow, work.path());
    assert_eq!(done.status.code(), Some(0), "{}", text(&done.stderr));
    assert!(
        text(&done.stdout).starts_with("new build: builds/f.bin"),
        "{}",
        text(&done.stdout)
    );
    assert!(read(&folder.join("f.bin")) == build2);
    assert!(!part.exists());
}
