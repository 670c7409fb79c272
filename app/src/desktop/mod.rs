//! The app's place on the desktop beyond its window: starting at login, desktop
//! notifications and the tray icon.
//!
//! These are what let deltadrop follow builds in the background: the scheduler only runs
//! while the app is open, so the app starts minimised at login, says through the
//! desktop's own notifications when a new build is ready or a follow keeps failing (the
//! window may be hidden for days), and offers its few commands from the tray. Each part
//! uses the platform's own mechanism, so that the desktop's settings (Task Manager's
//! startup list, GNOME's "Startup applications", macOS's Login Items, the notification
//! settings) show and control deltadrop like any other app.

pub mod autostart;
pub mod notify;
pub mod tray;

/// The app's identity on macOS (`CFBundleIdentifier` in `packaging/macos/Info.plist`)
/// and on Windows (the AppUserModelID the installer gives the Start-menu shortcut,
/// `packaging/windows/deltadrop.nsi`): the name notifications and the login item are
/// shown under. A test checks that both packaging files say the same.
pub const APP_IDENTIFIER: &str = "org.deltadrop.deltadrop";

/// What the app is called in notifications and in its autostart entry.
const APP_NAME: &str = "deltadrop";

/// The flag the autostart entry starts the app with: open minimised, so that logging in
/// does not put a window in the user's way.
pub const MINIMIZED_FLAG: &str = "--minimized";

/// Text as XML character data (`&`, `<`, `>` as entities): a LaunchAgent's path, and a
/// freedesktop notification's body, which daemons read as markup.
#[cfg(any(test, not(windows)))]
fn escape_xml_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The packaging files name the app as the code does: the bundle id in the macOS
    /// Info.plist and the AppUserModelID the Windows installer gives its shortcut.
    #[test]
    fn the_packages_use_the_apps_identifier() {
        let packaging = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging");
        let read = |file: &str| std::fs::read_to_string(packaging.join(file)).unwrap();
        let plist = read("macos/Info.plist");
        assert!(
            plist.contains(&format!(
                "<key>CFBundleIdentifier</key>\n\t<string>{APP_IDENTIFIER}</string>"
            )),
            "Info.plist's CFBundleIdentifier is not {APP_IDENTIFIER}"
        );
        let nsis = read("windows/deltadrop.nsi");
        assert!(
            nsis.contains(&format!("!define APP_USER_MODEL_ID \"{APP_IDENTIFIER}\"")),
            "deltadrop.nsi's APP_USER_MODEL_ID is not {APP_IDENTIFIER}"
        );
    }
}
