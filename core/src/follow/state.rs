//! What a follow remembers between checks, kept in the folder it fills
//! (`FOLDER/.deltadrop-follow/`), so the command line and the app, or two runs a day
//! apart, share it: the server's validators for a cheap check, and the builds the
//! follow wrote. Only a build listed here, and still as it was written, is ever
//! deleted; a build someone edited or deleted is simply not a seed any more.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::part::write_atomically;

/// The folder's own subfolder, for the state and its lock.
const STATE_DIR: &str = ".deltadrop-follow";

/// What a follow knows about its folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct FollowState {
    /// What is followed (a control file's URL, or a listing's), as the user gave it.
    pub source: String,
    /// The control file the last check asked for: the one followed, or the one a
    /// listing led to. Its validators are only for it.
    pub control_url: Option<String>,
    /// The validators the server sent with it: asked with them, it answers `304` while
    /// the control file is the same.
    pub etag: Option<String>,
    /// `Last-Modified` as sent.
    pub last_modified: Option<String>,
    /// The builds this follow wrote and keeps, newest first.
    pub builds: Vec<KeptBuild>,
    /// Checks that failed since the last one that did not.
    pub failures_in_a_row: u32,
}

/// A build the follow downloaded, as it left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeptBuild {
    /// Its file name in the folder.
    pub file: String,
    /// What tells builds apart: the whole-file hash its control file promised (zsync),
    /// its header's checksum (zchunk), its index's hash (casync).
    pub identity: String,
    /// Its size as written.
    pub size: u64,
    /// Its modification time as written, in nanoseconds since 1970.
    pub modified_ns: u64,
    /// When it was built, as the control file says (`MTime`), if it says.
    pub built: Option<String>,
    /// How many of its bytes came from local files.
    pub reused_bytes: u64,
}

impl KeptBuild {
    /// The build at `path` as it is now, to be remembered.
    pub fn record(
        path: &Path,
        identity: String,
        built: Option<String>,
        reused: u64,
    ) -> Result<Self> {
        let (size, modified_ns) = stat(path).map_err(|e| Error::io("read", path, e))?;
        Ok(KeptBuild {
            file: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            identity,
            size,
            modified_ns,
            built,
            reused_bytes: reused,
        })
    }

    /// Whether the file in `folder` is still the one the follow wrote.
    pub fn is_intact(&self, folder: &Path) -> bool {
        stat(&folder.join(&self.file)).is_ok_and(|now| now == (self.size, self.modified_ns))
    }
}

fn stat(path: &Path) -> std::io::Result<(u64, u64)> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::ErrorKind::InvalidInput.into());
    }
    let modified = meta.modified()?;
    let ns = modified
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    Ok((meta.len(), ns))
}

/// The follow's hold on its folder while it checks and downloads: a second follow of the
/// same folder (another process, or the app beside a scheduled command) stops with a
/// message instead of downloading the same build into the same files. Released when
/// dropped, or by the system when the process ends, crashes included.
pub(crate) struct FolderLock {
    _file: File,
    dir: PathBuf,
}

/// How long a lock held elsewhere is waited for before the check gives way.
const LOCK_PATIENCE: Duration = Duration::from_secs(2);

/// Tries to lock `file` for up to [`LOCK_PATIENCE`]. Not once only: a lock is held by every
/// copy of its descriptor, and a process that another thread of this one is starting has
/// copies of all of them until it has started its program (which closes them), so the
/// lock of a check that has just ended can outlive it for a moment.
fn try_lock_awhile(file: &File) -> std::result::Result<(), std::fs::TryLockError> {
    let give_up = Instant::now() + LOCK_PATIENCE;
    loop {
        match file.try_lock() {
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < give_up => {
                std::thread::sleep(Duration::from_millis(20));
            }
            result => return result,
        }
    }
}

impl FolderLock {
    /// Takes the lock on `folder`, creating the folder if it is gone.
    pub fn take(folder: &Path) -> Result<FolderLock> {
        let dir = folder.join(STATE_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create the folder", &dir, e))?;
        let path = dir.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        match try_lock_awhile(&file) {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Invalid(format!(
                    "another deltadrop is already updating {} ({} is in use): it will \
                     download the new build; this check is skipped",
                    folder.display(),
                    path.display()
                )));
            }
            // A file system without locks (some network shares): go on without one.
            Err(std::fs::TryLockError::Error(_)) => {}
        }
        Ok(FolderLock { _file: file, dir })
    }

    /// The folder's state; an empty one the first time.
    pub fn load(&self) -> Result<FollowState> {
        let path = self.state_path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::Invalid(format!(
                    "{} is damaged ({e}): delete it to start the follow afresh (the builds \
                     in the folder stay and are used as seeds)",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FollowState::default()),
            Err(e) => Err(Error::io("read", &path, e)),
        }
    }

    /// Saves `state`, whole or not at all.
    pub fn save(&self, state: &FollowState) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(state).expect("the state serialises");
        write_atomically(&self.state_path(), &bytes)
    }

    /// Where a fetched control file waits for its download: the download uses these
    /// very bytes, not a second fetch that may find the next build.
    pub fn control_copy(&self, name: &str) -> PathBuf {
        self.dir.join(format!("control-{name}"))
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_follow_per_folder_and_state_survives() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("builds");
        let lock = FolderLock::take(&folder).unwrap();
        let second = FolderLock::take(&folder).err().expect("refused");
        assert!(
            second
                .to_string()
                .starts_with("another deltadrop is already updating")
        );
        assert_eq!(lock.load().unwrap(), FollowState::default());
        std::fs::write(folder.join("image.wic"), b"build").unwrap();
        let build =
            KeptBuild::record(&folder.join("image.wic"), "SHA-1:ab".into(), None, 3).unwrap();
        let state = FollowState {
            source: "https://b.example/latest/image.wic.zsync".into(),
            builds: vec![build.clone()],
            ..FollowState::default()
        };
        lock.save(&state).unwrap();
        drop(lock);
        let lock = FolderLock::take(&folder).unwrap();
        assert_eq!(lock.load().unwrap(), state);
        assert!(build.is_intact(&folder));
        std::fs::write(folder.join("image.wic"), b"edited").unwrap();
        assert!(
            !build.is_intact(&folder),
            "an edited build is not the one written"
        );
        std::fs::write(lock.state_path(), b"{ not json").unwrap();
        assert!(lock.load().unwrap_err().to_string().contains("is damaged"));
    }
}
