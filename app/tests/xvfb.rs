//! The real `deltadrop` binary in a real X window (Xvfb): started with `--start` against a
//! local range server, it must write the verified file; a screenshot of the window is
//! taken and checked to be a picture with something drawn in it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use deltadrop_core::make::{MakeOptions, write_control_file};
use deltadrop_core::serve::Server;
use deltadrop_tests::*;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_display() -> u32 {
    (90..190)
        .find(|n| {
            !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
        })
        .expect("a free X display")
}

#[test]
fn the_app_downloads_with_start_in_a_real_window() {
    let (Some(xvfb), Some(import)) = (peer("Xvfb"), peer("import")) else {
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
    let server = Server::start(www.path(), "127.0.0.1:0".parse().unwrap()).unwrap();

    let work = tempfile::tempdir().unwrap();
    let seed = work.path().join("old.img");
    std::fs::write(&seed, &old).unwrap();
    let out = work.path().join("image.img");

    let display = free_display();
    let _x = Killed(
        Command::new(xvfb)
            .args([
                format!(":{display}"),
                "-screen".into(),
                "0".into(),
                "1280x860x24".into(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !Path::new(&format!("/tmp/.X11-unix/X{display}")).exists() {
        assert!(Instant::now() < deadline, "Xvfb did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let app = Killed(
        Command::new(env!("CARGO_BIN_EXE_deltadrop"))
            .arg(format!("{}image.img.zsync", server.url()))
            .arg("-i")
            .arg(&seed)
            .arg("-o")
            .arg(&out)
            .arg("--start")
            .env("DISPLAY", format!(":{display}"))
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
    let shot = work.path().join("shot.png");
    let status = Command::new(import)
        .args(["-display", &format!(":{display}"), "-window", "root"])
        .arg(&shot)
        .status()
        .unwrap();
    assert!(status.success(), "import failed");
    let png = read(&shot);
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // A blank 1280x860 screen compresses to a few hundred bytes; a drawn window does not.
    assert!(
        png.len() > 20_000,
        "the screenshot looks empty ({} bytes)",
        png.len()
    );
    assert_eq!(read(&seed), old, "the seed was modified");
    drop(app);
}
