//! The deltadrop desktop app (egui/eframe).
//!
//! [`app::DeltadropApp`] holds three kinds of state, kept apart: the form, the view and
//! dialogs (UI state), the current job's [`model::JobView`] (folded from the engine's
//! events, never shared with the engine) and [`persist::Persisted`] (settings, history
//! and follows, saved by eframe). The drawing (`ui/`: one file per main view) pushes
//! [`command::Command`]s that run once per frame; file dialogs and other I/O run on
//! [`worker`] threads, which report with the same commands; jobs run on the engine's
//! thread and report through [`runner::UiSink`], which wakes the UI. The [`follows`]
//! scheduler is one more such thread: it checks followed builds when due, drawn or not.
//! The [`block_map`] paints one byte of state per block into at most a few thousand
//! cells. Time comes from a [`clock::Clock`] and the desktop's services through
//! [`platform::Desktop`], so tests set both. Files the desktop opens with the running
//! app (macOS) arrive through [`open_documents`].
//!
//! ```no_run
//! let args = <deltadrop::gui::args::GuiArgs as clap::Parser>::parse();
//! deltadrop::gui::run(args).unwrap();
//! ```

pub mod access;
pub mod app;
pub mod args;
pub mod block_map;
pub mod clock;
pub mod command;
pub mod demo;
pub mod follows;
pub mod frame_log;
pub mod model;
pub mod open_documents;
pub mod persist;
pub mod platform;
pub mod runner;
pub mod seed_estimates;
mod ui;
pub mod worker;

pub use app::{DeltadropApp, StartOptions, default_output_folder};
pub use args::GuiArgs;
pub use command::Command;

/// The app id: the `.desktop` file's basename (Wayland matches windows to it).
pub const APP_ID: &str = "deltadrop";

/// Where settings and history are kept: the platform's config folder.
pub fn persistence_path() -> Option<std::path::PathBuf> {
    directories::ProjectDirs::from("", "", APP_ID).map(|d| d.config_dir().join("app.ron"))
}

/// Opens the window and runs until it is closed.
pub fn run(args: GuiArgs) -> Result<(), String> {
    runner::lower_hashing_pool();
    let default_output = default_output_folder();
    let mut options = StartOptions::new(args, default_output);
    if options.args.frame_log.is_none() {
        // A run the desktop starts for a file association has no arguments of ours: the
        // tests of those (wine) set the log through the environment.
        options.args.frame_log = std::env::var_os("DELTADROP_FRAME_LOG").map(Into::into);
    }
    if options.args.demo {
        let demo = runner::in_background(demo::prepare).map_err(|e| format!("--demo: {e}"))?;
        options.args.control = Some(demo.control.clone());
        options.args.seeds = vec![demo.seed.clone()];
        options.args.output = Some(demo.output.clone());
        // What a newcomer runs first: show the map filling at once, no click needed.
        options.args.start = true;
        options.probe_clipboard = false;
        options.keep_alive = Some(Box::new(demo));
    }
    let (inbox, opened) = open_documents::channel();
    options.opened_documents = Some(opened);
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_app_id(APP_ID)
            .with_title("deltadrop")
            .with_inner_size([980.0, 760.0])
            .with_min_inner_size([480.0, 420.0])
            .with_drag_and_drop(true)
            .with_icon(icon()),
        persistence_path: persistence_path(),
        // Said outright: test builds also have eframe's wgpu feature (for the snapshot
        // images), and eframe would prefer wgpu when both are there.
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    run_window(native, options, inbox)
}

/// eframe's own event loop: Windows and Linux pass opened files on the command line.
#[cfg(not(target_os = "macos"))]
fn run_window(
    native: eframe::NativeOptions,
    options: StartOptions,
    _inbox: open_documents::DocumentInbox,
) -> Result<(), String> {
    eframe::run_native(
        APP_ID,
        native,
        Box::new(|cc| Ok(Box::new(DeltadropApp::new(cc, options)))),
    )
    .map_err(|e| e.to_string())
}

/// An event loop of our own, so that the "open documents" method is added to winit's
/// application delegate between `EventLoop::new()`, which installs it, and `run_app`:
/// eframe's `run_native` does both at once.
#[cfg(target_os = "macos")]
fn run_window(
    native: eframe::NativeOptions,
    options: StartOptions,
    inbox: open_documents::DocumentInbox,
) -> Result<(), String> {
    let event_loop = winit::event_loop::EventLoop::<eframe::UserEvent>::with_user_event()
        .build()
        .map_err(|e| e.to_string())?;
    if let Err(err) = open_documents::macos::listen(inbox) {
        // The app works without it; only Finder's and the Dock's files do not arrive.
        eprintln!("deltadrop: files opened in Finder will not reach the app: {err}");
    }
    let mut app = eframe::create_native(
        APP_ID,
        native,
        Box::new(|cc| Ok(Box::new(DeltadropApp::new(cc, options)))),
        &event_loop,
    );
    event_loop.run_app(&mut app).map_err(|e| e.to_string())
}

/// The window icon: `assets/icons/deltadrop-128.png`, rendered from `assets/deltadrop.svg`
/// as the packages' icons are.
pub fn icon() -> egui::IconData {
    eframe::icon_data::from_png_bytes(include_bytes!("../../../assets/icons/deltadrop-128.png"))
        .expect("the icon shipped in assets/ is a valid PNG")
}
