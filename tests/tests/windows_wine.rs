//! The Windows build for real, under wine: the executables and the installer that
//! `packaging/package.sh windows` cross-builds (x86_64-pc-windows-gnu).
//!
//! - `deltadrop-cli.exe` downloads a real delta (a `zsyncmake` control file, a seed, an
//!   existing output that must be replaced and kept as `.zs-old`) from nginx on loopback,
//!   over HTTP, and over HTTPS and HTTP/2 with a CA the test makes and adds to the Windows
//!   certificate store (so the TLS stack and its Windows certificate checks really run);
//! - the installer runs silently, puts both programs, the Start-menu entry, the `.zsync`
//!   association and the PATH entry in place, and its uninstaller takes them away again;
//! - the installed app's "Start at login" writes and removes its Run value (the quoted
//!   path with `--minimized`), the Start-menu entry carries the AppUserModelID that
//!   notifications are shown under, and the uninstaller removes a Run value left behind;
//! - it downloads a zchunk file (and uncompresses it) and a casync blob from its chunk
//!   store, each with a seed;
//! - `deltadrop.exe` opens a window that draws (Xvfb, a screenshot) and downloads;
//! - the installed `.zsync` association opens the app with the file in its form.
//!
//! Without the built files or wine the tests print SKIPPED (or fail under
//! `DELTADROP_REQUIRE_PEERS=1`, as in CI, which builds the packages first).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use deltadrop_tests::*;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn exe(name: &str) -> Option<PathBuf> {
    built(&format!("x86_64-pc-windows-gnu/release/{name}.exe"))
}

/// One wine prefix for this test run, made fresh (a leftover install must not make the
/// installer test pass), with two test-only programs built by mingw from `tests/wine/`:
/// the `bcryptprimitives.dll` that Debian's wine 8 lacks (Windows 10 and 11 have it) and
/// `add_root_cert.exe`, which trusts a CA in the Windows certificate store.
fn prefix() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| make_prefix("wine-test-prefix"))
}

/// The tests that use [`prefix`] take turns: it is one Windows machine, and one test
/// installs and uninstalls programs and trusts a CA in it while another runs a download.
/// Side by side, a download once exited 1 with nothing on stderr (a CI run).
fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The app's own prefix: wine draws windows through the display its first process in a
/// prefix had, and the command-line tests run theirs without one.
fn gui_prefix() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| make_prefix("wine-test-prefix-gui"))
}

fn make_prefix(name: &str) -> PathBuf {
    let prefix = target_dir().join(name);
    let _ = std::fs::remove_dir_all(&prefix);
    let boot = wine_command(&prefix, "wineboot").arg("--init").output();
    let boot = boot.expect("run wineboot");
    assert!(boot.status.success(), "wineboot: {}", text(&boot.stderr));
    let system32 = prefix.join("drive_c/windows/system32");
    mingw(
        &["-shared"],
        "bcryptprimitives.c",
        "-ladvapi32",
        &system32.join("bcryptprimitives.dll"),
    );
    mingw(
        &[],
        "add_root_cert.c",
        "-lcrypt32",
        &prefix.join("add_root_cert.exe"),
    );
    // Let this prefix's wine server (started without a display) end before it is used.
    let _ = Command::new("wineserver")
        .arg("-w")
        .env("WINEPREFIX", &prefix)
        .status();
    prefix
}

/// Builds `tests/wine/SOURCE` with mingw's gcc into `output`.
fn mingw(flags: &[&str], source: &str, library: &str, output: &Path) {
    let gcc = peer("x86_64-w64-mingw32-gcc").expect("mingw builds the Windows programs");
    let status = Command::new(gcc)
        .arg("-O2")
        .args(flags)
        .arg("-o")
        .arg(output)
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("wine")
                .join(source),
        )
        .arg(library)
        .status()
        .expect("run mingw gcc");
    assert!(status.success(), "building {source} failed");
}

