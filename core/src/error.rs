//! The engine's one error type.
//!
//! Policy: every error says what happened *and* names the thing it happened to (a URL, a
//! path, a line of the control file), and [`Error::hint`] says what the user can do next.
//! Errors are `Clone` so the final event can carry them to every front end.
//! [`Error::is_verification`] marks the one failure zsync reports with exit code 2.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::format::Format;

/// Why a job (or another call into the crate) failed; its `Display` is the message for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The control file is malformed; `line` is 1-based where a header is at fault.
    #[error("{}control file {source_name}: {problem}", line.map(|l| format!("line {l} of the ")).unwrap_or_default())]
    Control {
        /// The format it was read as: the hint names what a control file of it is.
        format: Format,
        /// Where it came from; in a job, its URL (without credentials) or path.
        source_name: String,
        /// 1-based line of the faulty header; `None` when no one line is at fault.
        line: Option<usize>,
        /// What is wrong, as a phrase for the user.
        problem: String,
    },

    /// The network or the server failed us (connection, status, TLS...).
    #[error("{url}: {problem}")]
    Http {
        /// The URL asked for, without any user name and password.
        url: String,
        /// What failed: the connection, the status, TLS...
        problem: String,
    },

    /// A server, or the proxy, wants a sign-in (`401`, `407`), or refused the one it was
    /// sent or the access asked for (`401`, `403`). Never holds a secret.
    #[error("{url}: {}", access_problem(*.status, .host, .realm.as_deref(), *.signed_in))]
    Access {
        /// The URL asked for, without any user name and password.
        url: String,
        /// The host that asks (the proxy's for a `407`): where a sign-in goes.
        host: String,
        /// 401 (sign in), 403 (refused) or 407 (the proxy's sign-in).
        status: u16,
        /// What kind of sign-in it asks for (`Basic`, `Bearer`), from `WWW-Authenticate`.
        scheme: Option<String>,
        /// The realm it names, if any: the name of what one signs in to.
        realm: Option<String>,
        /// Whether credentials or a token were sent to it (so they were refused).
        signed_in: bool,
    },

    /// The server sent data that does not match the control file, even after retries.
    #[error("{url} sent data that does not match the control file: {problem}")]
    BadData {
        /// The URL that sent it, without any user name and password.
        url: String,
        /// How the data was wrong (size, ranges, blocks that keep failing their check).
        problem: String,
    },

    /// A local file operation failed.
    #[error("could not {action} {}: {message}", path.display())]
    Io {
        /// The verb of what was tried, such as `open` or `rename`.
        action: &'static str,
        /// The file or directory it was tried on.
        path: PathBuf,
        /// The OS error's kind, e.g. `StorageFull` for a full disk.
        kind: std::io::ErrorKind,
        /// The OS error's own message.
        message: String,
    },

    /// A local file could not be replaced or moved because another program has it open
    /// (Windows refuses that; Unix allows it).
    #[error("could not {action} {}: another program has it open", path.display())]
    InUse {
        /// The verb of what was tried, such as `rename`.
        action: &'static str,
        /// The file another program holds open.
        path: PathBuf,
    },

    /// The assembled file's hash is not the one the control file promises.
    #[error("the downloaded file does not match the control file's hash (expected {expected}, got {actual}); the data was kept in {}", part.display())]
    Verification {
        /// The control file's hash, as `ALGORITHM hex`.
        expected: String,
        /// The assembled file's hash, in the same form.
        actual: String,
        /// The `.part` file that keeps the assembled data; the output is untouched.
        part: PathBuf,
    },

    /// The download is complete and verified, but uncompressing it (`--uncompress`)
    /// failed.
    #[error("{} was downloaded and verified, but uncompressing it failed: {message}", output.display())]
    Uncompress {
        /// The verified `.zck`, in place.
        output: PathBuf,
        /// What went wrong while uncompressing.
        message: String,
    },

    /// The request or arguments cannot be acted on.
    #[error("{0}")]
    Invalid(String),

    /// The job was cancelled by the user.
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    pub(crate) fn io(action: &'static str, path: &Path, err: std::io::Error) -> Self {
        if held_open_elsewhere(&err) {
            return Error::InUse {
                action,
                path: path.to_path_buf(),
            };
        }
        Error::Io {
            action,
            path: path.to_path_buf(),
            kind: err.kind(),
            message: err.to_string(),
        }
    }

    pub(crate) fn control(
        format: Format,
        source_name: &str,
        line: Option<usize>,
        problem: impl Into<String>,
    ) -> Self {
        Error::Control {
            format,
            source_name: source_name.to_string(),
            line,
            problem: problem.into(),
        }
    }

    pub(crate) fn http(url: impl ToString, problem: impl Into<String>) -> Self {
        Error::Http {
            url: shown_url(&url.to_string()),
            problem: problem.into(),
        }
    }

    /// The local file a failed file operation was about.
    pub fn local_path(&self) -> Option<&Path> {
        match self {
            Error::Io { path, .. } | Error::InUse { path, .. } => Some(path),
            _ => None,
        }
    }

    /// True for a whole-file checksum mismatch (zsync's exit code 2).
    pub fn is_verification(&self) -> bool {
        matches!(self, Error::Verification { .. })
    }

    /// What the user can do about it, in one or two sentences.
    pub fn hint(&self) -> Cow<'static, str> {
        let fixed = match self {
            Error::Control { format, .. } => {
                return format!(
                    "Check that the URL points at {}, not at the target itself or an HTML page; if it does, the publisher's file is damaged.",
                    format.control_file()
                )
                .into();
            }
            Error::Http { problem, .. } if problem.contains("client certificate") => {
                "Give the certificate and key the server's owners issued you for it: in the app, Settings, Client certificates; on the command line, --client-cert HOST=FILE (PEM, or PKCS#12)."
            }
            Error::Http { problem, .. } if problem.contains("certificate") => {
                "The server's TLS certificate is not trusted here. If it comes from an in-house CA, add the company CA: in the app, Settings, Trusted CA; on the command line, --ca-cert FILE."
            }
            Error::Access {
                status,
                host,
                signed_in,
                ..
            } => return access_hint(*status, host, *signed_in).into(),
            Error::Http { .. } => {
                "Check the URL, your network connection and proxy settings, then try again; blocks already downloaded are kept."
            }
            Error::BadData { .. } => {
                "The file on the server has probably changed since its control file (.zsync, .zck or casync index) was made: start again to fetch a fresh one, or tell the publisher."
            }
            Error::Io {
                kind: std::io::ErrorKind::StorageFull,
                ..
            } => {
                "Free some disk space (or choose another output folder) and start again; verified blocks are kept in the .part file."
            }
            Error::Io { .. } => {
                "Check that the path exists and that you may read (seeds) or write (output folder) it."
            }
            Error::InUse { .. } => {
                "Close the program that has the file open (a viewer, a virus scan, another download) and start again: the verified download waits in the .part file and is not fetched again."
            }
            Error::Verification { .. } => {
                "The server's file does not match its control file: start again to fetch a fresh one, or tell the publisher. Your old output was not touched."
            }
            Error::Uncompress { .. } => {
                "The download itself is complete and verified. Check the disk space and try again, or uncompress the .zck with zchunk's unzck; if that fails too, tell the publisher."
            }
            Error::Invalid(_) => "Check the command line or the form and try again.",
            Error::Cancelled => {
                "Start again to resume: verified blocks are kept in the .part file."
            }
        };
        fixed.into()
    }
}

