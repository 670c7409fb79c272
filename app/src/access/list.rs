//! Which hosts have something saved: `access.json` in the app's config folder, shared by
//! the app and `deltadrop-cli`, and never a secret in it (the credential store cannot be
//! asked what it holds, so this is how both know what to ask it for).
//!
//! The app and the command line may change it at the same time: every change reads the
//! file, applies itself and writes the whole file to a temporary one that replaces it,
//! so a reader never sees half a file. A file that cannot be read is kept aside, not
//! overwritten.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::secrets::{SecretKey, Secrets};

/// A user name for a host; its password is in the credential store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSignIn {
    pub host: String,
    pub user: String,
}

/// A header sent to a host. A secret one (a token) has its value in the credential
/// store; another (`Accept: application/octet-stream`) here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedHeader {
    pub host: String,
    pub name: String,
    pub secret: bool,
    /// The value of a header that is not secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl SavedHeader {
    /// The header's value: from `secrets` for a secret one.
    pub fn value_in(&self, secrets: &Secrets) -> Option<String> {
        if self.secret {
            secrets.get(&self.key()).map(|s| s.expose().to_string())
        } else {
            self.value.clone()
        }
    }
    pub fn key(&self) -> SecretKey {
        SecretKey::Header {
            host: self.host.clone(),
            name: self.name.clone(),
        }
    }
}

/// A host's client certificate file; a PKCS#12 file's password, if any, is in the
/// credential store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedClientCert {
    pub host: String,
    pub path: PathBuf,
}

/// What is saved for which host, without the secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SavedAccess {
    pub sign_ins: Vec<SavedSignIn>,
    pub headers: Vec<SavedHeader>,
    pub client_certs: Vec<SavedClientCert>,
}

/// `access.json` in the app's config folder (`~/.config/deltadrop`,
/// `%APPDATA%\deltadrop\config`, `~/Library/Application Support/deltadrop`).
pub fn saved_access_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "deltadrop").map(|d| d.config_dir().join("access.json"))
}

impl SavedAccess {
    pub fn is_empty(&self) -> bool {
        self.sign_ins.is_empty() && self.headers.is_empty() && self.client_certs.is_empty()
    }

    /// The list in `path`; none there is an empty list.
    pub fn load(path: &Path) -> Result<SavedAccess, String> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                format!(
                    "the list of saved sign-ins {} cannot be read ({e}); none is used until \
                     it is fixed or deleted",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SavedAccess::default()),
            Err(e) => Err(format!("could not read {}: {e}", path.display())),
        }
    }

    /// Reads the list in `path`, lets `change` change it and writes it back; the list as
    /// written. A file that cannot be read is renamed to `access.json.unreadable` first.
    pub fn update(
        path: &Path,
        change: impl FnOnce(&mut SavedAccess),
    ) -> Result<SavedAccess, String> {
        let mut list = match SavedAccess::load(path) {
            Ok(list) => list,
            Err(_) if path.is_file() => {
                let aside = path.with_extension("json.unreadable");
                std::fs::rename(path, &aside)
                    .map_err(|e| format!("could not move {} aside: {e}", path.display()))?;
                SavedAccess::default()
            }
            Err(err) => return Err(err),
        };
        change(&mut list);
        list.write(path)?;
        Ok(list)
    }

    fn write(&self, path: &Path) -> Result<(), String> {
        let failed = |e: std::io::Error| format!("could not save {}: {e}", path.display());
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(failed)?;
        }
        let json = serde_json::to_vec_pretty(self).expect("plain data serialises");
        let temporary = path.with_extension(format!("json.{}.tmp", std::process::id()));
        std::fs::write(&temporary, json)
            .and_then(|()| std::fs::rename(&temporary, path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&temporary);
                failed(e)
            })
    }

    /// Every store entry this list refers to.
    pub fn secret_keys(&self) -> Vec<SecretKey> {
        let sign_ins = self
            .sign_ins
            .iter()
            .map(|s| SecretKey::SignIn(s.host.clone()));
        let headers = self
            .headers
            .iter()
            .filter(|h| h.secret)
            .map(SavedHeader::key);
        let certs = self
            .client_certs
            .iter()
            .map(|c| SecretKey::ClientCert(c.host.clone()));
        sign_ins.chain(headers).chain(certs).collect()
    }

    /// Saves `user` as the sign-in for `host` (one per host).
    pub fn put_sign_in(&mut self, host: &str, user: &str) {
        self.sign_ins.retain(|s| s.host != host);
        self.sign_ins.push(SavedSignIn {
            host: host.into(),
            user: user.into(),
        });
    }

    /// Saves a header for `host` (one per host and name, names compared as HTTP does).
    pub fn put_header(&mut self, header: SavedHeader) {
        self.headers
            .retain(|h| !(h.host == header.host && h.name.eq_ignore_ascii_case(&header.name)));
        self.headers.push(header);
    }

    /// Saves the client certificate for `host` (one per host).
    pub fn put_client_cert(&mut self, host: &str, path: &Path) {
        self.client_certs.retain(|c| c.host != host);
        self.client_certs.push(SavedClientCert {
            host: host.into(),
            path: path.into(),
        });
    }

    /// The user of `host`'s sign-in.
    pub fn user_for(&self, host: &str) -> Option<&str> {
        self.sign_ins
            .iter()
            .find(|s| s.host == host)
            .map(|s| s.user.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_written_whole_and_an_unreadable_file_is_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config/access.json");
        assert_eq!(SavedAccess::load(&path), Ok(SavedAccess::default()));
        let list = SavedAccess::update(&path, |l| l.put_sign_in("h", "me")).unwrap();
        let list2 = SavedAccess::update(&path, |l| {
            l.put_sign_in("h", "you");
            l.put_header(SavedHeader {
                host: "g".into(),
                name: "PRIVATE-TOKEN".into(),
                secret: true,
                value: None,
            });
        })
        .unwrap();
        assert_eq!(list.user_for("h"), Some("me"));
        assert_eq!(list2.user_for("h"), Some("you"));
        assert_eq!(list2.sign_ins.len(), 1, "one sign-in per host");
        assert_eq!(SavedAccess::load(&path).unwrap(), list2);
        assert_eq!(
            list2.secret_keys(),
            vec![
                SecretKey::SignIn("h".into()),
                SecretKey::Header {
                    host: "g".into(),
                    name: "PRIVATE-TOKEN".into()
                }
            ]
        );

        std::fs::write(&path, "{ not json").unwrap();
        let err = SavedAccess::load(&path).unwrap_err();
        assert!(err.contains("cannot be read"), "{err}");
        let list = SavedAccess::update(&path, |l| l.put_sign_in("x", "y")).unwrap();
        assert_eq!(list.sign_ins.len(), 1);
        let aside = dir.path().join("config/access.json.unreadable");
        assert_eq!(std::fs::read_to_string(aside).unwrap(), "{ not json");
    }
}
