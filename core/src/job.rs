//! What a job is asked to do ([`JobSpec`], [`JobOptions`]) and the flags it is steered
//! by while it runs ([`Control`]): plain data every layer may read, importing none of them.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::format::Format;

/// Where the control file comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlSource {
    /// An http(s) URL of a `.zsync` file.
    Url(String),
    /// A `.zsync` file on disk (its relative URLs then need `JobOptions::base_url`).
    File(PathBuf),
}

impl ControlSource {
    /// The format of the download, told by the control file's name.
    pub fn format(&self) -> Format {
        match self {
            ControlSource::Url(url) => Format::of_name(url),
            ControlSource::File(path) => Format::of_name(&path.to_string_lossy()),
        }
    }

    /// Reads a command-line argument: anything with a scheme is a URL, the rest a path.
    pub fn parse(arg: &str) -> Self {
        if arg.starts_with("http://") || arg.starts_with("https://") {
            ControlSource::Url(arg.to_string())
        } else {
            ControlSource::File(PathBuf::from(arg))
        }
    }
}

/// What the job should do once the seeds are scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Fetch what is missing, verify, and put the file in place.
    #[default]
    Download,
    /// Stop after the plan: report what would be reused and fetched, write nothing.
    PlanOnly,
    /// Estimate, from samples of each seed, how much of the target it would supply (one
    /// [`Event::SeedEstimate`](crate::Event::SeedEstimate) per seed), in a small part of
    /// the time a scan takes: for choosing seeds among many files. Nothing is scanned
    /// whole, nothing written; the old output and `.part` are not looked at.
    EstimateSeeds,
    /// Follow a build: check whether the control file names a new one (cheaply: a
    /// conditional request) and if so download it into the output folder, with the
    /// builds kept there as seeds; keep `JobOptions::keep_builds` of them.
    Follow,
}

/// Basic-auth credentials for one host (zsync's `-A host=user:pass`). Its `Debug` leaves
/// the password out: a job's spec may be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The host name they are sent to, without scheme or port (`example.org`).
    pub host: String,
    /// The Basic-auth user name.
    pub user: String,
    /// The Basic-auth password, sent as given.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("host", &self.host)
            .field("user", &self.user)
            .field("password", &"(hidden)")
            .finish()
    }
}

impl std::str::FromStr for Credentials {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        // The message never repeats the argument: it holds a password.
        let bad = || Error::Invalid("credentials must be of the form host=user:password".into());
        let (host, rest) = s.split_once('=').ok_or_else(bad)?;
        let (user, password) = rest.split_once(':').ok_or_else(bad)?;
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Credentials {
            host: host.into(),
            user: user.into(),
            password: password.into(),
        })
    }
}

/// A header sent with every request to one host (an API token: `PRIVATE-TOKEN`,
/// `X-JFrog-Art-Api`, `Authorization: Bearer ...`), and to no other: not after a
/// redirect to another host either. Its `Debug` leaves the value out.
#[derive(Clone, PartialEq, Eq)]
pub struct HostHeader {
    /// The host name it is sent to, without scheme or port.
    pub host: String,
    /// The header's name.
    pub name: String,
    /// The header's value, often a secret.
    pub value: String,
}

impl std::fmt::Debug for HostHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostHeader")
            .field("host", &self.host)
            .field("name", &self.name)
            .field("value", &"(hidden)")
            .finish()
    }
}

impl std::str::FromStr for HostHeader {
    type Err = Error;
    /// `host=Name: value`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::Invalid("a header must be of the form 'host=Name: value'".into());
        let (host, header) = s.split_once('=').ok_or_else(bad)?;
        let (name, value) = header.split_once(':').ok_or_else(bad)?;
        let (host, name, value) = (host.trim(), name.trim(), value.trim());
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if host.is_empty() || name.is_empty() || !name.chars().all(token) {
            return Err(bad());
        }
        if value.chars().any(|c| c.is_control()) {
            return Err(Error::Invalid(format!(
                "the value of the header {name} holds a control character"
            )));
        }
        Ok(HostHeader {
            host: host.into(),
            name: name.into(),
            value: value.into(),
        })
    }
}

/// A client certificate for one host's mutual TLS: a PEM file holding the certificate
/// (and its chain) and its private key, or a PKCS#12 file (`.p12`, `.pfx`).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// The host it is shown to, without scheme or port.
    pub host: String,
    /// The PEM or PKCS#12 file.
    pub path: PathBuf,
    /// A PKCS#12 file's password, if it has one.
    pub password: Option<String>,
}

impl std::fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCert")
            .field("host", &self.host)
            .field("path", &self.path)
            .field("password", &self.password.as_ref().map(|_| "(hidden)"))
            .finish()
    }
}

impl std::str::FromStr for ClientCert {
    type Err = Error;
    /// `host=FILE`.
    fn from_str(s: &str) -> Result<Self> {
        let (host, path) = s
            .split_once('=')
            .filter(|(host, path)| !host.is_empty() && !path.is_empty())
            .ok_or_else(|| {
                Error::Invalid("a client certificate must be given as host=FILE".into())
            })?;
        Ok(ClientCert {
            host: host.into(),
            path: path.into(),
            password: None,
        })
    }
}