fn wine_command(prefix: &Path, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new("wine");
    command
        .arg(program)
        .env("WINEPREFIX", prefix)
        .env("WINEARCH", "win64")
        .env("WINEDEBUG", "-all")
        // No prompts to install Mono or Gecko: nothing here needs them.
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        .env_remove("DISPLAY")
        .stdin(Stdio::null());
    command
}

/// `wine PROGRAM ARGS` in `cwd`, bounded in time.
fn wine(program: &Path, args: &[&str], cwd: &Path) -> Output {
    wine_logging(program, args, cwd, "-all")
}

/// [`wine`], with wine's own messages on the `WINEDEBUG` channels given (on stderr).
fn wine_logging(program: &Path, args: &[&str], cwd: &Path, channels: &str) -> Output {
    wine_run(program, args, cwd, channels, None)
}

/// [`wine`], with `input` on the program's standard input (a pipe, as from a script).
fn wine_fed(program: &Path, args: &[&str], cwd: &Path, input: &[u8]) -> Output {
    wine_run(program, args, cwd, "-all", Some(input))
}

fn wine_run(
    program: &Path,
    args: &[&str],
    cwd: &Path,
    channels: &str,
    input: Option<&[u8]>,
) -> Output {
    peer("wine").expect("checked by the caller");
    let mut command = wine_command(prefix(), program);
    if input.is_some() {
        command.stdin(Stdio::piped());
    }
    let mut child = command
        .args(args)
        .env("WINEDEBUG", channels)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wine");
    if let Some(input) = input {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).unwrap();
    }
    let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let stdout = std::thread::spawn(move || read_all(stdout));
    let stderr = std::thread::spawn(move || read_all(stderr));
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{} {args:?} did not end within 180 s", program.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: stdout.join().unwrap().into_bytes(),
        stderr: stderr.join().unwrap().into_bytes(),
    }
}

/// An old and a new version, the new one published with Debian's zsyncmake.
struct Published {
    old: Vec<u8>,
    new: Vec<u8>,
    www: TempDir,
}

fn publish() -> Option<Published> {
    publish_sized(3_000_000)
}

/// [`publish`] with an old file of `len` bytes.
fn publish_sized(len: usize) -> Option<Published> {
    let old = random_bytes(len, 71);
    let new = edited(&old, 72);
    let www = public_dir();
    std::fs::write(www.path().join("image.img"), &new).unwrap();
    zsyncmake(www.path(), "image.img", &[])?;
    Some(Published { old, new, www })
}

/// [`publish`]ed and served by plain nginx.
fn publish_on_nginx() -> Option<(Published, Server)> {
    let p = publish()?;
    let server = nginx(p.www.path(), None, "")?;
    Some((p, server))
}

/// A folder with the seed and an existing, older output (which `get` must keep as
/// `.zs-old`).
fn workdir(p: &Published) -> TempDir {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("seed.img"), &p.old).unwrap();
    std::fs::write(work.path().join("image.img"), b"yesterday's download").unwrap();
    work
}

fn assert_delta_download(out: &Output, work: &Path, p: &Published) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "deltadrop-cli.exe failed:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        read(&work.join("image.img")) == p.new,
        "the output is not the published file"
    );
    assert_eq!(
        read(&work.join("image.img.zs-old")),
        b"yesterday's download"
    );
    assert_eq!(read(&work.join("seed.img")), p.old, "the seed was changed");
    assert!(!work.join("image.img.part").exists());
}

/// `deltadrop-cli.exe get` of `p` from `server`, with the old file as seed, into a
/// folder with an older output; checked by [`assert_delta_download`].
fn delta_download(cli: &Path, p: &Published, server: &Server) -> Output {
    let work = workdir(p);
    let url = server.url("image.img.zsync");
    let out = wine(
        cli,
        &["get", "-i", "seed.img", "-o", "image.img", &url],
        work.path(),
    );
    assert_delta_download(&out, work.path(), p);
    out
}

