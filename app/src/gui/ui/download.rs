//! The Download view: the form (control file, seeds, output, "Keep this up to date"),
//! what the job costs and how it ended, and the block map with the job's status.

use std::time::Instant;

use egui::{RichText, Ui};

use deltadrop_core::{Error, Format, Phase, TargetInfo};

use super::{error_colour, ok_colour, percent};
use crate::gui::app::{
    DeltadropApp, Run, RunKind, file_name, formats_opened_locally, looks_like_control,
    open_control_title,
};
use crate::gui::block_map;
use crate::gui::command::Command;
use crate::gui::follows::model::{DEFAULT_INTERVAL_SECS, DEFAULT_KEEP_BUILDS, interval_name};
use crate::gui::model::{
    SeedStatus, count_in, count_of, extensions_of, human_bytes, human_duration, human_rate,
    phase_name,
};
use crate::gui::persist::View;

const MAP_HEIGHT: f32 = 260.0;
const STATUS_WIDTH: f32 = 270.0;

impl DeltadropApp {
    pub(super) fn download_view(&mut self, ui: &mut Ui) {
        self.source_ui(ui);
        ui.add_space(6.0);
        self.seeds_ui(ui);
        ui.add_space(6.0);
        self.output_ui(ui);
        self.keep_up_to_date_ui(ui);
        ui.separator();
        self.actions_ui(ui);
        self.cost_ui(ui);
        self.outcome_ui(ui);
        ui.separator();
        self.map_and_status_ui(ui);
    }

    fn source_ui(&mut self, ui: &mut Ui) {
        let label = ui.strong("Download from");
        ui.horizontal(|ui| {
            let button_width = 130.0;
            let edit = egui::TextEdit::singleline(&mut self.form.control)
                .hint_text(format!(
                    "https://example.org/file.iso.zsync, or a {} file",
                    extensions_of(formats_opened_locally())
                ))
                .desired_width((ui.available_width() - button_width).max(120.0));
            let response = ui.add(edit).labelled_by(label.id);
            if response.changed() {
                self.ui_state.clipboard_offer = None;
            }
            // The formats it opens are in its hover text: listed, they would not fit.
            if ui
                .button("Open file…")
                .on_hover_text(open_control_title())
                .clicked()
            {
                self.commands.push(Command::BrowseControl);
            }
        });
        if let Some(offer) = self.ui_state.clipboard_offer.clone() {
            ui.horizontal(|ui| {
                ui.label(format!("The clipboard holds {offer}"));
                if ui.button("Use it").clicked() {
                    self.commands.push(Command::SetControl(offer));
                }
            });
        }
        let control = self.form.control.trim();
        if !control.is_empty() && !looks_like_control(control) {
            ui.label(
                RichText::new(format!(
                    "This does not look like the URL of a {} file, or a {} file; it will be tried anyway.",
                    extensions_of(Format::ALL),
                    extensions_of(formats_opened_locally())
                ))
                .weak(),
            );
        }
    }

