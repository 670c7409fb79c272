//! The app's side of servers behind a login: what is saved (the list shared with the
//! command line, see [`crate::access`]), the secrets read from the credential store and
//! those given for this session only, and the work on the store, which is all done on
//! worker threads (a locked keyring may wait for its password in a prompt).
//!
//! At start the list is read and, if it names anything, a worker reads the secrets;
//! until they are in, a download waits and the follows are not checked, so no job runs
//! without a sign-in it has. A sign-in given in the dialog is used at once; "Remember"
//! files it in the store, and the list, on a worker.

use std::path::PathBuf;

use deltadrop_core::{Error, JobOptions};

use super::app::{DeltadropApp, RunKind};
use super::command::Command;
use super::persist::Settings;
use super::worker::Workers;
use crate::access::{
    SavedAccess, SavedHeader, Secret, SecretKey, SecretStore, Secrets, apply, load_secrets,
    proxy_with_sign_in, saved_access_path, split_credentials,
};

/// Where the app keeps what it saves: the list's file and the credential store (tests
/// give their own).
#[derive(Clone)]
pub struct AccessSetup {
    /// `None`: the list is kept in memory only.
    pub list: Option<PathBuf>,
    pub store: SecretStore,
}

impl AccessSetup {
    /// The list shared with `deltadrop-cli`, and the OS's credential store.
    pub fn system() -> Self {
        AccessSetup {
            list: saved_access_path(),
            store: SecretStore::system(),
        }
    }

    /// `store` with the list in `list` (or in memory).
    pub fn with(store: SecretStore, list: Option<PathBuf>) -> Self {
        AccessSetup { list, store }
    }
}

/// What the app knows of sign-ins, headers, certificates and the proxy's password.
pub struct AccessState {
    pub setup: AccessSetup,
    /// As saved in the list.
    pub saved: SavedAccess,
    /// Given for this session only (not remembered, or the store failed).
    pub session: SavedAccess,
    /// Every secret known: read from the store, and given this session.
    pub secrets: Secrets,
    /// The secrets of the list have been read (or failed to be).
    pub loaded: bool,
}

/// The proxy's host in the settings, whose password is filed under it.
pub fn proxy_host(settings: &Settings) -> Option<String> {
    let proxy = settings.proxy.trim();
    if proxy.is_empty() {
        return None;
    }
    let with_scheme = if proxy.contains("://") {
        proxy.to_string()
    } else {
        format!("http://{proxy}")
    };
    url::Url::parse(&with_scheme)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
}

impl AccessState {
    /// Reads the list and has a worker read its secrets (and the proxy's password).
    /// What cannot be read is said with [`Command::ShowMessage`].
    pub fn start(setup: AccessSetup, settings: &Settings, workers: &Workers) -> Self {
        let (saved, problem) = match &setup.list {
            Some(path) => match SavedAccess::load(path) {
                Ok(saved) => (saved, None),
                Err(err) => (SavedAccess::default(), Some(err)),
            },
            None => (SavedAccess::default(), None),
        };
        let proxy_key = (!settings.proxy_user.is_empty())
            .then(|| proxy_host(settings))
            .flatten()
            .map(SecretKey::Proxy);
        let mut state = AccessState {
            setup,
            saved,
            session: SavedAccess::default(),
            secrets: Secrets::default(),
            loaded: false,
        };
        if let Some(problem) = problem {
            workers.reporter().send(Command::ShowMessage(problem));
        }
        if state.saved.is_empty() && proxy_key.is_none() {
            state.loaded = true;
            return state;
        }
        let (saved, store) = (state.saved.clone(), state.setup.store.clone());
        workers.spawn("credentials", move |r| {
            let (mut secrets, mut problems) = load_secrets(&saved, &store);
            if let Some(key) = proxy_key {
                match store.get(&key) {
                    Ok(Some(password)) => secrets.insert(key, password),
                    Ok(None) => {}
                    Err(err) if problems.is_empty() => problems.push(err.to_string()),
                    Err(_) => {}
                }
            }
            r.send(Command::AccessLoaded { secrets, problems });
        });
        state
    }

    /// Puts every sign-in, header and certificate known into `options`, and the proxy's
    /// user and password into its URL. Those of this session win.
    pub fn apply(&self, settings: &Settings, options: &mut JobOptions) {
        apply(&self.session, &self.secrets, options);
        apply(&self.saved, &self.secrets, options);
        let user = settings.proxy_user.trim();
        if let (Some(proxy), false) = (&options.proxy, user.is_empty()) {
            let password = proxy_host(settings)
                .and_then(|host| self.secrets.get(&SecretKey::Proxy(host)).cloned());
            if let Some(password) = password
                && let Ok(with_sign_in) = proxy_with_sign_in(proxy, user, password.expose())
            {
                options.proxy = Some(with_sign_in);
            }
        }
    }

