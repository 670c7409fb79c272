//! `deltadrop-cli`: the command-line front end. Parses flags, runs one engine job or
//! `make`, renders its events, and maps the result to an exit code:
//! 0 done, 1 error, 2 the download did not verify (as zsync).

use std::process::ExitCode;

use clap::Parser;
use deltadrop::cli::{Cli, Command, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `make` allocates its large buffers (a piece to compress, a compressor) anew for
    // each piece: mapped and unmapped each time, they cost `make -z` of 300 MiB 0.3 s
    // more system time. What the fixed threshold is for is a download's memory.
    if !matches!(cli.command, Command::Make(_)) {
        deltadrop::memory::return_large_buffers_when_freed();
    }
    ExitCode::from(run(cli))
}
