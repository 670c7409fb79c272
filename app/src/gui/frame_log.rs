//! `--frame-log FILE`: one line per frame saying how long it took, so `bench/gui_frames.py`
//! can measure frame times in the real binary, in a real window, with a real job running
//! (a harness frame or a profiler run says little about that).
//!
//! The UI thread only reads the clock and sends a small [`Sample`] down a channel; a writer
//! thread formats the lines and writes them, so the log adds no I/O to the frames it
//! measures. Without the flag the app holds no log and pays one branch per frame.
//!
//! The file is tab-separated, one header line starting with `#`, then per frame:
//! `t_ms gap_ms prev_cpu_ms app_ms state blocks control`:
//! - `t_ms`: when the frame started, since the log was opened;
//! - `gap_ms`: since the previous frame started (`-` on the first frame);
//! - `prev_cpu_ms`: eframe's measure of the *previous* frame (`App::logic` + `App::ui`,
//!   tessellation and painting, without waiting for vsync; `-` on the first frame);
//! - `app_ms`: this frame's `logic` + `ui` (the app's own code);
//! - `state`: `idle`, the running job's phase (`LoadingControl`, `ScanningSeeds`,
//!   `Fetching`, ...), then `done` or `failed`;
//! - `blocks`: the job's block count once its control file is loaded, else 0;
//! - `control`: what the form's "Download from" holds (a URL or a path; tabs and line
//!   breaks as spaces), so a test of the real app sees what a file opened from the
//!   desktop filled in (the hosted macOS job, the wine test). Sent to the writer only
//!   when it changed: a frame pays a string comparison.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Sender, channel};
use std::time::{Duration, Instant};

/// One frame's timings.
#[derive(Debug, Clone)]
pub struct Sample {
    pub at: Duration,
    pub gap: Option<Duration>,
    pub previous_cpu: Option<f32>,
    pub app: Duration,
    pub state: &'static str,
    pub blocks: u64,
    /// The form's control text, when it changed since the previous sample.
    pub control: Option<String>,
}

impl Sample {
    /// The sample as one line of the log (without the newline), with `control` the
    /// form's control text as of this frame.
    pub fn line(&self, control: &str) -> String {
        let ms = |d: Duration| format!("{:.3}", d.as_secs_f64() * 1000.0);
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            ms(self.at),
            self.gap.map_or("-".into(), ms),
            self.previous_cpu
                .map_or("-".into(), |s| format!("{:.3}", f64::from(s) * 1000.0)),
            ms(self.app),
            self.state,
            self.blocks,
            control.replace(['\t', '\r', '\n'], " ")
        )
    }
}

/// The header line of a log.
pub const HEADER: &str = "# t_ms\tgap_ms\tprev_cpu_ms\tapp_ms\tstate\tblocks\tcontrol";

/// Times frames and hands the samples to a writer thread.
pub struct FrameLog {
    tx: Sender<Sample>,
    epoch: Instant,
    last_start: Option<Instant>,
    /// Set by [`FrameLog::begin`], taken by [`FrameLog::end`]: one sample per frame even
    /// when egui runs `ui` twice in a frame.
    started: Option<Instant>,
    /// The control text last sent.
    control: String,
}

impl FrameLog {
    /// Starts the writer thread, which creates (or truncates) `path`. A file that cannot
    /// be written is reported on stderr; the app runs on regardless.
    pub fn open(path: &Path) -> std::io::Result<FrameLog> {
        let (tx, rx) = channel::<Sample>();
        let path: PathBuf = path.to_path_buf();
        std::thread::Builder::new()
            .name("frame-log".into())
            .spawn(move || {
                let write = || -> std::io::Result<()> {
                    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
                    writeln!(file, "{HEADER}")?;
                    file.flush()?;
                    let mut control = String::new();
                    for sample in rx {
                        if let Some(changed) = &sample.control {
                            control.clone_from(changed);
                        }
                        writeln!(file, "{}", sample.line(&control))?;
                        // A reader (the benchmark) follows the file while the app runs.
                        file.flush()?;
                    }
                    Ok(())
                };
                if let Err(err) = write() {
                    eprintln!("deltadrop: frame log {}: {err}", path.display());
                }
            })?;
        Ok(FrameLog {
            tx,
            epoch: Instant::now(),
            last_start: None,
            started: None,
            control: String::new(),
        })
    }

    /// Call first thing in a frame.
    pub fn begin(&mut self) {
        self.started = Some(Instant::now());
    }

    /// Call last thing in a frame: sends the frame's sample.
    pub fn end(
        &mut self,
        previous_cpu: Option<f32>,
        state: &'static str,
        blocks: u64,
        control: &str,
    ) {
        let Some(start) = self.started.take() else {
            return;
        };
        let sample = Sample {
            at: start - self.epoch,
            gap: self.last_start.map(|last| start - last),
            previous_cpu,
            app: start.elapsed(),
            state,
            blocks,
            control: (control != self.control).then(|| control.to_owned()),
        };
        if let Some(changed) = &sample.control {
            self.control.clone_from(changed);
        }
        self.last_start = Some(start);
        // The writer only stops on a write error, already reported.
        let _ = self.tx.send(sample);
    }
}
