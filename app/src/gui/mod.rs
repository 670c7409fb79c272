//! The deltadrop desktop app (egui/eframe).
//!
//! [`app::DeltadropApp`] holds three kinds of state, kept apart: the form and windows
//! (UI state), the current job's [`crate::view::JobView`] (folded from the engine's
//! events, never shared with the engine) and [`persist::Persisted`] (settings and history,
//! saved by eframe). Views push [`command::Command`]s that run once per frame; file
//! dialogs and other I/O run on [`worker`] threads; jobs run on the engine's thread and
//! report through [`runner::UiSink`], which wakes the UI. The [`block_map`] paints one
//! byte of state per block into at most a few thousand cells.
//!
//! ```no_run
//! let args = <deltadrop::gui::args::GuiArgs as clap::Parser>::parse();
//! deltadrop::gui::run(args).unwrap();
//! ```

pub mod app;
pub mod args;
pub mod block_map;
pub mod command;
pub mod demo;
pub mod frame_log;
pub mod persist;
pub mod runner;
mod views;
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
    let default_output = default_output_folder();
    let mut options = StartOptions::new(args, default_output);
    if options.args.demo {
        // In the background: making the demo's .zsync creates the hashing thread pool the
        // job uses later, and threads keep the priority they were created with.
        let demo = runner::in_background(demo::prepare).map_err(|e| format!("--demo: {e}"))?;
        options.args.control = Some(demo.control.clone());
        options.args.seeds = vec![demo.seed.clone()];
        options.args.output = Some(demo.output.clone());
        options.probe_clipboard = false;
        options.keep_alive = Some(Box::new(demo));
    }
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
    eframe::run_native(
        APP_ID,
        native,
        Box::new(|cc| Ok(Box::new(DeltadropApp::new(cc, options)))),
    )
    .map_err(|e| e.to_string())
}

/// The window icon (a small block map, as in `assets/deltadrop.svg`), drawn in code so
/// no image decoder is needed.
pub fn icon() -> egui::IconData {
    const N: usize = 64;
    let mut rgba = vec![0u8; N * N * 4];
    let green = [64, 176, 96, 255];
    let blue = [76, 144, 236, 255];
    let amber = [236, 178, 46, 255];
    for y in 0..N {
        for x in 0..N {
            let corner = |cx: usize, cy: usize| {
                let (dx, dy) = (cx.abs_diff(x), cy.abs_diff(y));
                dx * dx + dy * dy > 100
            };
            let outside = (x < 10 && y < 10 && corner(10, 10))
                || (x > 53 && y < 10 && corner(53, 10))
                || (x < 10 && y > 53 && corner(10, 53))
                || (x > 53 && y > 53 && corner(53, 53));
            let mut pixel = if outside {
                [0, 0, 0, 0]
            } else {
                [31, 36, 48, 255]
            };
            // A 4 x 3 grid of cells, one of them fetched (blue), one in flight (amber).
            let (cx, cy) = ((x as i32 - 8) / 12, (y as i32 - 10) / 14);
            let (ix, iy) = ((x as i32 - 8) % 12, (y as i32 - 10) % 14);
            if x >= 8
                && y >= 10
                && (0..4).contains(&cx)
                && (0..3).contains(&cy)
                && ix < 10
                && iy < 11
            {
                pixel = match (cx, cy) {
                    (2, 0) | (1, 1) => blue,
                    (3, 2) => amber,
                    _ => green,
                };
            }
            rgba[(y * N + x) * 4..][..4].copy_from_slice(&pixel);
        }
    }
    egui::IconData {
        rgba,
        width: N as u32,
        height: N as u32,
    }
}
