//! The Settings' sections for servers behind a login: the sign-ins remembered (with
//! Remove), headers and tokens per host (with presets that say which header a server
//! wants), the proxy's user and password, and client certificates per host. Secrets are
//! typed into masked fields and go to the credential store; nothing here shows one.

use egui::{RichText, Ui};

use crate::access::{PRESETS, SavedHeader, Secret};
use crate::gui::app::DeltadropApp;
use crate::gui::command::Command;

impl DeltadropApp {
    pub(super) fn access_settings(&mut self, ui: &mut Ui) {
        self.sign_ins_section(ui);
        ui.add_space(8.0);
        self.headers_section(ui);
        ui.add_space(8.0);
        self.proxy_section(ui);
        ui.add_space(8.0);
        self.client_certs_section(ui);
    }

    fn sign_ins_section(&mut self, ui: &mut Ui) {
        ui.strong("Sign-ins");
        let saved = &self.access.saved.sign_ins;
        let session = &self.access.session.sign_ins;
        if saved.is_empty() && session.is_empty() {
            ui.label(
                RichText::new(
                    "None. A server that asks for a sign-in opens a dialog; \
                     deltadrop-cli login HOST saves one too.",
                )
                .weak(),
            );
        }
        for sign_in in saved {
            ui.horizontal(|ui| {
                ui.label(format!("{}: {}", sign_in.host, sign_in.user));
                if ui.button("Remove").clicked() {
                    self.commands
                        .push(Command::RemoveSignIn(sign_in.host.clone()));
                }
            });
        }
        for sign_in in session
            .iter()
            .filter(|s| !saved.iter().any(|v| v.host == s.host))
        {
            ui.horizontal(|ui| {
                ui.label(format!(
                    "{}: {} (this session only)",
                    sign_in.host, sign_in.user
                ));
                if ui.button("Remove").clicked() {
                    self.commands
                        .push(Command::RemoveSignIn(sign_in.host.clone()));
                }
            });
        }
    }

