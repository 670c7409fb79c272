//! Desktop notifications reach a real notification daemon: Debian's `dunst`, in an X
//! server of its own (Xvfb), on a D-Bus session bus of its own (`dbus-daemon`). What
//! dunst received is read back from its history (`dunstctl`): the app's name, the
//! summary naming the file or the follow, and the body, escaped for dunst's markup.
//!
//! The only test in this binary: it points the process's D-Bus session at the test's bus
//! through the environment, before any other thread runs.

use std::process::{Command, Stdio};

use deltadrop_tests::{Killed, peer, session_bus, text, wait_until, xvfb};

#[test]
fn notifications_reach_the_desktops_notification_daemon() {
    let (Some(dunst), Some(dunstctl)) = (peer("dunst"), peer("dunstctl")) else {
        return;
    };
    let (Some(x), Some(bus)) = (xvfb(), session_bus()) else {
        return;
    };
    let address = &bus.address;
    let _daemon = Killed(
        Command::new(dunst)
            .env("DISPLAY", &x.display)
            .env("DBUS_SESSION_BUS_ADDRESS", address)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dunst"),
    );
    let dunstctl_says = |args: &[&str]| {
        let mut command = Command::new(&dunstctl);
        command.args(args).env("DBUS_SESSION_BUS_ADDRESS", address);
        command.output().expect("run dunstctl")
    };
    wait_until("dunst on the bus", || {
        dunstctl_says(&["count", "displayed"]).status.success()
    });

    // SAFETY: no other thread of this process reads the environment: this is the only
    // test in its binary, and the notifications thread starts with the first call below.
    unsafe { std::env::set_var("DBUS_SESSION_BUS_ADDRESS", address) };
    deltadrop::desktop::notify::new_build(
        "image-2026-12-05.img",
        "580 MiB of 600 MiB reused from the previous build",
    );
    deltadrop::desktop::notify::follow_failing("nightly <arm64>", "HTTP 404 & gone");

    // Closed notifications go to dunst's history, which dunstctl prints.
    let mut received = Vec::new();
    wait_until("both notifications in dunst", || {
        assert!(dunstctl_says(&["close-all"]).status.success());
        received = history(&dunstctl_says(&["history"]).stdout);
        received.len() >= 2
    });
    received.sort();
    assert_eq!(
        received,
        [
            (
                "deltadrop".to_string(),
                "Following nightly <arm64> fails".to_string(),
                "HTTP 404 &amp; gone\nOpen deltadrop to see the follow or change it.".to_string(),
            ),
            (
                "deltadrop".to_string(),
                "New build: image-2026-12-05.img".to_string(),
                "580 MiB of 600 MiB reused from the previous build".to_string(),
            ),
        ]
    );
}

/// (app name, summary, body) of each notification in `dunstctl history`'s JSON.
fn history(json: &[u8]) -> Vec<(String, String, String)> {
    let parsed: serde_json::Value = serde_json::from_slice(json)
        .unwrap_or_else(|e| panic!("dunstctl history: {e}: {}", text(json)));
    let field = |n: &serde_json::Value, key: &str| n[key]["data"].as_str().unwrap().to_string();
    parsed["data"][0]
        .as_array()
        .expect("a list of notifications")
        .iter()
        .map(|n| (field(n, "appname"), field(n, "summary"), field(n, "body")))
        .collect()
}
