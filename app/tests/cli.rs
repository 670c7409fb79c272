//! The `deltadrop-cli` binary as scripts use it: exit codes, zsync's closing line,
//! `--json` events, `info` (and `info --estimate`) and `make` (`--zck` too).

use deltadrop_tests::*;

const CLI: &str = env!("CARGO_BIN_EXE_deltadrop-cli");

#[test]
fn get_prints_zsyncs_closing_line_and_exit_codes_follow_zsync() {
    let old = random_bytes(700_000, 31);
    let new = edited(&old, 32);
    let www = public_dir();
    std::fs::write(www.path().join("f.bin"), &new).unwrap();
    let Some(zsync) = zsyncmake(www.path(), "f.bin", &[]) else {
        return;
    };
    let Some(server) = nginx(www.path(), None, "") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("old"), &old).unwrap();

    let out = run(
        CLI,
        &[
            "get",
            "-q",
            "-i",
            "old",
            "-o",
            "new",
            &server.url("f.bin.zsync"),
        ],
        work.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let line = stdout.lines().last().unwrap();
    let (_, body) = server.requests_for("f.bin");
    assert!(
        line.starts_with("used ") && line.ends_with(&format!(" local, fetched {body}")),
        "{line}"
    );
    assert_eq!(read(&work.path().join("new")), new);

    // A control file whose SHA-1 is wrong: exit code 2, as zsync.
    let mut bad = read(&zsync);
    let at = bad.windows(6).position(|w| w == b"SHA-1:").unwrap() + 7;
    bad[at] = if bad[at] == b'a' { b'b' } else { b'a' };
    std::fs::write(www.path().join("bad.zsync"), &bad).unwrap();
    let out = run(
        CLI,
        &["get", "-q", "-o", "bad-out", &server.url("bad.zsync")],
        work.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("SHA-1"));

    // Any other failure: exit code 1 and a message that says what to do.
    let out = run(
        CLI,
        &["get", "-q", &server.url("nothing-here.zsync")],
        work.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("404") && stderr.contains("Check the URL"),
        "{stderr}"
    );
}

#[test]
fn json_events_info_and_make() {
    let old = text_bytes(400_000, 33);
    let new = edited(&old, 34);
    let www = public_dir();
    std::fs::write(www.path().join("f.txt"), &new).unwrap();
    let make = run(CLI, &["make", "-u", "f.txt", "f.txt"], www.path());
    assert_eq!(make.status.code(), Some(0), "{}", text(&make.stderr));
    let Some(server) = nginx(www.path(), None, "") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("old"), &old).unwrap();

    let info = run(
        CLI,
        &["info", "-i", "old", &server.url("f.txt.zsync")],
        work.path(),
    );
    assert_eq!(info.status.code(), Some(0), "{}", text(&info.stderr));
    let info_text = text(&info.stdout);
    assert!(
        info_text.contains("f.txt") && info_text.contains("reuse") && info_text.contains("fetch"),
        "{info_text}"
    );
    assert!(
        !work.path().join("f.txt").exists(),
        "info downloaded nothing"
    );

    let out = run(
        CLI,
        &["get", "--json", "-i", "old", &server.url("f.txt.zsync")],
        work.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for kind in [
        "control_loaded",
        "seed_started",
        "seed_finished",
        "planned",
        "blocks",
        "finished",
    ] {
        assert!(kinds.contains(&kind), "no {kind} event in {kinds:?}");
    }
    let last = events.last().unwrap();
    assert_eq!(last["event"], "finished");
    assert_eq!(last["ok"], true);
    assert_eq!(read(&work.path().join("f.txt")), new);
}