#[test]
fn cli_exe_downloads_a_delta_from_nginx_and_replaces_the_output() {
    let (Some(cli), Some(_)) = (exe("deltadrop-cli"), peer("wine")) else {
        return;
    };
    let _turn = take_turn();
    let Some((p, server)) = publish_on_nginx() else {
        return;
    };
    let out = delta_download(&cli, &p, &server);
    // Only the changed part crossed the network, and zsync's closing line says so.
    let (_, fetched) = server.requests_for("image.img");
    assert!(
        fetched > 0 && fetched < p.new.len() as u64 / 4,
        "fetched {fetched} of {} bytes",
        p.new.len()
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(" local, fetched {fetched}")),
        "{stdout}"
    );
}

/// A download big enough that the `.part` is flushed behind the writers (every 32 MiB,
/// by a thread with a second handle to it), so that path runs on Windows too, and the
/// verified file is still renamed into place.
#[test]
fn cli_exe_flushes_a_large_download_behind_the_writers_and_replaces_the_output() {
    let (Some(cli), Some(_)) = (exe("deltadrop-cli"), peer("wine")) else {
        return;
    };
    let _turn = take_turn();
    let Some(p) = publish_sized(48_000_000) else {
        return;
    };
    let Some(server) = nginx(p.www.path(), None, "") else {
        return;
    };
    delta_download(&cli, &p, &server);
}

/// A `.zsync` opened by its Windows path, its target beside it (a share mapped to a
/// drive, here wine's `Z:`): the relative URL names that file, which is read where it is,
/// only its missing blocks.
#[test]
fn cli_exe_reads_the_target_beside_a_local_zsync() {
    let (Some(cli), Some(_)) = (exe("deltadrop-cli"), peer("wine")) else {
        return;
    };
    let _turn = take_turn();
    let Some(p) = publish() else {
        return;
    };
    let work = workdir(&p);
    let control = windows_path(&p.www.path().join("image.img.zsync"));
    let out = wine(
        &cli,
        &[
            "get",
            "--json",
            "-i",
            "seed.img",
            "-o",
            "image.img",
            &control,
        ],
        work.path(),
    );
    assert_delta_download(&out, work.path(), &p);
    let summary = text(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|event| event["event"] == "finished")
        .unwrap_or_else(|| panic!("no summary: {}", text(&out.stdout)));
    let read_beside = summary["progress"]["wire_bytes"]
        .as_u64()
        .unwrap_or_default();
    assert!(
        read_beside > 0 && read_beside < p.new.len() as u64 / 4,
        "read {read_beside} of {} bytes: {summary}",
        p.new.len()
    );
}