    fn seeds_ui(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            ui.strong("Seeds");
            ui.label(RichText::new("local files that may hold parts of the target").weak());
        });
        let run_for_form = self.run_matches_form();
        if self.form.seeds.is_empty() {
            ui.label(
                RichText::new("No seeds yet: drop files onto the window, or add them.").weak(),
            );
        } else {
            egui::Grid::new("seeds")
                .striped(true)
                .num_columns(4)
                .show(ui, |ui| {
                    for (i, seed) in self.form.seeds.iter().enumerate() {
                        ui.label(file_name(&seed.path))
                            .on_hover_text(seed.path.display().to_string());
                        match &seed.size {
                            None => ui.label("…"),
                            Some(Ok(size)) => ui.label(human_bytes(*size)),
                            Some(Err(err)) => ui.colored_label(error_colour(ui), err),
                        };
                        let supplied = self
                            .run
                            .as_ref()
                            .filter(|_| run_for_form)
                            .and_then(|run| seed_supply(run, i));
                        ui.label(supplied.unwrap_or_default());
                        if ui
                            .button("Remove")
                            .on_hover_text(format!("Remove {}", file_name(&seed.path)))
                            .clicked()
                        {
                            self.commands.push(Command::RemoveSeed(i));
                        }
                        ui.end_row();
                    }
                });
        }
        ui.horizontal(|ui| {
            if ui.button("Add seed files…").clicked() {
                self.commands.push(Command::BrowseSeeds);
            }
            ui.label(RichText::new("or drop them here (several at once)").weak());
        });
        self.suggestions_ui(ui);
        self.seed_estimates_ui(ui);
    }

    fn suggestions_ui(&mut self, ui: &mut Ui) {
        let Some(s) = &self.form.suggestions else {
            return;
        };
        if let Some((path, size)) = &s.previous {
            let just_downloaded = self
                .run
                .as_ref()
                .and_then(|run| run.view.summary())
                .and_then(|summary| summary.output.as_ref())
                .is_some_and(|output| output == path);
            ui.label(if just_downloaded {
                format!(
                    "Just downloaded: {} ({}). Starting again checks it and fetches only what changed since.",
                    path.display(),
                    human_bytes(*size)
                )
            } else {
                format!(
                    "Previous version found: {} ({}) — it is reused automatically.",
                    path.display(),
                    human_bytes(*size)
                )
            });
        }
        let estimated = self.seed_estimates.as_ref().map(|e| e.worth_a_seed(&[]));
        let estimated = estimated.unwrap_or_default();
        for (path, size) in &s.similar {
            let offered_below = estimated.iter().any(|e| &e.path == path);
            if offered_below || self.form.seeds.iter().any(|seed| &seed.path == path) {
                continue;
            }
            ui.horizontal(|ui| {
                ui.label(format!(
                    "Looks like an earlier version: {} ({})",
                    file_name(path),
                    human_bytes(*size)
                ));
                if ui
                    .button("Add as seed")
                    .on_hover_text(path.display().to_string())
                    .clicked()
                {
                    self.commands.push(Command::AddSeeds(vec![path.clone()]));
                }
            });
        }
    }

    /// The files found by content: "image-1203.wic: about 83% of the target", each with
    /// its own Add, and one button that takes them all.
    fn seed_estimates_ui(&mut self, ui: &mut Ui) {
        let Some(estimates) = &self.seed_estimates else {
            return;
        };
        let chosen = self.form.seed_paths();
        let worth = estimates.worth_a_seed(&chosen);
        if !estimates.finished {
            ui.label(
                RichText::new(format!(
                    "Looking for seeds among {} in the folders you use…",
                    count_of(estimates.candidates as u64, "file", "files")
                ))
                .weak(),
            );
        }
        for estimate in &worth {
            ui.horizontal(|ui| {
                ui.label(format!(
                    "{}: about {:.0}% of the target",
                    file_name(&estimate.path),
                    estimate.share * 100.0
                ))
                .on_hover_text(estimate.path.display().to_string());
                if ui
                    .button("Add")
                    .on_hover_text(format!("Add {} as a seed", file_name(&estimate.path)))
                    .clicked()
                {
                    self.commands
                        .push(Command::AddSeeds(vec![estimate.path.clone()]));
                }
            });
        }
        if !worth.is_empty() && ui.button("Use these seeds").clicked() {
            let all = worth.iter().map(|e| e.path.clone()).collect();
            self.commands.push(Command::AddSeeds(all));
        }
    }

    fn output_ui(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            ui.strong("Save to");
            ui.label(self.form.output.display().to_string());
            if ui.button("Choose folder…").clicked() {
                self.commands.push(Command::BrowseOutput);
            }
        });
    }

    /// "Keep this up to date": what a follow of this download would do, or does.
    fn keep_up_to_date_ui(&mut self, ui: &mut Ui) {
        let control = self.form.control.trim().to_string();
        let from_url = control.starts_with("http://") || control.starts_with("https://");
        ui.horizontal(|ui| {
            let label = "Keep this up to date";
            let response =
                ui.add_enabled(from_url, egui::Checkbox::new(&mut self.form.follow, label));
            if !from_url {
                response
                    .on_disabled_hover_text("Only a download from a URL can be kept up to date");
                return;
            }
            let folder = self.form_folder();
            let followed = self.persisted.follow_of(&control, &folder);
            let text = match followed {
                Some(follow) => format!(
                    "Followed already: checked every {}, keeping {} builds in {}.",
                    interval_name(follow.interval_secs),
                    follow.keep_builds,
                    folder.display()
                ),
                None => format!(
                    "Check for new builds every {} and keep the last {} in {}.",
                    interval_name(DEFAULT_INTERVAL_SECS),
                    DEFAULT_KEEP_BUILDS,
                    folder.display()
                ),
            };
            ui.label(RichText::new(text).weak());
            if followed.is_some() && ui.link("Follows").clicked() {
                self.commands.push(Command::ShowView(View::Follows));
            }
        });
    }

    fn actions_ui(&mut self, ui: &mut Ui) {
        let has_control = !self.form.control.trim().is_empty();
        let running = self.is_running();
        ui.horizontal(|ui| {
            if ui
                .add_enabled(has_control && !running, egui::Button::new("Check cost"))
                .on_hover_text("Scan the seeds and show how much would be downloaded")
                .clicked()
            {
                self.commands.push(Command::Plan);
            }
            let start_label = match &self.run {
                Some(run)
                    if !running && run.kind == RunKind::Download && run.view.error().is_some() =>
                {
                    "Resume download"
                }
                _ => "Start download",
            };
            if ui
                .add_enabled(has_control && !running, egui::Button::new(start_label))
                .clicked()
            {
                self.commands.push(Command::Start);
            }
            if let Some(run) = &self.run
                && running
            {
                if run.kind == RunKind::Download {
                    let (label, paused) = if run.paused {
                        ("Resume", false)
                    } else {
                        ("Pause", true)
                    };
                    if ui.button(label).clicked() {
                        self.commands.push(Command::SetPaused(paused));
                    }
                }
                if ui
                    .add_enabled(!run.cancel_requested, egui::Button::new("Cancel"))
                    .clicked()
                {
                    self.commands.push(Command::Cancel);
                }
                let what = match (run.kind, run.paused, run.cancel_requested) {
                    (_, _, true) => "Cancelling…".to_string(),
                    (_, true, _) => "Paused".to_string(),
                    (_, _, _) => run.view.phase.map_or("Starting…".into(), |phase| {
                        phase_name(phase, run.format())
                    }),
                };
                ui.label(what);
            }
        });
        if let Some(message) = &self.ui_state.message {
            ui.colored_label(error_colour(ui), message);
        }
    }

    /// The info step's answer: what the download will cost.
    fn cost_ui(&mut self, ui: &mut Ui) {
        let Some(run) = &self.run else { return };
        let (Some(target), Some(plan)) = (&run.view.target, &run.view.plan) else {
            if run.is_running() && run.kind == RunKind::Plan {
                ui.label(format!(
                    "Working out the cost: {}…",
                    run.view
                        .phase
                        .map_or("starting".into(), |phase| phase_name(phase, run.format()))
                        .to_lowercase()
                ));
            }
            return;
        };
        let stale = !self.run_matches_form();
        let (pieces, fetches) = (target.format.pieces(), target.format.fetches());
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.strong("What this download costs");
            egui::Grid::new("cost").num_columns(2).show(ui, |ui| {
                ui.label("Target");
                ui.label(format!(
                    "{}, {} ({})",
                    target.filename,
                    human_bytes(plan.total_bytes),
                    piece_sizes(target)
                ));
                ui.end_row();
                ui.label("Found locally");
                ui.label(format!(
                    "{} ({})",
                    human_bytes(plan.local_bytes),
                    percent(plan.local_bytes, plan.total_bytes)
                ));
                ui.end_row();
                ui.label("To download");
                ui.label(format!(
                    "{} in {} ({}){}",
                    human_bytes(plan.bytes_to_fetch),
                    count_in(plan.ranges, fetches),
                    count_in(plan.missing_blocks, pieces),
                    if target.compressed {
                        ", compressed"
                    } else {
                        ""
                    }
                ));
                ui.end_row();
            });
            if stale {
                ui.label(
                    RichText::new("The form changed since: check again for an up-to-date cost.")
                        .weak(),
                );
            }
        });
    }

    /// Errors with what to do next, or the verified result.
    fn outcome_ui(&mut self, ui: &mut Ui) {
        let Some(run) = &self.run else { return };
        let Some(outcome) = &run.view.outcome else {
            return;
        };
        match outcome {
            Err(Error::Cancelled) => {
                ui.horizontal(|ui| {
                    ui.label(format!("Cancelled. {}", Error::Cancelled.hint()));
                    if ui.button("Dismiss").clicked() {
                        self.commands.push(Command::Dismiss);
                    }
                });
            }
            Err(err) => {
                let title = match run.kind {
                    RunKind::Plan => "Could not work out the cost",
                    RunKind::Download => "Download failed",
                };
                egui::Frame::group(ui.style())
                    .stroke(egui::Stroke::new(1.0, error_colour(ui)))
                    .show(ui, |ui| {
                        ui.set_width(ui.available_width());
                        ui.colored_label(error_colour(ui), RichText::new(title).strong());
                        ui.label(err.to_string());
                        ui.label(RichText::new(err.hint()).italics());
                        ui.horizontal(|ui| {
                            if ui.button("Try again").clicked() {
                                self.commands.push(match run.kind {
                                    RunKind::Plan => Command::Plan,
                                    RunKind::Download => Command::Start,
                                });
                            }
                            if ui.button("Dismiss").clicked() {
                                self.commands.push(Command::Dismiss);
                            }
                        });
                    });
            }
            Ok(summary)
                if run.kind == RunKind::Download
                    && summary.follow.as_ref().is_some_and(|f| !f.new_build) =>
            {
                ui.horizontal(|ui| {
                    let newest = summary.output.as_deref().map(file_name).unwrap_or_default();
                    ui.colored_label(
                        ok_colour(ui),
                        format!("Up to date: {newest} is the newest build."),
                    );
                    if ui.button("Dismiss").clicked() {
                        self.commands.push(Command::Dismiss);
                    }
                });
            }
            Ok(summary) if run.kind == RunKind::Download => {
                egui::Frame::group(ui.style())
                    .stroke(egui::Stroke::new(1.0, ok_colour(ui)))
                    .show(ui, |ui| {
                        ui.set_width(ui.available_width());
                        ui.colored_label(ok_colour(ui), RichText::new("Done: verified").strong());
                        if let Some(path) = &summary.output {
                            ui.label(format!("Saved as {}", path.display()));
                        }
                        ui.label(format!(
                            "{} reused from local files, {} downloaded ({} on the wire) in {}",
                            human_bytes(summary.progress.local_bytes),
                            human_bytes(summary.progress.fetched_bytes),
                            human_bytes(summary.progress.wire_bytes),
                            human_duration(summary.elapsed)
                        ));
                        if let Some(hash) = &summary.file_hash {
                            ui.label(hash.to_string());
                        }
                        ui.horizontal(|ui| {
                            if let Some(folder) = summary.output.as_ref().and_then(|p| p.parent())
                                && ui.button("Open folder").clicked()
                            {
                                self.commands
                                    .push(Command::OpenFolder(folder.to_path_buf()));
                            }
                            if let Some(hash) = &summary.file_hash
                                && ui
                                    .button(format!("Copy {}", hash.algorithm.name()))
                                    .clicked()
                            {
                                self.commands.push(Command::CopyText(hash.hex()));
                            }
                            if ui.button("Dismiss").clicked() {
                                self.commands.push(Command::Dismiss);
                            }
                        });
                    });
            }
            Ok(_) => {}
        }
    }

    fn map_and_status_ui(&mut self, ui: &mut Ui) {
        let wide = ui.available_width() >= 640.0 + STATUS_WIDTH;
        if wide {
            let map_width = ui.available_width() - STATUS_WIDTH - 16.0;
            ui.horizontal_top(|ui| {
                ui.vertical(|ui| {
                    ui.set_width(map_width);
                    self.map_ui(ui);
                });
                ui.separator();
                ui.vertical(|ui| {
                    // What is left of the row after the map and the separator.
                    ui.set_width(ui.available_width().min(STATUS_WIDTH));
                    self.status_ui(ui);
                });
            });
        } else {
            self.map_ui(ui);
            ui.separator();
            self.status_ui(ui);
        }
    }

    fn map_ui(&mut self, ui: &mut Ui) {
        ui.strong("Block map");
        let run = self.run.as_ref();
        match run.and_then(|r| Some((r, r.view.map.as_ref()?, r.view.target.as_ref()?))) {
            Some((run, map, target)) => {
                block_map::show(ui, map, target, MAP_HEIGHT, &|i| run.seed_name(i));
                block_map::legend(ui, Some(map));
            }
            None => {
                egui::Frame::canvas(ui.style()).show(ui, |ui| {
                    ui.set_width(ui.available_width());
                    ui.set_height(80.0);
                    ui.centered_and_justified(|ui| {
                        ui.label(RichText::new(map_placeholder(&self.form.control)).weak());
                    });
                });
                block_map::legend(ui, None);
            }
        }
    }

    fn status_ui(&mut self, ui: &mut Ui) {
        let Some(run) = &self.run else {
            ui.label(RichText::new("Nothing running.").weak());
            return;
        };
        let view = &run.view;
        let phase = match (view.error(), view.phase, run.paused && run.is_running()) {
            // A job that ended badly is not "Done".
            (Some(Error::Cancelled), _, _) => "Cancelled".to_string(),
            (Some(_), _, _) => "Failed".to_string(),
            (None, Some(phase), false) => phase_name(phase, run.format()),
            (None, Some(phase), true) => format!("{} (paused)", phase_name(phase, run.format())),
            (None, None, _) => "Starting".to_string(),
        };
        ui.strong(phase);
        let fraction = view.fraction_done();
        ui.add(
            egui::ProgressBar::new(fraction)
                .desired_width(ui.available_width())
                .text(format!("{:.1}%", fraction * 100.0)),
        );
        let total = view.total_bytes();
        egui::Grid::new("status").num_columns(2).show(ui, |ui| {
            ui.label("Found locally");
            ui.label(format!(
                "{} ({})",
                human_bytes(view.progress.local_bytes),
                percent(view.progress.local_bytes, total)
            ));
            ui.end_row();
            ui.label("Downloaded");
            ui.label(format!(
                "{} ({})",
                human_bytes(view.progress.fetched_bytes),
                percent(view.progress.fetched_bytes, total)
            ));
            ui.end_row();
            ui.label("Target");
            ui.label(human_bytes(total));
            ui.end_row();
            if view.progress.requests > 0 {
                ui.label("On the wire");
                ui.label(format!(
                    "{} in {}",
                    human_bytes(view.progress.wire_bytes),
                    count_of(view.progress.requests, "request", "requests")
                ));
                ui.end_row();
            }
            if view.phase == Some(Phase::Fetching) && run.is_running() {
                ui.label("Speed");
                ui.label(if run.paused {
                    "paused".to_string()
                } else {
                    view.speed().map_or("…".into(), human_rate)
                });
                ui.end_row();
                ui.label("Time left");
                ui.label(if run.paused {
                    "—".to_string()
                } else {
                    view.eta().map_or("…".into(), human_duration)
                });
                ui.end_row();
            }
            ui.label("Elapsed");
            ui.label(human_duration(view.elapsed(Instant::now())));
            ui.end_row();
        });
        if !view.seeds.is_empty() {
            ui.add_space(4.0);
            ui.strong("Local files");
            for seed in &view.seeds {
                let name = file_name(&seed.path);
                let text = match &seed.status {
                    SeedStatus::Scanning => format!("{name}: scanning…"),
                    SeedStatus::Used { bytes, .. } => {
                        format!("{name}: {} of the target", human_bytes(*bytes))
                    }
                    SeedStatus::Skipped(reason) => format!("{name}: skipped ({reason})"),
                };
                ui.label(text);
            }
        }
        for notice in view.notices.iter().rev().take(3) {
            ui.label(RichText::new(notice).weak());
        }
    }
}

