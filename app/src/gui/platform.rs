//! The desktop services the app asks for (the login item, notifications), behind a seam:
//! the app calls [`Desktop`], which is [`crate::desktop`] in the real app and a recorder
//! in tests, so a test never changes the session it runs in.

/// What the app asks of the desktop. Calls may do I/O: the app makes them off the UI
/// thread.
pub trait Desktop: Send + Sync + 'static {
    /// Whether deltadrop starts at login.
    fn autostart_enabled(&self) -> bool;
    /// Starts deltadrop at login (minimised), or stops doing so.
    fn set_autostart(&self, on: bool) -> Result<(), String>;
    /// A follow downloaded a new build: its file name and what was reused.
    fn new_build(&self, file_name: &str, reused: &str);
    /// A follow failed twice in a row: its name and the error.
    fn follow_failing(&self, name: &str, error: &str);
}

/// The real desktop: [`crate::desktop`].
pub struct SystemDesktop;

impl Desktop for SystemDesktop {
    fn autostart_enabled(&self) -> bool {
        crate::desktop::autostart::is_enabled()
    }
    fn set_autostart(&self, on: bool) -> Result<(), String> {
        crate::desktop::autostart::set_enabled(on)
    }
    fn new_build(&self, file_name: &str, reused: &str) {
        crate::desktop::notify::new_build(file_name, reused);
    }
    fn follow_failing(&self, name: &str, error: &str) {
        crate::desktop::notify::follow_failing(name, error);
    }
}
