//! Servers behind a login, for the app and the command line alike: what is saved where,
//! and what a job is given.
//!
//! Secrets (passwords, tokens, a proxy's password, a PKCS#12 file's password) live only
//! in the OS's credential store ([`SecretStore`]: Windows Credential Manager, the macOS
//! Keychain, the Secret Service on Linux), never in a file of ours. The store cannot
//! list what it holds, so which hosts have something saved is kept beside the app's
//! settings in a small file without secrets ([`SavedAccess`], `access.json`), which the
//! command line reads and writes too: a `deltadrop-cli login` is used by the app and a
//! sign-in remembered by the app by `deltadrop-cli get`. [`apply`] puts what is saved
//! into a job's options, each secret for its own host only (the engine keeps it there,
//! across redirects too).

mod list;
mod presets;
mod secrets;
mod url_credentials;

pub use list::{SavedAccess, SavedClientCert, SavedHeader, SavedSignIn, saved_access_path};
pub use presets::{PRESETS, Preset, PresetHeader};
pub use secrets::{Secret, SecretKey, SecretStore, Secrets, StoreError};
pub use url_credentials::{proxy_with_sign_in, split_credentials};

use deltadrop_core::{ClientCert, Credentials, HostHeader, JobOptions};

/// Puts every sign-in, header and client certificate of `saved` whose secret is in
/// `secrets` into `options`, each for its own host. What `options` already has for a
/// host (given on the command line) wins over what is saved for it.
pub fn apply(saved: &SavedAccess, secrets: &Secrets, options: &mut JobOptions) {
    for sign_in in &saved.sign_ins {
        let given = options.credentials.iter().any(|c| c.host == sign_in.host);
        let key = SecretKey::SignIn(sign_in.host.clone());
        if let (false, Some(password)) = (given, secrets.get(&key)) {
            options.credentials.push(Credentials {
                host: sign_in.host.clone(),
                user: sign_in.user.clone(),
                password: password.expose().to_string(),
            });
        }
    }
    for header in &saved.headers {
        let given = options
            .headers
            .iter()
            .any(|h| h.host == header.host && h.name.eq_ignore_ascii_case(&header.name));
        if let (false, Some(value)) = (given, header.value_in(secrets)) {
            options.headers.push(HostHeader {
                host: header.host.clone(),
                name: header.name.clone(),
                value,
            });
        }
    }
    for cert in &saved.client_certs {
        if options.client_certs.iter().any(|c| c.host == cert.host) {
            continue;
        }
        let key = SecretKey::ClientCert(cert.host.clone());
        options.client_certs.push(ClientCert {
            host: cert.host.clone(),
            path: cert.path.clone(),
            password: secrets.get(&key).map(|p| p.expose().to_string()),
        });
    }
}

/// What a saved entry needs from the store and did not find there: it is not used, and
/// the user is told how to save it again.
pub fn missing_secrets(saved: &SavedAccess, secrets: &Secrets) -> Vec<String> {
    let mut missing = Vec::new();
    for sign_in in &saved.sign_ins {
        if secrets
            .get(&SecretKey::SignIn(sign_in.host.clone()))
            .is_none()
        {
            missing.push(format!(
                "the saved sign-in for {} has no password in the system's credential store: \
                 sign in again (deltadrop-cli login {}, or in the app)",
                sign_in.host, sign_in.host
            ));
        }
    }
    for header in saved.headers.iter().filter(|h| h.secret) {
        if header.value_in(secrets).is_none() {
            missing.push(format!(
                "the saved header {} for {} has no value in the system's credential store: \
                 save it again",
                header.name, header.host
            ));
        }
    }
    missing
}

