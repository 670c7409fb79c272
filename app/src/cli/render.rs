//! Renderers for a job's events: a progress bar on a terminal, plain lines otherwise,
//! or one JSON object per event for scripts.

use std::borrow::Cow;
use std::io::{IsTerminal, Write};

use deltadrop_core::{
    BlockSource, Error, Event, FileHash, FileHashAlgorithm, FollowReport, Format, Phase, Plan,
    Progress, Summary,
};
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

use super::GetArgs;

enum Style {
    /// Human output on stderr, with a bar if stderr is a terminal.
    Human {
        bar: Option<ProgressBar>,
        quiet: bool,
    },
    Json,
}

pub struct Renderer {
    style: Style,
    /// `info` prints the plan and stops; `get` prints zsync's closing line.
    plan_only: bool,
    seeds: Vec<String>,
    /// The target's format, once loaded: it names the pieces ("blocks", "chunks").
    format: Format,
}

impl Renderer {
    pub fn for_get(args: &GetArgs) -> Self {
        let quiet = args.quiet || args.silent;
        Self::new(args.source.json, quiet, false)
    }

    pub fn for_info(json: bool) -> Self {
        Self::new(json, false, true)
    }

    /// A follow's checks: the download's lines as `get` shows them, then what the check
    /// found instead of zsync's closing line.
    pub fn for_follow(json: bool, quiet: bool) -> Self {
        Self::new(json, quiet, false)
    }

    fn new(json: bool, quiet: bool, plan_only: bool) -> Self {
        let style = if json {
            Style::Json
        } else {
            let bar = (!quiet && !plan_only && std::io::stderr().is_terminal()).then(|| {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
                bar.set_style(
                    ProgressStyle::with_template("{msg:>10} [{bar:40.cyan/blue}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}")
                        .expect("valid template")
                        .progress_chars("=> "),
                );
                bar
            });
            Style::Human { bar, quiet }
        };
        Renderer {
            style,
            plan_only,
            seeds: Vec::new(),
            format: Format::Zsync,
        }
    }

    pub fn event(&mut self, event: &Event) {
        match &mut self.style {
            Style::Json => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{}", event_json(event));
            }
            Style::Human { bar, quiet } => {
                let quiet = *quiet;
                let bar = bar.clone();
                self.human(event, bar.as_ref(), quiet);
            }
        }
    }

    fn say(&self, bar: Option<&ProgressBar>, quiet: bool, line: String) {
        if quiet {
            return;
        }
        match bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn human(&mut self, event: &Event, bar: Option<&ProgressBar>, quiet: bool) {
        match event {
            Event::ControlLoaded(info) => {
                self.format = info.format;
                let name = if info.filename.is_empty() {
                    "(unnamed)".into()
                } else {
                    printable(&info.filename)
                };
                let noun = info.format.pieces().for_count(info.block_count);
                let pieces = if info.block_ends.is_empty() {
                    format!("{} {noun} of {} bytes", info.block_count, info.block_size)
                } else {
                    format!("{} {} {noun}", info.block_count, info.format.name())
                };
                let line = format!(
                    "{name}: {} in {pieces}{}\n  from {}{}",
                    HumanBytes(info.length),
                    if info.compressed {
                        " (fetched gzip-compressed)"
                    } else {
                        ""
                    },
                    printable(&info.urls.join(", ")),
                    info.file_hash
                        .as_ref()
                        .map(|hash| format!("\n  {hash}"))
                        .unwrap_or_default()
                );
                if self.plan_only {
                    println!("{line}");
                } else {
                    self.say(bar, quiet, line);
                }
                if let Some(bar) = bar {
                    bar.set_length(info.length);
                }
            }
            Event::Phase(phase) => {
                if let Some(bar) = bar {
                    bar.set_message(phase_word(*phase));
                }
            }
            Event::SeedStarted { path, source, .. } => {
                self.seeds.push(path.display().to_string());
                self.say(
                    bar,
                    quiet,
                    format!("reading {} {}", source_word(*source), path.display()),
                );
            }
            Event::SeedFinished { blocks, bytes, .. } => {
                let line = format!(
                    "  {blocks} {} ({}) of the target found",
                    self.format.pieces().for_count(*blocks),
                    HumanBytes(*bytes)
                );
                if self.plan_only {
                    println!(
                        "{}: {line}",
                        self.seeds.last().map(String::as_str).unwrap_or("")
                    );
                } else {
                    self.say(bar, quiet, line);
                }
            }
            Event::SeedEstimate {
                path,
                bytes,
                fraction_of_target,
                ..
            } => println!(
                "{}: about {:.0}% of the target ({})",
                path.display(),
                fraction_of_target * 100.0,
                HumanBytes(*bytes)
            ),
            Event::SeedSkipped { path, reason, .. } => self.say(
                bar,
                false,
                format!("not using {}: {}", path.display(), printable(reason)),
            ),
            Event::Planned(plan) => {
                let line = plan_line(plan, self.format);
                if self.plan_only {
                    println!("{line}");
                } else {
                    self.say(bar, quiet, line);
                }
            }
            Event::Progress(p) => {
                if let Some(bar) = bar {
                    bar.set_position(p.local_bytes + p.fetched_bytes);
                }
            }
            Event::Notice(text) => self.say(bar, quiet, format!("note: {}", printable(text))),
            Event::Finished(result) => {
                if let Some(bar) = bar {
                    bar.finish_and_clear();
                }
                match result {
                    Ok(Summary {
                        follow: Some(report),
                        plan,
                        ..
                    }) => followed(report, plan),
                    Ok(summary) if !self.plan_only => finished(summary),
                    Ok(_) => {}
                    Err(e) => print_error(e),
                }
            }
            Event::Blocks { .. } => {}
        }
    }
}

