//! The tray (menu-bar) icon, with "Check now", "Open folder" and "Quit": what a user
//! needs from an app that runs minimised, following builds, without opening its window.
//!
//! `tray-icon` serves all three OSes: the Windows notification area, the macOS menu bar
//! and, on Linux, a StatusNotifierItem over D-Bus (its `ksni` backend, not the default
//! GTK 3 + libappindicator one: neither the build nor the `.deb` needs GTK). KDE, Xfce,
//! Cinnamon and Ubuntu's GNOME show StatusNotifierItems; plain GNOME shows them only
//! with the AppIndicator extension. Where nothing would show the icon (no tray host
//! registered with the StatusNotifierWatcher), [`Tray::new`] says so with `None`, so
//! that the GUI never hides its window into a tray nobody sees.
//!
//! Threads: on Windows and macOS the icon belongs to the thread that runs the window's
//! event loop (on macOS the main thread, once the loop runs), so the GUI makes it in
//! eframe's app creator. Menu clicks come on whatever thread the OS delivers them; they
//! are queued for [`Tray::poll`], and the GUI's `wake` is called, so that a minimised
//! window, which draws no frames, polls all the same.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Mutex, OnceLock};

use tray_icon::menu::{Menu, MenuEvent, MenuItem};
use tray_icon::{Icon, TrayIcon, TrayIconBuilder};

use super::APP_NAME;

/// A command picked from the tray's menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayCommand {
    /// Check the followed builds now, whatever their schedule.
    CheckNow,
    /// Open the downloads folder in the file manager.
    OpenFolder,
    /// Quit the app (closing the window only hides it while the tray icon is there).
    Quit,
}

impl TrayCommand {
    /// The menu's items, in order: each command's menu id and label.
    const MENU: [(TrayCommand, &'static str, &'static str); 3] = [
        (TrayCommand::CheckNow, "check-now", "Check now"),
        (TrayCommand::OpenFolder, "open-folder", "Open folder"),
        (TrayCommand::Quit, "quit", "Quit"),
    ];

    fn from_menu_id(id: &str) -> Option<TrayCommand> {
        Self::MENU
            .iter()
            .find(|(_, item_id, _)| *item_id == id)
            .map(|(command, _, _)| *command)
    }
}

/// The icon in the tray; it goes when this is dropped.
pub struct Tray {
    _icon: TrayIcon,
}

impl Tray {
    /// Puts deltadrop's icon and menu in the tray. `wake` is called, on another thread,
    /// after each command picked, for the GUI to [`poll`](Tray::poll) (egui:
    /// `ctx.request_repaint()`). `None` where the desktop has no tray or it failed: the
    /// reason is logged on stderr.
    pub fn new(wake: impl Fn() + Send + Sync + 'static) -> Option<Tray> {
        #[cfg(all(unix, not(target_os = "macos")))]
        if let Err(why) = tray_host() {
            eprintln!("deltadrop: no tray icon: {why}");
            return None;
        }
        match build(wake) {
            Ok(icon) => Some(Tray { _icon: icon }),
            Err(err) => {
                eprintln!("deltadrop: no tray icon: {err}");
                None
            }
        }
    }

    /// The next command picked from the tray's menu and not yet polled, if any.
    pub fn poll() -> Option<TrayCommand> {
        commands().1.lock().ok()?.try_recv().ok()
    }
}

/// The queue of commands picked, shared by the menu's handler and [`Tray::poll`].
fn commands() -> &'static (Sender<TrayCommand>, Mutex<Receiver<TrayCommand>>) {
    static COMMANDS: OnceLock<(Sender<TrayCommand>, Mutex<Receiver<TrayCommand>>)> =
        OnceLock::new();
    COMMANDS.get_or_init(|| {
        let (sender, receiver) = channel();
        (sender, Mutex::new(receiver))
    })
}

/// Whether a tray host shows StatusNotifierItems on this desktop: one has registered
/// with the session's StatusNotifierWatcher.
#[cfg(all(unix, not(target_os = "macos")))]
fn tray_host() -> Result<(), String> {
    let no_watcher = |e: zbus::Error| format!("no StatusNotifierWatcher on the session bus ({e})");
    let session =
        zbus::blocking::Connection::session().map_err(|e| format!("no D-Bus session ({e})"))?;
    let watcher = zbus::blocking::Proxy::new(
        &session,
        "org.kde.StatusNotifierWatcher",
        "/StatusNotifierWatcher",
        "org.kde.StatusNotifierWatcher",
    )
    .map_err(no_watcher)?;
    let host = watcher
        .get_property::<bool>("IsStatusNotifierHostRegistered")
        .map_err(no_watcher)?;
    if host {
        Ok(())
    } else {
        Err("the desktop shows no tray icons (no StatusNotifierHost)".into())
    }
}

fn build(wake: impl Fn() + Send + Sync + 'static) -> Result<TrayIcon, String> {
    let menu = Menu::new();
    for (_, id, label) in TrayCommand::MENU {
        menu.append(&MenuItem::with_id(id, label, true, None))
            .map_err(|e| e.to_string())?;
    }
    let sender = commands().0.clone();
    MenuEvent::set_event_handler(Some(move |event: MenuEvent| {
        if let Some(command) = TrayCommand::from_menu_id(event.id().as_ref()) {
            // The receiver lives in a static: sending cannot fail.
            let _ = sender.send(command);
            wake();
        }
    }));
    let picture = crate::gui::icon();
    let icon =
        Icon::from_rgba(picture.rgba, picture.width, picture.height).map_err(|e| e.to_string())?;
    TrayIconBuilder::new()
        .with_id(APP_NAME)
        .with_title(APP_NAME)
        .with_tooltip(APP_NAME)
        .with_icon(icon)
        .with_menu(Box::new(menu))
        .build()
        .map_err(|e| e.to_string())
}
