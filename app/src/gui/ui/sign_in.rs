//! The sign-in dialog: opened when a job is asked for a sign-in (`401`, or `407` from
//! the proxy in the settings). It names the host and the realm, asks for a user and
//! password (or a token, for a server that wants one) and offers to remember them in
//! the system's credential store. Enter signs in; Esc or Cancel closes it.

use egui::{Key, RichText, Ui};

use crate::access::Secret;
use crate::gui::access::{SignInAnswer, SignInForm};
use crate::gui::app::DeltadropApp;
use crate::gui::command::Command;

use super::error_colour;

impl DeltadropApp {
    pub(super) fn sign_in_dialog(&mut self, ctx: &egui::Context) {
        let Some(form) = &mut self.ui_state.sign_in else {
            return;
        };
        let mut submit = false;
        let mut cancel = false;
        let modal = egui::Modal::new(egui::Id::unique("sign_in")).show(ctx, |ui| {
            ui.set_max_width(440.0);
            (submit, cancel) = sign_in_fields(ui, form);
        });
        let ready = !form.secret.is_empty() && (form.bearer || !form.user.trim().is_empty());
        if submit && ready {
            let answer = SignInAnswer {
                host: form.host.clone(),
                proxy: form.proxy,
                bearer: form.bearer,
                user: form.user.trim().to_string(),
                secret: Secret::new(std::mem::take(&mut form.secret)),
                remember: form.remember,
                retry: Box::new(form.retry.clone()),
            };
            self.commands.push(Command::SignIn(answer));
        } else if cancel || modal.should_close() {
            self.commands.push(Command::CancelSignIn);
        }
    }
}

/// The dialog's content; whether Sign in (or Enter) or Cancel was given.
fn sign_in_fields(ui: &mut Ui, form: &mut SignInForm) -> (bool, bool) {
    let who = if form.proxy {
        format!("the proxy {}", form.host)
    } else {
        form.host.clone()
    };
    ui.heading(format!("Sign in to {who}"));
    match &form.realm {
        Some(realm) => ui.label(format!(
            "{who} asks for a sign-in for \u{201c}{realm}\u{201d}."
        )),
        None => ui.label(format!("{who} asks for a sign-in.")),
    };
    if let Some(refused) = &form.refused {
        ui.colored_label(error_colour(ui), refused);
    }
    let mut enter = false;
    egui::Grid::new("sign_in_fields")
        .num_columns(2)
        .show(ui, |ui| {
            if !form.bearer {
                let label = ui.label("User");
                let user = ui
                    .add(egui::TextEdit::singleline(&mut form.user).desired_width(260.0))
                    .labelled_by(label.id);
                if !form.shown && form.user.is_empty() {
                    user.request_focus();
                }
                enter |= user.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
                ui.end_row();
            }
            let name = if form.bearer { "Token" } else { "Password" };
            let label = ui.label(name);
            let secret = ui
                .add(
                    egui::TextEdit::singleline(&mut form.secret)
                        .password(true)
                        .desired_width(260.0),
                )
                .labelled_by(label.id);
            if !form.shown && (form.bearer || !form.user.is_empty()) {
                secret.request_focus();
            }
            enter |= secret.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
            ui.end_row();
        });
    ui.checkbox(
        &mut form.remember,
        "Remember (in the system's credential store)",
    );
    ui.label(RichText::new("Sent only to this host. Settings lists what is remembered.").weak());
    form.shown = true;
    let mut submit = enter;
    let mut cancel = false;
    ui.horizontal(|ui| {
        submit |= ui.button("Sign in").clicked();
        cancel = ui.button("Cancel").clicked();
    });
    (submit, cancel)
}
