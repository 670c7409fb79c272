//! STUB, to be replaced by the `desktop-integration` branch (start at login, desktop
//! notifications). Only the signatures the GUI calls are here, so that the GUI branch
//! compiles on its own; they do nothing yet. Merge the real module over this file.

/// Starting deltadrop at login, minimised (STUB: never enabled).
pub mod autostart {
    /// Whether deltadrop starts at login.
    pub fn is_enabled() -> bool {
        false
    }

    /// Turns starting at login on or off.
    pub fn set_enabled(_on: bool) -> Result<(), String> {
        Err("starting at login is not available in this build".into())
    }
}

/// Desktop notifications (STUB: shows nothing).
pub mod notify {
    /// A follow downloaded a new build: its file name and what was reused.
    pub fn new_build(_file_name: &str, _reused: &str) {}

    /// A follow failed twice in a row.
    pub fn follow_failing(_name: &str, _error: &str) {}
}
