//! Work the UI thread must not do (file dialogs, `stat`, listing folders, opening a file
//! manager) runs on short-lived threads that report back with the same [`Command`]s the
//! views push. The UI drains them at the start of each frame; nothing here ever blocks
//! the UI.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::task::{Context, Poll, Wake};
use std::time::SystemTime;

use deltadrop_core::Format;

use super::command::Command;
use super::runner::Waker;
use super::seed_estimates::EstimateKey;

/// Files found next to where the output goes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Suggestions {
    /// The output (folder or file) and target name these were asked for.
    pub request: (PathBuf, String),
    /// The folder that was looked in.
    pub folder: PathBuf,
    /// The target's own name exists there: the engine reuses it on its own.
    pub previous: Option<(PathBuf, u64)>,
    /// Files with a similar name (another version, by the look of it), newest first.
    pub similar: Vec<(PathBuf, u64)>,
}

/// Sends a worker's commands to the UI and wakes it.
#[derive(Clone)]
pub struct Reporter {
    tx: Sender<Command>,
    waker: Arc<dyn Waker>,
}

impl Reporter {
    pub fn send(&self, command: Command) {
        if self.deliver(command) {
            self.waker.wake();
        }
    }

    /// Sends without waking the UI (the caller wakes it, less often); false when the UI
    /// is gone.
    pub fn deliver(&self, command: Command) -> bool {
        self.tx.send(command).is_ok()
    }
}

pub struct Workers {
    reporter: Reporter,
    rx: Receiver<Command>,
}

impl Workers {
    pub fn new(waker: Arc<dyn Waker>) -> Self {
        let (tx, rx) = channel();
        Workers {
            reporter: Reporter { tx, waker },
            rx,
        }
    }

    /// Runs `work` on a new thread; it reports through the given [`Reporter`].
    pub fn spawn(&self, name: &str, work: impl FnOnce(&Reporter) + Send + 'static) {
        let reporter = self.reporter.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("deltadrop-{name}"))
            .spawn(move || work(&reporter));
        if let Err(err) = spawned {
            self.reporter.send(Command::ShowMessage(format!(
                "could not start a thread: {err}"
            )));
        }
    }

    /// A reporter for a long-lived worker of its own (the follows' scheduler).
    pub fn reporter(&self) -> Reporter {
        self.reporter.clone()
    }

    /// Everything reported since the last call.
    pub fn drain(&self) -> Vec<Command> {
        self.rx.try_iter().collect()
    }

    /// Reports the size of each of `paths`.
    pub fn stat_seeds(&self, paths: Vec<PathBuf>) {
        self.spawn("stat", move |r| {
            for path in paths {
                let size = std::fs::metadata(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|m| {
                        if m.is_file() {
                            Ok(m.len())
                        } else {
                            Err("not a file".to_string())
                        }
                    });
                r.send(Command::SetSeedSize(path, size));
            }
        });
    }

    /// Looks next to `output` for earlier versions of `target_name`.
    pub fn suggest(&self, output: PathBuf, target_name: String) {
        self.spawn("suggest", move |r| {
            r.send(Command::SetSuggestions(find_previous_versions(
                &output,
                &target_name,
            )));
        });
    }

    /// Lists the candidate seeds in the folders of `key`, but not `skip`.
    pub fn find_seed_candidates(&self, key: EstimateKey, skip: Vec<PathBuf>) {
        self.spawn("candidates", move |r| {
            let found = deltadrop_core::candidate_seeds(&key.folders, &skip);
            r.send(Command::SetSeedCandidates(key, found));
        });
    }

    /// Waits for a file dialog (created on the UI thread, as macOS wants) on a worker.
    pub fn dialog<T: Send + 'static>(
        &self,
        dialog: impl Future<Output = Option<T>> + Send + 'static,
        into_command: impl FnOnce(T) -> Command + Send + 'static,
    ) {
        self.spawn("dialog", move |r| {
            if let Some(picked) = block_on(dialog) {
                r.send(into_command(picked));
            }
        });
    }

    /// Shows `folder` in the platform's file manager.
    pub fn open_folder(&self, folder: PathBuf) {
        self.spawn("open", move |r| {
            let program = if cfg!(target_os = "windows") {
                "explorer"
            } else if cfg!(target_os = "macos") {
                "open"
            } else {
                "xdg-open"
            };
            if let Err(err) = std::process::Command::new(program).arg(&folder).spawn() {
                r.send(Command::ShowMessage(format!(
                    "could not open {} with {program}: {err}",
                    folder.display()
                )));
            }
        });
    }
}

