//! The application state and its frame loop: `logic` runs the workers' commands, folds
//! the job's events in and turns drops and pastes into commands; `ui` draws (see `ui.rs`)
//! and then executes the frame's [`Command`]s once. UI state (the form, windows) is kept
//! apart from the engine's (a [`JobView`] folded from events) and from what is persisted.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant, SystemTime};

use deltadrop_core::{ControlSource, Error, Event, JobSpec, Mode, Phase};

use super::args::GuiArgs;
use super::command::Command;
use super::frame_log::FrameLog;
use super::model::JobView;
use super::persist::{HistoryEntry, Persisted, STORAGE_KEY};
use super::runner::{EngineRunner, RunControl, Runner, UiSink, Waker};
use super::worker::{Suggestions, Workers, guess_target_name};

/// How the app starts: the command line, where downloads go by default, and the engine.
pub struct StartOptions {
    pub args: GuiArgs,
    /// The user's Downloads folder (looked up before the first frame).
    pub default_output: PathBuf,
    pub runner: Box<dyn Runner>,
    /// Ask the clipboard for a URL to offer when the form starts empty.
    pub probe_clipboard: bool,
    /// Kept alive as long as the app (the --demo server, say).
    pub keep_alive: Option<Box<dyn Any>>,
}

impl StartOptions {
    pub fn new(args: GuiArgs, default_output: PathBuf) -> Self {
        StartOptions {
            args,
            default_output,
            runner: Box::new(EngineRunner),
            probe_clipboard: true,
            keep_alive: None,
        }
    }
}

