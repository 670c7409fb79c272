//! The application state and its frame loop: `logic` runs the workers' and the
//! follows' scheduler's commands, folds the jobs' events in, tells the scheduler what
//! changed and turns drops and pastes into commands; `ui` draws (see `ui/`) and then
//! executes the frame's [`Command`]s once. UI state (the form, the view, dialogs) is
//! kept apart from the engine's (a [`JobView`] folded from events) and from what is
//! persisted (settings, history, follows).

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use deltadrop_core::{
    ControlSource, Error, Event, Format, JobOptions, JobSpec, Mode, Phase, Summary,
};

use super::access::{AccessForm, AccessSetup, AccessState, SignInForm};
use super::args::GuiArgs;
use super::clock::{Clock, SystemClock};
use super::command::Command;
use super::follows::model::folder_of;
use super::follows::{FollowId, Notice, ScheduleReport, Scheduled, Scheduler, SchedulerParts};
use super::frame_log::FrameLog;
use super::model::{JobView, extensions_of};
use super::open_documents::OpenedDocuments;
use super::persist::{HistoryEntry, Persisted, STORAGE_KEY, View};
use super::platform::{Desktop, SystemDesktop};
use super::runner::{EngineRunner, RunControl, Runner, UiSink, Waker};
use super::seed_estimates::{EstimateKey, SeedEstimates, folders_to_look_in};
use super::worker::{Suggestions, Workers, guess_target_name};
use crate::access::split_credentials;
use crate::desktop::tray::{Tray, TrayCommand};

/// How the app starts: the command line, where downloads go by default, the engine, the
/// clock and the desktop (tests replace the last three).
pub struct StartOptions {
    pub args: GuiArgs,
    /// The user's Downloads folder (looked up before the first frame).
    pub default_output: PathBuf,
    pub runner: Arc<dyn Runner>,
    pub clock: Arc<dyn Clock>,
    pub desktop: Arc<dyn Desktop>,
    /// Where sign-ins are saved: the list shared with the CLI and the OS's store.
    pub access: AccessSetup,
    /// Ask the clipboard for a URL to offer when the form starts empty.
    pub probe_clipboard: bool,
    /// Kept alive as long as the app (the --demo server, say).
    pub keep_alive: Option<Box<dyn Any>>,
    /// Files the desktop opens with the running app (macOS's Finder and Dock).
    pub opened_documents: Option<OpenedDocuments>,
}

