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

/// Starts the real app in `x` with `args`, its settings in `home` holding `persisted`.
fn start_app(
    x: &Xvfb,
    home: &std::path::Path,
    persisted: &deltadrop::gui::persist::Persisted,
    args: &[&str],
) -> Killed {
    let config = home.join("config");
    // Where `gui::persistence_path` is under XDG_CONFIG_HOME on Linux.
    let saved = config.join("deltadrop/app.ron");
    std::fs::create_dir_all(saved.parent().unwrap()).unwrap();
    // What eframe writes: a map of keys to RON values.
    let value = ron::to_string(persisted).unwrap();
    let file: std::collections::HashMap<&str, String> =
        [(deltadrop::gui::persist::STORAGE_KEY, value)].into();
    std::fs::write(&saved, ron::to_string(&file).unwrap()).unwrap();
    Killed(
        Command::new(env!("CARGO_BIN_EXE_deltadrop"))
            .args(args)
            .env("DISPLAY", &x.display)
            .env_remove("WAYLAND_DISPLAY")
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", &config)
            .env("XDG_DATA_HOME", home.join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// A build published behind nginx, the build before it as the user's seed, and a save
/// that follows it on the Follows view; None (skipped) without the peers.
struct Published {
    _www: TempDir,
    _server: deltadrop_tests::Server,
    build: Vec<u8>,
    persisted: deltadrop::gui::persist::Persisted,
}

fn published_follow(home: &std::path::Path) -> Option<Published> {
    use deltadrop::gui::follows::Follow;
    use deltadrop::gui::persist::{Persisted, View};
    let old = text_bytes(4_000_000, 90);
    let build = edited(&old, 91);
    let www = public_dir();
    let built = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_094_000);
    if !publish_build(www.path(), &build, built) {
        return None;
    }
    let server = nginx(www.path(), None, "")?;
    let seed = home.join("image-yesterday.img");
    std::fs::write(&seed, &old).unwrap();
    let persisted = Persisted {
        follows: vec![Follow {
            id: 1,
            url: server.url("latest/image.img.zsync"),
            folder: home.join("builds"),
            seeds: vec![seed],
            ..Follow::default()
        }],
        view: View::Follows,
        ..Persisted::default()
    };
    Some(Published {
        _www: www,
        _server: server,
        build,
        persisted,
    })
}

fn wait_for_file(path: &std::path::Path, content: &[u8], what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read(path).ok().as_deref() != Some(content) {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A saved follow is checked when the app starts: the build lands in its folder, and the
/// Follows view shows it (the README's picture: `UPDATE_SCREENSHOTS=true` writes it to
/// assets/follows.png).
#[test]
fn the_app_checks_its_follows_at_start_in_a_real_window() {
    let Some(x) = xvfb() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let Some(published) = published_follow(home.path()) else {
        return;
    };
    let app = start_app(&x, home.path(), &published.persisted, &[]);
    wait_for_file(
        &home.path().join("builds/image.img"),
        &published.build,
        "the follow was not checked at start",
    );
    // Let the window draw the finished check, then photograph it.
    std::thread::sleep(Duration::from_secs(2));
    let shot = home.path().join("shot.png");
    let colours = x.screenshot(&shot);
    assert!(
        colours > 50,
        "the screenshot looks empty ({colours} colours)"
    );
    if std::env::var("UPDATE_SCREENSHOTS").as_deref() == Ok("true") {
        let assets = concat!(env!("CARGO_MANIFEST_DIR"), "/../assets/follows.png");
        let convert = peer("convert").expect("imagemagick");
        let status = Command::new(convert)
            .arg(&shot)
            .args(["-crop", "980x760+0+0", "+repage", assets])
            .status()
            .unwrap();
        assert!(status.success());
    }
    drop(app);
}

/// Started as the login item starts it (`--minimized`), the app checks its follows all
/// the same. (Xvfb runs no window manager, so nothing here sees the window minimised.)
#[test]
fn the_app_started_minimized_checks_its_follows() {
    let Some(x) = xvfb() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let Some(published) = published_follow(home.path()) else {
        return;
    };
    let app = start_app(&x, home.path(), &published.persisted, &["--minimized"]);
    wait_for_file(
        &home.path().join("builds/image.img"),
        &published.build,
        "the follow was not checked at start",
    );
    drop(app);
}
