//! The tray icon on Linux, as a desktop's tray sees it, on a D-Bus session bus of the
//! test's own: with no tray on the bus there is no icon (`Tray::new` is `None`); with a
//! StatusNotifierWatcher that a tray host has registered with (the test's own, standing
//! in for KDE's or the AppIndicator extension's), the icon registers with it as a
//! StatusNotifierItem whose exported menu (com.canonical.dbusmenu, what the tray draws)
//! has "Check now", "Open folder" and "Quit"; a click on each, sent over D-Bus as a tray
//! sends it, comes out of `Tray::poll` as its command and wakes the GUI.
//!
//! The only test in this binary: it points the process's D-Bus session at the test's bus
//! through the environment, before any other thread runs.

// The D-Bus tray, and zbus that the test speaks it in, are Linux's.
#![cfg(all(unix, not(target_os = "macos")))]

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use deltadrop::desktop::tray::{Tray, TrayCommand};
use deltadrop_tests::{peer, run, session_bus, text, wait_until};

#[test]
fn the_tray_menu_sends_its_commands_to_the_app() {
    let (Some(gdbus), Some(bus)) = (peer("gdbus"), session_bus()) else {
        return;
    };
    // SAFETY: no other thread of this process reads the environment: this is the only
    // test in its binary, and the tray's D-Bus thread starts in `Tray::new` below.
    unsafe { std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &bus.address) };
    assert!(
        Tray::new(|| ()).is_none(),
        "a tray icon where nothing shows one"
    );

    let registered = Arc::new(Mutex::new(Vec::new()));
    let _watcher = zbus::blocking::connection::Builder::address(bus.address.as_str())
        .and_then(|b| b.name("org.kde.StatusNotifierWatcher"))
        .and_then(|b| {
            b.serve_at(
                "/StatusNotifierWatcher",
                Watcher {
                    registered: registered.clone(),
                },
            )
        })
        .and_then(|b| b.build())
        .expect("serve a StatusNotifierWatcher");
    let wakes = Arc::new(AtomicUsize::new(0));
    let woken = wakes.clone();
    let _tray = Tray::new(move || {
        woken.fetch_add(1, Ordering::SeqCst);
    })
    .expect("a tray icon on the session bus");

    let call = |args: &[&str]| {
        let out = run(
            &gdbus,
            &[&["call", "--session"], args].concat(),
            Path::new("/"),
        );
        assert!(
            out.status.success(),
            "gdbus {args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    };
    let mut item = None;
    wait_until("the tray icon to register with the watcher", || {
        item = registered.lock().unwrap().first().cloned();
        item.is_some()
    });
    let item = item.unwrap();

    // The menu the item points the tray at, and its items' ids by label.
    let menu_path = call(&[
        "--dest",
        &item,
        "--object-path",
        "/StatusNotifierItem",
        "--method",
        "org.freedesktop.DBus.Properties.Get",
        "org.kde.StatusNotifierItem",
        "Menu",
    ]);
    let menu_path = menu_path.split('\'').nth(1).expect("a menu object path");
    let layout = call(&[
        "--dest",
        &item,
        "--object-path",
        menu_path,
        "--method",
        "com.canonical.dbusmenu.GetLayout",
        // The arguments: the root, every depth (-1, not an option), all properties.
        "--",
        "0",
        "-1",
        "[]",
    ]);
    for (label, command) in [
        ("Check now", TrayCommand::CheckNow),
        ("Open folder", TrayCommand::OpenFolder),
        ("Quit", TrayCommand::Quit),
    ] {
        let id = item_id(&layout, label).unwrap_or_else(|| panic!("no {label:?} in {layout}"));
        let before = wakes.load(Ordering::SeqCst);
        call(&[
            "--dest",
            &item,
            "--object-path",
            menu_path,
            "--method",
            "com.canonical.dbusmenu.Event",
            &id.to_string(),
            "clicked",
            "<0>",
            "0",
        ]);
        let mut polled = None;
        wait_until(&format!("{label} from the tray"), || {
            polled = Tray::poll();
            polled.is_some()
        });
        assert_eq!(polled, Some(command), "{label}");
        assert!(
            wakes.load(Ordering::SeqCst) > before,
            "{label} did not wake the GUI"
        );
    }
    assert_eq!(Tray::poll(), None, "a click came out twice");
}

/// A StatusNotifierWatcher with a tray host registered, as a desktop's tray keeps one:
/// it records the items that register.
struct Watcher {
    registered: Arc<Mutex<Vec<String>>>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    fn register_status_notifier_item(
        &self,
        service: &str,
        #[zbus(header)] header: zbus::message::Header<'_>,
    ) {
        // An item names itself by its bus name, or by its object path on the sender.
        let name = if service.starts_with('/') {
            header.sender().map(|s| s.to_string()).unwrap_or_default()
        } else {
            service.to_string()
        };
        self.registered.lock().unwrap().push(name);
    }

    fn register_status_notifier_host(&self, _service: &str) {}

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.registered.lock().unwrap().clone()
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }
}

/// The id of the menu item labelled `label` in gdbus's print of a dbusmenu layout:
/// `(ID, {..., 'label': <'LABEL'>, ...}, [...])`.
fn item_id(layout: &str, label: &str) -> Option<i32> {
    let at = layout.find(&format!("'label': <'{label}'>"))?;
    let opening = layout[..at].rfind("<(")?;
    layout[opening + 2..].split(',').next()?.trim().parse().ok()
}
