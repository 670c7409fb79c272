//! `deltadrop-cli follow`: one check with `--once` (for cron, Task Scheduler, launchd),
//! else a check now and then every `--every` until stopped. Each check is one engine job
//! in `Mode::Follow`; Ctrl-C cancels the one running, whose download then waits in its
//! `.part` for the next run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use deltadrop_core::{Event, Job, JobSpec, Mode};

use super::render::Renderer;
use super::{EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, FollowArgs, job_spec};

/// How often a waiting follow looks at whether it was interrupted.
const TICK: Duration = Duration::from_millis(100);

pub fn run(args: &FollowArgs) -> u8 {
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    if let Err(e) = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed)) {
        eprintln!("deltadrop-cli: Ctrl-C will stop the follow abruptly ({e})");
    }
    let spec = match follow_spec(args) {
        Ok(spec) => spec,
        Err(code) => return code,
    };
    loop {
        let code = check(&spec, args, &interrupted);
        if args.once || interrupted.load(Ordering::Relaxed) {
            return code;
        }
        let next = Instant::now() + args.every;
        while Instant::now() < next {
            if interrupted.load(Ordering::Relaxed) {
                return EXIT_INTERRUPTED;
            }
            std::thread::sleep(TICK);
        }
    }
}

fn follow_spec(args: &FollowArgs) -> Result<JobSpec, u8> {
    let mut spec = job_spec(&args.source)?;
    spec.output = Some(args.into.clone());
    spec.options.mode = Mode::Follow;
    spec.options.keep_builds = args.keep.max(1);
    spec.options.listing_pattern = args.pattern.clone();
    Ok(spec)
}

/// One check, its events rendered as they come; an interruption cancels it.
fn check(spec: &JobSpec, args: &FollowArgs, interrupted: &AtomicBool) -> u8 {
    let mut renderer = Renderer::for_follow(args.source.json, args.quiet);
    let (tx, rx) = std::sync::mpsc::channel();
    let job = Job::start(spec.clone(), tx);
    let mut cancelled = false;
    loop {
        match rx.recv_timeout(TICK) {
            Ok(event) => {
                let done = matches!(event, Event::Finished(_));
                renderer.event(&event);
                if done {
                    break;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if !cancelled && interrupted.load(Ordering::Relaxed) {
            job.cancel();
            cancelled = true;
        }
    }
    // The renderer has shown how it ended.
    match job.join() {
        Ok(_) => EXIT_OK,
        Err(_) if cancelled => EXIT_INTERRUPTED,
        Err(_) => EXIT_ERROR,
    }
}