/// Tunables; `Default` is what a user gets without flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOptions {
    /// Download the file, or only report the plan.
    pub mode: Mode,
    /// The URL the control file was originally fetched from (zsync's `-u`): relative
    /// URLs in a local control file are resolved against it, and a casync index's
    /// default chunk store is beside it.
    pub base_url: Option<String>,
    /// A saved copy of the control file (zsync's `-k`): used if the server says it has
    /// not changed, and updated when it has.
    pub saved_control: Option<PathBuf>,
    /// Basic-auth credentials, each sent only to requests for its host.
    pub credentials: Vec<Credentials>,
    /// Headers (tokens) each sent only to requests for its host.
    pub headers: Vec<HostHeader>,
    /// Client certificates, each shown only to its host.
    pub client_certs: Vec<ClientCert>,
    /// Keep the replaced output as `<out>.zs-old`, as zsync does.
    pub keep_old: bool,
    /// HTTP requests in flight at once.
    pub parallel_requests: usize,
    /// The most byte ranges asked for in one request (the adaptive ladder starts here).
    pub max_ranges_per_request: usize,
    /// Proxy URL for all requests; `None` uses the environment (`http_proxy`, ...).
    pub proxy: Option<String>,
    /// PEM files of extra certificate authorities to trust besides the system's (an
    /// in-house build server's CA).
    pub ca_certs: Vec<PathBuf>,
    /// Threads used to scan seeds; 0 means one per core.
    pub scan_threads: usize,
    /// After a gzip target is verified, re-create the publisher's `.gz` next to it as the
    /// control file's `Recompress` line says (with the system gzip), as zsync does.
    pub recompress: bool,
    /// After a zchunk target is verified, also write the file it was made from beside it
    /// (the `.zck` name without `.zck`).
    pub uncompress: bool,
    /// The casync chunk store (an http(s) URL or a folder); by default `default.castr`
    /// beside the index, as casync and desync do.
    pub store: Option<String>,
    /// A server that sends nothing for this long in the middle of a reply (headers then
    /// silence) is treated as a dropped connection: the request is retried or the job
    /// moves on, instead of waiting without end.
    pub stall_timeout: Duration,
    /// How many builds a follow keeps in its folder, the newest included.
    pub keep_builds: usize,
    /// For a follow of builds in numbered folders: the control URL is a folder listing,
    /// and this pattern (`*/image.wic.zsync`) leads from it to each build's control file;
    /// the newest is the highest build number or date.
    pub listing_pattern: Option<String>,
}

impl Default for JobOptions {
    fn default() -> Self {
        JobOptions {
            mode: Mode::Download,
            base_url: None,
            saved_control: None,
            credentials: Vec::new(),
            headers: Vec::new(),
            client_certs: Vec::new(),
            keep_old: true,
            parallel_requests: 4,
            max_ranges_per_request: 128,
            proxy: None,
            ca_certs: Vec::new(),
            scan_threads: 0,
            recompress: false,
            uncompress: false,
            store: None,
            stall_timeout: Duration::from_secs(30),
            keep_builds: 3,
            listing_pattern: None,
        }
    }
}

/// Everything a job needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// Where to read the `.zsync` control file from.
    pub control: ControlSource,
    /// Local files that may hold parts of the target. Only ever read.
    pub seeds: Vec<PathBuf>,
    /// Where the target goes; `None` takes the control file's `Filename` in the current
    /// directory. A directory means "that file name in this directory".
    pub output: Option<PathBuf>,
    /// Tunables; `JobOptions::default()` unless the user chose otherwise.
    pub options: JobOptions,
}

impl JobSpec {
    /// A job for `control` with no seeds, the default output path and default options.
    pub fn new(control: ControlSource) -> Self {
        JobSpec {
            control,
            seeds: Vec::new(),
            output: None,
            options: JobOptions::default(),
        }
    }
}

/// Shared flags a running job polls; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Control {
    cancelled: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
}

impl Control {
    /// Asks the job to stop at its next checkpoint; it then fails with `Error::Cancelled`.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }
    /// Pauses (`true`) or resumes (`false`) the job at its next checkpoint.
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }
    /// Whether a pause was asked for and not yet lifted.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }
    /// Whether `cancel` was called; it cannot be undone.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Called by the engine between units of work: waits while paused, fails if cancelled.
    pub(crate) fn checkpoint(&self) -> Result<()> {
        while self.is_paused() && !self.is_cancelled() {
            std::thread::sleep(Duration::from_millis(50));
        }
        if self.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Waits `how_long` (a server asked for it, or a retry backs off), cut short by a
    /// cancel.
    pub(crate) fn sleep(&self, how_long: Duration) -> Result<()> {
        let until = std::time::Instant::now() + how_long;
        loop {
            self.checkpoint()?;
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
    }
}