#[test]
fn cli_exe_signs_in_with_a_password_and_a_token_header() {
    let (Some(cli), Some(_)) = (exe("deltadrop-cli"), peer("wine")) else {
        return;
    };
    let _turn = take_turn();
    let Some(p) = publish() else { return };
    const PASSWORD: &str = "wine-Pa55word";
    const TOKEN: &str = "glpat-w1ne-t0ken";
    let Some(users) = htpasswd(p.www.path(), "builder", PASSWORD) else {
        return;
    };
    // /basic/ wants a password (auth_basic), /token/ a GitLab-style header.
    for folder in ["basic", "token"] {
        let dir = p.www.path().join(folder);
        std::fs::create_dir(&dir).unwrap();
        for name in ["image.img", "image.img.zsync"] {
            std::fs::copy(p.www.path().join(name), dir.join(name)).unwrap();
        }
    }
    let extra = format!(
        "location /basic/ {{ auth_basic \"Nightly builds\"; auth_basic_user_file {}; }}\n\
         location /token/ {{ if ($http_private_token != \"{TOKEN}\") {{ return 401; }} }}",
        users.display()
    );
    let Some(server) = nginx(p.www.path(), None, &extra) else {
        return;
    };
    let get = |url: &str, access: &[&str]| {
        let work = workdir(&p);
        let mut args = vec!["get", "-i", "seed.img", "-o", "image.img"];
        args.extend_from_slice(access);
        args.push(url);
        (wine(&cli, &args, work.path()), work)
    };
    let basic = server.url("basic/image.img.zsync");
    let token = server.url("token/image.img.zsync");

    let (refused, _work) = get(&basic, &[]);
    assert_eq!(refused.status.code(), Some(1));
    let said = text(&refused.stderr);
    assert!(
        said.contains("HTTP 401") && said.contains("Nightly builds"),
        "{said}"
    );

    let sign_in = format!("127.0.0.1=builder:{PASSWORD}");
    let (signed_in, work) = get(&basic, &["-A", &sign_in]);
    assert_delta_download(&signed_in, work.path(), &p);

    let header = format!("127.0.0.1=PRIVATE-TOKEN: {TOKEN}");
    let (with_token, work) = get(&token, &["--header", &header]);
    assert_delta_download(&with_token, work.path(), &p);
    // Saved in Windows' Credential Manager by `login` (the password from a pipe), used by
    // `get` without -A, forgotten by `logout`.
    let login = wine_fed(
        &cli,
        &["login", "127.0.0.1", "--user", "builder"],
        p.www.path(),
        format!("{PASSWORD}\n").as_bytes(),
    );
    assert_eq!(login.status.code(), Some(0), "{}", text(&login.stderr));
    let (saved, work) = get(&basic, &[]);
    let logout = wine(&cli, &["logout", "127.0.0.1"], p.www.path());
    assert_eq!(logout.status.code(), Some(0), "{}", text(&logout.stderr));
    assert_delta_download(&saved, work.path(), &p);
    let (forgotten, _work) = get(&basic, &[]);
    assert_eq!(
        forgotten.status.code(),
        Some(1),
        "logout forgot the sign-in"
    );
    for out in [&refused, &signed_in, &with_token, &login, &saved, &logout] {
        let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(
            !shown.contains(TOKEN) && !shown.contains(PASSWORD),
            "{shown}"
        );
    }
}

#[test]
fn cli_exe_follows_two_builds_into_a_folder() {
    let (Some(cli), Some(_)) = (exe("deltadrop-cli"), peer("wine")) else {
        return;
    };
    let _turn = take_turn();
    let Some((p, server)) = publish_on_nginx() else {
        return;
    };
    // Build 1 (the older file) at the "latest" URL, then build 2 (the newer one).
    let latest = p.www.path().join("latest");
    std::fs::create_dir_all(&latest).unwrap();
    let url = server.url("latest/image.img.zsync");
    let work = tempfile::tempdir().unwrap();
    let follow = |expect: &str| {
        let out = wine(
            &cli,
            &[
                "follow", &url, "--into", "builds", "--keep", "2", "--once", "-q",
            ],
            work.path(),
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).starts_with(expect),
            "{}",
            text(&out.stdout)
        );
    };
    for (build, expect) in [(&p.old, "new build: builds"), (&p.new, "new build: builds")] {
        std::fs::write(latest.join("image.img"), build).unwrap();
        let _ = std::fs::remove_file(latest.join("image.img.zsync"));
        zsyncmake(&latest, "image.img", &["-u", "image.img"]).unwrap();
        // A build a minute later: nginx's ETag has a resolution of one second.
        std::thread::sleep(Duration::from_millis(1100));
        follow(expect);
    }
    follow("up to date: builds");
    let folder = work.path().join("builds");
    assert!(read(&folder.join("image.img")) == p.new);
    let kept: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("image.") && n != "image.img")
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(
        read(&folder.join(&kept[0])) == p.old,
        "build 1 kept beside it"
    );
}

