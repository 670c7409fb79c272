//! The command line's sign-ins: `login` and `logout` save and forget them in the OS's
//! credential store (the hosts in the list the app shares, see [`crate::access`]);
//! `get`, `follow` and `info` use every saved one, each for its own host, besides the
//! ones given with `-A`, `--header` and `--client-cert` (which win for their host).
//! A PKCS#12 certificate given on the command line takes its password from
//! `DELTADROP_CLIENT_CERT_PASSWORD`; one saved in the app, from the credential store.
//! Secrets are never printed, nor echoed back from a malformed argument.

use std::io::{BufRead, IsTerminal};

use clap::Args;
use deltadrop_core::{ClientCert, Credentials, HostHeader, JobOptions};

use crate::access::{
    SavedAccess, SavedHeader, SecretKey, SecretStore, apply, load_secrets, saved_access_path,
};

use super::{EXIT_ERROR, EXIT_OK, SourceArgs};

/// The environment variable a PKCS#12 file's password is read from.
pub const CLIENT_CERT_PASSWORD_VAR: &str = "DELTADROP_CLIENT_CERT_PASSWORD";

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The host to sign in to (`builds.example`; a URL's host is taken from it).
    pub host: String,
    /// The user name (asked for when not given and a terminal is there).
    #[arg(long, short = 'u', value_name = "USER")]
    pub user: Option<String>,
    /// Save a token sent in this header instead (`PRIVATE-TOKEN`, `Authorization`,
    /// `X-JFrog-Art-Api`): the value read is the header's whole value
    /// (`Bearer TOKEN` for Authorization).
    #[arg(long, value_name = "NAME", conflicts_with = "user")]
    pub header: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The host whose saved sign-in and tokens are forgotten.
    pub host: String,
}

/// `login HOST`: the password (or token) is read from the terminal without echo, or as
/// one line from standard input when that is not a terminal (scripts).
pub fn login(args: &LoginArgs) -> u8 {
    said(try_login(args, &SecretStore::system(), saved_list_path()))
}

/// Says what `login` or `logout` did, or why not; the exit code for it.
fn said(result: Result<String, String>) -> u8 {
    let (line, code) = match result {
        Ok(done) => (done, EXIT_OK),
        Err(err) => (err, EXIT_ERROR),
    };
    eprintln!("deltadrop-cli: {line}");
    code
}

fn try_login(
    args: &LoginArgs,
    store: &SecretStore,
    list: Result<std::path::PathBuf, String>,
) -> Result<String, String> {
    let list = list?;
    let host = host_of(&args.host)?;
    if let Some(name) = &args.header {
        // Checked as the engine will read it, without the value, which is not read yet.
        let check = format!("{host}={name}: x");
        check.parse::<HostHeader>().map_err(|e| e.to_string())?;
        let value = read_secret(&format!("Value of {name} for {host}: "))?;
        let header = SavedHeader {
            host: host.clone(),
            name: name.clone(),
            secret: true,
            value: None,
        };
        store
            .set(&header.key(), &value)
            .map_err(|e| format!("{e}; nothing was saved"))?;
        SavedAccess::update(&list, |l| l.put_header(header))?;
        return Ok(format!(
            "saved the {name} header for {host} in the system's credential store"
        ));
    }
    let user = match &args.user {
        Some(user) => user.clone(),
        None => read_user(&host)?,
    };
    let password = read_secret(&format!("Password for {user} at {host}: "))?;
    store
        .set(&SecretKey::SignIn(host.clone()), &password)
        .map_err(|e| format!("{e}; nothing was saved (use -A {host}=USER:PASSWORD instead)"))?;
    SavedAccess::update(&list, |l| l.put_sign_in(&host, &user))?;
    Ok(format!(
        "signed in to {host} as {user}: the password is in the system's credential store"
    ))
}

/// `logout HOST`: forgets the host's sign-in and tokens, in the store and the list.
pub fn logout(args: &LogoutArgs) -> u8 {
    said(try_logout(
        &args.host,
        &SecretStore::system(),
        saved_list_path(),
    ))
}

fn try_logout(
    host: &str,
    store: &SecretStore,
    list: Result<std::path::PathBuf, String>,
) -> Result<String, String> {
    let list = list?;
    let host = host_of(host)?;
    let saved = SavedAccess::load(&list)?;
    let mut keys = vec![SecretKey::SignIn(host.clone())];
    keys.extend(
        saved
            .headers
            .iter()
            .filter(|h| h.host == host && h.secret)
            .map(SavedHeader::key),
    );
    for key in &keys {
        store
            .delete(key)
            .map_err(|e| format!("{e}; the sign-in for {host} is still saved"))?;
    }
    let had = saved.sign_ins.iter().any(|s| s.host == host)
        || saved.headers.iter().any(|h| h.host == host);
    SavedAccess::update(&list, |l| {
        l.sign_ins.retain(|s| s.host != host);
        l.headers.retain(|h| h.host != host);
    })?;
    Ok(if had {
        format!("signed out of {host}: its sign-in and tokens are forgotten")
    } else {
        format!("nothing was saved for {host}")
    })
}