/// What an [`Error::Access`] says happened.
fn access_problem(status: u16, host: &str, realm: Option<&str>, signed_in: bool) -> String {
    let realm = realm.map(|r| format!(", for \"{r}\"")).unwrap_or_default();
    match (status, signed_in) {
        (407, false) => format!("the proxy {host} wants a sign-in (HTTP 407{realm})"),
        (407, true) => format!("the proxy {host} refused the sign-in (HTTP 407{realm})"),
        (403, _) => format!("{host} refused access (HTTP 403)"),
        (_, false) => format!("{host} wants a sign-in (HTTP 401{realm})"),
        (_, true) => format!("the server refused the sign-in for {host} (HTTP {status}{realm})"),
    }
}

/// What to do about an [`Error::Access`].
fn access_hint(status: u16, host: &str, signed_in: bool) -> String {
    match (status, signed_in) {
        (407, _) => "Give the proxy's user and password: in the app, Settings, Proxy; on the \
             command line, in the proxy's URL (--proxy http://user:password@proxy:3128)."
            .to_string(),
        (403, _) => format!(
            "Your sign-in or token may not read this file, or it has expired (Jenkins answers \
             403 to a wrong API token): check the one for {host} in the app's Settings, or \
             give another with deltadrop-cli login {host}, -A or --header."
        ),
        (_, true) => format!(
            "Check the user and password (or the token) for {host}: in the app, Settings, \
             Sign-ins; on the command line, deltadrop-cli login {host}, -A or --header."
        ),
        (_, false) => format!(
            "Sign in: the app asks for the user and password; on the command line, \
             deltadrop-cli login {host}, or -A {host}=user:password, or a token with \
             --header '{host}=Name: value'."
        ),
    }
}