impl StartOptions {
    pub fn new(args: GuiArgs, default_output: PathBuf) -> Self {
        StartOptions {
            args,
            default_output,
            runner: Arc::new(EngineRunner),
            clock: Arc::new(SystemClock),
            desktop: Arc::new(SystemDesktop),
            access: AccessSetup::system(),
            probe_clipboard: true,
            keep_alive: None,
            opened_documents: None,
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
    /// URL or path of the control file (`.zsync`, `.zck`, `.caibx`).
    pub control: String,
    pub seeds: Vec<SeedEntry>,
    /// A folder (the target keeps its name) or a file.
    pub output: PathBuf,
    pub suggestions: Option<Suggestions>,
    /// "Keep this up to date": Start makes a follow, and the download is its first check.
    pub follow: bool,
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
    /// The follow this download is the first check of.
    pub follow: Option<FollowId>,
    pub paused: bool,
    pub cancel_requested: bool,
    control: Box<dyn RunControl>,
    rx: Receiver<Event>,
}

impl Run {
    pub fn is_running(&self) -> bool {
        !self.view.is_finished()
    }
    /// The format of the run's control file, which names what the run counts and fetches.
    pub fn format(&self) -> Format {
        self.spec.control.format()
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

/// The formats whose local control file can start a download (a local `.zck` is a seed).
pub fn formats_opened_locally() -> impl Iterator<Item = Format> {
    Format::ALL
        .into_iter()
        .filter(|format| format.opens_locally())
}

/// The title of the dialog that opens a control file: the formats it accepts.
pub fn open_control_title() -> String {
    format!("Open a {} file", extensions_of(formats_opened_locally()))
}

/// Whether pasted or dropped text looks like a control file we can use: a URL, or a
/// local control file that can start a download (a local `.zck` is a seed: the download
/// needs its URL).
pub fn looks_like_control(text: &str) -> bool {
    let text = text.trim();
    !text.is_empty()
        && !text.contains('\n')
        && (text.starts_with("http://")
            || text.starts_with("https://")
            || Format::of_control_name(text).is_some_and(Format::opens_locally))
}

/// A follow's check that the scheduler runs, as reported so far.
pub struct FollowCheck {
    pub id: FollowId,
    pub view: JobView,
}

#[derive(Default)]
pub(super) struct UiState {
    /// The view Esc goes back to from Settings.
    pub before_settings: View,
    /// The follow the "stop following?" dialog asks about.
    pub confirm_remove: Option<FollowId>,
    /// Whether deltadrop starts at login, once a worker has asked.
    pub autostart: Option<Result<bool, String>>,
    /// `--minimized`: minimise the window at the first frame.
    pub minimize: bool,
    /// When the scheduler will check each follow.
    pub schedule: Option<ScheduleReport>,
    /// A text field had the keyboard at the end of the last frame (its Esc is its own).
    pub was_typing: bool,
    /// A URL found on the clipboard at start-up, offered to the user.
    pub clipboard_offer: Option<String>,
    /// Until when (egui time) a paste counts as the answer to our clipboard probe.
    pub probe_until: Option<f64>,
    pub probe_sent: bool,
    /// A message about something that failed outside a job (a dialog, a folder).
    pub message: Option<String>,
    /// The (folder, target name) suggestions were last asked for.
    pub suggested_for: Option<(PathBuf, String)>,
    /// What seeds were last looked for by content for (`None`: not looked for).
    pub estimated_for: Option<EstimateKey>,
    /// The window title last set.
    pub title: String,
    /// The sign-in dialog, while it is open.
    pub sign_in: Option<SignInForm>,
    /// Hosts whose sign-in dialog was cancelled: a follow's check does not ask again.
    pub declined_sign_ins: Vec<String>,
    /// A job asked for before the saved secrets were read: started once they are.
    pub pending_start: Option<RunKind>,
    /// The Settings' forms for headers, certificates and the proxy's password.
    pub access_form: AccessForm,
}

pub struct DeltadropApp {
    pub(super) persisted: Persisted,
    pub(super) form: Form,
    pub(super) run: Option<Run>,
    pub(super) commands: Vec<Command>,
    pub(super) ui_state: UiState,
    /// The follow check the scheduler is running.
    pub(super) follow_check: Option<FollowCheck>,
    /// Files estimated as seeds for the form's target.
    pub(super) seed_estimates: Option<SeedEstimates>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) workers: Workers,
    pub(super) access: AccessState,
    runner: Arc<dyn Runner>,
    desktop: Arc<dyn Desktop>,
    waker: Arc<dyn Waker>,
    scheduler: Option<Scheduler>,
    /// The follows as the scheduler was last told.
    scheduled: Vec<Scheduled>,
    /// When the app started: checks since then count as checks "at start".
    session_started: u64,
    /// `--frame-log`: frame timings for the benchmark.
    frame_log: Option<FrameLog>,
    _keep_alive: Option<Box<dyn Any>>,
    opened_documents: Option<OpenedDocuments>,
    /// The tray icon, where the desktop has a tray: closing the window while builds are
    /// followed then minimises it, and the tray's Quit quits.
    tray: Option<Tray>,
    /// The tray's Quit was picked: the next close is not turned into minimising.
    quitting: bool,
}

impl DeltadropApp {
    pub fn new(cc: &eframe::CreationContext<'_>, options: StartOptions) -> Self {
        let persisted: Persisted = cc
            .storage
            .and_then(|s| eframe::get_value(s, STORAGE_KEY))
            .unwrap_or_default();
        let waker: Arc<dyn Waker> = Arc::new(cc.egui_ctx.clone());
        let mut app = Self::with_state(persisted, waker, options);
        // Made here, on the thread that runs the window's event loop, as the tray needs.
        let ctx = cc.egui_ctx.clone();
        app.tray = Tray::new(move || ctx.request_repaint());
        app
    }

    /// Builds the app around saved state and a waker (tests use their own).
    pub fn with_state(persisted: Persisted, waker: Arc<dyn Waker>, options: StartOptions) -> Self {
        let StartOptions {
            args,
            default_output,
            runner,
            clock,
            desktop,
            access,
            probe_clipboard,
            keep_alive,
            opened_documents,
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
        let workers = Workers::new(waker.clone());
        let access = AccessState::start(access, &persisted.settings, &workers);
        let scheduler = Scheduler::start(SchedulerParts {
            runner: runner.clone(),
            clock: clock.clone(),
            reporter: workers.reporter(),
            waker: waker.clone(),
        });
        let mut app = DeltadropApp {
            persisted,
            form: Form {
                control: args.control.clone().unwrap_or_default(),
                seeds: Vec::new(),
                output,
                suggestions: None,
                follow: false,
            },
            run: None,
            commands: Vec::new(),
            ui_state: UiState {
                probe_sent: !probe_clipboard,
                minimize: args.minimized,
                ..UiState::default()
            },
            follow_check: None,
            seed_estimates: None,
            session_started: clock.now_unix(),
            clock,
            workers,
            access,
            runner,
            desktop,
            waker,
            scheduler: None,
            scheduled: Vec::new(),
            frame_log,
            _keep_alive: keep_alive,
            opened_documents,
            tray: None,
            quitting: false,
        };
        if let Some(opened) = &app.opened_documents {
            opened.wake_with(app.waker.clone());
        }
        match scheduler {
            Ok(scheduler) => app.scheduler = Some(scheduler),
            Err(err) => {
                app.ui_state.message = Some(format!(
                    "Follows will not be checked: could not start their thread ({err})."
                ));
            }
        }
        app.move_follow_passwords_to_the_store();
        if args.control.is_some() {
            // Opened with something to download: show the form.
            app.persisted.view = View::Download;
        }
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
    pub fn view(&self) -> View {
        self.persisted.view
    }
    /// The sign-in dialog, while it is open.
    pub fn sign_in_form(&self) -> Option<&SignInForm> {
        self.ui_state.sign_in.as_ref()
    }
    /// What is saved for servers behind a login (the list, without secrets).
    pub fn saved_access(&self) -> &crate::access::SavedAccess {
        &self.access.saved
    }
    /// The files estimated as seeds for the form's target, as reported so far.
    pub fn seed_estimates(&self) -> Option<&SeedEstimates> {
        self.seed_estimates.as_ref()
    }
    /// The follow check the scheduler is running, as reported so far.
    pub fn follow_check(&self) -> Option<&FollowCheck> {
        self.follow_check.as_ref()
    }
    /// When each follow is next checked, as the scheduler last said.
    pub fn schedule(&self) -> Option<&ScheduleReport> {
        self.ui_state.schedule.as_ref()
    }
    /// Makes the scheduler read the clock again (tests move a manual clock on).
    pub fn wake_scheduler(&self) {
        if let Some(scheduler) = &self.scheduler {
            scheduler.wake();
        }
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
            return Err(format!(
                "Enter the URL of a {} file, or open a {} file.",
                extensions_of(Format::ALL),
                extensions_of(formats_opened_locally())
            ));
        }
        let mut spec = JobSpec::new(ControlSource::parse(control));
        spec.seeds = self.form.seed_paths();
        spec.output = Some(self.form.output.clone());
        spec.options = self.job_options();
        spec.options.mode = mode;
        Ok(spec)
    }

    /// The engine's options as the settings say, for downloads and follows alike.
    fn job_options(&self) -> JobOptions {
        let settings = &self.persisted.settings;
        let mut options = JobOptions {
            keep_old: settings.keep_old,
            uncompress: settings.uncompress,
            parallel_requests: settings.parallel_requests.max(1),
            ..JobOptions::default()
        };
        let proxy = settings.proxy.trim();
        options.proxy = (!proxy.is_empty()).then(|| proxy.to_string());
        let ca_cert = settings.ca_cert.trim();
        if !ca_cert.is_empty() {
            options.ca_certs = vec![PathBuf::from(ca_cert)];
        }
        self.access.apply(settings, &mut options);
        options
    }

    /// The folder the form's download goes into, for a follow.
    pub fn form_folder(&self) -> PathBuf {
        folder_of(&self.form.output, self.target_name().as_deref())
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
        if !self.access.loaded {
            // Started as soon as the saved sign-ins are read (AccessLoaded).
            self.ui_state.pending_start = Some(kind);
            return;
        }
        if let Some((url, credentials)) = split_credentials(&self.form.control) {
            // Neither the form, nor a follow, nor the history keeps the password.
            self.form.control = url;
            self.remember_sign_in(&credentials.host, &credentials.user, &credentials.password);
        }
        let mode = match kind {
            RunKind::Plan => Mode::PlanOnly,
            RunKind::Download => Mode::Download,
        };
        let started = self.spec(mode).and_then(|spec| match kind {
            RunKind::Download if self.form.follow => self.follow_from_form(spec),
            _ => Ok((spec, None)),
        });
        let (spec, follow) = match started {
            Ok(started) => started,
            Err(message) => {
                self.ui_state.message = Some(message);
                return;
            }
        };
        self.ui_state.message = None;
        // The job reads the seeds itself; an estimate would only compete for the disk.
        self.seed_estimates = None;
        self.ui_state.estimated_for = None;
        let (tx, rx) = channel();
        let sink = UiSink::new(tx, self.waker.clone());
        let control = self.runner.start(spec.clone(), sink);
        self.run = Some(Run {
            kind,
            spec,
            view: JobView::new(Instant::now()),
            follow,
            paused: false,
            cancel_requested: false,
            control,
            rx,
        });
    }

    /// "Keep this up to date": the form's download becomes the first check of a follow of
    /// its URL into its folder (one made now, or the one there is).
    fn follow_from_form(&mut self, spec: JobSpec) -> Result<(JobSpec, Option<FollowId>), String> {
        let ControlSource::Url(url) = &spec.control else {
            return Err(format!(
                "Only a download from a URL can be kept up to date: enter the .{} file's URL.",
                spec.control.format().extension()
            ));
        };
        let folder = self.form_folder();
        let id = self.persisted.add_follow(url, &folder, spec.seeds.clone());
        if self.follow_check.as_ref().is_some_and(|c| c.id == id) {
            return Err("This build is being checked right now: see Follows.".into());
        }
        let options = self.job_options();
        let now = self.clock.now_unix();
        let follow = self
            .persisted
            .follow_mut(id)
            .expect("the follow was just found or made");
        follow.seeds = spec.seeds;
        follow.last_check_unix = Some(now);
        Ok((follow.spec(&options), Some(id)))
    }

    /// Folds in how a check of follow `id` ended, and tells the desktop what is new.
    fn record_check(&mut self, id: FollowId, result: &Result<Summary, Error>) {
        let Some(follow) = self.persisted.follow_mut(id) else {
            return; // Removed meanwhile.
        };
        let Some(notice) = follow.record(result) else {
            return;
        };
        let desktop = self.desktop.clone();
        self.workers.spawn("notify", move |_| match notice {
            Notice::NewBuild { file, reused } => desktop.new_build(&file, &reused),
            Notice::Failing { name, error } => desktop.follow_failing(&name, &error),
        });
    }

    /// The follows as the scheduler should see them.
    fn scheduled(&self) -> Vec<Scheduled> {
        let options = self.job_options();
        let checking_here = self
            .run
            .as_ref()
            .filter(|run| run.is_running())
            .and_then(|run| run.follow);
        self.persisted
            .follows
            .iter()
            .map(|follow| Scheduled {
                id: follow.id,
                spec: follow.spec(&options),
                interval_secs: follow.interval_secs,
                paused: follow.paused,
                checked_at: follow
                    .last_check_unix
                    .filter(|at| *at >= self.session_started),
                busy_elsewhere: checking_here == Some(follow.id),
            })
            .collect()
    }

    /// Tells the scheduler about follows added, removed or changed since it was last told.
    fn sync_scheduler(&mut self) {
        if !self.access.loaded {
            return; // Checks would run without the saved sign-ins.
        }
        let scheduled = self.scheduled();
        if scheduled != self.scheduled
            && let Some(scheduler) = &self.scheduler
        {
            scheduler.set_follows(scheduled.clone());
            self.scheduled = scheduled;
        }
    }

    /// Whether the form's download is checking follow `id`.
    pub fn form_checks(&self, id: FollowId) -> bool {
        self.run
            .as_ref()
            .is_some_and(|run| run.is_running() && run.follow == Some(id))
    }

    fn show_view(&mut self, view: View) {
        let current = self.persisted.view;
        if view == View::Settings && current != View::Settings {
            self.ui_state.before_settings = current;
            let desktop = self.desktop.clone();
            self.workers.spawn("autostart", move |r| {
                r.send(Command::AutostartIs(Ok(desktop.autostart_enabled())));
            });
        }
        self.persisted.view = view;
    }

    /// Follows the build of history entry `i`, or stops following it.
    fn follow_history(&mut self, i: usize, on: bool) {
        let Some(entry) = self.persisted.history.get(i) else {
            return;
        };
        let Some((url, folder)) = history_follow_key(entry) else {
            return;
        };
        if on {
            let seeds = entry.seeds.clone();
            self.persisted.add_follow(&url, &folder, seeds);
        } else if let Some(id) = self.persisted.follow_of(&url, &folder).map(|f| f.id) {
            self.persisted.remove_follow(id);
        }
    }

    fn fold_follow_event(&mut self, id: FollowId, event: Event) {
        let Some(check) = self.follow_check.as_mut().filter(|c| c.id == id) else {
            return;
        };
        match event {
            Event::Finished(result) => {
                self.follow_check = None;
                if let Err(error) = &result {
                    self.ask_to_sign_in(error, Command::CheckFollowNow(id), false);
                }
                self.record_check(id, &result);
            }
            event => check.view.apply(event, Instant::now()),
        }
    }

    /// Executes one command.
    pub(super) fn run_command(&mut self, ctx: &egui::Context, command: Command) {
        match command {
            Command::ShowView(view) => self.show_view(view),
            Command::SetControl(text) => {
                self.form.control = text.trim().to_string();
                self.ui_state.clipboard_offer = None;
            }
            Command::BrowseControl => {
                let extensions: Vec<&str> =
                    formats_opened_locally().map(Format::extension).collect();
                let dialog = rfd::AsyncFileDialog::new()
                    .set_title(open_control_title())
                    .add_filter("control files", &extensions)
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
            Command::DismissMessage => self.ui_state.message = None,
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
                    self.persisted.view = View::Download;
                }
            }
            Command::ClearHistory => self.persisted.history.clear(),
            Command::SetSeedSize(path, size) => {
                for seed in self.form.seeds.iter_mut().filter(|s| s.path == path) {
                    seed.size = Some(size.clone());
                }
            }
            Command::SetSeedCandidates(key, candidates) => self.estimate_seeds(key, candidates),
            Command::SetSuggestions(s) => {
                // Only the answer for what the form still says.
                if self.ui_state.suggested_for.as_ref() == Some(&s.request) {
                    self.form.suggestions = Some(s);
                }
            }
            Command::ShowMessage(message) => self.ui_state.message = Some(message),
            Command::CheckFollowNow(id) => {
                if self.form_checks(id) {
                    self.ui_state.message =
                        Some("This build is being checked in the Download view.".into());
                } else if let Some(scheduler) = &self.scheduler {
                    scheduler.check_now(id);
                }
            }
            Command::SetFollowPaused(id, paused) => {
                if let Some(follow) = self.persisted.follow_mut(id) {
                    follow.paused = paused;
                }
            }
            Command::AskRemoveFollow(id) => self.ui_state.confirm_remove = Some(id),
            Command::RemoveFollow(id) => {
                self.persisted.remove_follow(id);
                self.ui_state.confirm_remove = None;
            }
            Command::FollowHistory(i, on) => self.follow_history(i, on),
            Command::SetAutostart(on) => {
                let desktop = self.desktop.clone();
                self.workers.spawn("autostart", move |r| {
                    let now = desktop
                        .set_autostart(on)
                        .map(|()| desktop.autostart_enabled());
                    r.send(Command::AutostartIs(now));
                });
            }
            Command::AutostartIs(state) => self.ui_state.autostart = Some(state),
            Command::FollowCheckStarted { id, at } => {
                if let Some(follow) = self.persisted.follow_mut(id) {
                    follow.last_check_unix = Some(at);
                }
                self.follow_check = Some(FollowCheck {
                    id,
                    view: JobView::new(Instant::now()),
                });
            }
            Command::FollowEvent(id, event) => self.fold_follow_event(id, *event),
            Command::FollowSchedule(report) => self.ui_state.schedule = Some(report),
            command => self.run_access_command(ctx, command),
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
        if finished {
            let retry = match run.kind {
                RunKind::Plan => Command::Plan,
                RunKind::Download => Command::Start,
            };
            if let Some(error) = run.view.error().cloned() {
                self.ask_to_sign_in(&error, retry, true);
            }
        }
        let Some(run) = &mut self.run else { return };
        if finished && run.kind == RunKind::Download {
            let entry = history_entry(run, self.clock.now_unix());
            let follow = run.follow;
            let outcome = run.view.outcome.clone();
            self.persisted.push_history(entry);
            if let (Some(id), Some(result)) = (follow, outcome) {
                self.record_check(id, &result);
            }
        }
        if finished {
            // The output folder may hold a new file now: look again.
            self.ui_state.suggested_for = None;
        }
    }

    /// Files dropped on the window: see [`take_files`](Self::take_files).
    fn take_drops(&mut self, ctx: &egui::Context) {
        let dropped = ctx.input(|i| i.raw.dropped_files.clone());
        self.take_files(dropped.iter().map(|file| file.path().to_path_buf()));
    }

    /// Files the desktop opened with the app (macOS): shown in the download form, as a
    /// file on the command line is. A second one while a download runs fills the form
    /// for the next download; the running one goes on.
    fn take_opened_documents(&mut self) {
        let Some(opened) = &self.opened_documents else {
            return;
        };
        let paths = opened.take();
        if !paths.is_empty() {
            self.commands.push(Command::ShowView(View::Download));
            self.take_files(paths);
        }
    }

    /// A control file that opens locally (see `looks_like_control`) becomes the form's
    /// control file, the rest seeds.
    fn take_files(&mut self, paths: impl IntoIterator<Item = PathBuf>) {
        let mut seeds = Vec::new();
        for path in paths {
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

    /// A paste outside any text field that looks like a control file or its URL fills
    /// the form; the answer to our start-up clipboard probe is offered instead.
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

    /// Looks for seeds by content when the control file or the folders to look in
    /// changed: a worker lists the candidates ([`Self::estimate_seeds`] takes it on).
    /// Not while a job runs; the estimate starts again when it ends.
    fn refresh_seed_estimates(&mut self) {
        let key = self.estimate_key();
        if key == self.ui_state.estimated_for {
            return;
        }
        self.seed_estimates = None;
        self.ui_state.estimated_for = key.clone();
        if let Some(key) = key {
            let mut skip = self.form.seed_paths();
            // The target's own name is reused by the download anyway.
            skip.extend(self.target_name().map(|name| self.form_folder().join(name)));
            self.workers.find_seed_candidates(key, skip);
        }
    }

    /// What an estimate of seeds for the form would be for, if one may run now.
    fn estimate_key(&self) -> Option<EstimateKey> {
        let control = self.form.control.trim();
        if self.is_running() || !self.access.loaded || !looks_like_control(control) {
            return None;
        }
        Some(EstimateKey {
            control: control.to_string(),
            folders: folders_to_look_in(
                &self.form_folder(),
                &self.persisted.history,
                &self.persisted.settings.seed_folders,
            ),
        })
    }

    /// Starts estimating `candidates`, listed for `key`, if the form still asks for it.
    fn estimate_seeds(&mut self, key: EstimateKey, candidates: Vec<PathBuf>) {
        if self.ui_state.estimated_for.as_ref() != Some(&key) || candidates.is_empty() {
            return;
        }
        let Ok(mut spec) = self.spec(Mode::EstimateSeeds) else {
            return;
        };
        spec.seeds = candidates;
        let estimates = SeedEstimates::start(key, spec, self.runner.as_ref(), self.waker.clone());
        self.seed_estimates = Some(estimates);
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

/// The URL and folder a follow of history `entry` has: `None` for a local control file.
pub fn history_follow_key(entry: &HistoryEntry) -> Option<(String, PathBuf)> {
    if !entry.control.starts_with("http://") && !entry.control.starts_with("https://") {
        return None;
    }
    let folder = match (&entry.written, &entry.output) {
        (Some(written), _) => written.parent()?.to_path_buf(),
        (None, Some(output)) => folder_of(output, guess_target_name(&entry.control).as_deref()),
        (None, None) => return None,
    };
    Some((entry.control.clone(), folder))
}

/// How a finished download is remembered.
fn history_entry(run: &Run, now: u64) -> HistoryEntry {
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
        finished_unix: now,
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

impl DeltadropApp {
    /// What was picked from the tray's menu since the last frame.
    fn take_tray_commands(&mut self, ctx: &egui::Context) {
        if self.tray.is_none() {
            return;
        }
        while let Some(command) = Tray::poll() {
            match command {
                TrayCommand::CheckNow => {
                    let ids = self.persisted.follows.iter().map(|f| f.id);
                    self.commands
                        .extend(ids.map(Command::CheckFollowNow).collect::<Vec<_>>());
                }
                TrayCommand::OpenFolder => {
                    self.commands
                        .push(Command::OpenFolder(self.form.output.clone()));
                }
                TrayCommand::Quit => {
                    self.quitting = true;
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
            }
        }
    }

    /// Closing the window while builds are followed, with the tray to come back from,
    /// minimises it: the follows go on being checked. (Minimised, not hidden: a hidden
    /// window cannot be shown again on Windows.)
    fn keep_following_when_closed(&mut self, ctx: &egui::Context) {
        let closing = ctx.input(|i| i.viewport().close_requested());
        if closing && self.tray.is_some() && !self.quitting && !self.persisted.follows.is_empty() {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            ctx.send_viewport_cmd(egui::ViewportCommand::Minimized(true));
        }
    }
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
        if let Some(estimates) = &mut self.seed_estimates {
            estimates.drain();
        }
        self.take_tray_commands(ctx);
        self.keep_following_when_closed(ctx);
        self.sync_scheduler();
        self.take_drops(ctx);
        self.take_opened_documents();
        self.take_pastes(ctx);
        self.refresh_suggestions();
        self.refresh_seed_estimates();
    }

    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        self.draw(ui);
        let ctx = ui.ctx().clone();
        if std::mem::take(&mut self.ui_state.minimize) {
            ctx.send_viewport_cmd(egui::ViewportCommand::Minimized(true));
        }
        for command in std::mem::take(&mut self.commands) {
            self.run_command(&ctx, command);
        }
        // What the commands changed reaches the scheduler now, not at the next frame.
        self.sync_scheduler();
        let title = self.window_title();
        if title != self.ui_state.title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.ui_state.title = title;
        }
        if self.is_running() || self.follow_check.is_some() {
            // Elapsed time and ETA move on even when no event arrives.
            ctx.request_repaint_after(Duration::from_millis(250));
        } else if !self.persisted.follows.is_empty() {
            // "checked 5m ago" moves on too.
            ctx.request_repaint_after(Duration::from_secs(30));
        }
        if let Some(log) = &mut self.frame_log {
            let (state, blocks) = frame_state(self.run.as_ref());
            log.end(frame.info().cpu_usage, state, blocks, &self.form.control);
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
        // The scheduler cancels its check in the same way.
        self.scheduler = None;
    }
}
