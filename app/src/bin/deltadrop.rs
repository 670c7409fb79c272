//! `deltadrop`: the desktop app. Parses the command line and opens the window; all the
//! work is in `deltadrop::gui`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = deltadrop::gui::GuiArgs::parse();
    match deltadrop::gui::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("deltadrop: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
