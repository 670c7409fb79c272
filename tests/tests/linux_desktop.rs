//! The `.deb`'s place on a Linux desktop: a `.zsync` opened from a file manager or a
//! browser's downloads (`gio open`, `xdg-open` on GNOME) starts the app with its form
//! filled. The package is unpacked into a folder put first on `XDG_DATA_DIRS` and
//! `PATH`, so this tests the `.deb`'s own desktop entry (`Exec=deltadrop %f`), MIME glob
//! and magic, whether or not an older one is installed.

use std::path::Path;
use std::process::{Command, Stdio};

use deltadrop_tests::*;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The `.deb` unpacked, its MIME and desktop databases made as dpkg's triggers make them.
struct Unpacked {
    root: TempDir,
}

impl Unpacked {
    fn share(&self) -> std::path::PathBuf {
        self.root.path().join("usr/share")
    }
}

fn unpack_deb() -> Option<Unpacked> {
    let deb = built(&format!("packages/deltadrop_{VERSION}-1_amd64.deb"))?;
    let (dpkg_deb, update_mime, update_desktop) = (
        peer("dpkg-deb")?,
        peer("update-mime-database")?,
        peer("update-desktop-database")?,
    );
    let unpacked = Unpacked {
        root: tempfile::tempdir().unwrap(),
    };
    let must = |command: &mut Command| {
        let status = command.status().expect("run a packaging tool");
        assert!(status.success(), "{command:?} failed");
    };
    must(
        Command::new(dpkg_deb)
            .arg("-x")
            .arg(&deb)
            .arg(unpacked.root.path()),
    );
    // Run as the desktop would see it, so that it does not warn of a folder off its path.
    must(
        Command::new(update_mime)
            .arg(unpacked.share().join("mime"))
            .env("XDG_DATA_DIRS", unpacked.share()),
    );
    must(Command::new(update_desktop).arg(unpacked.share().join("applications")));
    Some(unpacked)
}

/// Opens `file` as the desktop would, with `opener` (`gio open` or `xdg-open`), and waits
/// for the app's form to show it.
fn open_on_desktop(x: &Xvfb, deb: &Unpacked, opener: &[&str], file: &Path) {
    let home = tempfile::tempdir().unwrap();
    let log = home.path().join("frames.tsv");
    let bin = deb.root.path().join("usr/bin");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let program = peer(opener[0]).expect("checked by the caller");
    // The app outlives the opener: its output must not hold the test's pipes.
    let status = Command::new(program)
        .args(&opener[1..])
        .arg(file)
        .env("DISPLAY", &x.display)
        .env_remove("WAYLAND_DISPLAY")
        .env("XDG_CURRENT_DESKTOP", "GNOME")
        .env(
            "XDG_DATA_DIRS",
            format!("{}:/usr/share", deb.share().display()),
        )
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("HOME", home.path())
        .env("PATH", path)
        .env("DELTADROP_FRAME_LOG", &log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run the opener");
    assert!(status.success(), "{opener:?} {} failed", file.display());
    let shot = target_dir().join(format!("linux-open-{}.png", opener[0]));
    wait_for_form(x, &log, &file.display().to_string(), &shot);
    // The app started on this display: it ends with the display (the Xvfb is dropped).
}

/// A `.zsync` by its name (the MIME glob), opened with `gio open` and `xdg-open`, and a
/// control file saved without the extension (a browser's "latest"), known by its first
/// bytes (the MIME magic): each starts the app from the package with the form filled.
#[test]
fn opening_a_zsync_on_the_desktop_starts_the_app_with_it() {
    let Some(deb) = unpack_deb() else { return };
    let (Some(_), Some(_)) = (peer("gio"), peer("xdg-open")) else {
        return;
    };
    let downloads = tempfile::tempdir().unwrap();
    let by_name = downloads.path().join("image.img.zsync");
    let by_content = downloads.path().join("latest");
    for file in [&by_name, &by_content] {
        std::fs::write(file, "zsync: 0.6.2\nFilename: image.img\nURL: image.img\n").unwrap();
    }
    for (opener, file) in [
        (&["gio", "open"][..], &by_name),
        (&["xdg-open"][..], &by_name),
        (&["gio", "open"][..], &by_content),
    ] {
        // One display each: every opening starts a new app.
        let Some(x) = xvfb() else { return };
        open_on_desktop(&x, &deb, opener, file);
    }
}
