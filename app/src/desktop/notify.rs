//! Desktop notifications: a new build is ready, or a follow keeps failing. The window may
//! be minimised for days while deltadrop follows builds, so these are how the user hears
//! of either.
//!
//! `notify-rust` speaks each desktop's own service: freedesktop notifications over D-Bus
//! (GNOME, KDE, dunst, ...), the macOS notification centre and Windows toasts. On
//! Windows a toast is shown under an AppUserModelID that a Start-menu shortcut must carry
//! (unpackaged apps have no other way to name themselves): the installer sets
//! [`APP_IDENTIFIER`] on its shortcut, so the portable `.zip` shows none.
//!
//! Showing one may wait on the desktop (a D-Bus round trip, a daemon being started), so
//! the calls here only queue it for one background thread and return at once; a
//! notification that cannot be shown (no daemon, no session bus) is logged on stderr and
//! nothing else happens: the app works the same without them.

use std::sync::OnceLock;
use std::sync::mpsc::{Sender, channel};

#[cfg(not(all(unix, not(target_os = "macos"))))]
use super::APP_IDENTIFIER;
use super::APP_NAME;

/// A new build of `file_name` was downloaded; `reused` says what was reused, in words
/// (for example "580 MiB of 600 MiB reused from the previous build").
pub fn new_build(file_name: &str, reused: &str) {
    queue(Note {
        summary: format!("New build: {file_name}"),
        body: reused.to_string(),
    });
}

/// The follow `name` failed twice in a row; `error` is the last failure's message.
pub fn follow_failing(name: &str, error: &str) {
    queue(Note {
        summary: format!("Following {name} fails"),
        body: format!("{error}\nOpen deltadrop to see the follow or change it."),
    });
}

/// One notification's text.
struct Note {
    summary: String,
    body: String,
}

/// Hands the note to the notifications thread (started with the first one).
fn queue(note: Note) {
    static QUEUE: OnceLock<Sender<Note>> = OnceLock::new();
    let summary = note.summary.clone();
    if QUEUE.get_or_init(start_thread).send(note).is_err() {
        eprintln!("deltadrop: notification \"{summary}\" not shown: no notifications thread");
    }
}

/// The thread that shows the notes in order, one at a time. Should it not start, the
/// sender's receiver is gone and [`queue`] logs each note as not shown.
fn start_thread() -> Sender<Note> {
    let (sender, notes) = channel::<Note>();
    let started = std::thread::Builder::new()
        .name("notifications".into())
        .spawn(move || {
            for note in notes {
                if let Err(err) = show(&note) {
                    eprintln!(
                        "deltadrop: notification \"{}\" not shown: {err}",
                        note.summary
                    );
                }
            }
        });
    if let Err(err) = started {
        eprintln!("deltadrop: no notifications: {err}");
    }
    sender
}

/// Shows one note through the desktop's notification service.
#[cfg(all(unix, not(target_os = "macos")))]
fn show(note: &Note) -> Result<(), notify_rust::error::Error> {
    // A daemon that reads markup in the body would take an error's `<` for a tag.
    let markup = notify_rust::get_capabilities()?
        .iter()
        .any(|capability| capability == "body-markup");
    let body = if markup {
        super::escape_xml_text(&note.body)
    } else {
        note.body.clone()
    };
    notify_rust::Notification::new()
        .appname(APP_NAME)
        .summary(&note.summary)
        .body(&body)
        .icon(APP_NAME)
        // The desktop entry that installs with the app: its name and icon, its settings.
        .hint(notify_rust::Hint::DesktopEntry(APP_NAME.into()))
        .show()
        .map(drop)
}

/// Shows one note through the macOS notification centre, as the app bundle.
#[cfg(target_os = "macos")]
fn show(note: &Note) -> Result<(), notify_rust::error::Error> {
    static APPLICATION: OnceLock<()> = OnceLock::new();
    APPLICATION.get_or_init(|| {
        // Only ever once per process (it fails if asked again).
        if let Err(err) = notify_rust::set_application(APP_IDENTIFIER) {
            eprintln!("deltadrop: notifications not shown as {APP_IDENTIFIER}: {err}");
        }
    });
    notify_rust::Notification::new()
        .appname(APP_NAME)
        .summary(&note.summary)
        .body(&note.body)
        .show()
        .map(drop)
}

/// Shows one note as a Windows toast under the Start-menu shortcut's AppUserModelID.
#[cfg(windows)]
fn show(note: &Note) -> Result<(), notify_rust::error::Error> {
    notify_rust::Notification::new()
        .app_id(APP_IDENTIFIER)
        .appname(APP_NAME)
        .summary(&note.summary)
        .body(&note.body)
        .show()
        .map(drop)
}
