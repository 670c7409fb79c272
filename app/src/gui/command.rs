//! Everything the user can ask for. Views push these; the app executes them once per
//! frame, after drawing, so no view mutates state while another reads it.

use std::path::PathBuf;

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
}