    /// Files `secrets` in the store and changes the list as `change` says, on a worker;
    /// reports [`Command::AccessSaved`]. If the store fails, the list is left as it is
    /// and the message ends with `if_failed`.
    pub fn save(
        &self,
        workers: &Workers,
        secrets: Vec<(SecretKey, String)>,
        change: impl FnOnce(&mut SavedAccess) + Send + 'static,
        if_failed: String,
    ) {
        self.on_worker(
            workers,
            move |store| {
                for (key, secret) in &secrets {
                    store.set(key, secret).map_err(|e| e.to_string())?;
                }
                Ok(())
            },
            change,
            if_failed,
        );
    }

    /// Deletes `keys` from the store and changes the list, on a worker.
    pub fn forget(
        &self,
        workers: &Workers,
        keys: Vec<SecretKey>,
        change: impl FnOnce(&mut SavedAccess) + Send + 'static,
        if_failed: String,
    ) {
        self.on_worker(
            workers,
            move |store| {
                for key in &keys {
                    store.delete(key).map_err(|e| e.to_string())?;
                }
                Ok(())
            },
            change,
            if_failed,
        );
    }

    fn on_worker(
        &self,
        workers: &Workers,
        in_store: impl FnOnce(&SecretStore) -> Result<(), String> + Send + 'static,
        change: impl FnOnce(&mut SavedAccess) + Send + 'static,
        if_failed: String,
    ) {
        let store = self.setup.store.clone();
        let list = self.setup.list.clone();
        let mut in_memory = self.saved.clone();
        workers.spawn("credentials", move |r| {
            let saved = in_store(&store)
                .map_err(|err| format!("{err}; {if_failed}"))
                .and_then(|()| match &list {
                    Some(path) => SavedAccess::update(path, change),
                    None => {
                        change(&mut in_memory);
                        Ok(in_memory)
                    }
                });
            r.send(Command::AccessSaved(saved));
        });
    }
}

/// The sign-in dialog: who asks, and what the user types.
#[derive(Debug, Clone, PartialEq)]
pub struct SignInForm {
    /// The server's host, or the proxy's.
    pub host: String,
    pub realm: Option<String>,
    /// The proxy asks (`407`).
    pub proxy: bool,
    /// The server wants a token (`WWW-Authenticate: Bearer`), not a user and password.
    pub bearer: bool,
    /// The engine's message when the sign-in sent was refused.
    pub refused: Option<String>,
    pub user: String,
    pub secret: String,
    pub remember: bool,
    /// What "Sign in" runs again.
    pub retry: Command,
    /// Drawn once already (the first field to type in has been given the keyboard).
    pub shown: bool,
}

impl SignInForm {
    /// The dialog for a job that failed with `error`, if it asks for a sign-in: a `401`,
    /// or a `407` from the proxy in the settings (the system's proxy is set up outside
    /// the app). `user` is the one saved for the host, if any.
    pub fn for_error(
        error: &deltadrop_core::Error,
        settings: &Settings,
        saved_user: impl Fn(&str) -> Option<String>,
        retry: Command,
    ) -> Option<SignInForm> {
        let deltadrop_core::Error::Access {
            host,
            status,
            scheme,
            realm,
            signed_in,
            ..
        } = error
        else {
            return None;
        };
        let proxy = match status {
            401 => false,
            407 if proxy_host(settings).is_some() => true,
            _ => return None,
        };
        let user = if proxy {
            settings.proxy_user.clone()
        } else {
            saved_user(host).unwrap_or_default()
        };
        Some(SignInForm {
            host: if proxy {
                proxy_host(settings).unwrap_or_else(|| host.clone())
            } else {
                host.clone()
            },
            realm: realm.clone(),
            proxy,
            bearer: scheme
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("bearer")),
            refused: signed_in.then(|| error.to_string()),
            user,
            secret: String::new(),
            remember: true,
            retry,
            shown: false,
        })
    }
}

/// What the dialog's "Sign in" gives.
#[derive(Debug, Clone, PartialEq)]
pub struct SignInAnswer {
    pub host: String,
    pub proxy: bool,
    pub bearer: bool,
    pub user: String,
    pub secret: crate::access::Secret,
    pub remember: bool,
    pub retry: Box<Command>,
}

