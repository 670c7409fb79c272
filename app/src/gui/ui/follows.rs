//! The Follows view: one card per followed build, with how its last check went, its
//! newest build, when it is checked next, how many builds it keeps and how often it is
//! checked, and what can be done with it; and the dialog that asks before one is removed.

use std::time::Duration;

use egui::{RichText, Ui};

use deltadrop_core::{Format, shown_url};

use crate::gui::app::DeltadropApp;
use crate::gui::command::Command;
use crate::gui::follows::model::{INTERVALS, built_date, interval_name, reused_text};
use crate::gui::follows::{CheckOutcome, Follow, ScheduleReport};
use crate::gui::model::{JobView, human_bytes, human_duration, phase_name};

use super::{error_colour, ok_colour};

/// What a card shows besides the follow itself.
struct CardState<'a> {
    now: u64,
    /// The scheduler's check of this follow, running.
    check: Option<&'a JobView>,
    /// The Download view's job is this follow's first check.
    checked_in_form: bool,
    schedule: Option<&'a ScheduleReport>,
}

impl DeltadropApp {
    pub(super) fn follows_view(&mut self, ui: &mut Ui) {
        if self.persisted.follows.is_empty() {
            ui.label(RichText::new("No follows yet.").weak());
            ui.label(
                "Tick 'Keep this up to date' in the Download view or on a History \
                 entry, and deltadrop checks for new builds while it runs, downloading only \
                 what changed. From the command line: deltadrop-cli follow URL --into FOLDER.",
            );
            return;
        }
        let now = self.clock.now_unix();
        let mut commands = Vec::new();
        for follow in &mut self.persisted.follows {
            let id = follow.id;
            let state = CardState {
                now,
                check: self
                    .follow_check
                    .as_ref()
                    .filter(|c| c.id == id)
                    .map(|c| &c.view),
                checked_in_form: self
                    .run
                    .as_ref()
                    .is_some_and(|run| run.is_running() && run.follow == Some(id)),
                schedule: self.ui_state.schedule.as_ref(),
            };
            commands.extend(follow_card(ui, follow, &state));
            ui.add_space(6.0);
        }
        self.commands.extend(commands);
    }

    /// "Stop following?": asked before a follow is removed; Esc or a click beside it
    /// keeps the follow.
    pub(super) fn remove_follow_dialog(&mut self, ctx: &egui::Context) {
        let Some(id) = self.ui_state.confirm_remove else {
            return;
        };
        let Some(follow) = self.persisted.follows.iter().find(|f| f.id == id) else {
            self.ui_state.confirm_remove = None;
            return;
        };
        let (name, folder) = (follow.name(), follow.folder.display().to_string());
        let mut remove = false;
        let mut cancel = false;
        let modal = egui::Modal::new(egui::Id::unique("remove_follow")).show(ctx, |ui| {
            ui.set_max_width(420.0);
            ui.heading(format!("Stop following {name}?"));
            ui.label(format!(
                "deltadrop stops checking for new builds. The builds already in {folder} stay \
                 where they are."
            ));
            ui.horizontal(|ui| {
                remove = ui.button("Stop following").clicked();
                cancel = ui.button("Cancel").clicked();
            });
        });
        if remove {
            self.commands.push(Command::RemoveFollow(id));
        } else if cancel || modal.should_close() {
            self.ui_state.confirm_remove = None;
        }
    }
}

/// One follow; the commands its buttons gave.
fn follow_card(ui: &mut Ui, follow: &mut Follow, state: &CardState) -> Vec<Command> {
    let mut commands = Vec::new();
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.horizontal(|ui| {
            ui.strong(follow.name());
            status_label(ui, follow, state);
        });
        ui.label(
            RichText::new(format!(
                "{} into {}",
                shown_url(&follow.url),
                follow.folder.display()
            ))
            .weak(),
        );
        egui::Grid::new(("follow", follow.id))
            .num_columns(2)
            .show(ui, |ui| facts_rows(ui, follow, state));
        if let Some(view) = state.check {
            check_progress(ui, view, Format::of_name(&follow.url));
        }
        if let Some(CheckOutcome::Failed { message, hint }) = &follow.last_outcome
            && state.check.is_none()
        {
            ui.colored_label(error_colour(ui), message);
            ui.label(RichText::new(hint).italics());
        }
        commands = buttons(ui, follow, state);
    });
    commands
}