/// A failure as the terminal shows it: the message, then what to do.
pub fn print_error(e: &Error) {
    eprintln!(
        "deltadrop-cli: {}\n  {}",
        printable(&e.to_string()),
        e.hint()
    );
}

/// Text that may hold bytes from the network (a server's reason or error page, a
/// control file's `Filename`), as a terminal may be shown it: control characters (ESC,
/// BEL, CR...) escaped as `--json` escapes them, so a server can neither retitle the
/// window, clear the screen nor overwrite a line.
fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            shown.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
}

/// What a follow's check found, on stdout: one line a log can keep.
fn followed(report: &FollowReport, plan: &Plan) {
    let built = report
        .built
        .as_deref()
        .map(|b| format!(", built {b}"))
        .unwrap_or_default();
    if !report.new_build {
        println!("up to date: {}{built}", report.newest.display());
        return;
    }
    let reused = if plan.total_bytes == 0 {
        0.0
    } else {
        plan.local_bytes as f64 * 100.0 / plan.total_bytes as f64
    };
    println!(
        "new build: {}{built}; reused {} ({reused:.1}%) from local files, fetched {}",
        report.newest.display(),
        HumanBytes(plan.local_bytes),
        HumanBytes(plan.bytes_to_fetch)
    );
    for kept in &report.kept {
        println!("  kept {}", kept.display());
    }
    for removed in &report.removed {
        println!("  removed {}", removed.display());
    }
}

fn finished(summary: &Summary) {
    let p = summary.progress;
    if let Some(out) = &summary.output {
        let hash = summary
            .file_hash
            .as_ref()
            .map(|hash| format!(" ({hash})"))
            .unwrap_or_default();
        eprintln!(
            "verified {}{hash} in {:.1}s",
            out.display(),
            summary.elapsed.as_secs_f64()
        );
    }
    // zsync's closing line, word for word, so scripts that parse it keep working.
    println!("used {} local, fetched {}", p.local_bytes, p.wire_bytes);
}

fn plan_line(plan: &Plan, format: Format) -> String {
    let pct = |n: u64| {
        if plan.total_bytes == 0 {
            100.0
        } else {
            n as f64 * 100.0 / plan.total_bytes as f64
        }
    };
    format!(
        "reuse {} ({:.1}%) from local files, fetch {} ({:.1}%) in {} {}",
        HumanBytes(plan.local_bytes),
        pct(plan.local_bytes),
        HumanBytes(plan.bytes_to_fetch),
        pct(plan.bytes_to_fetch),
        plan.ranges,
        format.fetches().for_count(plan.ranges)
    )
}

fn phase_word(phase: Phase) -> &'static str {
    match phase {
        Phase::LoadingControl => "loading",
        Phase::ScanningSeeds => "scanning",
        Phase::Fetching => "fetching",
        Phase::Verifying => "verifying",
        Phase::Finishing => "finishing",
        Phase::Done => "done",
    }
}

