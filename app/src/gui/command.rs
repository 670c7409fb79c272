//! Every change to the app's form and messages, whoever asks for it. Views push these and
//! the app executes them once per frame, after drawing, so no view mutates state while
//! another reads it; workers report with the same commands (a picked file is the same
//! `SetControl` as a typed one), executed as they are drained at the start of a frame.

use std::path::PathBuf;

use deltadrop_core::Event;

use super::access::SignInAnswer;
use super::follows::{FollowId, ScheduleReport};
use super::persist::View;
use super::seed_estimates::EstimateKey;
use super::worker::Suggestions;
use crate::access::{SavedAccess, SavedHeader, Secret, Secrets};

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Show one of the main views.
    ShowView(View),
    /// Use this URL or path as the control file.
    SetControl(String),
    /// Open a file dialog for a control file that opens locally (`.zsync`, `.caibx`).
    BrowseControl,
    AddSeeds(Vec<PathBuf>),
    BrowseSeeds,
    RemoveSeed(usize),
    SetOutput(PathBuf),
    BrowseOutput,
    /// The info step: scan the seeds and report what a download would cost.
    Plan,
    Start,
    SetPaused(bool),
    Cancel,
    /// Forget the finished job (error or success) shown under the form.
    Dismiss,
    /// Forget the message about something that failed outside a job.
    DismissMessage,
    OpenFolder(PathBuf),
    CopyText(String),
    /// Refill the form from a history entry.
    LoadHistory(usize),
    ClearHistory,
    /// A worker measured a seed: its size, or why it cannot be read.
    SetSeedSize(PathBuf, Result<u64, String>),
    /// A worker looked next to the output for earlier versions of the target.
    SetSuggestions(Suggestions),
    /// A worker listed the files worth estimating as seeds for this control file and
    /// these folders.
    SetSeedCandidates(EstimateKey, Vec<PathBuf>),
    /// Something failed outside a job (a dialog, opening a folder): tell the user.
    ShowMessage(String),
    /// Check this follow as soon as no other check runs.
    CheckFollowNow(FollowId),
    SetFollowPaused(FollowId, bool),
    /// Ask whether to stop following (the dialog).
    AskRemoveFollow(FollowId),
    /// Stop following; the builds stay in the folder.
    RemoveFollow(FollowId),
    /// Follow the build of history entry `usize` (true), or stop following it.
    FollowHistory(usize, bool),
    /// Start deltadrop at login, or not.
    SetAutostart(bool),
    /// A worker read (or changed) whether deltadrop starts at login.
    AutostartIs(Result<bool, String>),
    /// The scheduler started a check of this follow at this time (Unix seconds).
    FollowCheckStarted {
        id: FollowId,
        at: u64,
    },
    /// An event of a follow's running check.
    FollowEvent(FollowId, Box<Event>),
    /// When each follow is next checked.
    FollowSchedule(ScheduleReport),
    /// A worker read the saved secrets; what could not be read.
    AccessLoaded {
        secrets: Secrets,
        problems: Vec<String>,
    },
    /// A worker saved to (or removed from) the credential store and the list: the list
    /// as it is now, or why nothing changed.
    AccessSaved(Result<SavedAccess, String>),
    /// The sign-in dialog's answer: use it (remember it) and run the job again.
    SignIn(SignInAnswer),
    /// The sign-in dialog was closed without signing in.
    CancelSignIn,
    /// Forget the sign-in saved for a host.
    RemoveSignIn(String),
    /// Forget a header saved for a host.
    RemoveHeader {
        host: String,
        name: String,
    },
    /// Forget a host's client certificate.
    RemoveClientCert(String),
    /// Send these headers to their host (a secret one's value is the `Secret`).
    AddHeaders(Vec<(SavedHeader, Option<Secret>)>),
    /// Show this certificate to `host`; a PKCS#12 file's password.
    AddClientCert {
        host: String,
        path: PathBuf,
        password: Option<Secret>,
    },
    /// Open a file dialog for a client certificate.
    BrowseClientCert,
    /// A client certificate file was picked.
    SetClientCertPath(PathBuf),
    /// The proxy's password (for the proxy in the settings).
    SaveProxyPassword(Secret),
}
