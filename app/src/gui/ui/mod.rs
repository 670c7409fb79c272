//! Drawing. Views read the app's state and push [`Command`]s; they change nothing else
//! (text fields and settings widgets edit their own values, as egui widgets do).
//!
//! The window is a bar of tabs over one main view: Download (the form, its job and the
//! block map), Follows, History and Settings, one file each. Every tab is a button, so
//! Tab reaches it; Ctrl+1..4 (Cmd on a Mac) switch views; Esc closes a dialog, or leaves
//! Settings for the view it was opened from.

mod access_settings;
mod download;
mod follows;
mod history;
mod settings;
mod sign_in;

use egui::{Color32, Key, KeyboardShortcut, Modifiers, RichText, Ui, vec2};

use deltadrop_core::BlockState;

use super::app::{DeltadropApp, formats_opened_locally};
use super::block_map;
use super::command::Command;
use super::model::extensions_of;
use super::persist::View;

fn error_colour(ui: &Ui) -> Color32 {
    ui.visuals().error_fg_color
}

fn ok_colour(ui: &Ui) -> Color32 {
    block_map::palette(ui.visuals().dark_mode)[BlockState::Local as usize]
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "0%".into()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

/// The keys that switch views: Ctrl+1..4.
const VIEW_KEYS: [Key; 4] = [Key::Num1, Key::Num2, Key::Num3, Key::Num4];

impl DeltadropApp {
    /// The whole window.
    pub(super) fn draw(&mut self, ui: &mut Ui) {
        self.view_shortcuts(ui.ctx());
        egui::Panel::top("top_bar").show(ui, |ui| self.top_bar(ui));
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical()
                .auto_shrink(false)
                .show(ui, |ui| {
                    if self.view() != View::Download {
                        // The Download view shows it beside its buttons.
                        self.message_ui(ui);
                    }
                    match self.view() {
                        View::Download => self.download_view(ui),
                        View::Follows => self.follows_view(ui),
                        View::History => self.history_view(ui),
                        View::Settings => self.settings_view(ui),
                    }
                });
        });
        let ctx = ui.ctx().clone();
        self.remove_follow_dialog(&ctx);
        self.sign_in_dialog(&ctx);
        self.escape_leaves_settings(&ctx);
        drop_overlay(&ctx);
        // egui drops a text field's focus on Esc before the frame is drawn: whether one
        // had the keyboard is known from the frame before.
        self.ui_state.was_typing = ctx.egui_wants_keyboard_input();
    }

    fn top_bar(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            ui.heading("deltadrop");
            ui.label(RichText::new("download only what changed").weak());
            ui.add_space(12.0);
            let shown = self.view();
            for (view, key) in View::ALL.into_iter().zip(VIEW_KEYS) {
                let shortcut = KeyboardShortcut::new(Modifiers::COMMAND, key);
                let tab = ui
                    .selectable_label(shown == view, view.name())
                    .on_hover_text(ui.ctx().format_shortcut(&shortcut));
                if tab.clicked() && shown != view {
                    self.commands.push(Command::ShowView(view));
                }
            }
            if let Some(check) = &self.follow_check {
                let name = self
                    .persisted
                    .follows
                    .iter()
                    .find(|f| f.id == check.id)
                    .map(|f| f.name())
                    .unwrap_or_default();
                ui.label(RichText::new(format!("checking {name}…")).weak());
            }
        });
    }

    /// Something that failed outside a job (opening a folder, say), until dismissed.
    fn message_ui(&mut self, ui: &mut Ui) {
        let Some(message) = &self.ui_state.message else {
            return;
        };
        ui.horizontal(|ui| {
            ui.colored_label(error_colour(ui), message);
            if ui.button("Dismiss").clicked() {
                self.commands.push(Command::DismissMessage);
            }
        });
    }

    /// Ctrl+1..4: the views, in the order of their tabs.
    fn view_shortcuts(&mut self, ctx: &egui::Context) {
        for (view, key) in View::ALL.into_iter().zip(VIEW_KEYS) {
            let shortcut = KeyboardShortcut::new(Modifiers::COMMAND, key);
            if ctx.input_mut(|i| i.consume_shortcut(&shortcut)) {
                self.commands.push(Command::ShowView(view));
            }
        }
    }

    /// Esc on the Settings view (with no dialog open and no text being edited) goes back
    /// to the view Settings was opened from. Dialogs take their Esc first.
    fn escape_leaves_settings(&mut self, ctx: &egui::Context) {
        if self.view() != View::Settings || self.ui_state.was_typing {
            return;
        }
        if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Escape)) {
            self.commands
                .push(Command::ShowView(self.ui_state.before_settings));
        }
    }
}

/// Tells the user what a drop will do while files hover over the window.
fn drop_overlay(ctx: &egui::Context) {
    let hovering = ctx.input(|i| !i.raw.hovered_files.is_empty());
    if !hovering {
        return;
    }
    let painter = ctx.layer_painter(egui::LayerId::new(
        egui::Order::Foreground,
        egui::Id::unique("drop_overlay"),
    ));
    let rect = ctx.content_rect();
    painter.rect_filled(rect, 0.0, Color32::from_black_alpha(170));
    painter.text(
        rect.center() - vec2(0.0, 10.0),
        egui::Align2::CENTER_CENTER,
        format!(
            "Drop a {} file to download it, or other files to use them as seeds",
            extensions_of(formats_opened_locally())
        ),
        egui::FontId::proportional(18.0),
        Color32::WHITE,
    );
}