/// What the Settings' forms for headers, certificates and the proxy's password hold
/// while they are filled in.
#[derive(Debug, Clone, Default)]
pub struct AccessForm {
    pub header_host: String,
    /// The preset chosen (an index into [`crate::access::PRESETS`]); `None`: a header
    /// of the user's own.
    pub preset: Option<usize>,
    pub header_name: String,
    pub header_value: String,
    pub header_secret: bool,
    pub cert_host: String,
    pub cert_path: String,
    pub cert_password: String,
    pub proxy_password: String,
}

impl DeltadropApp {
    /// Opens the sign-in dialog for a job that failed with `error`, if it asks for a
    /// sign-in and no dialog is open. A follow's check (`asked_by_user` false) does not
    /// ask again for a host whose dialog was cancelled this session.
    pub(super) fn ask_to_sign_in(&mut self, error: &Error, retry: Command, asked_by_user: bool) {
        if self.ui_state.sign_in.is_some() {
            return;
        }
        let saved = &self.access.saved;
        let session = &self.access.session;
        let saved_user = |host: &str| {
            session
                .user_for(host)
                .or_else(|| saved.user_for(host))
                .map(str::to_string)
        };
        let Some(form) = SignInForm::for_error(error, &self.persisted.settings, saved_user, retry)
        else {
            return;
        };
        if asked_by_user || !self.ui_state.declined_sign_ins.contains(&form.host) {
            self.ui_state.sign_in = Some(form);
        }
    }

    /// Uses a sign-in for `host` from now on, and remembers it in the store.
    pub(super) fn remember_sign_in(&mut self, host: &str, user: &str, password: &str) {
        let key = SecretKey::SignIn(host.to_string());
        self.access
            .secrets
            .insert(key.clone(), Secret::new(password));
        self.access.session.put_sign_in(host, user);
        let (host, user) = (host.to_string(), user.to_string());
        let if_failed = format!("the sign-in for {host} is used for this session only");
        self.access.save(
            &self.workers,
            vec![(key, password.to_string())],
            move |list| list.put_sign_in(&host, &user),
            if_failed,
        );
    }

    /// A follow saved with `user:password@` in its URL (as older versions did) keeps
    /// the URL without it; the password goes to the credential store.
    pub(super) fn move_follow_passwords_to_the_store(&mut self) {
        let mut moved = Vec::new();
        for follow in &mut self.persisted.follows {
            if let Some((url, credentials)) = split_credentials(&follow.url) {
                follow.url = url;
                moved.push(credentials);
            }
        }
        for c in moved {
            self.remember_sign_in(&c.host, &c.user, &c.password);
        }
    }

    /// The dialog's answer: used at once, remembered if asked, and the job run again.
    fn sign_in(&mut self, ctx: &egui::Context, answer: SignInAnswer) {
        self.ui_state.sign_in = None;
        let SignInAnswer {
            host,
            proxy,
            bearer,
            user,
            secret,
            remember,
            retry,
        } = answer;
        let session_only = format!("the sign-in for {host} is used for this session only");
        if proxy {
            self.persisted.settings.proxy_user = user;
            let key = SecretKey::Proxy(host);
            self.access.secrets.insert(key.clone(), secret.clone());
            if remember {
                let stored = vec![(key, secret.expose().to_string())];
                self.access
                    .save(&self.workers, stored, |_| {}, session_only);
            }
        } else if bearer {
            let header = SavedHeader {
                host,
                name: "Authorization".into(),
                secret: true,
                value: None,
            };
            let value = format!("Bearer {}", secret.expose().trim());
            self.access
                .secrets
                .insert(header.key(), Secret::new(value.clone()));
            self.access.session.put_header(header.clone());
            if remember {
                let stored = vec![(header.key(), value)];
                let change = move |list: &mut SavedAccess| list.put_header(header);
                self.access
                    .save(&self.workers, stored, change, session_only);
            }
        } else if remember {
            self.remember_sign_in(&host, &user, secret.expose());
        } else {
            let key = SecretKey::SignIn(host.clone());
            self.access.secrets.insert(key, secret);
            self.access.session.put_sign_in(&host, &user);
        }
        self.run_command(ctx, *retry);
    }