#[test]
fn make_zck_writes_a_zck_that_get_updates_from() {
    let old = text_bytes(600_000, 35);
    let new = edited(&old, 36);
    let www = public_dir();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("f.txt"), &new).unwrap();
    std::fs::write(work.path().join("old.txt"), &old).unwrap();
    let make = run(CLI, &["make", "--zck", "f.txt"], www.path());
    assert_eq!(make.status.code(), Some(0), "{}", text(&make.stderr));
    assert!(
        text(&make.stderr).contains("wrote f.txt.zck ("),
        "{}",
        text(&make.stderr)
    );
    let make = run(
        CLI,
        &["make", "--zck", "-o", "seed.zck", "old.txt"],
        work.path(),
    );
    assert_eq!(make.status.code(), Some(0), "{}", text(&make.stderr));

    // Options that belong to other formats, and an output that is the input.
    for args in [&["-z"][..], &["--caibx"], &["-b", "4096"], &["-u", "x"]] {
        let refused = run(
            CLI,
            &[&["make", "--zck"], args, &["f.txt"]].concat(),
            www.path(),
        );
        assert_eq!(refused.status.code(), Some(2), "{args:?}");
        assert!(
            text(&refused.stderr).contains("cannot be used with"),
            "{args:?}"
        );
    }
    let refused = run(CLI, &["make", "--zck", "-o", "f.txt", "f.txt"], www.path());
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("would overwrite the input"));
    assert_eq!(read(&www.path().join("f.txt")), new);

    let Some(server) = nginx(www.path(), None, "") else {
        return;
    };
    let out = run(
        CLI,
        &[
            "get",
            "--uncompress",
            "-i",
            "seed.zck",
            &server.url("f.txt.zck"),
        ],
        work.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(read(&work.path().join("f.txt")) == new);
    let (_, fetched) = server.requests_for("f.txt.zck");
    let whole = read(&www.path().join("f.txt.zck")).len() as u64;
    assert!(fetched < whole / 2, "fetched {fetched} of {whole}");
}

