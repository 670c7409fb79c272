//! `deltadrop-cli login`/`logout` and saved sign-ins against real servers: nginx asking
//! for Basic auth, and GNOME Keyring's Secret Service on a bus of the test's own. Every
//! output is searched for the password: none may show it.

use std::io::Write as _;
use std::process::{Output, Stdio};

use deltadrop_tests::*;

const CLI: &str = env!("CARGO_BIN_EXE_deltadrop-cli");
const PASSWORD: &str = "s3cret-Pa55";

/// Runs the CLI in `cwd` with `env`, `stdin` as its standard input.
fn cli(
    args: &[&str],
    cwd: &std::path::Path,
    env: &[(&str, std::path::PathBuf)],
    stdin: &str,
) -> Output {
    let mut child = command(CLI, args, cwd)
        .envs(env.iter().cloned())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run deltadrop-cli");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn assert_no_secret(out: &Output, what: &str) {
    for stream in [&out.stdout, &out.stderr] {
        assert!(
            !text(stream).contains(PASSWORD),
            "{what} shows the password: {}",
            text(stream)
        );
    }
}

/// A published file behind nginx that lets `tester` in with [`PASSWORD`].
struct Published {
    server: Server,
    _www: TempDir,
    _htpasswd: TempDir,
    content: Vec<u8>,
}

fn published() -> Option<Published> {
    let content = text_bytes(300_000, 61);
    let (www, _) = publish("f.txt", &content, &["-u", "f.txt"])?;
    let (extra, htpasswd) = basic_auth("nightly builds", "tester", PASSWORD)?;
    let server = nginx(www.path(), None, &extra)?;
    Some(Published {
        server,
        _www: www,
        _htpasswd: htpasswd,
        content,
    })
}

#[test]
fn login_saves_in_the_secret_service_get_uses_it_and_logout_forgets_it() {
    let Some(site) = published() else { return };
    let Some(keyring) = secret_service() else {
        return;
    };
    let env = keyring.env();
    let work = tempfile::tempdir().unwrap();
    let url = site.server.url("f.txt.zsync");
    let get = |out: &str| cli(&["get", "-q", "-o", out, &url], work.path(), &env, "");

    // No sign-in yet: the engine's message, which says how to sign in.
    let out = get("a.txt");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("127.0.0.1 wants a sign-in (HTTP 401, for \"nightly builds\")")
            && stderr.contains("deltadrop-cli login 127.0.0.1"),
        "{stderr}"
    );

    // login reads the password from stdin (not a terminal here).
    let out = cli(
        &["login", "127.0.0.1", "--user", "tester"],
        work.path(),
        &env,
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_no_secret(&out, "login");
    assert!(text(&out.stderr).contains("signed in to 127.0.0.1 as tester"));
    let list = keyring.home().join("config/deltadrop/access.json");
    let saved = std::fs::read_to_string(&list).expect("login writes the list of hosts");
    assert!(
        saved.contains("\"tester\"") && !saved.contains(PASSWORD),
        "{saved}"
    );

    // Another process finds it there: get and --json work, and show no password.
    let out = get("a.txt");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_no_secret(&out, "get");
    assert_eq!(read(&work.path().join("a.txt")), site.content);
    let out = cli(
        &["get", "--json", "-o", "b.txt", &url],
        work.path(),
        &env,
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_no_secret(&out, "get --json");
    let out = cli(&["info", &url], work.path(), &env, "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // A wrong password: the server refuses it, and says so.
    let out = cli(
        &["login", "127.0.0.1", "--user", "tester"],
        work.path(),
        &env,
        "not-the-password\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = get("c.txt");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("refused the sign-in for 127.0.0.1"),
        "{}",
        text(&out.stderr)
    );

    // logout: the next get is asked to sign in again.
    let out = cli(&["logout", "127.0.0.1"], work.path(), &env, "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = get("d.txt");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("wants a sign-in"),
        "{}",
        text(&out.stderr)
    );
    assert!(!std::fs::read_to_string(&list).unwrap().contains("tester"));
}

#[test]
fn malformed_sign_in_arguments_are_refused_without_echoing_the_secret() {
    let work = tempfile::tempdir().unwrap();
    let env = [("XDG_CONFIG_HOME", work.path().join("config"))];
    let url = "http://127.0.0.1:9/f.zsync";
    let tries: [&[&str]; 3] = [
        &["get", "-A", &format!("127.0.0.1:tester:{PASSWORD}"), url],
        &[
            "get",
            "--header",
            &format!("127.0.0.1=Authorization Bearer {PASSWORD}"),
            url,
        ],
        &[
            "info",
            "--header",
            &format!("=PRIVATE-TOKEN: {PASSWORD}"),
            url,
        ],
    ];
    for args in tries {
        let out = cli(args, work.path(), &env, "");
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert_no_secret(&out, &format!("{args:?}"));
        assert!(
            text(&out.stderr).contains("must be of the form"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn without_a_credential_store_login_says_so_and_a_download_goes_on_with_a() {
    let Some(site) = published() else { return };
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("config");
    let env = [
        ("XDG_CONFIG_HOME", config.clone()),
        // No Secret Service answers there (a server, cron): the store is not available.
        (
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/deltadrop-test-bus".into(),
        ),
    ];
    let out = cli(
        &["login", "127.0.0.1", "--user", "tester"],
        work.path(),
        &env,
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_no_secret(&out, "login");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("the system's credential store is not available")
            && stderr.contains("nothing was saved")
            && stderr.contains("-A 127.0.0.1=USER:PASSWORD"),
        "{stderr}"
    );
    assert!(!config.join("deltadrop/access.json").exists());

    // A sign-in saved earlier (by the app, say) cannot be read now: said, and -A works.
    std::fs::create_dir_all(config.join("deltadrop")).unwrap();
    std::fs::write(
        config.join("deltadrop/access.json"),
        r#"{"sign_ins": [{"host": "127.0.0.1", "user": "tester"}]}"#,
    )
    .unwrap();
    let auth = format!("127.0.0.1=tester:{PASSWORD}");
    let url = site.server.url("f.txt.zsync");
    let out = cli(
        &["get", "-q", "-A", &auth, "-o", "a.txt", &url],
        work.path(),
        &env,
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_no_secret(&out, "get -A");
    assert!(
        text(&out.stderr).contains("saved sign-ins are not used"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(read(&work.path().join("a.txt")), site.content);
}
