//! What survives a restart: settings, the history of recent downloads, the follows and
//! the view last shown. Kept apart from runtime state; `#[serde(default)]` so saves from
//! older versions still load.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::follows::{Follow, FollowId};

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
    /// The proxy's user, if it wants a sign-in; its password is in the credential store.
    pub proxy_user: String,
    /// A PEM file of certificate authorities to trust besides the system's (an in-house
    /// build server); empty means none.
    pub ca_cert: String,
    /// The last output chosen (a folder or a file); `None` means the Downloads folder.
    pub output: Option<PathBuf>,
    /// More folders to look in for seeds (besides the output's and recent downloads'),
    /// one a line.
    pub seed_folders: String,
}

impl Default for Settings {
    fn default() -> Self {
        let engine = deltadrop_core::JobOptions::default();
        Settings {
            parallel_requests: engine.parallel_requests,
            keep_old: engine.keep_old,
            uncompress: engine.uncompress,
            proxy: String::new(),
            proxy_user: String::new(),
            ca_cert: String::new(),
            output: None,
            seed_folders: String::new(),
        }
    }
}

/// One finished (or failed, or cancelled) download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct HistoryEntry {
    /// The URL or path of the control file (`.zsync`, `.zck`, `.caibx`).
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

/// The window's main views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum View {
    #[default]
    Download,
    Follows,
    History,
    Settings,
}

impl View {
    /// In the order of their tabs (and of Ctrl+1..4).
    pub const ALL: [View; 4] = [View::Download, View::Follows, View::History, View::Settings];

    pub fn name(self) -> &'static str {
        match self {
            View::Download => "Download",
            View::Follows => "Follows",
            View::History => "History",
            View::Settings => "Settings",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Persisted {
    pub settings: Settings,
    /// Newest first.
    pub history: Vec<HistoryEntry>,
    /// In the order they were added.
    pub follows: Vec<Follow>,
    /// The view the window showed when it was closed.
    pub view: View,
}

impl Persisted {
    pub fn push_history(&mut self, entry: HistoryEntry) {
        self.history.insert(0, entry);
        self.history.truncate(HISTORY_LEN);
    }

    /// Follows `url` into `folder` with the user's `seeds`; an existing follow of the
    /// same is kept as it is. Its id.
    pub fn add_follow(&mut self, url: &str, folder: &Path, seeds: Vec<PathBuf>) -> FollowId {
        if let Some(existing) = self.follow_of(url, folder) {
            return existing.id;
        }
        let id = self.follows.iter().map(|f| f.id).max().map_or(1, |m| m + 1);
        self.follows.push(Follow {
            id,
            url: url.to_string(),
            folder: folder.to_path_buf(),
            seeds,
            ..Follow::default()
        });
        id
    }

    /// The follow of `url` into `folder`, if there is one.
    pub fn follow_of(&self, url: &str, folder: &Path) -> Option<&Follow> {
        self.follows
            .iter()
            .find(|f| f.url == url && f.folder == folder)
    }

    pub fn follow_mut(&mut self, id: FollowId) -> Option<&mut Follow> {
        self.follows.iter_mut().find(|f| f.id == id)
    }

    /// Forgets the follow; its folder and builds stay as they are.
    pub fn remove_follow(&mut self, id: FollowId) {
        self.follows.retain(|f| f.id != id);
    }
}