    /// The commands about sign-ins, headers, certificates and the proxy's password.
    pub(super) fn run_access_command(&mut self, ctx: &egui::Context, command: Command) {
        match command {
            Command::AccessLoaded { secrets, problems } => {
                // What was given meanwhile wins over what was saved.
                let given = std::mem::replace(&mut self.access.secrets, secrets);
                self.access.secrets.extend(given);
                self.access.loaded = true;
                if !problems.is_empty() {
                    self.ui_state.message = Some(problems.join("\n"));
                }
                match self.ui_state.pending_start.take() {
                    Some(RunKind::Plan) => self.run_command(ctx, Command::Plan),
                    Some(RunKind::Download) => self.run_command(ctx, Command::Start),
                    None => {}
                }
            }
            Command::AccessSaved(Ok(saved)) => self.access.saved = saved,
            Command::AccessSaved(Err(message)) => self.ui_state.message = Some(message),
            Command::SignIn(answer) => self.sign_in(ctx, answer),
            Command::CancelSignIn => {
                if let Some(form) = self.ui_state.sign_in.take() {
                    self.ui_state.declined_sign_ins.push(form.host);
                }
            }
            Command::RemoveSignIn(host) => {
                let key = SecretKey::SignIn(host.clone());
                self.access.secrets.remove(&key);
                self.access.session.sign_ins.retain(|s| s.host != host);
                let if_failed = format!("the sign-in for {host} is still saved");
                let change = move |list: &mut SavedAccess| list.sign_ins.retain(|s| s.host != host);
                self.access
                    .forget(&self.workers, vec![key], change, if_failed);
            }
            Command::RemoveHeader { host, name } => {
                let header = SavedHeader {
                    host: host.clone(),
                    name: name.clone(),
                    secret: true,
                    value: None,
                };
                self.access.secrets.remove(&header.key());
                let same = move |h: &SavedHeader| h.host == host && h.name == name;
                self.access.session.headers.retain(|h| !same(h));
                let if_failed = format!("the header {} is still saved", header.name);
                let change = move |list: &mut SavedAccess| list.headers.retain(|h| !same(h));
                self.access
                    .forget(&self.workers, vec![header.key()], change, if_failed);
            }
            Command::RemoveClientCert(host) => {
                let key = SecretKey::ClientCert(host.clone());
                self.access.secrets.remove(&key);
                let if_failed = format!("the certificate for {host} is still saved");
                let change =
                    move |list: &mut SavedAccess| list.client_certs.retain(|c| c.host != host);
                self.access
                    .forget(&self.workers, vec![key], change, if_failed);
            }
            Command::AddHeaders(headers) => {
                let mut stored = Vec::new();
                for (header, value) in &headers {
                    if let Some(value) = value {
                        self.access.secrets.insert(header.key(), value.clone());
                        stored.push((header.key(), value.expose().to_string()));
                    }
                }
                let change = move |list: &mut SavedAccess| {
                    for (header, _) in headers {
                        list.put_header(header);
                    }
                };
                let if_failed = "the headers were not saved".to_string();
                self.access.save(&self.workers, stored, change, if_failed);
            }
            Command::AddClientCert {
                host,
                path,
                password,
            } => {
                let key = SecretKey::ClientCert(host.clone());
                let mut stored = Vec::new();
                if let Some(password) = password {
                    self.access.secrets.insert(key.clone(), password.clone());
                    stored.push((key, password.expose().to_string()));
                }
                let change = move |list: &mut SavedAccess| list.put_client_cert(&host, &path);
                let if_failed = "the certificate was not saved".to_string();
                self.access.save(&self.workers, stored, change, if_failed);
            }
            Command::BrowseClientCert => {
                let dialog = rfd::AsyncFileDialog::new()
                    .set_title("Choose a client certificate")
                    .add_filter("PEM or PKCS#12", &["pem", "crt", "p12", "pfx"])
                    .pick_file();
                self.workers.dialog(dialog, |f| {
                    Command::SetClientCertPath(f.path().to_path_buf())
                });
            }
            Command::SetClientCertPath(path) => {
                self.ui_state.access_form.cert_path = path.display().to_string();
            }
            Command::SaveProxyPassword(password) => {
                let Some(host) = proxy_host(&self.persisted.settings) else {
                    self.ui_state.message =
                        Some("Enter the proxy's URL first, then its password.".into());
                    return;
                };
                let key = SecretKey::Proxy(host);
                self.access.secrets.insert(key.clone(), password.clone());
                let stored = vec![(key, password.expose().to_string())];
                let if_failed = "the proxy's password is used for this session only".into();
                self.access.save(&self.workers, stored, |_| {}, if_failed);
            }
            // Every other command is the app's own (run_command).
            _ => {}
        }
    }
}