/// Every secret `saved` refers to, read from `store`; what could not be read is said in
/// the messages (a store that is not there is said once).
pub fn load_secrets(saved: &SavedAccess, store: &SecretStore) -> (Secrets, Vec<String>) {
    let mut secrets = Secrets::default();
    let mut problems = Vec::new();
    for key in saved.secret_keys() {
        match store.get(&key) {
            Ok(Some(secret)) => secrets.insert(key, secret),
            Ok(None) => {}
            Err(err) => {
                problems.push(format!("{err}; saved sign-ins are not used"));
                break;
            }
        }
    }
    if problems.is_empty() {
        problems = missing_secrets(saved, &secrets);
    }
    (secrets, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved() -> SavedAccess {
        SavedAccess {
            sign_ins: vec![SavedSignIn {
                host: "builds.example".into(),
                user: "me".into(),
            }],
            headers: vec![
                SavedHeader {
                    host: "gitlab.example".into(),
                    name: "PRIVATE-TOKEN".into(),
                    secret: true,
                    value: None,
                },
                SavedHeader {
                    host: "api.github.com".into(),
                    name: "Accept".into(),
                    secret: false,
                    value: Some("application/octet-stream".into()),
                },
            ],
            client_certs: vec![SavedClientCert {
                host: "secure.example".into(),
                path: "/certs/me.p12".into(),
            }],
        }
    }

    #[test]
    fn saved_secrets_reach_the_job_each_for_its_host_and_the_command_line_wins() {
        let store = SecretStore::in_memory();
        store
            .set(&SecretKey::SignIn("builds.example".into()), "pw1")
            .unwrap();
        let token = SecretKey::Header {
            host: "gitlab.example".into(),
            name: "PRIVATE-TOKEN".into(),
        };
        store.set(&token, "glpat-123").unwrap();
        store
            .set(&SecretKey::ClientCert("secure.example".into()), "p12pw")
            .unwrap();
        let (secrets, problems) = load_secrets(&saved(), &store);
        assert!(problems.is_empty(), "{problems:?}");

        let mut options = JobOptions::default();
        apply(&saved(), &secrets, &mut options);
        assert_eq!(
            options.credentials,
            vec![Credentials {
                host: "builds.example".into(),
                user: "me".into(),
                password: "pw1".into()
            }]
        );
        let headers: Vec<_> = options
            .headers
            .iter()
            .map(|h| (h.host.as_str(), h.name.as_str(), h.value.as_str()))
            .collect();
        assert_eq!(
            headers,
            [
                ("gitlab.example", "PRIVATE-TOKEN", "glpat-123"),
                ("api.github.com", "Accept", "application/octet-stream")
            ]
        );
        assert_eq!(options.client_certs[0].password.as_deref(), Some("p12pw"));

        // Given on the command line: that one is used, the saved one is not added.
        let mut options = JobOptions {
            credentials: vec!["builds.example=other:pw2".parse().unwrap()],
            headers: vec!["gitlab.example=private-token: given".parse().unwrap()],
            ..JobOptions::default()
        };
        apply(&saved(), &secrets, &mut options);
        assert_eq!(options.credentials.len(), 1);
        assert_eq!(options.credentials[0].user, "other");
        assert_eq!(options.headers.len(), 2);
        assert_eq!(options.headers[0].value, "given");
    }

    #[test]
    fn a_sign_in_whose_secret_is_gone_is_left_out_and_said() {
        let store = SecretStore::in_memory();
        let (secrets, problems) = load_secrets(&saved(), &store);
        let mut options = JobOptions::default();
        apply(&saved(), &secrets, &mut options);
        assert!(options.credentials.is_empty());
        assert_eq!(options.headers.len(), 1, "only the header without a secret");
        assert_eq!(options.client_certs[0].password, None);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("deltadrop-cli login builds.example"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_store_that_is_not_there_is_said_once_and_nothing_is_used() {
        let store = SecretStore::unavailable("no D-Bus session bus");
        let (secrets, problems) = load_secrets(&saved(), &store);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("the system's credential store is not available: no D-Bus"),
            "{problems:?}"
        );
        assert!(secrets.is_empty());
    }
}
