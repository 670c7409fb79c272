//! `deltadrop-cli`: the command-line front end. Parses flags, runs one engine job or
//! `make`, renders its events, and maps the result to an exit code:
//! 0 done, 1 error, 2 the download did not verify (as zsync).

use std::process::ExitCode;

use clap::Parser;
use deltadrop::cli::{Cli, run};

fn main() -> ExitCode {
    deltadrop::memory::return_large_buffers_when_freed();
    ExitCode::from(run(Cli::parse()))
}