/// `tool` (Debian's `zck` or `casync`) run in `dir`; whether it worked.
fn make_with(tool: &str, args: &[&str], dir: &Path) -> Option<()> {
    let tool = peer(tool)?;
    let made = run(&tool, args, dir);
    assert!(made.status.success(), "{}", text(&made.stderr));
    Some(())
}

#[test]
fn cli_exe_downloads_zchunk_and_casync_targets_with_seeds() {
    let (Some(cli), Some(_)) = (exe("deltadrop-cli"), peer("wine")) else {
        return;
    };
    let _turn = take_turn();
    let old = text_bytes(1_500_000, 75);
    let new = edited(&old, 76);
    let www = public_dir();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("image.img"), &new).unwrap();
    std::fs::write(work.path().join("old.img"), &old).unwrap();
    let made = make_with("zck", &["image.img"], www.path())
        .and_then(|()| make_with("zck", &["old.img"], work.path()))
        .and_then(|()| {
            let args = [
                "make",
                "--store=default.castr",
                "image.img.caibx",
                "image.img",
            ];
            make_with("casync", &args, www.path())
        });
    let (Some(()), Some(server)) = (made, nginx(www.path(), None, "")) else {
        return;
    };

    // zchunk: the .zck exactly as published, and the file it was made from.
    let out = wine(
        &cli,
        &[
            "get",
            "--uncompress",
            "-i",
            "old.img.zck",
            "-o",
            "image.img.zck",
            &server.url("image.img.zck"),
        ],
        work.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        read(&work.path().join("image.img.zck")),
        read(&www.path().join("image.img.zck"))
    );
    assert!(
        read(&work.path().join("image.img")) == new,
        "the uncompressed file"
    );
    let (_, zck_bytes) = server.requests_for("image.img.zck");
    assert!(zck_bytes < read(&www.path().join("image.img.zck")).len() as u64 / 2);

    // casync: the blob from the chunk store, the old file as seed.
    let out = wine(
        &cli,
        &[
            "get",
            "-i",
            "old.img",
            "-o",
            "blob.img",
            &server.url("image.img.caibx"),
        ],
        work.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        read(&work.path().join("blob.img")) == new,
        "the casync blob"
    );
    assert_eq!(
        read(&work.path().join("old.img")),
        old,
        "the seed was changed"
    );
    let chunk_bytes: u64 = server
        .access_log()
        .iter()
        .filter(|l| l.starts_with("GET /default.castr/"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(
        chunk_bytes > 0 && chunk_bytes < new.len() as u64 / 4,
        "{chunk_bytes}"
    );
}

#[test]
fn cli_exe_downloads_over_https_once_windows_trusts_the_ca() {
    let (Some(cli), Some(_), Some(openssl)) = (exe("deltadrop-cli"), peer("wine"), peer("openssl"))
    else {
        return;
    };
    let _turn = take_turn();
    let Some(p) = publish() else { return };
    let Some((server, ca)) = nginx_tls(p.www.path(), "") else {
        return;
    };
    let work = workdir(&p);
    // By name: wine's certificate checks match DNS names only, not IP addresses.
    let url = server
        .url("image.img.zsync")
        .replacen("127.0.0.1", "localhost", 1);
    // A CA Windows does not know: the certificate is refused, with a message that says
    // what to do.
    let refused = wine(&cli, &["get", "-q", "-o", "other.img", &url], work.path());
    assert_eq!(refused.status.code(), Some(1));
    let message = text(&refused.stderr);
    assert!(
        message.contains("certificate") && message.contains("--ca-cert"),
        "{message}"
    );

    // Trusted the Windows way (in the machine's Root store), the same download verifies
    // the server through Windows' own certificate checks (chain, name, revocation by the
    // CA's CRL), over HTTP/2.
    let der = work.path().join("ca.der");
    let converted = Command::new(openssl)
        .args(["x509", "-outform", "der", "-in"])
        .arg(&ca)
        .arg("-out")
        .arg(&der)
        .status()
        .unwrap();
    assert!(converted.success());
    let added = wine(
        &prefix().join("add_root_cert.exe"),
        &["ca.der"],
        work.path(),
    );
    assert!(
        added.status.success(),
        "add_root_cert: {}",
        text(&added.stderr)
    );
    let out = wine(
        &cli,
        &["get", "-i", "seed.img", "-o", "image.img", &url],
        work.path(),
    );
    assert_delta_download(&out, work.path(), &p);
    assert!(
        server.access_log().iter().any(|l| l.contains("HTTP/2.0")),
        "HTTP/2 was not used: {:?}",
        server.access_log()
    );
}

/// `reg query KEY /ve` (or `/v NAME`) in the test prefix: the value's text, if any.
fn registry(key: &str, value: Option<&str>) -> Option<String> {
    let mut args = vec!["query", key];
    match value {
        Some(name) => args.extend(["/v", name]),
        None => args.push("/ve"),
    }
    let out = wine(Path::new("reg"), &args, Path::new("/"));
    out.status.success().then(|| text(&out.stdout))
}

#[test]
fn installer_installs_associates_and_uninstalls_silently() {
    let (Some(setup), Some(_)) = (
        built(&format!("packages/deltadrop-{VERSION}-setup.exe")),
        peer("wine"),
    ) else {
        return;
    };
    let _turn = take_turn();
    let out = wine(&setup, &["/S", "/PATH"], Path::new("/"));
    assert!(out.status.success(), "setup /S: {}", text(&out.stderr));

    let profile = prefix().join("drive_c/users").join(whoami());
    let installed = profile.join("AppData/Local/Programs/deltadrop");
    for file in ["deltadrop.exe", "bin/deltadrop-cli.exe", "uninstall.exe"] {
        assert!(installed.join(file).is_file(), "{file} was not installed");
    }
    let shortcut =
        profile.join("AppData/Roaming/Microsoft/Windows/Start Menu/Programs/deltadrop.lnk");
    assert!(shortcut.is_file(), "no Start-menu entry");
    let association = registry(r"HKCU\Software\Classes\.zsync", None).unwrap_or_default();
    assert!(association.contains("deltadrop.zsync"), "{association}");
    let open = registry(
        r"HKCU\Software\Classes\deltadrop.zsync\shell\open\command",
        None,
    )
    .unwrap_or_default();
    assert!(
        open.contains(r"deltadrop\deltadrop.exe") && open.contains("%1"),
        "{open}"
    );
    let path = registry(r"HKCU\Environment", Some("Path")).unwrap_or_default();
    assert!(path.contains(r"deltadrop\bin"), "not on PATH: {path}");
    let uninstall_entry = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Uninstall\deltadrop";
    let listed = registry(uninstall_entry, Some("DisplayVersion")).unwrap_or_default();
    assert!(listed.contains(VERSION), "{listed}");

    // The installed command line runs.
    let version = wine(
        &installed.join("bin/deltadrop-cli.exe"),
        &["--version"],
        Path::new("/"),
    );
    assert!(text(&version.stdout).contains(VERSION), "{version:?}");

    // The uninstaller copies itself away and returns at once: wait for its work.
    let out = wine(&installed.join("uninstall.exe"), &["/S"], Path::new("/"));
    assert!(out.status.success(), "uninstall /S: {}", text(&out.stderr));
    wait_until("the uninstaller", || {
        !installed.exists() && registry(uninstall_entry, Some("DisplayVersion")).is_none()
    });
    assert!(!shortcut.exists(), "the Start-menu entry is left");
    assert!(registry(r"HKCU\Software\Classes\deltadrop.zsync", None).is_none());
    assert!(registry(r"HKCU\Software\Classes\.zsync", None).is_none());
    let path = registry(r"HKCU\Environment", Some("Path")).unwrap_or_default();
    assert!(!path.contains(r"deltadrop\bin"), "still on PATH: {path}");
}

const RUN_KEY: &str = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run";
const STARTUP_APPROVED_KEY: &str =
    r"HKCU\Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run";

#[test]
fn installed_app_starts_at_login_until_switched_off_or_uninstalled() {
    let (Some(setup), Some(_)) = (
        built(&format!("packages/deltadrop-{VERSION}-setup.exe")),
        peer("wine"),
    ) else {
        return;
    };
    let _turn = take_turn();
    // Notifications are shown under the AppUserModelID the Start-menu entry carries,
    // which the installer sets through the shortcut's property store. Wine 8's is a stub
    // that only logs its calls, so this checks what wine can show: the installer opened
    // the shortcut and got as far as setting and committing the property.
    let out = wine_logging(&setup, &["/S"], Path::new("/"), "-all,fixme+shell");
    assert!(out.status.success(), "setup /S: {}", text(&out.stderr));
    let log = text(&out.stderr);
    assert!(
        log.contains("propertystore_SetValue") && log.contains("propertystore_Commit"),
        "the installer did not set the shortcut's AppUserModelID: {log}"
    );
    let profile = prefix().join("drive_c/users").join(whoami());
    let installed = profile.join("AppData/Local/Programs/deltadrop");
    assert!(
        registry(RUN_KEY, Some("deltadrop")).is_none(),
        "the installer added a Run value"
    );

    let app = installed.join("deltadrop.exe");
    let set = |on_off: &str| {
        let out = wine(&app, &["--set-autostart", on_off], Path::new("/"));
        assert!(
            out.status.success(),
            "--set-autostart {on_off}: {}",
            text(&out.stderr)
        );
    };
    set("on");
    let command = registry(RUN_KEY, Some("deltadrop")).unwrap_or_default();
    let expected = format!(
        r#"REG_SZ    "C:\users\{}\AppData\Local\Programs\deltadrop\deltadrop.exe" --minimized"#,
        whoami()
    );
    assert!(
        command.to_lowercase().contains(&expected.to_lowercase()),
        "the Run value is not the quoted app with --minimized: {command}"
    );
    set("off");
    assert!(
        registry(RUN_KEY, Some("deltadrop")).is_none(),
        "off left the Run value"
    );

    // Left on, and switched off in Task Manager, when the app is uninstalled: both go.
    set("on");
    let task_manager = wine(
        Path::new("reg"),
        &[
            "add",
            STARTUP_APPROVED_KEY,
            "/v",
            "deltadrop",
            "/t",
            "REG_BINARY",
            "/d",
            "030000000000000000000000",
            "/f",
        ],
        Path::new("/"),
    );
    assert!(
        task_manager.status.success(),
        "{}",
        text(&task_manager.stderr)
    );
    let out = wine(&installed.join("uninstall.exe"), &["/S"], Path::new("/"));
    assert!(out.status.success(), "uninstall /S: {}", text(&out.stderr));
    wait_until("the uninstaller", || !installed.exists());
    wait_until("the Run value to go", || {
        registry(RUN_KEY, Some("deltadrop")).is_none()
            && registry(STARTUP_APPROVED_KEY, Some("deltadrop")).is_none()
    });
}

fn whoami() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| {
            let out = Command::new("id").arg("-un").output().ok()?;
            Some(text(&out.stdout).trim().to_string())
        })
        .expect("the user name")
}