/// Windows refuses to rename, replace or delete a file that another program holds open
/// (ERROR_SHARING_VIOLATION 32, ERROR_LOCK_VIOLATION 33); std has no `ErrorKind` for it.
fn held_open_elsewhere(err: &std::io::Error) -> bool {
    cfg!(windows) && matches!(err.raw_os_error(), Some(32 | 33))
}

/// The crate's `Result`, with [`Error`] as its error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `url` as messages show it: without the user name and password a URL may carry
/// (`https://user:secret@host/...`), so they never reach the screen, `--json` or a log.
pub fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            // Both only fail for URLs that cannot carry credentials at all.
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_not_shown() {
        let error = Error::http("https://user:secret@h.example/x.zsync", "HTTP 404");
        assert_eq!(error.to_string(), "https://h.example/x.zsync: HTTP 404");
        assert_eq!(shown_url("http://h/x"), "http://h/x");
        assert_eq!(shown_url("the server"), "the server");
    }

    #[test]
    #[cfg(windows)]
    fn a_file_held_open_elsewhere_is_named_as_such() {
        let err = Error::io(
            "replace",
            Path::new("image.img"),
            std::io::Error::from_raw_os_error(32),
        );
        assert!(matches!(err, Error::InUse { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "could not replace image.img: another program has it open"
        );
        assert!(err.hint().starts_with("Close the program"));
    }

    #[test]
    fn hints_name_the_format_at_fault() {
        for (format, named) in [
            (Format::Zsync, "a .zsync file made by zsyncmake"),
            (Format::Zchunk, "a .zck file made by zck"),
            (
                Format::Casync,
                "a casync index (.caibx) made by casync make",
            ),
        ] {
            let hint = Error::control(format, "x", None, "it is empty").hint();
            assert!(hint.contains(named), "{hint}");
        }
        // What a server sent, or the file it built, is checked against the control
        // file of whichever format: no hint names one format's file for all.
        for error in [
            Error::BadData {
                url: "u".into(),
                problem: "p".into(),
            },
            Error::Verification {
                expected: "e".into(),
                actual: "a".into(),
                part: "p".into(),
            },
        ] {
            assert!(!error.hint().contains(".zsync was"), "{}", error.hint());
            assert!(!error.hint().contains("its .zsync"), "{}", error.hint());
        }
    }

    #[test]
    fn other_errors_stay_io_errors() {
        let err = Error::io(
            "write",
            Path::new("x"),
            std::io::Error::from(std::io::ErrorKind::StorageFull),
        );
        assert!(matches!(
            err,
            Error::Io {
                kind: std::io::ErrorKind::StorageFull,
                ..
            }
        ));
    }
}
