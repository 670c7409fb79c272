//! Start deltadrop at login, minimised (the app's "Start at login" setting).
//!
//! Each OS has its own per-user place for this, which its settings also show and can
//! switch off; deltadrop writes there directly:
//! - Windows: the value "deltadrop" under `HKCU\Software\Microsoft\Windows\CurrentVersion\Run`
//!   (Task Manager's Startup tab lists it and records its switch under
//!   `Explorer\StartupApproved\Run`);
//! - macOS: a LaunchAgent, `~/Library/LaunchAgents/<bundle id>.plist`;
//! - Linux and other freedesktop desktops: `$XDG_CONFIG_HOME/autostart/deltadrop.desktop`.
//!
//! Not the `auto-launch` crate: its Windows mode tries HKLM first (the installer is
//! per-user and must not need administrator rights), it registers the path unquoted
//! (`C:\Users\Jane Doe\...` then starts `C:\Users\Jane`) and it writes the desktop
//! entry's `Exec` unescaped; each OS here is a few lines.
//!
//! The command registered is the running executable with
//! [`MINIMIZED_FLAG`](super::MINIMIZED_FLAG), so the copy the user turned the setting on
//! in (the installed app or a portable one) is the one that starts.

#[cfg(any(test, not(windows)))]
use std::path::Path;
use std::path::PathBuf;

#[cfg(any(test, target_os = "macos"))]
mod launch_agent;
#[cfg(any(test, windows))]
mod run_key;
#[cfg(any(test, all(unix, not(target_os = "macos"))))]
mod xdg;

#[cfg(target_os = "macos")]
use launch_agent as platform;
#[cfg(windows)]
use run_key as platform;
#[cfg(all(unix, not(target_os = "macos")))]
use xdg as platform;

/// Whether deltadrop starts at login: the entry is there and the desktop's own settings
/// have not switched it off.
pub fn is_enabled() -> bool {
    platform::is_enabled()
}

/// Registers the running executable to start at login with
/// [`MINIMIZED_FLAG`](super::MINIMIZED_FLAG) (`on`),
/// or removes the entry (`!on`; no entry is fine). The error says what could not be
/// written, for the settings screen to show.
pub fn set_enabled(on: bool) -> Result<(), String> {
    if on {
        platform::enable(&executable()?)
    } else {
        platform::disable()
    }
}

/// The running executable. On Linux, after a package upgrade replaced the file while
/// the app runs, `/proc/self/exe` names it "PATH (deleted)": the new file at PATH is the
/// one to start at the next login.
fn executable() -> Result<PathBuf, String> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("could not find deltadrop's own executable: {e}"))?;
    let replaced = exe
        .to_str()
        .and_then(|path| path.strip_suffix(" (deleted)"))
        .map(PathBuf::from)
        .filter(|path| path.is_file());
    Ok(replaced.unwrap_or(exe))
}

/// Writes `contents` to `path` through a temporary file beside it and a rename, so that
/// a crash or a full disk leaves the old entry or the new one, never half of one.
#[cfg(any(test, not(windows)))]
fn write_replacing(path: &Path, contents: &str) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("could not write {}: {e}", path.display());
    let folder = path.parent().expect("an entry's path has a folder");
    std::fs::create_dir_all(folder).map_err(fail)?;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".new");
    std::fs::write(&temporary, contents).map_err(fail)?;
    std::fs::rename(&temporary, path).map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        fail(e)
    })
}

/// Removes the entry at `path`; one that is not there is already removed.
#[cfg(any(test, not(windows)))]
fn remove_entry(path: &Path) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(format!("could not remove {}: {e}", path.display()))
        }
        _ => Ok(()),
    }
}

/// The user's home folder, where the per-user entries live.
#[cfg(any(test, not(windows)))]
fn home_dirs() -> Result<directories::BaseDirs, String> {
    directories::BaseDirs::new()
        .ok_or_else(|| "no home folder is known (is HOME set?): cannot start at login".into())
}