#[test]
fn app_exe_draws_its_window_and_downloads() {
    let (Some(app), Some(_)) = (exe("deltadrop"), peer("wine")) else {
        return;
    };
    let Some((p, server)) = publish_on_nginx() else {
        return;
    };
    let Some(x) = xvfb() else { return };
    let work = workdir(&p);
    let url = server.url("image.img.zsync");
    let _app = Killed(
        wine_command(gui_prefix(), &app)
            .args([&url, "-i", "seed.img", "-o", "image.img", "--start"])
            .env("DISPLAY", &x.display)
            .current_dir(work.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start deltadrop.exe"),
    );
    let shot = target_dir().join("wine-app-window.png");
    let deadline = Instant::now() + Duration::from_secs(90);
    while std::fs::read(work.path().join("image.img")).ok().as_deref() != Some(&p.new[..]) {
        if Instant::now() > deadline {
            x.screenshot(&shot);
            panic!(
                "no verified download from the app; its window: {}",
                shot.display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // Let it draw the finished state, then look at it.
    std::thread::sleep(Duration::from_secs(3));
    let colours = x.screenshot(&shot);
    assert!(
        colours > 50,
        "the window looks blank ({colours} colours): {}",
        shot.display()
    );
    assert_eq!(
        read(&work.path().join("image.img.zs-old")),
        b"yesterday's download"
    );
}

/// The prefix of the association test: the installed app runs in it, and the test stops
/// it by stopping this prefix's wine server, which must not stop another test's app.
fn association_prefix() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| make_prefix("wine-test-prefix-open"))
}

/// How Windows programs in the prefix name a file of this machine (wine's `Z:` drive).
fn windows_path(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

const OPEN_ZSYNC_KEY: &str = r"HKCU\Software\Classes\deltadrop.zsync\shell\open\command";

/// The installed `.zsync` association as Explorer uses it: the registry's open command
/// (`"...\deltadrop.exe" "%1"`) with the file for `%1`, and the app's form shows the file.
/// The frame log (set through the environment, as the association passes no options)
/// says what the form's "Download from" holds on every frame. (Not `wine start FILE`:
/// Debian's wine 8 `start.exe` hung here without starting anything.)
#[test]
fn installed_association_opens_a_zsync_with_the_app_and_fills_the_form() {
    let (Some(setup), Some(_)) = (
        built(&format!("packages/deltadrop-{VERSION}-setup.exe")),
        peer("wine"),
    ) else {
        return;
    };
    let Some(x) = xvfb() else { return };
    let prefix = association_prefix();
    let in_window = |program: &str| {
        let mut command = wine_command(prefix, program);
        command.env("DISPLAY", &x.display);
        command
    };
    let out = in_window(&setup.display().to_string())
        .arg("/S")
        .output()
        .expect("run setup");
    assert!(out.status.success(), "setup /S: {}", text(&out.stderr));
    let query = in_window("reg")
        .args(["query", OPEN_ZSYNC_KEY, "/ve"])
        .output()
        .expect("run reg");
    let listing = text(&query.stdout);
    let (program, arguments) = listing
        .split_once("REG_SZ")
        .and_then(|(_, command)| command.trim().strip_prefix('"')?.split_once('"'))
        .unwrap_or_else(|| panic!("no open command for .zsync: {listing}"));
    assert_eq!(arguments.trim(), r#""%1""#, "{listing}");

    let work = tempfile::tempdir().unwrap();
    let control = work.path().join("image.img.zsync");
    std::fs::write(&control, "zsync: 0.6.2\nFilename: image.img\n").unwrap();
    let log = work.path().join("frames.tsv");
    let _app = Killed(
        in_window(program)
            .arg(windows_path(&control))
            .env("DELTADROP_FRAME_LOG", windows_path(&log))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the open command"),
    );

    let shown = windows_path(&control);
    let shot = target_dir().join("wine-association-window.png");
    wait_for_form(&x, &log, &shown, &shot);
    // Let it draw, then look at it.
    std::thread::sleep(Duration::from_secs(2));
    let colours = x.screenshot(&shot);
    // Stops the app: the only program running in this prefix.
    let _ = Command::new("wineserver")
        .arg("-k")
        .env("WINEPREFIX", prefix)
        .status();
    assert!(
        colours > 50,
        "the window looks blank ({colours} colours): {}",
        shot.display()
    );
}