/// The Downloads folder, else the home folder, else the current one.
pub fn default_output_folder() -> PathBuf {
    directories::UserDirs::new()
        .and_then(|dirs| {
            dirs.download_dir()
                .map(Path::to_path_buf)
                .or_else(|| Some(dirs.home_dir().to_path_buf()))
        })
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A seed in the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedEntry {
    pub path: PathBuf,
    /// Filled in by a worker.
    pub size: Option<Result<u64, String>>,
}

/// What the user is filling in.
#[derive(Debug, Clone, Default)]
pub struct Form {
    /// URL or path of the `.zsync` file.
    pub control: String,
    pub seeds: Vec<SeedEntry>,
    /// A folder (the target keeps its name) or a file.
    pub output: PathBuf,
    pub suggestions: Option<Suggestions>,
}

impl Form {
    pub fn seed_paths(&self) -> Vec<PathBuf> {
        self.seeds.iter().map(|s| s.path.clone()).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// The info step (`Mode::PlanOnly`).
    Plan,
    Download,
}

/// A started job and what it has reported.
pub struct Run {
    pub kind: RunKind,
    pub spec: JobSpec,
    pub view: JobView,
    pub paused: bool,
    pub cancel_requested: bool,
    control: Box<dyn RunControl>,
    rx: Receiver<Event>,
}

impl Run {
    pub fn is_running(&self) -> bool {
        !self.view.is_finished()
    }
    /// The file name of seed `i` of this run.
    pub fn seed_name(&self, i: usize) -> String {
        self.spec
            .seeds
            .get(i)
            .map_or_else(|| format!("#{}", i + 1), |p| file_name(p))
    }
}

/// The last path component, for display.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Whether pasted or dropped text looks like a control file we can use: a URL, or a
/// local `.zsync` or casync index (a local `.zck` is a seed: the download needs its URL).
pub fn looks_like_control(text: &str) -> bool {
    let text = text.trim();
    !text.is_empty()
        && !text.contains('\n')
        && (text.starts_with("http://")
            || text.starts_with("https://")
            || text.ends_with(".zsync")
            || text.ends_with(".caibx"))
}

#[derive(Default)]
pub(super) struct UiState {
    pub show_settings: bool,
    pub show_history: bool,
    /// A URL found on the clipboard at start-up, offered to the user.
    pub clipboard_offer: Option<String>,
    /// Until when (egui time) a paste counts as the answer to our clipboard probe.
    pub probe_until: Option<f64>,
    pub probe_sent: bool,
    /// A message about something that failed outside a job (a dialog, a folder).
    pub message: Option<String>,
    /// The (folder, target name) suggestions were last asked for.
    pub suggested_for: Option<(PathBuf, String)>,
    /// The window title last set.
    pub title: String,
}

pub struct DeltadropApp {
    pub(super) persisted: Persisted,
    pub(super) form: Form,
    pub(super) run: Option<Run>,
    pub(super) commands: Vec<Command>,
    pub(super) ui_state: UiState,
    workers: Workers,
    runner: Box<dyn Runner>,
    waker: Arc<dyn Waker>,
    /// `--frame-log`: frame timings for the benchmark.
    frame_log: Option<FrameLog>,
    _keep_alive: Option<Box<dyn Any>>,
}

impl DeltadropApp {
    pub fn new(cc: &eframe::CreationContext<'_>, options: StartOptions) -> Self {
        let persisted: Persisted = cc
            .storage
            .and_then(|s| eframe::get_value(s, STORAGE_KEY))
            .unwrap_or_default();
        let waker: Arc<dyn Waker> = Arc::new(cc.egui_ctx.clone());
        Self::with_state(persisted, waker, options)
    }

    /// Builds the app around saved state and a waker (tests use their own).
    pub fn with_state(persisted: Persisted, waker: Arc<dyn Waker>, options: StartOptions) -> Self {
        let StartOptions {
            args,
            default_output,
            runner,
            probe_clipboard,
            keep_alive,
        } = options;
        let output = args
            .output
            .clone()
            .or_else(|| persisted.settings.output.clone())
            .unwrap_or(default_output);
        let frame_log = args.frame_log.as_deref().and_then(|path| {
            FrameLog::open(path)
                .inspect_err(|err| eprintln!("deltadrop: no frame log: {err}"))
                .ok()
        });
        let mut app = DeltadropApp {
            persisted,
            form: Form {
                control: args.control.clone().unwrap_or_default(),
                seeds: Vec::new(),
                output,
                suggestions: None,
            },
            run: None,
            commands: Vec::new(),
            ui_state: UiState {
                probe_sent: !probe_clipboard,
                ..UiState::default()
            },
            workers: Workers::new(waker.clone()),
            runner,
            waker,
            frame_log,
            _keep_alive: keep_alive,
        };
        app.add_seeds(args.seeds);
        if args.start && !app.form.control.trim().is_empty() {
            app.commands.push(Command::Start);
        }
        app
    }

    pub fn form(&self) -> &Form {
        &self.form
    }
    pub fn run(&self) -> Option<&Run> {
        self.run.as_ref()
    }
    pub fn persisted(&self) -> &Persisted {
        &self.persisted
    }
    /// Queues a command as if a view had issued it.
    pub fn push_command(&mut self, command: Command) {
        self.commands.push(command);
    }

    pub fn is_running(&self) -> bool {
        self.run.as_ref().is_some_and(Run::is_running)
    }

    /// The target's file name: from the loaded control file when the run is for the
    /// current form, else guessed from the URL.
    pub fn target_name(&self) -> Option<String> {
        if let Some(run) = &self.run
            && run.spec.control == ControlSource::parse(self.form.control.trim())
            && let Some(target) = &run.view.target
        {
            return Some(target.filename.clone());
        }
        guess_target_name(&self.form.control)
    }

    /// "deltadrop", or the running download's percentage and name (seen in task bars).
    pub fn window_title(&self) -> String {
        match &self.run {
            Some(run) if run.is_running() && run.kind == RunKind::Download => {
                let name = run.view.target.as_ref().map_or("", |t| t.filename.as_str());
                let paused = if run.paused { " (paused)" } else { "" };
                format!(
                    "{:.0}% {name}{paused} – deltadrop",
                    run.view.fraction_done() * 100.0
                )
            }
            _ => "deltadrop".to_string(),
        }
    }

    /// The job the form describes.
    pub fn spec(&self, mode: Mode) -> Result<JobSpec, String> {
        let control = self.form.control.trim();
        if control.is_empty() {
            return Err("Enter the URL of a .zsync file, or open one.".into());
        }
        let mut spec = JobSpec::new(ControlSource::parse(control));
        spec.seeds = self.form.seed_paths();
        spec.output = Some(self.form.output.clone());
        let settings = &self.persisted.settings;
        spec.options.mode = mode;
        spec.options.keep_old = settings.keep_old;
        spec.options.uncompress = settings.uncompress;
        spec.options.parallel_requests = settings.parallel_requests.max(1);
        let proxy = settings.proxy.trim();
        spec.options.proxy = (!proxy.is_empty()).then(|| proxy.to_string());
        let ca_cert = settings.ca_cert.trim();
        spec.options.ca_certs = if ca_cert.is_empty() {
            Vec::new()
        } else {
            vec![PathBuf::from(ca_cert)]
        };
        Ok(spec)
    }

    /// True when the current run was started from what the form says now.
    pub fn run_matches_form(&self) -> bool {
        let Some(run) = &self.run else { return false };
        let Ok(spec) = self.spec(run.spec.options.mode) else {
            return false;
        };
        spec.control == run.spec.control
            && spec.seeds == run.spec.seeds
            && spec.output == run.spec.output
    }

    fn add_seeds(&mut self, paths: Vec<PathBuf>) {
        let mut new = Vec::new();
        for path in paths {
            if !self.form.seeds.iter().any(|s| s.path == path) && !new.contains(&path) {
                new.push(path);
            }
        }
        if new.is_empty() {
            return;
        }
        self.form.seeds.extend(new.iter().map(|path| SeedEntry {
            path: path.clone(),
            size: None,
        }));
        self.workers.stat_seeds(new);
    }

    fn start(&mut self, kind: RunKind) {
        if self.is_running() {
            return;
        }
        let mode = match kind {
            RunKind::Plan => Mode::PlanOnly,
            RunKind::Download => Mode::Download,
        };
        let spec = match self.spec(mode) {
            Ok(spec) => spec,
            Err(message) => {
                self.ui_state.message = Some(message);
                return;
            }
        };
        self.ui_state.message = None;
        let (tx, rx) = channel();
        let sink = UiSink::new(tx, self.waker.clone());
        let control = self.runner.start(spec.clone(), sink);
        self.run = Some(Run {
            kind,
            spec,
            view: JobView::new(Instant::now()),
            paused: false,
            cancel_requested: false,
            control,
            rx,
        });
    }

    /// Executes one command.
    pub(super) fn run_command(&mut self, ctx: &egui::Context, command: Command) {
        match command {
            Command::SetControl(text) => {
                self.form.control = text.trim().to_string();
                self.ui_state.clipboard_offer = None;
            }
            Command::BrowseControl => {
                let dialog = rfd::AsyncFileDialog::new()
                    .set_title("Open a .zsync file or a casync index")
                    .add_filter(".zsync and .caibx files", &["zsync", "caibx"])
                    .pick_file();
                self.workers.dialog(dialog, |f| {
                    Command::SetControl(f.path().display().to_string())
                });
            }
            Command::AddSeeds(paths) => self.add_seeds(paths),
            Command::BrowseSeeds => {
                let dialog = rfd::AsyncFileDialog::new()
                    .set_title("Add seed files")
                    .pick_files();
                self.workers.dialog(dialog, |files| {
                    Command::AddSeeds(files.iter().map(|f| f.path().to_path_buf()).collect())
                });
            }
            Command::RemoveSeed(i) => {
                if i < self.form.seeds.len() {
                    self.form.seeds.remove(i);
                }
            }
            Command::SetOutput(path) => {
                self.persisted.settings.output = Some(path.clone());
                self.form.output = path;
            }
            Command::BrowseOutput => {
                let mut dialog = rfd::AsyncFileDialog::new().set_title("Save the download in");
                if !self.form.output.as_os_str().is_empty() {
                    dialog = dialog.set_directory(&self.form.output);
                }
                self.workers.dialog(dialog.pick_folder(), |f| {
                    Command::SetOutput(f.path().to_path_buf())
                });
            }
            Command::Plan => self.start(RunKind::Plan),
            Command::Start => self.start(RunKind::Download),
            Command::SetPaused(paused) => {
                if let Some(run) = &mut self.run
                    && run.is_running()
                {
                    run.control.set_paused(paused);
                    if run.paused && !paused {
                        run.view.resumed();
                    }
                    run.paused = paused;
                }
            }
            Command::Cancel => {
                if let Some(run) = &mut self.run
                    && run.is_running()
                {
                    run.control.cancel();
                    run.cancel_requested = true;
                }
            }
            Command::Dismiss => {
                if !self.is_running() {
                    self.run = None;
                }
                self.ui_state.message = None;
            }
            Command::OpenFolder(folder) => self.workers.open_folder(folder),
            Command::CopyText(text) => ctx.copy_text(text),
            Command::LoadHistory(i) => {
                if let Some(entry) = self.persisted.history.get(i).cloned() {
                    self.form.control = entry.control;
                    self.form.seeds.clear();
                    self.add_seeds(entry.seeds);
                    if let Some(output) = entry.output {
                        self.form.output = output;
                    }
                    self.ui_state.show_history = false;
                }
            }
            Command::ClearHistory => self.persisted.history.clear(),
            Command::SetSeedSize(path, size) => {
                for seed in self.form.seeds.iter_mut().filter(|s| s.path == path) {
                    seed.size = Some(size.clone());
                }
            }
            Command::SetSuggestions(s) => {
                // Only the answer for what the form still says.
                if self.ui_state.suggested_for.as_ref() == Some(&s.request) {
                    self.form.suggestions = Some(s);
                }
            }
            Command::ShowMessage(message) => self.ui_state.message = Some(message),
        }
    }

    /// Folds the job's new events in; records a finished download in the history.
    fn drain_job(&mut self) {
        let Some(run) = &mut self.run else { return };
        let now = Instant::now();
        let mut finished = false;
        for event in run.rx.try_iter() {
            finished |= matches!(event, Event::Finished(_));
            run.view.apply(event, now);
        }
        if finished && run.kind == RunKind::Download {
            let entry = history_entry(run);
            self.persisted.push_history(entry);
        }
        if finished {
            // The output folder may hold a new file now: look again.
            self.ui_state.suggested_for = None;
        }
    }

    /// Files dropped on the window: a `.zsync` becomes the control file, the rest seeds.
    fn take_drops(&mut self, ctx: &egui::Context) {
        let dropped = ctx.input(|i| i.raw.dropped_files.clone());
        if dropped.is_empty() {
            return;
        }
        let mut seeds = Vec::new();
        for file in dropped {
            let path = file.path().to_path_buf();
            let text = path.to_string_lossy();
            if looks_like_control(&text) {
                self.commands.push(Command::SetControl(text.into_owned()));
            } else {
                seeds.push(path);
            }
        }
        if !seeds.is_empty() {
            self.commands.push(Command::AddSeeds(seeds));
        }
    }

    /// A paste outside any text field that looks like a `.zsync` URL fills the form; the
    /// answer to our start-up clipboard probe is offered instead.
    fn take_pastes(&mut self, ctx: &egui::Context) {
        let now = ctx.input(|i| i.time);
        if !self.ui_state.probe_sent {
            self.ui_state.probe_sent = true;
            if self.form.control.trim().is_empty() {
                self.ui_state.probe_until = Some(now + 2.0);
                ctx.send_viewport_cmd(egui::ViewportCommand::RequestPaste);
            }
        }
        let pastes: Vec<String> = ctx.input(|i| {
            i.events
                .iter()
                .filter_map(|e| match e {
                    egui::Event::Paste(text) => Some(text.clone()),
                    _ => None,
                })
                .collect()
        });
        let typing = ctx.egui_wants_keyboard_input();
        for text in pastes {
            let probing = self.ui_state.probe_until.take().is_some_and(|t| now <= t);
            if !looks_like_control(&text) {
                continue;
            }
            if probing {
                if self.form.control.trim().is_empty() {
                    self.ui_state.clipboard_offer = Some(text.trim().to_string());
                }
            } else if !typing {
                self.commands.push(Command::SetControl(text));
            }
        }
    }

    /// Asks a worker for earlier versions next to the output when the output or the
    /// target's name changed.
    fn refresh_suggestions(&mut self) {
        let key = self
            .target_name()
            .map(|name| (self.form.output.clone(), name));
        if key == self.ui_state.suggested_for {
            return;
        }
        self.form.suggestions = None;
        self.ui_state.suggested_for = key.clone();
        if let Some((output, name)) = key {
            self.workers.suggest(output, name);
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How a finished download is remembered.
fn history_entry(run: &Run) -> HistoryEntry {
    let control = match &run.spec.control {
        // History is saved to disk: no password from the URL goes with it.
        ControlSource::Url(url) => deltadrop_core::shown_url(url),
        ControlSource::File(path) => path.display().to_string(),
    };
    let progress = run.view.progress;
    let (outcome, ok, written, file_hash) = match &run.view.outcome {
        Some(Ok(summary)) => (
            "verified".to_string(),
            true,
            summary.output.clone(),
            summary.file_hash.as_ref().map(ToString::to_string),
        ),
        Some(Err(Error::Cancelled)) => ("cancelled".to_string(), false, None, None),
        Some(Err(err)) => (err.to_string(), false, None, None),
        None => ("unfinished".to_string(), false, None, None),
    };
    HistoryEntry {
        control,
        seeds: run.spec.seeds.clone(),
        output: run.spec.output.clone(),
        finished_unix: unix_now(),
        outcome,
        ok,
        written,
        file_hash,
        total_bytes: run.view.total_bytes(),
        local_bytes: progress.local_bytes,
        fetched_bytes: progress.fetched_bytes,
    }
}

/// What the frame log says about the job: its phase (or how it ended) and block count.
fn frame_state(run: Option<&Run>) -> (&'static str, u64) {
    let Some(run) = run else { return ("idle", 0) };
    let blocks = run.view.target.as_ref().map_or(0, |t| t.block_count);
    let state = match (&run.view.outcome, run.view.phase) {
        (Some(Ok(_)), _) => "done",
        (Some(Err(_)), _) => "failed",
        (None, None) => "Starting",
        (None, Some(phase)) => match phase {
            Phase::LoadingControl => "LoadingControl",
            Phase::ScanningSeeds => "ScanningSeeds",
            Phase::Fetching => "Fetching",
            Phase::Verifying => "Verifying",
            Phase::Finishing => "Finishing",
            Phase::Done => "Done",
        },
    };
    (state, blocks)
}

impl eframe::App for DeltadropApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        if let Some(log) = &mut self.frame_log {
            log.begin();
        }
        // Workers' reports apply before drawing, as they arrive.
        for command in self.workers.drain() {
            self.run_command(ctx, command);
        }
        self.drain_job();
        self.take_drops(ctx);
        self.take_pastes(ctx);
        self.refresh_suggestions();
    }

    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        self.draw(ui);
        let ctx = ui.ctx().clone();
        for command in std::mem::take(&mut self.commands) {
            self.run_command(&ctx, command);
        }
        let title = self.window_title();
        if title != self.ui_state.title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.ui_state.title = title;
        }
        if self.is_running() {
            // Elapsed time and ETA move on even when no event arrives.
            ctx.request_repaint_after(Duration::from_millis(250));
        }
        if let Some(log) = &mut self.frame_log {
            let (state, blocks) = frame_state(self.run.as_ref());
            log.end(frame.info().cpu_usage, state, blocks);
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, STORAGE_KEY, &self.persisted);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        // Leave the .part file in a consistent state: the engine stops at its next
        // checkpoint and keeps what it verified.
        if let Some(run) = &self.run
            && run.is_running()
        {
            run.control.cancel();
        }
    }
}
