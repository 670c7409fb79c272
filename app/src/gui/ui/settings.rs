//! The Settings view: how downloads talk to servers, where seeds are looked for, the
//! theme, starting at login, and (`access_settings`) sign-ins, tokens, the proxy and
//! client certificates.

use egui::{RichText, Ui};

use crate::gui::app::DeltadropApp;
use crate::gui::command::Command;

use super::error_colour;

impl DeltadropApp {
    pub(super) fn settings_view(&mut self, ui: &mut Ui) {
        egui::Grid::new("settings").num_columns(2).show(ui, |ui| {
            let settings = &mut self.persisted.settings;
            let label = ui.label("Parallel requests");
            ui.add(egui::DragValue::new(&mut settings.parallel_requests).range(1..=16))
                .labelled_by(label.id);
            ui.end_row();
            ui.label("");
            ui.checkbox(&mut settings.keep_old, "Keep the replaced file as .zs-old");
            ui.end_row();
            ui.label("");
            ui.checkbox(
                &mut settings.uncompress,
                "Also uncompress a .zck download (zchunk)",
            );
            ui.end_row();
            let label = ui.label("Trusted CA (PEM file)");
            ui.add(
                egui::TextEdit::singleline(&mut settings.ca_cert)
                    .hint_text("empty: the system's certificates"),
            )
            .labelled_by(label.id);
            ui.end_row();
            let label = ui.label("Folders to look in for seeds");
            ui.add(
                egui::TextEdit::multiline(&mut settings.seed_folders)
                    .desired_rows(2)
                    .hint_text(
                        "one a line; the download's folder and recent ones are looked in anyway",
                    ),
            )
            .labelled_by(label.id)
            .on_hover_text(
                "Files here are estimated against each new download and offered as seeds \
                 when they hold enough of it",
            );
            ui.end_row();
            ui.label("Theme");
            theme_choice(ui);
            ui.end_row();
            ui.label("");
            self.autostart_ui(ui);
            ui.end_row();
        });
        ui.add_space(12.0);
        self.access_settings(ui);
        ui.add_space(8.0);
        ui.label(RichText::new("Esc goes back.").weak());
    }

    /// "Start deltadrop at login (minimised)", as the desktop says it is.
    fn autostart_ui(&mut self, ui: &mut Ui) {
        ui.vertical(|ui| {
            let known = self.ui_state.autostart.clone();
            let mut on = matches!(known, Some(Ok(true)));
            let label = "Start deltadrop at login (minimised)";
            let response = ui.add_enabled(known.is_some(), egui::Checkbox::new(&mut on, label));
            if response.changed() {
                self.commands.push(Command::SetAutostart(on));
            }
            response.on_hover_text("Follows are checked while deltadrop runs, even minimised");
            if let Some(Err(err)) = known {
                ui.colored_label(error_colour(ui), err);
            }
        });
    }
}

fn theme_choice(ui: &mut Ui) {
    ui.horizontal(|ui| {
        let ctx = ui.ctx().clone();
        let current = ctx.options(|o| o.theme_preference);
        for (pref, name) in [
            (egui::ThemePreference::System, "Follow the system"),
            (egui::ThemePreference::Light, "Light"),
            (egui::ThemePreference::Dark, "Dark"),
        ] {
            if ui.radio(current == pref, name).clicked() {
                ctx.set_theme(pref);
            }
        }
    });
}
