//! `deltadrop --set-autostart on|off`, the hidden switch the settings' "Start at login"
//! shares its code with, on Linux: the real app writes its autostart entry into the
//! user's config folder (`XDG_CONFIG_HOME`), naming its own executable with
//! `--minimized`, and removes it again; no window opens, and `--help` does not show it.

#![cfg(all(unix, not(target_os = "macos")))]

use std::path::Path;
use std::process::Output;

use deltadrop_tests::{command, text};

const APP: &str = env!("CARGO_BIN_EXE_deltadrop");

/// The app with `args`, its config folder `config` and no display.
fn app(args: &[&str], config: &Path) -> Output {
    command(APP, args, config)
        .env("XDG_CONFIG_HOME", config)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("run deltadrop")
}

#[test]
fn set_autostart_writes_and_removes_the_apps_own_entry() {
    let config = tempfile::tempdir().unwrap();
    let entry = config.path().join("autostart/deltadrop.desktop");

    let on = app(&["--set-autostart", "on"], config.path());
    assert!(on.status.success(), "{}", text(&on.stderr));
    let written = std::fs::read_to_string(&entry).expect("the autostart entry");
    let exe = std::fs::canonicalize(APP).unwrap();
    assert!(
        written.contains(&format!("\nExec={} --minimized\n", exe.display())),
        "{written}"
    );

    let off = app(&["--set-autostart", "off"], config.path());
    assert!(off.status.success(), "{}", text(&off.stderr));
    assert!(!entry.exists(), "off left the entry");

    let help = app(&["--help"], config.path());
    assert!(
        !text(&help.stdout).contains("autostart"),
        "{}",
        text(&help.stdout)
    );
}