fn source_word(source: BlockSource) -> &'static str {
    match source {
        BlockSource::Seed(_) => "seed",
        BlockSource::PartFile => "partial download",
        BlockSource::OldOutput => "previous version",
        BlockSource::Network => "network",
    }
}

fn source_json(source: BlockSource) -> Value {
    match source {
        BlockSource::Seed(i) => json!({"seed": i}),
        other => json!(source_word(other)),
    }
}

fn progress_json(p: &Progress) -> Value {
    json!({"local_bytes": p.local_bytes, "fetched_bytes": p.fetched_bytes, "wire_bytes": p.wire_bytes,
           "requests": p.requests, "total_bytes": p.total_bytes})
}

fn plan_json(p: &Plan) -> Value {
    json!({"total_bytes": p.total_bytes, "local_bytes": p.local_bytes, "missing_blocks": p.missing_blocks,
           "ranges": p.ranges, "bytes_to_fetch": p.bytes_to_fetch})
}

/// One event as a JSON object with an `event` field naming its kind.
/// `SHA-256:0123...`, the control file's own notation.
fn file_hash_json(hash: &FileHash) -> Value {
    json!(format!("{}:{}", hash.algorithm.name(), hash.hex()))
}

/// The SHA-1 hex alone, as before files could name another hash; null when it is not SHA-1.
fn sha1_json(hash: &FileHash) -> Value {
    match hash.algorithm {
        FileHashAlgorithm::Sha1 => json!(hash.hex()),
        _ => Value::Null,
    }
}

fn follow_json(r: &FollowReport) -> Value {
    json!({"new_build": r.new_build, "newest": r.newest, "built": r.built, "kept": r.kept,
           "removed": r.removed, "control_url": r.control_url})
}

fn event_json(event: &Event) -> Value {
    match event {
        Event::Phase(phase) => json!({"event": "phase", "phase": phase_word(*phase)}),
        Event::ControlLoaded(i) => {
            json!({"event": "control_loaded", "format": i.format.name(), "filename": i.filename, "length": i.length,
            "block_size": i.block_size, "block_count": i.block_count, "urls": i.urls, "compressed": i.compressed,
            "file_hash": i.file_hash.as_ref().map(file_hash_json), "sha1": i.file_hash.as_ref().map(sha1_json), "mtime": i.mtime})
        }
        Event::SeedStarted { source, path, size } => {
            json!({"event": "seed_started", "source": source_json(*source), "path": path, "size": size})
        }
        Event::SeedFinished {
            source,
            blocks,
            bytes,
        } => {
            json!({"event": "seed_finished", "source": source_json(*source), "blocks": blocks, "bytes": bytes})
        }
        Event::SeedEstimate {
            source,
            path,
            bytes,
            fraction_of_target,
        } => {
            json!({"event": "seed_estimate", "source": source_json(*source), "path": path, "bytes": bytes,
            "fraction_of_target": fraction_of_target})
        }
        Event::SeedSkipped {
            source,
            path,
            reason,
        } => {
            json!({"event": "seed_skipped", "source": source_json(*source), "path": path, "reason": reason})
        }
        Event::Blocks {
            blocks,
            state,
            source,
        } => json!({"event": "blocks", "start": blocks.start, "end": blocks.end,
            "state": format!("{state:?}").to_lowercase(), "source": source_json(*source)}),
        Event::Planned(plan) => json!({"event": "planned", "plan": plan_json(plan)}),
        Event::Progress(p) => json!({"event": "progress", "progress": progress_json(p)}),
        Event::Notice(text) => json!({"event": "notice", "text": text}),
        Event::Finished(Ok(s)) => {
            json!({"event": "finished", "ok": true, "output": s.output,
            "file_hash": s.file_hash.as_ref().map(file_hash_json), "sha1": s.file_hash.as_ref().map(sha1_json),
            "plan": plan_json(&s.plan), "progress": progress_json(&s.progress), "seconds": s.elapsed.as_secs_f64(),
            "follow": s.follow.as_ref().map(follow_json)})
        }
        Event::Finished(Err(e)) => {
            json!({"event": "finished", "ok": false, "error": e.to_string(), "hint": e.hint(),
            "verification_failed": e.is_verification()})
        }
    }
}
