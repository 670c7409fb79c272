//! The History view: recent downloads, each to use again or to keep up to date.

use std::time::Duration;

use egui::{RichText, Ui};

use crate::gui::app::{DeltadropApp, file_name, history_follow_key};
use crate::gui::command::Command;
use crate::gui::model::{human_bytes, human_duration};
use crate::gui::persist::{HistoryEntry, Persisted};

use super::{error_colour, ok_colour};

impl DeltadropApp {
    pub(super) fn history_view(&mut self, ui: &mut Ui) {
        if self.persisted.history.is_empty() {
            ui.label(RichText::new("No downloads yet.").weak());
            return;
        }
        let now = self.clock.now_unix();
        egui::Grid::new("history")
            .striped(true)
            .num_columns(4)
            .show(ui, |ui| {
                for (i, entry) in self.persisted.history.iter().enumerate() {
                    let ago = human_duration(Duration::from_secs(
                        now.saturating_sub(entry.finished_unix),
                    ));
                    let (colour, status) = match (entry.ok, entry.outcome.as_str()) {
                        (true, _) => (ok_colour(ui), "verified"),
                        (false, "cancelled") => (error_colour(ui), "cancelled"),
                        (false, _) => (error_colour(ui), "failed"),
                    };
                    ui.colored_label(colour, status);
                    ui.label(format!("{} · {ago} ago", entry_name(entry)))
                        .on_hover_text(details(entry));
                    if ui.button("Use again").clicked() {
                        self.commands.push(Command::LoadHistory(i));
                    }
                    if let Some(command) = follow_entry_ui(ui, &self.persisted, i, entry) {
                        self.commands.push(command);
                    }
                    ui.end_row();
                }
            });
        ui.separator();
        if ui.button("Clear history").clicked() {
            self.commands.push(Command::ClearHistory);
        }
    }
}

/// The entry's "Keep up to date" box: ticked while its URL is followed into its folder.
fn follow_entry_ui(
    ui: &mut Ui,
    persisted: &Persisted,
    i: usize,
    entry: &HistoryEntry,
) -> Option<Command> {
    let Some((url, folder)) = history_follow_key(entry) else {
        ui.add_enabled(false, egui::Checkbox::new(&mut false, "Keep up to date"))
            .on_disabled_hover_text("Only a download from a URL can be kept up to date");
        return None;
    };
    let followed = persisted.follow_of(&url, &folder).is_some();
    let mut on = followed;
    ui.checkbox(&mut on, "Keep up to date")
        .on_hover_text(format!("Check for new builds into {}", folder.display()));
    (on != followed).then_some(Command::FollowHistory(i, on))
}

fn entry_name(entry: &HistoryEntry) -> String {
    entry
        .written
        .as_deref()
        .map(file_name)
        .unwrap_or_else(|| entry.control.clone())
}

fn details(entry: &HistoryEntry) -> String {
    format!(
        "{}\n{}\nseeds: {}\n{} local, {} downloaded",
        entry.control,
        entry.outcome,
        entry
            .seeds
            .iter()
            .map(|p| file_name(p))
            .collect::<Vec<_>>()
            .join(", "),
        human_bytes(entry.local_bytes),
        human_bytes(entry.fetched_bytes)
    )
}