/// Checking, up to date, a new build, or failed.
fn status_label(ui: &mut Ui, follow: &Follow, state: &CardState) {
    let (text, colour) = if state.check.is_some() || state.checked_in_form {
        ("checking…".to_string(), ui.visuals().text_color())
    } else {
        match &follow.last_outcome {
            None => ("not checked yet".into(), ui.visuals().weak_text_color()),
            Some(CheckOutcome::NewBuild) => ("new build".into(), ok_colour(ui)),
            Some(CheckOutcome::UpToDate) => ("up to date".into(), ok_colour(ui)),
            Some(CheckOutcome::Cancelled) => {
                ("check cancelled".into(), ui.visuals().weak_text_color())
            }
            Some(CheckOutcome::Failed { .. }) if follow.failures_in_a_row > 1 => (
                format!("failed {} times in a row", follow.failures_in_a_row),
                error_colour(ui),
            ),
            Some(CheckOutcome::Failed { .. }) => ("failed".into(), error_colour(ui)),
        }
    };
    ui.colored_label(colour, text);
    if follow.paused {
        ui.label(RichText::new("(paused)").weak());
    }
}

/// Last check, last build, next check, and what is kept how often.
fn facts_rows(ui: &mut Ui, follow: &mut Follow, state: &CardState) {
    ui.label("Last check");
    ui.label(match follow.last_check_unix {
        Some(at) => format!("{} ago", ago(state.now, at)),
        None => "never".into(),
    });
    ui.end_row();
    ui.label("Newest build");
    ui.label(build_text(follow));
    ui.end_row();
    ui.label("Next check");
    ui.label(next_check_text(follow, state));
    ui.end_row();
    ui.label("Keep");
    ui.horizontal(|ui| {
        ui.add(egui::DragValue::new(&mut follow.keep_builds).range(1..=99))
            .on_hover_text("Builds kept in the folder, the newest included");
        let label = ui.label("builds, check every");
        egui::ComboBox::from_id_salt(("interval", follow.id))
            .selected_text(interval_name(follow.interval_secs))
            .show_ui(ui, |ui| {
                for (seconds, name) in INTERVALS {
                    ui.selectable_value(&mut follow.interval_secs, seconds, name);
                }
            })
            .response
            .labelled_by(label.id);
    });
    ui.end_row();
}

/// "image.img · built 01 Dec 2026 03:00 +0000 · 3.81 MiB · 3.61 MiB of 3.81 MiB reused".
fn build_text(follow: &Follow) -> String {
    let Some(build) = &follow.last_build else {
        return "none yet".into();
    };
    let mut parts = vec![build.file.file_name().map_or_else(
        || build.file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )];
    if let Some(built) = &build.built {
        parts.push(format!("built {}", built_date(built)));
    }
    match (build.size, build.reused_bytes) {
        (Some(size), Some(reused)) => parts.push(reused_text(reused, size)),
        (Some(size), None) => parts.push(human_bytes(size)),
        _ => {}
    }
    parts.join(" · ")
}

fn next_check_text(follow: &Follow, state: &CardState) -> String {
    if state.check.is_some() || state.checked_in_form {
        return "after this one".into();
    }
    if follow.paused {
        return "paused (Check now still checks)".into();
    }
    match state.schedule.and_then(|s| s.due_at(follow.id)) {
        Some(due) if due <= state.now => "now, once no other check runs".into(),
        Some(due) => format!(
            "in {}",
            human_duration(Duration::from_secs(due - state.now))
        ),
        None => "…".into(),
    }
}

/// The running check of a follow of `format`: its phase and how far it is.
fn check_progress(ui: &mut Ui, view: &JobView, format: Format) {
    let phase = view
        .phase
        .map_or("Asking for the control file".into(), |phase| {
            phase_name(phase, format)
        });
    let fraction = view.fraction_done();
    ui.add(
        egui::ProgressBar::new(fraction)
            .desired_width(ui.available_width().min(480.0))
            .text(format!("{phase}: {:.0}%", fraction * 100.0)),
    );
    if let Some(notice) = view.notices.last() {
        ui.label(RichText::new(notice).weak());
    }
}

fn buttons(ui: &mut Ui, follow: &Follow, state: &CardState) -> Vec<Command> {
    let mut commands = Vec::new();
    let id = follow.id;
    ui.horizontal(|ui| {
        let busy = state.check.is_some() || state.checked_in_form;
        if ui
            .add_enabled(!busy, egui::Button::new("Check now"))
            .clicked()
        {
            commands.push(Command::CheckFollowNow(id));
        }
        let (label, paused) = if follow.paused {
            ("Resume", false)
        } else {
            ("Pause", true)
        };
        if ui.button(label).clicked() {
            commands.push(Command::SetFollowPaused(id, paused));
        }
        if ui.button("Open folder").clicked() {
            commands.push(Command::OpenFolder(follow.folder.clone()));
        }
        if ui.button("Remove").clicked() {
            commands.push(Command::AskRemoveFollow(id));
        }
    });
    commands
}

fn ago(now: u64, then: u64) -> String {
    human_duration(Duration::from_secs(now.saturating_sub(then)))
}
