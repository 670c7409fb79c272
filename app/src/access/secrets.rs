//! The OS's credential store, behind [`SecretStore`]: keyring-core's API over the native
//! store chosen per OS (Windows Credential Manager, the macOS login Keychain, the Secret
//! Service over D-Bus on Linux and the BSDs), or keyring-core's in-memory mock in tests.
//!
//! Every entry is under the service `deltadrop`, named by what it is for
//! ([`SecretKey::entry_name`]). A store can be missing (no Secret Service on a server)
//! or hang (a locked keyring waiting for its password in a prompt): the store is opened
//! at its first use, which the app makes on a worker thread, and every call gives up
//! after [`PATIENCE`], so neither the window nor a scheduled `deltadrop-cli` waits for
//! ever.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use keyring_core::{CredentialStore, Entry};

/// The service every entry of ours is filed under.
pub const SERVICE: &str = "deltadrop";

/// How long a call into the store may take before we say it does not answer: a locked
/// keyring's unlock prompt is answered well within it.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// What a secret is for; its entry's name in the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretKey {
    /// The password of the sign-in for a host (its user is in [`super::SavedAccess`]).
    SignIn(String),
    /// The value of a header sent to a host (a token).
    Header { host: String, name: String },
    /// The password for a proxy, by its host.
    Proxy(String),
    /// The password of a host's PKCS#12 client certificate.
    ClientCert(String),
}

impl SecretKey {
    /// The entry's user name under [`SERVICE`], as the OS's credential manager shows it.
    pub fn entry_name(&self) -> String {
        match self {
            SecretKey::SignIn(host) => host.clone(),
            SecretKey::Header { host, name } => format!("{host} header {name}"),
            SecretKey::Proxy(host) => format!("proxy {host}"),
            SecretKey::ClientCert(host) => format!("client-cert {host}"),
        }
    }
}

/// A password or token. Its `Debug` never shows it: commands and options that carry one
/// may be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself, for the request that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(hidden)")
    }
}

/// Secrets read from the store (or given for this session only), by what they are for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets(HashMap<SecretKey, Secret>);

impl Secrets {
    pub fn get(&self, key: &SecretKey) -> Option<&Secret> {
        self.0.get(key)
    }
    pub fn insert(&mut self, key: SecretKey, secret: Secret) {
        self.0.insert(key, secret);
    }
    pub fn remove(&mut self, key: &SecretKey) {
        self.0.remove(key);
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Adds (and replaces with) every secret of `other`.
    pub fn extend(&mut self, other: Secrets) {
        self.0.extend(other.0);
    }
}

/// Why the store could not do what was asked; its message says so and never holds a
/// secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

fn not_available(detail: impl std::fmt::Display) -> StoreError {
    StoreError(format!(
        "the system's credential store is not available: {detail}"
    ))
}

type Opener = Box<dyn Fn() -> Result<Arc<CredentialStore>, String> + Send + Sync>;

struct Inner {
    open: Opener,
    opened: OnceLock<Result<Arc<CredentialStore>, String>>,
}

/// The credential store: the OS's ([`SecretStore::system`]) or an in-memory one
/// ([`SecretStore::in_memory`], for tests). Cheap to clone; opened at its first use.
/// Calls block (up to [`PATIENCE`]): make them off the UI thread.
#[derive(Clone)]
pub struct SecretStore {
    inner: Arc<Inner>,
}

impl SecretStore {
    /// The OS's own store.
    pub fn system() -> Self {
        Self::opening(native_store)
    }

    /// keyring-core's mock store: in memory, for this process only.
    pub fn in_memory() -> Self {
        let store: Arc<CredentialStore> =
            keyring_core::mock::Store::new().expect("the mock store always opens");
        Self::opening(move || Ok(store.clone()))
    }

    /// A store that cannot be opened, for `why` (tests of what the user is told).
    pub fn unavailable(why: &str) -> Self {
        let why = why.to_string();
        Self::opening(move || Err(why.clone()))
    }

    fn opening(
        open: impl Fn() -> Result<Arc<CredentialStore>, String> + Send + Sync + 'static,
    ) -> Self {
        SecretStore {
            inner: Arc::new(Inner {
                open: Box::new(open),
                opened: OnceLock::new(),
            }),
        }
    }

    /// The secret filed under `key`, if there is one.
    pub fn get(&self, key: &SecretKey) -> Result<Option<Secret>, StoreError> {
        self.with_entry(key, |entry| match entry.get_password() {
            Ok(password) => Ok(Some(Secret::new(password))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(err) => Err(store_error(err)),
        })
    }

    /// Files `secret` under `key`, replacing what was there.
    pub fn set(&self, key: &SecretKey, secret: &str) -> Result<(), StoreError> {
        let secret = secret.to_string();
        self.with_entry(key, move |entry| {
            entry.set_password(&secret).map_err(store_error)
        })
    }

    /// Removes what is filed under `key`; nothing there is no error.
    pub fn delete(&self, key: &SecretKey) -> Result<(), StoreError> {
        self.with_entry(key, |entry| match entry.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(err) => Err(store_error(err)),
        })
    }

