//! Every change to the app's form and messages, whoever asks for it. Views push these and
//! the app executes them once per frame, after drawing, so no view mutates state while
//! another reads it; workers report with the same commands (a picked file is the same
//! `SetControl` as a typed one), executed as they are drained at the start of a frame.

use std::path::PathBuf;

use super::worker::Suggestions;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Use this URL or `.zsync` path as the control file.
    SetControl(String),
    /// Open a file dialog for a `.zsync` file.
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
    OpenFolder(PathBuf),
    CopyText(String),
    /// Refill the form from a history entry.
    LoadHistory(usize),
    ClearHistory,
    /// A worker measured a seed: its size, or why it cannot be read.
    SetSeedSize(PathBuf, Result<u64, String>),
    /// A worker looked next to the output for earlier versions of the target.
    SetSuggestions(Suggestions),
    /// Something failed outside a job (a dialog, opening a folder): tell the user.
    ShowMessage(String),
}