/// Polls `future` to completion on the calling thread.
fn block_on<F: Future>(future: F) -> F::Output {
    struct ThreadWaker(std::thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Arc::new(ThreadWaker(std::thread::current())).into();
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(value) => return value,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// The target's file name guessed from a control URL or path: its last segment without
/// `.zsync` or `.caibx` (the control file's `Filename` replaces the guess once it is
/// loaded), or the `.zck` itself, which is the target.
pub fn guess_target_name(control: &str) -> Option<String> {
    let control = control.trim();
    let without_query = control.split(['?', '#']).next().unwrap_or(control);
    let last = without_query.rsplit(['/', '\\']).next()?;
    let name = Format::of_control_name(last)?.target_name(last)?;
    (!name.is_empty()).then(|| name.to_string())
}

/// The part of a file name that stays the same between versions: everything before the
/// first digit, without trailing separators, lower-cased ("app-1.2.img" -> "app").
pub fn name_family(name: &str) -> Option<String> {
    let stem: String = name.chars().take_while(|c| !c.is_ascii_digit()).collect();
    let stem = stem.trim_end_matches(['-', '_', '.', ' ']).to_lowercase();
    (stem.chars().count() >= 2).then_some(stem)
}

fn extension(name: &str) -> &str {
    name.rsplit_once('.').map_or("", |(_, ext)| ext)
}

/// Looks where the target will be written (`output` is a folder, or the file itself) for
/// the target's own name and for files that look like other versions of it (same family
/// and extension), newest first, at most three.
pub fn find_previous_versions(output: &Path, target_name: &str) -> Suggestions {
    let request = (output.to_path_buf(), target_name.to_string());
    let (folder, target_name) = if output.is_dir() || output.as_os_str().is_empty() {
        (output.to_path_buf(), target_name.to_string())
    } else {
        (
            output.parent().map(Path::to_path_buf).unwrap_or_default(),
            output.file_name().map_or(target_name.to_string(), |n| {
                n.to_string_lossy().into_owned()
            }),
        )
    };
    let target_name = target_name.as_str();
    let mut out = Suggestions {
        request,
        folder: folder.clone(),
        ..Suggestions::default()
    };
    let folder = if folder.as_os_str().is_empty() {
        Path::new(".")
    } else {
        folder.as_path()
    };
    let Ok(entries) = std::fs::read_dir(folder) else {
        return out;
    };
    let family = name_family(target_name);
    let ext = extension(target_name);
    let mut similar: Vec<(SystemTime, PathBuf, u64)> = Vec::new();
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == target_name {
            out.previous = Some((entry.path(), meta.len()));
            continue;
        }
        let skip = [".part", ".zs-old"].iter().any(|s| name.ends_with(s))
            || Format::of_control_name(&name).is_some_and(|f| !f.is_its_own_target());
        if skip || extension(&name) != ext || family.is_none() || name_family(&name) != family {
            continue;
        }
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        similar.push((modified, entry.path(), meta.len()));
    }
    similar.sort_by_key(|s| std::cmp::Reverse(s.0));
    out.similar = similar
        .into_iter()
        .take(3)
        .map(|(_, path, size)| (path, size))
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_names_and_families() {
        assert_eq!(
            guess_target_name("https://x.org/a/app-1.2.img.zsync?x=1").as_deref(),
            Some("app-1.2.img")
        );
        assert_eq!(
            guess_target_name("/tmp/app.iso.caibx").as_deref(),
            Some("app.iso")
        );
        assert_eq!(
            guess_target_name("https://h/repodata/primary.xml.zck").as_deref(),
            Some("primary.xml.zck")
        );
        assert_eq!(
            guess_target_name("/tmp/app.iso.zsync").as_deref(),
            Some("app.iso")
        );
        assert_eq!(guess_target_name("https://x.org/app.iso"), None);
        assert_eq!(name_family("app-1.2.img").as_deref(), Some("app"));
        assert_eq!(name_family("App_v2.img").as_deref(), Some("app_v"));
        assert_eq!(name_family("2024.img"), None);
    }
}
