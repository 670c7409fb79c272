//! `deltadrop`: the desktop app. Parses the command line and opens the window; all the
//! work is in `deltadrop::gui`.

// A window, not a console program: Windows opens no console beside it.
#![windows_subsystem = "windows"]

use clap::Parser;

fn main() -> std::process::ExitCode {
    deltadrop::memory::return_large_buffers_when_freed();
    let args = deltadrop::gui::GuiArgs::parse();
    if let Some(on) = args.set_autostart {
        return set_autostart(on);
    }
    match deltadrop::gui::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("deltadrop: {err}");
            // Started from Explorer or Finder there is no terminal to read stderr in.
            #[cfg(any(windows, target_os = "macos"))]
            rfd::MessageDialog::new()
                .set_level(rfd::MessageLevel::Error)
                .set_title("deltadrop")
                .set_description(format!("deltadrop could not start: {err}"))
                .show();
            std::process::ExitCode::FAILURE
        }
    }
}

/// `--set-autostart on|off`: what the settings' "Start at login" does, without a window.
fn set_autostart(on: bool) -> std::process::ExitCode {
    match deltadrop::desktop::autostart::set_enabled(on) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("deltadrop: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