#[test]
fn generate_writes_man_pages_and_prints_completions() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(CLI, &["generate", "man", "man"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for page in ["deltadrop-cli.1", "deltadrop-cli-get.1", "deltadrop.1"] {
        let roff = std::fs::read_to_string(dir.path().join("man").join(page))
            .unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(roff.contains(".TH"), "{page} is a man page: {roff}");
    }
    let get = std::fs::read_to_string(dir.path().join("man/deltadrop-cli-get.1")).unwrap();
    assert!(
        get.contains("no\\-keep\\-old"),
        "get's page lists its flags"
    );

    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef deltadrop-cli"),
        ("fish", "complete -c deltadrop-cli"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = run(CLI, &["generate", "completions", shell], dir.path());
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let script = text(&out.stdout);
        assert!(
            script.contains(marker) && script.contains("max-ranges"),
            "{shell}: {script}"
        );
    }
}

#[test]
fn bytes_from_the_network_reach_the_terminal_escaped() {
    let new = random_bytes(100_000, 35);
    let www = public_dir();
    std::fs::write(www.path().join("f.bin"), &new).unwrap();
    let Some(zsync) = zsyncmake(www.path(), "f.bin", &["-u", "f.bin"]) else {
        return;
    };
    // A control file whose Filename holds ESC and BEL, and an "error page" that starts
    // by retitling the terminal and clearing the screen.
    let control = read(&zsync);
    let at = control
        .windows(15)
        .position(|w| w == b"Filename: f.bin")
        .expect("zsyncmake writes the Filename");
    let hostile = [
        &control[..at],
        b"Filename: f\x1b[2J.bin\x07",
        &control[at + 15..],
    ]
    .concat();
    std::fs::write(www.path().join("hostile.zsync"), hostile).unwrap();
    std::fs::write(
        www.path().join("page.zsync"),
        "\u{1b}]0;owned\u{7}\u{1b}[2J<html><body>Not here</body></html>\n",
    )
    .unwrap();
    let Some(server) = nginx(www.path(), None, "") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    for (control, code) in [("hostile.zsync", 0), ("page.zsync", 1)] {
        let out = run(
            CLI,
            &["get", "-o", "out", &server.url(control)],
            work.path(),
        );
        assert_eq!(out.status.code(), Some(code), "{}", text(&out.stderr));
        for stream in [&out.stderr, &out.stdout] {
            assert!(
                !stream.iter().any(|&b| b == 0x1b || b == 0x07),
                "raw control characters reached the terminal: {:?}",
                text(stream)
            );
        }
        assert!(
            text(&out.stderr).contains("\\u001b"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn info_estimate_prints_each_seeds_share_of_the_target() {
    // Made by our own make: a local .zsync, its URL given with -u; nothing is fetched.
    let new = random_bytes(3_000_000, 36);
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("new.img"), &new).unwrap();
    let make = run(CLI, &["make", "new.img"], work.path());
    assert_eq!(make.status.code(), Some(0), "{}", text(&make.stderr));
    std::fs::write(work.path().join("half"), &new[..new.len() / 2]).unwrap();
    std::fs::write(work.path().join("other"), random_bytes(1_000_000, 37)).unwrap();
    let args = [
        "info",
        "--estimate",
        "-u",
        "http://127.0.0.1:9/new.img.zsync",
        "-i",
        "half",
        "-i",
        "other",
        "-i",
        "missing",
        "new.img.zsync",
    ];
    let out = run(CLI, &args, work.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("half: about 50% of the target"), "{stdout}");
    assert!(stdout.contains("other: about 0% of the target"), "{stdout}");
    assert!(!stdout.contains("reuse"), "no plan: {stdout}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("not using missing"), "{stderr}");

    let json = run(
        CLI,
        &[&args[..1], &["--json"], &args[1..]].concat(),
        work.path(),
    );
    assert_eq!(json.status.code(), Some(0), "{}", text(&json.stderr));
    let estimates: Vec<serde_json::Value> = text(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "seed_estimate")
        .collect();
    assert_eq!(estimates.len(), 2, "{estimates:?}");
    assert_eq!(estimates[0]["path"], "half");
    let share = estimates[0]["fraction_of_target"].as_f64().unwrap();
    assert!((0.45..=0.55).contains(&share), "{share}");
    assert_eq!(estimates[1]["bytes"], 0);
    assert!(
        !work.path().join("new.img.part").exists(),
        "nothing written"
    );
}

#[test]
fn follow_once_downloads_a_new_build_then_says_it_is_up_to_date() {
    let old = text_bytes(600_000, 36);
    let new = edited(&old, 37);
    let www = public_dir();
    let latest = www.path().join("latest");
    std::fs::create_dir_all(&latest).unwrap();
    std::fs::write(latest.join("f.txt"), &old).unwrap();
    if zsyncmake(&latest, "f.txt", &["-u", "f.txt"]).is_none() {
        return;
    }
    let Some(server) = nginx(www.path(), None, "") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let url = server.url("latest/f.txt.zsync");
    let follow = |args: &[&str]| {
        let all = [&["follow", &url, "--into", "builds", "--keep", "2"], args].concat();
        run(CLI, &all, work.path())
    };

    let out = follow(&["--once", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("new build: builds/f.txt"),
        "{}",
        text(&out.stdout)
    );
    let out = follow(&["--once", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("up to date: builds/f.txt, built "),
        "{}",
        text(&out.stdout)
    );

    // A new build: reused from the kept one; --json says the same for scripts.
    std::fs::remove_file(latest.join("f.txt.zsync")).unwrap();
    std::fs::write(latest.join("f.txt"), &new).unwrap();
    let control = zsyncmake(&latest, "f.txt", &["-u", "f.txt"]).unwrap();
    // nginx's ETag is the time in seconds and the size: a control file of the same size
    // remade within the second would look unchanged, as it would to any client.
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(&control)
        .and_then(|f| f.set_modified(later))
        .unwrap();
    let out = follow(&["--once", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let last: serde_json::Value =
        serde_json::from_str(text(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(last["follow"]["new_build"], true, "{last}");
    assert!(
        last["plan"]["local_bytes"].as_u64().unwrap() > 500_000,
        "{last}"
    );
    assert_eq!(
        last["follow"]["kept"].as_array().unwrap().len(),
        1,
        "{last}"
    );
    assert_eq!(read(&work.path().join("builds/f.txt")), new);

    // A server that is gone: exit 1 and a message.
    drop(server);
    let out = follow(&["--once"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("could not connect"),
        "{}",
        text(&out.stderr)
    );
}
