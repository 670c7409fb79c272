//! The real `deltadrop` binary in a real X window (Xvfb): started with `--start` against a
//! local range server, it must write the verified file; a screenshot of the window is
//! taken and checked to be a picture with something drawn in it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use deltadrop_core::serve::Server;
use deltadrop_core::{MakeOptions, write_control_file};
use deltadrop_tests::*;

#[test]
fn the_app_downloads_with_start_in_a_real_window() {
    let Some(x) = xvfb() else {
        return;
    };
    let old = random_bytes(3_000_000, 41);
    let new = edited(&old, 42);
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("image.img"), &new).unwrap();
    let options = MakeOptions {
        urls: vec!["image.img".into()],
        ..MakeOptions::default()
    };
    write_control_file(
        &www.path().join("image.img"),
        Some(&www.path().join("image.img.zsync")),
        &options,
    )
    .unwrap();
    let server = Server::start(www.path(), "127.0.0.1:0".parse().unwrap(), None).unwrap();

    let work = tempfile::tempdir().unwrap();
    let seed = work.path().join("old.img");
    std::fs::write(&seed, &old).unwrap();
    let out = work.path().join("image.img");

    let app = Killed(
        Command::new(env!("CARGO_BIN_EXE_deltadrop"))
            .arg(format!("{}image.img.zsync", server.url()))
            .arg("-i")
            .arg(&seed)
            .arg("-o")
            .arg(&out)
            .arg("--start")
            .env("DISPLAY", &x.display)
            .env_remove("WAYLAND_DISPLAY")
            // Settings and history go to a scratch config dir, not the user's.
            .env("HOME", work.path())
            .env("XDG_CONFIG_HOME", work.path().join("config"))
            .env("XDG_DATA_HOME", work.path().join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );

    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read(&out).ok().as_deref() != Some(&new[..]) {
        assert!(
            Instant::now() < deadline,
            "the app did not produce the verified file"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let the window draw the finished state, then photograph it.
    std::thread::sleep(Duration::from_secs(2));
    let colours = x.screenshot(&work.path().join("shot.png"));
    assert!(
        colours > 50,
        "the screenshot looks empty ({colours} colours)"
    );
    assert_eq!(read(&seed), old, "the seed was modified");
    drop(app);
}
