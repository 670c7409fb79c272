//! The GUI's command line: `deltadrop [URL|FILE.zsync] [-i SEED]... [-o OUT] [--start]`
//! (and `--demo`, `--minimized`, `--frame-log FILE`).

use std::path::PathBuf;

use clap::Parser;

/// Download big files by fetching only what changed (zsync compatible).
#[derive(Debug, Clone, Parser, PartialEq, Eq, Default)]
#[command(name = "deltadrop", version, about)]
pub struct GuiArgs {
    /// URL or path of the .zsync file (what the OS passes when opening a .zsync with us).
    pub control: Option<String>,
    /// A local file that may hold parts of the target (repeatable).
    #[arg(short = 'i', long = "input", value_name = "SEED")]
    pub seeds: Vec<PathBuf>,
    /// Where the target goes: a folder, or a file name.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Start downloading at once (with a URL or file; --demo always does).
    #[arg(long)]
    pub start: bool,
    /// Offline demo: make two versions of a sample file, serve the newer one on a loopback
    /// port at a slow link's pace, and download it at once with the older one as seed.
    #[arg(long, conflicts_with = "control")]
    pub demo: bool,
    /// Start with the window minimised (how the login item starts deltadrop); follows
    /// are checked on schedule all the same.
    #[arg(long)]
    pub minimized: bool,
    /// Write one line per frame (start time, gap, CPU time, job phase, the form's URL or
    /// file) to FILE, for measuring frame times (`bench/gui_frames.py`). Also taken from
    /// $DELTADROP_FRAME_LOG, for runs the desktop starts (opening a .zsync).
    #[arg(long, value_name = "FILE")]
    pub frame_log: Option<PathBuf>,
    /// Turn starting at login on or off and exit, without a window (hidden: for the
    /// Windows tests, which check the Run key it writes under wine).
    #[arg(
        long,
        hide = true,
        value_name = "on|off",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub set_autostart: Option<bool>,
}