    fn headers_section(&mut self, ui: &mut Ui) {
        ui.strong("Headers and tokens");
        for header in &self.access.saved.headers {
            ui.horizontal(|ui| {
                let value = match (&header.value, header.secret) {
                    (Some(value), false) => value.as_str(),
                    _ => "(in the credential store)",
                };
                ui.label(format!("{}: {}: {value}", header.host, header.name));
                if ui.button("Remove").clicked() {
                    self.commands.push(Command::RemoveHeader {
                        host: header.host.clone(),
                        name: header.name.clone(),
                    });
                }
            });
        }
        let form = &mut self.ui_state.access_form;
        egui::Grid::new("add_header").num_columns(2).show(ui, |ui| {
            let label = ui.label("Host");
            ui.add(egui::TextEdit::singleline(&mut form.header_host).hint_text("builds.example"))
                .labelled_by(label.id);
            ui.end_row();
            let label = ui.label("Server");
            let chosen = form
                .preset
                .map_or("Another (a header of your own)", |i| PRESETS[i].name);
            egui::ComboBox::from_id_salt("preset")
                .selected_text(chosen)
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut form.preset, None, "Another (a header of your own)");
                    for (i, preset) in PRESETS.iter().enumerate() {
                        ui.selectable_value(&mut form.preset, Some(i), preset.name);
                    }
                })
                .response
                .labelled_by(label.id);
            ui.end_row();
            match form.preset {
                Some(i) => {
                    ui.label("");
                    let names: Vec<&str> = PRESETS[i].headers.iter().map(|h| h.name).collect();
                    ui.label(
                        RichText::new(format!("Sets {}. {}", names.join(" and "), PRESETS[i].note))
                            .weak(),
                    );
                    ui.end_row();
                }
                None => {
                    let label = ui.label("Header");
                    ui.add(
                        egui::TextEdit::singleline(&mut form.header_name)
                            .hint_text("PRIVATE-TOKEN"),
                    )
                    .labelled_by(label.id);
                    ui.end_row();
                    ui.label("");
                    ui.checkbox(&mut form.header_secret, "It holds a secret (a token)");
                    ui.end_row();
                }
            }
            let label = ui.label(if form.preset.is_some() {
                "Token"
            } else {
                "Value"
            });
            let masked = form.preset.is_some() || form.header_secret;
            ui.add(egui::TextEdit::singleline(&mut form.header_value).password(masked))
                .labelled_by(label.id);
            ui.end_row();
        });
        if ui.button("Add header").clicked() {
            match headers_from_form(form) {
                Ok(headers) => {
                    form.header_value.clear();
                    self.commands.push(Command::AddHeaders(headers));
                }
                Err(message) => self.commands.push(Command::ShowMessage(message)),
            }
        }
    }

    fn proxy_section(&mut self, ui: &mut Ui) {
        ui.strong("Proxy");
        let has_password = super::super::access::proxy_host(&self.persisted.settings)
            .map(crate::access::SecretKey::Proxy)
            .is_some_and(|key| self.access.secrets.get(&key).is_some());
        let settings = &mut self.persisted.settings;
        let form = &mut self.ui_state.access_form;
        let mut save_password = false;
        egui::Grid::new("proxy").num_columns(2).show(ui, |ui| {
            let label = ui.label("Proxy");
            ui.add(
                egui::TextEdit::singleline(&mut settings.proxy)
                    .hint_text("empty: the system's (http_proxy…)"),
            )
            .labelled_by(label.id);
            ui.end_row();
            let label = ui.label("Proxy user");
            ui.add(egui::TextEdit::singleline(&mut settings.proxy_user).hint_text("none"))
                .labelled_by(label.id);
            ui.end_row();
            let label = ui.label("Proxy password");
            ui.horizontal(|ui| {
                ui.add(
                    egui::TextEdit::singleline(&mut form.proxy_password)
                        .password(true)
                        .hint_text(if has_password { "saved" } else { "" }),
                )
                .labelled_by(label.id);
                save_password = ui.button("Save password").clicked();
            });
            ui.end_row();
        });
        if save_password && !form.proxy_password.is_empty() {
            let password = Secret::new(std::mem::take(&mut form.proxy_password));
            self.commands.push(Command::SaveProxyPassword(password));
        }
        ui.label(
            RichText::new(
                "Basic sign-in only (no NTLM or Kerberos); a PAC file is not read: give the \
                 proxy it names.",
            )
            .weak(),
        );
    }

    fn client_certs_section(&mut self, ui: &mut Ui) {
        ui.strong("Client certificates");
        for cert in &self.access.saved.client_certs {
            ui.horizontal(|ui| {
                ui.label(format!("{}: {}", cert.host, cert.path.display()));
                if ui.button("Remove").clicked() {
                    self.commands
                        .push(Command::RemoveClientCert(cert.host.clone()));
                }
            });
        }
        let form = &mut self.ui_state.access_form;
        let mut browse = false;
        egui::Grid::new("add_cert").num_columns(2).show(ui, |ui| {
            let label = ui.label("Certificate host");
            ui.add(egui::TextEdit::singleline(&mut form.cert_host).hint_text("secure.example"))
                .labelled_by(label.id);
            ui.end_row();
            let label = ui.label("Certificate file");
            ui.horizontal(|ui| {
                ui.add(
                    egui::TextEdit::singleline(&mut form.cert_path)
                        .hint_text("PEM (certificate and key) or PKCS#12"),
                )
                .labelled_by(label.id);
                browse = ui.button("Browse…").clicked();
            });
            ui.end_row();
            let label = ui.label("PKCS#12 password");
            ui.add(
                egui::TextEdit::singleline(&mut form.cert_password)
                    .password(true)
                    .hint_text("none"),
            )
            .labelled_by(label.id);
            ui.end_row();
        });
        if browse {
            self.commands.push(Command::BrowseClientCert);
        }
        if ui.button("Add certificate").clicked() {
            let host = form.cert_host.trim().to_string();
            let path = form.cert_path.trim().to_string();
            if host.is_empty() || path.is_empty() {
                self.commands.push(Command::ShowMessage(
                    "Give the host the certificate is for and its file.".into(),
                ));
            } else {
                let password = std::mem::take(&mut form.cert_password);
                self.commands.push(Command::AddClientCert {
                    host,
                    path: path.into(),
                    password: (!password.is_empty()).then(|| Secret::new(password)),
                });
                form.cert_path.clear();
            }
        }
    }
}

/// The headers the form describes, checked as the engine reads them; the message says
/// what is missing (never the value).
fn headers_from_form(
    form: &crate::gui::access::AccessForm,
) -> Result<Vec<(SavedHeader, Option<Secret>)>, String> {
    let host = form.header_host.trim();
    let value = form.header_value.trim();
    if host.is_empty() || value.is_empty() {
        return Err("Give the host and the token (or value) for the header.".into());
    }
    let wanted: Vec<(String, String, bool)> = match form.preset {
        Some(i) => PRESETS[i]
            .headers
            .iter()
            .map(|h| (h.name.to_string(), h.value_with(value), h.carries_token))
            .collect(),
        None => vec![(
            form.header_name.trim().to_string(),
            value.to_string(),
            form.header_secret,
        )],
    };
    wanted
        .into_iter()
        .map(|(name, value, secret)| {
            format!("{host}={name}: {value}")
                .parse::<deltadrop_core::HostHeader>()
                .map_err(|e| e.to_string())?;
            let header = SavedHeader {
                host: host.to_string(),
                name,
                secret,
                value: (!secret).then(|| value.clone()),
            };
            Ok((header, secret.then(|| Secret::new(value))))
        })
        .collect()
}