    /// Runs `call` on the entry for `key` on a thread of its own, giving up after
    /// [`PATIENCE`] (the thread is left to finish when the store answers).
    fn with_entry<T: Send + 'static>(
        &self,
        key: &SecretKey,
        call: impl FnOnce(&Entry) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        let name = key.entry_name();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("deltadrop-credentials".into())
            .spawn(move || {
                let result = match inner.opened.get_or_init(|| (inner.open)()) {
                    Ok(store) => Entry::new_in_store(store, SERVICE, &name)
                        .map_err(store_error)
                        .and_then(|entry| call(&entry)),
                    Err(why) => Err(not_available(why)),
                };
                let _ = tx.send(result);
            })
            .map_err(|e| not_available(format!("could not start a thread ({e})")))?;
        rx.recv_timeout(PATIENCE).unwrap_or_else(|_| {
            Err(not_available(format!(
                "it did not answer within {} s (is it locked, waiting for its password?)",
                PATIENCE.as_secs()
            )))
        })
    }
}

/// What keyring-core's error means for the user. Its `Display` names no secret (a bad
/// encoding's bytes are only in the variant, which is not shown).
fn store_error(err: keyring_core::Error) -> StoreError {
    match err {
        keyring_core::Error::TooLong(what, limit) => StoreError(format!(
            "the system's credential store keeps at most {limit} characters of the {what}: \
             this one is longer"
        )),
        keyring_core::Error::BadEncoding(_) => {
            StoreError("a saved secret is not text: save it again".into())
        }
        err => not_available(err),
    }
}

#[cfg(target_os = "windows")]
fn native_store() -> Result<Arc<CredentialStore>, String> {
    let store: Arc<CredentialStore> =
        windows_native_keyring_store::Store::new().map_err(|e| e.to_string())?;
    Ok(store)
}

#[cfg(target_os = "macos")]
fn native_store() -> Result<Arc<CredentialStore>, String> {
    let store: Arc<CredentialStore> =
        apple_native_keyring_store::keychain::Store::new().map_err(|e| e.to_string())?;
    Ok(store)
}

#[cfg(all(unix, not(target_os = "macos")))]
fn native_store() -> Result<Arc<CredentialStore>, String> {
    let store: Arc<CredentialStore> =
        zbus_secret_service_keyring_store::Store::new().map_err(|e| {
            format!("no Secret Service (GNOME Keyring, KWallet) answers on the session bus ({e})")
        })?;
    Ok(store)
}

#[cfg(not(any(unix, windows)))]
fn native_store() -> Result<Arc<CredentialStore>, String> {
    Err("this system has none deltadrop knows".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_filed_by_what_they_are_for_and_removed() {
        let store = SecretStore::in_memory();
        let sign_in = SecretKey::SignIn("h.example".into());
        let token = SecretKey::Header {
            host: "h.example".into(),
            name: "PRIVATE-TOKEN".into(),
        };
        assert_eq!(store.get(&sign_in).unwrap(), None);
        store.set(&sign_in, "pw").unwrap();
        store.set(&token, "tok").unwrap();
        assert_eq!(store.get(&sign_in).unwrap(), Some(Secret::new("pw")));
        assert_eq!(store.get(&token).unwrap(), Some(Secret::new("tok")));
        store.set(&sign_in, "pw2").unwrap();
        assert_eq!(store.get(&sign_in).unwrap(), Some(Secret::new("pw2")));
        store.delete(&sign_in).unwrap();
        store.delete(&sign_in).unwrap();
        assert_eq!(store.get(&sign_in).unwrap(), None);
        assert_eq!(store.get(&token).unwrap(), Some(Secret::new("tok")));
        assert_eq!(token.entry_name(), "h.example header PRIVATE-TOKEN");
        assert_eq!(SecretKey::Proxy("p".into()).entry_name(), "proxy p");
        assert_eq!(
            SecretKey::ClientCert("c".into()).entry_name(),
            "client-cert c"
        );
        assert_eq!(format!("{:?}", Secret::new("pw")), "Secret(hidden)");
    }

    #[test]
    fn a_failing_store_says_so_without_the_secret() {
        let store = SecretStore::unavailable("no D-Bus session bus");
        let err = store
            .set(&SecretKey::SignIn("h".into()), "hunter2")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the system's credential store is not available: no D-Bus session bus"
        );
        let too_long = store_error(keyring_core::Error::TooLong("password".into(), 1280));
        assert!(too_long.to_string().contains("at most 1280"), "{too_long}");
    }
}
