//! What survives a restart: settings and the history of recent downloads. Kept apart from
//! runtime state; `#[serde(default)]` so saves from older versions still load.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The key under which eframe's storage keeps [`Persisted`].
pub const STORAGE_KEY: &str = "deltadrop";

/// How many downloads the history keeps.
pub const HISTORY_LEN: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// HTTP requests in flight at once.
    pub parallel_requests: usize,
    /// Keep the replaced output as `<out>.zs-old`.
    pub keep_old: bool,
    /// After a zchunk download, also write the file the `.zck` was made from.
    pub uncompress: bool,
    /// Proxy URL; empty means "from the environment".
    pub proxy: String,
    /// A PEM file of certificate authorities to trust besides the system's (an in-house
    /// build server); empty means none.
    pub ca_cert: String,
    /// The last output chosen (a folder or a file); `None` means the Downloads folder.
    pub output: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        let engine = deltadrop_core::JobOptions::default();
        Settings {
            parallel_requests: engine.parallel_requests,
            keep_old: engine.keep_old,
            uncompress: engine.uncompress,
            proxy: String::new(),
            ca_cert: String::new(),
            output: None,
        }
    }
}

/// One finished (or failed, or cancelled) download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct HistoryEntry {
    /// The URL or path of the `.zsync` file.
    pub control: String,
    pub seeds: Vec<PathBuf>,
    pub output: Option<PathBuf>,
    /// Seconds since the Unix epoch.
    pub finished_unix: u64,
    /// "verified", "cancelled", or the error message.
    pub outcome: String,
    pub ok: bool,
    /// The file written, on success.
    pub written: Option<PathBuf>,
    /// The verified file's hash, as "SHA-256 0123...".
    #[serde(alias = "sha1_hex")]
    pub file_hash: Option<String>,
    pub total_bytes: u64,
    pub local_bytes: u64,
    pub fetched_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Persisted {
    pub settings: Settings,
    /// Newest first.
    pub history: Vec<HistoryEntry>,
}

impl Persisted {
    pub fn push_history(&mut self, entry: HistoryEntry) {
        self.history.insert(0, entry);
        self.history.truncate(HISTORY_LEN);
    }
}