/// How much of the target seed `i` of the form supplied in `run`.
/// How the target is cut, in its format's words: "1,000 blocks of 4 KiB", or for pieces
/// of varying size "40 chunks, 1 MiB on average".
fn piece_sizes(target: &TargetInfo) -> String {
    let pieces = count_in(target.block_count, target.format.pieces());
    if target.block_ends.is_empty() {
        format!("{pieces} of {}", human_bytes(u64::from(target.block_size)))
    } else {
        let average = target.length / target.block_count.max(1);
        format!("{pieces}, {} on average", human_bytes(average))
    }
}

/// What the empty map says it will show, in the words of the form's format.
fn map_placeholder(control: &str) -> String {
    let format = Format::of_name(control.trim());
    format!(
        "The map shows every {} of the target once the .{} file is loaded.",
        format.pieces().one,
        format.extension()
    )
}

fn seed_supply(run: &Run, i: usize) -> Option<String> {
    let path = run.spec.seeds.get(i)?;
    let seed = run.view.seeds.iter().find(|s| &s.path == path)?;
    Some(match &seed.status {
        SeedStatus::Scanning => "scanning…".into(),
        SeedStatus::Used { bytes, .. } => format!(
            "supplied {} ({})",
            human_bytes(*bytes),
            percent(*bytes, run.view.total_bytes())
        ),
        SeedStatus::Skipped(reason) => format!("skipped: {reason}"),
    })
}