/// The sign-ins, headers and certificates given on the command line, then every saved
/// one for a host not given there. What cannot be used is said on stderr; only a
/// malformed argument is an error.
pub fn access_options(source: &SourceArgs, options: &mut JobOptions) -> Result<(), String> {
    for auth in &source.auth {
        options
            .credentials
            .push(auth.parse::<Credentials>().map_err(|e| e.to_string())?);
    }
    for header in &source.headers {
        options
            .headers
            .push(header.parse::<HostHeader>().map_err(|e| e.to_string())?);
    }
    let password = std::env::var(CLIENT_CERT_PASSWORD_VAR).ok();
    for cert in &source.client_certs {
        let mut cert = cert.parse::<ClientCert>().map_err(|e| e.to_string())?;
        cert.password = password.clone();
        options.client_certs.push(cert);
    }
    add_saved(options);
    Ok(())
}

/// Adds what is saved; says on stderr what could not be read.
fn add_saved(options: &mut JobOptions) {
    let Ok(path) = saved_list_path() else {
        return; // No config folder: nothing can have been saved.
    };
    let saved = match SavedAccess::load(&path) {
        Ok(saved) => saved,
        Err(err) => {
            eprintln!("deltadrop-cli: {err}");
            return;
        }
    };
    if saved.is_empty() {
        return; // The credential store is not even opened.
    }
    let (secrets, problems) = load_secrets(&saved, &SecretStore::system());
    for problem in problems {
        eprintln!("deltadrop-cli: {problem}");
    }
    apply(&saved, &secrets, options);
}

fn saved_list_path() -> Result<std::path::PathBuf, String> {
    saved_access_path()
        .ok_or_else(|| "this system has no config folder (no home folder) to save in".to_string())
}

/// `builds.example` from `builds.example`, `https://builds.example:8443/x` or
/// `builds.example:8443`: the engine sends a host's secrets to any of its ports.
fn host_of(given: &str) -> Result<String, String> {
    let given = given.trim();
    let with_scheme = if given.contains("://") {
        given.to_string()
    } else {
        format!("https://{given}")
    };
    url::Url::parse(&with_scheme)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("\"{given}\" is not a host name (builds.example)"))
}

fn read_user(host: &str) -> Result<String, String> {
    if !std::io::stdin().is_terminal() {
        return Err(format!(
            "give the user name: deltadrop-cli login {host} --user USER"
        ));
    }
    eprint!("User for {host}: ");
    let user = read_line()?;
    (!user.is_empty())
        .then_some(user)
        .ok_or_else(|| "no user name given; nothing was saved".to_string())
}

/// A secret from the terminal without echo, or the first line of standard input.
fn read_secret(prompt: &str) -> Result<String, String> {
    let secret = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(prompt).map_err(|e| format!("could not read it: {e}"))?
    } else {
        read_line()?
    };
    (!secret.is_empty())
        .then_some(secret)
        .ok_or_else(|| "nothing was given; nothing was saved".to_string())
}

fn read_line() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("could not read standard input: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_taken_from_what_people_type() {
        assert_eq!(host_of("builds.example").unwrap(), "builds.example");
        assert_eq!(
            host_of("https://builds.example:8443/latest/a.zsync").unwrap(),
            "builds.example"
        );
        assert_eq!(host_of("127.0.0.1:8080").unwrap(), "127.0.0.1");
        assert!(host_of("").is_err());
    }

    #[test]
    fn logout_forgets_the_sign_in_and_tokens_of_one_host() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("access.json");
        let store = SecretStore::in_memory();
        let token = SavedHeader {
            host: "h".into(),
            name: "PRIVATE-TOKEN".into(),
            secret: true,
            value: None,
        };
        store.set(&SecretKey::SignIn("h".into()), "pw").unwrap();
        store.set(&token.key(), "tok").unwrap();
        store
            .set(&SecretKey::SignIn("other".into()), "pw2")
            .unwrap();
        SavedAccess::update(&list, |l| {
            l.put_sign_in("h", "me");
            l.put_sign_in("other", "you");
            l.put_header(token.clone());
        })
        .unwrap();

        let said = try_logout("h", &store, Ok(list.clone())).unwrap();
        assert!(said.starts_with("signed out of h"), "{said}");
        assert_eq!(store.get(&SecretKey::SignIn("h".into())).unwrap(), None);
        assert_eq!(store.get(&token.key()).unwrap(), None);
        let left = SavedAccess::load(&list).unwrap();
        assert_eq!(left.sign_ins.len(), 1);
        assert!(left.headers.is_empty());
        assert!(
            store
                .get(&SecretKey::SignIn("other".into()))
                .unwrap()
                .is_some()
        );
        let said = try_logout("h", &store, Ok(list)).unwrap();
        assert_eq!(said, "nothing was saved for h");
    }

    #[test]
    fn a_store_that_fails_keeps_the_list_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("access.json");
        SavedAccess::update(&list, |l| l.put_sign_in("h", "me")).unwrap();
        let store = SecretStore::unavailable("no D-Bus session bus");
        let err = try_logout("h", &store, Ok(list.clone())).unwrap_err();
        assert!(err.contains("still saved"), "{err}");
        assert_eq!(SavedAccess::load(&list).unwrap().sign_ins.len(), 1);
    }
}
