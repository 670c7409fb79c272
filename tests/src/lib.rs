//! Helpers for the end-to-end tests: real servers on free loopback ports (nginx, Python's
//! `http.server`, and deliberately broken ones), Debian's `zsync`/`zsyncmake`, and
//! reproducible test files.
//!
//! A test that needs an outside tool calls [`peer`] first: without the tool it prints a
//! visible `SKIPPED` line and returns `None`, unless `DELTADROP_REQUIRE_PEERS=1` is set (as
//! CI does), in which case the missing tool fails the test.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use deltadrop_core::{
    BlockSource, BlockState, ControlSource, Error, Event, FileHash, FileHashAlgorithm, Format, Job,
    JobSpec, Summary, TargetInfo,
};
pub use tempfile::TempDir;

/// Runs a job to its end; its result and every event it emitted, in order.
pub fn run_job(spec: JobSpec) -> (Result<Summary, Error>, Vec<Event>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let job = Job::start(spec, tx);
    let events: Vec<Event> = rx.iter().collect();
    (job.join(), events)
}

/// The block map a front end draws from `events`: each block's last state. Local blocks
/// must come from seed 0 (the one seed these tests give) and all others from the network.
pub fn block_map(events: &[Event], blocks: usize) -> Vec<BlockState> {
    let mut states = vec![BlockState::Unknown; blocks];
    for event in events {
        if let Event::Blocks {
            blocks,
            state,
            source,
        } = event
        {
            assert!(
                matches!(
                    (state, source),
                    (BlockState::Local, BlockSource::Seed(0)) | (_, BlockSource::Network)
                ),
                "{state:?} from {source:?}"
            );
            states[blocks.start as usize..blocks.end as usize].fill(*state);
        }
    }
    states
}

/// A download of the control file at `url` to `out`, with `seeds`.
pub fn job_spec(url: String, seeds: &[&Path], out: &Path) -> JobSpec {
    let mut spec = JobSpec::new(ControlSource::Url(url));
    spec.seeds = seeds.iter().map(|p| p.to_path_buf()).collect();
    spec.output = Some(out.to_path_buf());
    spec
}

/// What a loaded control file tells a front end, for a made-up `image-2.img` of
/// `block_count` blocks of `block_size` (the last one short by 100 bytes).
pub fn target_info(block_count: u64, block_size: u32) -> TargetInfo {
    TargetInfo {
        format: Format::Zsync,
        filename: "image-2.img".into(),
        length: block_count * u64::from(block_size) - 100,
        block_size,
        block_count,
        block_ends: Vec::new(),
        urls: vec!["http://127.0.0.1:9/image-2.img".into()],
        compressed: false,
        file_hash: Some(
            FileHash::from_hex(
                FileHashAlgorithm::Sha1,
                "0123456789abcdef0123456789abcdef01234567",
            )
            .unwrap(),
        ),
        mtime: None,
    }
}

/// A fresh work dir holding `old` as the seed file `old`; the dir and the seed's path.
pub fn work_with_seed(old: &[u8]) -> (TempDir, PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let seed = work.path().join("old");
    std::fs::write(&seed, old).unwrap();
    (work, seed)
}

/// Publishes `content` as `name` with Debian's zsyncmake (`make_args`) in a fresh public
/// dir; the dir and the `.zsync`'s path.
pub fn publish(name: &str, content: &[u8], make_args: &[&str]) -> Option<(TempDir, PathBuf)> {
    let www = public_dir();
    std::fs::write(www.path().join(name), content).unwrap();
    let zsync = zsyncmake(www.path(), name, make_args)?;
    Some((www, zsync))
}

/// Publishes `content` as `latest/image.img` in `www` with its `.zsync` (made by Debian's
/// zsyncmake, its MTime the file's time, `built`); false without zsyncmake.
pub fn publish_build(www: &Path, content: &[u8], built: SystemTime) -> bool {
    let latest = www.join("latest");
    std::fs::create_dir_all(&latest).unwrap();
    let file = latest.join("image.img");
    std::fs::write(&file, content).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(built)
        .unwrap();
    let Some(control) = zsyncmake(&latest, "image.img", &["-u", "image.img"]) else {
        return false;
    };
    // Its time too: nginx's ETag is the file's time and size, and a control file remade
    // within the same second at the same size would otherwise look unchanged.
    std::fs::File::options()
        .write(true)
        .open(&control)
        .unwrap()
        .set_modified(built)
        .unwrap();
    true
}

/// Finds `tool` on PATH, or skips (or fails, under `DELTADROP_REQUIRE_PEERS=1`).
pub fn peer(tool: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var("DELTADROP_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("{tool} is required (DELTADROP_REQUIRE_PEERS=1) but not installed");
        }
        // Straight to stderr so it shows even when the harness captures output.
        let _ = writeln!(std::io::stderr(), "SKIPPED: {tool} is not installed");
    }
    found
}

/// A temporary directory every server user can read (nginx workers run as nobody).
pub fn public_dir() -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }
    dir
}

/// The tests' one pseudo-random generator (xorshift64): the same seed gives the same
/// numbers, so a failure reproduces from the seed it names.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A fraction in `0.0..1.0`.
    pub fn fraction(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Deterministic pseudo-random bytes, so failures reproduce.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| (rng.next_u64() >> 56) as u8).collect()
}

/// Log-like text: compressible, with repeated structure, like much of a disk image.
pub fn text_bytes(len: usize, seed: u64) -> Vec<u8> {
    let words = [
        "kernel", "mount", "usr", "lib", "systemd", "ok", "error", "0x7f3a", "eth0", "started",
        "image",
    ];
    let noise = random_bytes(len / 4 + 16, seed);
    let mut out = Vec::with_capacity(len + 32);
    let mut i = 0;
    while out.len() < len {
        let w = words[noise[i % noise.len()] as usize % words.len()];
        out.extend_from_slice(w.as_bytes());
        out.push(if noise[(i + 1) % noise.len()].is_multiple_of(9) {
            b'\n'
        } else {
            b' '
        });
        i += 2;
    }
    out.truncate(len);
    out
}

/// A new version of `old`: bytes inserted, a stretch rewritten, bytes deleted.
pub fn edited(old: &[u8], seed: u64) -> Vec<u8> {
    let mut new = old.to_vec();
    let n = new.len();
    if n < 1000 {
        new.extend_from_slice(b"appended");
        return new;
    }
    new.splice(
        n / 10..n / 10,
        b"inserted here, shifting everything after".iter().copied(),
    );
    let (a, b) = (n / 2, n / 2 + n / 20);
    new[a..b].copy_from_slice(&random_bytes(b - a, seed));
    new.drain(n * 4 / 5..n * 4 / 5 + 333);
    new
}

/// `content` compressed by Debian's `zck` (with `args`) as `dir/name.zck`.
pub fn zck(dir: &Path, name: &str, content: &[u8], args: &[&str]) -> Option<PathBuf> {
    let tool = peer("zck")?;
    std::fs::write(dir.join(name), content).unwrap();
    let made = run(&tool, &[args, &[name]].concat(), dir);
    assert!(made.status.success(), "zck: {}", text(&made.stderr));
    std::fs::remove_file(dir.join(name)).unwrap();
    Some(dir.join(format!("{name}.zck")))
}

/// `content` made into `dir/name.caibx` and its store `dir/default.castr` by Debian's
/// `casync make` (with `args`).
pub fn casync_make(dir: &Path, name: &str, content: &[u8], args: &[&str]) -> Option<PathBuf> {
    let tool = peer("casync")?;
    let blob = dir.join(format!("{name}.blob"));
    std::fs::write(&blob, content).unwrap();
    let index = dir.join(format!("{name}.caibx"));
    let store = format!("--store={}", dir.join("default.castr").display());
    let index_arg = index.display().to_string();
    let blob_arg = blob.display().to_string();
    let made = run(
        &tool,
        &[args, &["make", &store, &index_arg, &blob_arg]].concat(),
        dir,
    );
    assert!(made.status.success(), "casync make: {}", text(&made.stderr));
    std::fs::remove_file(&blob).unwrap();
    Some(index)
}

/// Runs Debian's zsyncmake in `dir` on `file` with `args`; returns the .zsync's path.
pub fn zsyncmake(dir: &Path, file: &str, args: &[&str]) -> Option<PathBuf> {
    let tool = peer("zsyncmake")?;
    let status = Command::new(tool)
        .args(args)
        .arg(file)
        .current_dir(dir)
        .stderr(Stdio::null())
        .status()
        .expect("run zsyncmake");
    assert!(status.success(), "zsyncmake failed");
    Some(dir.join(format!("{file}.zsync")))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("server exited early: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "server did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A tmpfs mounted for a test, unmounted when dropped.
pub struct SmallDisk {
    dir: TempDir,
}

impl SmallDisk {
    /// Mounts a `size`-byte tmpfs, or skips (fails when peers are required) where this
    /// process may not mount (not root).
    pub fn mount(size: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            let why = "cannot mount a tmpfs here (needs root)";
            assert!(
                std::env::var_os("DELTADROP_REQUIRE_PEERS").is_none(),
                "{why}, and DELTADROP_REQUIRE_PEERS is set"
            );
            eprintln!("SKIPPED: {why}");
            return None;
        }
        Some(SmallDisk { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Resizes the tmpfs to `size` bytes.
    pub fn grow(&self, size: u64) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// A server process, killed when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    pub log: Option<PathBuf>,
    /// nginx's plain-HTTP port for [`Server::logged_so_far`].
    log_barrier: Option<u16>,
    scheme: &'static str,
    _state: Option<TempDir>,
}

impl Server {
    /// `http://127.0.0.1:PORT/` (or `https://`) + `path`.
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}://127.0.0.1:{}/{}",
            self.scheme,
            self.port,
            path.trim_start_matches('/')
        )
    }

    /// Lines of the access log (nginx, Apache; lighttpd's once it has stopped).
    pub fn access_log(&self) -> Vec<String> {
        let Some(log) = &self.log else {
            return Vec::new();
        };
        self.logged_so_far(log)
    }

    /// The lines of `log`, with every request answered so far in it. nginx writes a
    /// request's line after it has sent the answer, so a client can have its answer before
    /// the line is there; but nginx here is one process, which writes that line before it
    /// takes the next connection: one more request, answered, means the lines before it
    /// are written. (That request's own line is left out.)
    fn logged_so_far(&self, log: &Path) -> Vec<String> {
        if let Some(port) = self.log_barrier {
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("nginx");
            stream
                .write_all(format!("GET {LOG_BARRIER} HTTP/1.0\r\n\r\n").as_bytes())
                .unwrap();
            let _ = std::io::copy(&mut stream, &mut std::io::sink());
        }
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.contains(LOG_BARRIER))
            .map(str::to_string)
            .collect()
    }

    /// Requests for `path` logged so far, and the body bytes sent for them.
    pub fn requests_for(&self, path: &str) -> (usize, u64) {
        tally(&self.access_log(), path)
    }

    /// Requests for `path` by a client whose User-Agent starts with `agent` ("zsync/",
    /// "deltadrop/"), and the body bytes sent for them (nginx only): what one client of
    /// several fetched, however many requests each made.
    pub fn requests_by(&self, agent: &str, path: &str) -> (usize, u64) {
        let Some(log) = &self.log else {
            return (0, 0);
        };
        // nginx escapes control characters in a logged header, so the first tab ends it.
        let lines: Vec<String> = self
            .logged_so_far(&log.with_file_name("agents.log"))
            .iter()
            .filter_map(|l| l.split_once('\t'))
            .filter(|(by, _)| by.starts_with(agent))
            .map(|(_, request)| request.to_string())
            .collect();
        tally(&lines, path)
    }
}

/// How many of `lines` ("$request $status $body_bytes_sent", the access log's format)
/// are GETs of `path`, and the body bytes sent for them.
/// The path of the request [`Server::logged_so_far`] makes.
const LOG_BARRIER: &str = "/.deltadrop-tests-log-barrier";

fn tally(lines: &[String], path: &str) -> (usize, u64) {
    let needle = format!("GET /{} ", path.trim_start_matches('/'));
    lines
        .iter()
        .filter(|l| l.starts_with(&needle))
        .fold((0, 0), |(n, bytes), l| {
            (
                n + 1,
                bytes
                    + l.rsplit(' ')
                        .next()
                        .and_then(|b| b.parse::<u64>().ok())
                        .unwrap_or(0),
            )
        })
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// In `dir`, with `openssl`: a CA named `ca_name` (`ca.key`, `ca.pem`) and, for
/// `(leaf, subject)`, a key (`{leaf}.key`) and a certificate (`{leaf}.crt`) with the
/// common name `subject`, signed by the CA with the `extensions` (an extension file's
/// lines: what the certificate may be used for).
pub fn openssl_ca(
    openssl: &Path,
    dir: &Path,
    ca_name: &str,
    (leaf, subject): (&str, &str),
    extensions: &str,
) {
    std::fs::write(dir.join(format!("{leaf}.ext")), extensions).unwrap();
    let (ca_subject, subject) = (format!("/CN={ca_name}"), format!("/CN={subject}"));
    let [key, csr, ext, crt] = ["key", "csr", "ext", "crt"].map(|kind| format!("{leaf}.{kind}"));
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            &ca_subject,
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
        &[
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", &subject, "-keyout", &key, "-out",
            &csr,
        ],
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &ext,
            "-out",
            &crt,
        ],
    ];
    run_openssl(openssl, &steps, dir);
}

/// Runs `openssl` with each of `steps` in `dir`; fails the test at the first that fails.
pub fn run_openssl(openssl: &Path, steps: &[&[&str]], dir: &Path) {
    for args in steps {
        let out = run(openssl, args, dir);
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            text(&out.stderr)
        );
    }
}

/// nginx serving `root` (ranges on, `max_ranges` as given, or nginx's default),
/// `extra` added inside the server block.
pub fn nginx(root: &Path, max_ranges: Option<u32>, extra: &str) -> Option<Server> {
    let tool = peer("nginx")?;
    start_nginx(&tool, root, max_ranges, false, extra, "", public_dir())
}

/// nginx over HTTPS and HTTP/2, with a certificate for 127.0.0.1 and `localhost` from a
/// fresh in-house CA (made by the `openssl` command line). Returns the server and the CA
/// certificate, which a client must be told to trust. The CA publishes a (empty) CRL,
/// served by the same nginx over plain HTTP and named in the certificate, as in-house
/// CAs do: Windows' certificate checks want to know a certificate's revocation status.
pub fn nginx_tls(root: &Path, extra: &str) -> Option<(Server, PathBuf)> {
    let tool = peer("nginx")?;
    let openssl = peer("openssl")?;
    let state = public_dir();
    let at = |name: &str| state.path().join(name);
    let crl_port = free_port();
    std::fs::write(
        at("ca.cnf"),
        "[ca]\ndefault_ca = crl_only\n[crl_only]\ndatabase = index.txt\ncrlnumber = crlnumber\n\
         default_md = sha256\ndefault_crl_days = 1\n",
    )
    .unwrap();
    std::fs::write(at("index.txt"), "").unwrap();
    std::fs::write(at("crlnumber"), "01\n").unwrap();
    openssl_ca(
        &openssl,
        state.path(),
        "deltadrop test CA",
        ("leaf", "127.0.0.1"),
        &format!(
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             crlDistributionPoints=URI:http://127.0.0.1:{crl_port}/ca.crl\n"
        ),
    );
    let crl_steps: [&[&str]; 2] = [
        &[
            "ca",
            "-gencrl",
            "-config",
            "ca.cnf",
            "-keyfile",
            "ca.key",
            "-cert",
            "ca.pem",
            "-out",
            "ca.crl.pem",
        ],
        &[
            "crl",
            "-in",
            "ca.crl.pem",
            "-outform",
            "der",
            "-out",
            "ca.crl",
        ],
    ];
    run_openssl(&openssl, &crl_steps, state.path());
    let ca = at("ca.pem");
    // The server owns its state directory, so the CA file lives as long as it does.
    let crl = format!(
        "server {{ listen 127.0.0.1:{crl_port}; root {}; }}",
        state.path().display()
    );
    let server = start_nginx(&tool, root, None, true, extra, &crl, state)?;
    Some((server, ca))
}

fn start_nginx(
    tool: &Path,
    root: &Path,
    max_ranges: Option<u32>,
    tls: bool,
    extra: &str,
    other_servers: &str,
    state: TempDir,
) -> Option<Server> {
    let port = free_port();
    let barrier = free_port();
    let log = state.path().join("access.log");
    let max_ranges = max_ranges
        .map(|n| format!("max_ranges {n};"))
        .unwrap_or_default();
    let s = state.path().display();
    let listen = if tls {
        format!(
            "listen 127.0.0.1:{port} ssl http2; ssl_certificate {s}/leaf.crt; \
             ssl_certificate_key {s}/leaf.key;"
        )
    } else {
        format!("listen 127.0.0.1:{port};")
    };
    let listen = format!("{listen} listen 127.0.0.1:{barrier};");
    let conf = format!(
        "daemon off;\nmaster_process off;\npid {s}/nginx.pid;\nerror_log {s}/error.log;\nevents {{}}\nhttp {{\n\
         log_format plain '$request $status $body_bytes_sent';\naccess_log {s}/access.log plain;\n\
         log_format agent '$http_user_agent\\t$request $status $body_bytes_sent';\n\
         access_log {s}/agents.log agent;\n\
         client_body_temp_path {s}/tmp; proxy_temp_path {s}/tmp; fastcgi_temp_path {s}/tmp;\n\
         uwsgi_temp_path {s}/tmp; scgi_temp_path {s}/tmp;\n\
         server {{ {listen} root {root}; {max_ranges}\n{extra}\n}}\n{other_servers}\n}}\n",
        root = root.display()
    );
    std::fs::create_dir_all(state.path().join("tmp")).unwrap();
    std::fs::write(state.path().join("nginx.conf"), conf).unwrap();
    let mut child = Command::new(tool)
        .arg("-c")
        .arg(state.path().join("nginx.conf"))
        .arg("-p")
        .arg(state.path())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx");
    wait_for_port(port, &mut child);
    Some(Server {
        child,
        port,
        log: Some(log),
        log_barrier: Some(barrier),
        scheme: if tls { "https" } else { "http" },
        _state: Some(state),
    })
}

/// lighttpd serving `root`. It merges ranges that overlap or lie close together into one
/// part, and (1.4.69, Debian 12) sends only the first ten of a longer list of ranges.
/// Its access log is written when it stops.
pub fn lighttpd(root: &Path) -> Option<Server> {
    let tool = peer("lighttpd")?;
    let state = public_dir();
    let port = free_port();
    let s = state.path().display();
    let conf = format!(
        "server.document-root = \"{root}\"\nserver.bind = \"127.0.0.1\"\nserver.port = {port}\n\
         server.modules = (\"mod_accesslog\")\nserver.errorlog = \"{s}/error.log\"\n\
         accesslog.filename = \"{s}/access.log\"\naccesslog.format = \"%r %>s %b\"\n\
         mimetype.assign = (\"\" => \"application/octet-stream\")\n",
        root = root.display()
    );
    let config = state.path().join("lighttpd.conf");
    std::fs::write(&config, conf).unwrap();
    let mut command = Command::new(tool);
    command.arg("-D").arg("-f").arg(&config);
    Some(serve_from(command, port, state))
}

/// Starts `command`, a server configured to listen on `port` and to log its requests to
/// `access.log` in `state` (which it keeps), and waits until it listens.
fn serve_from(mut command: Command, port: u16, state: TempDir) -> Server {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {:?}: {e}", command.get_program()));
    wait_for_port(port, &mut child);
    Server {
        child,
        port,
        log: Some(state.path().join("access.log")),
        log_barrier: None,
        scheme: "http",
        _state: Some(state),
    }
}

/// Apache httpd serving `root`, in one foreground process. It merges overlapping and
/// adjacent ranges into one part.
pub fn apache(root: &Path) -> Option<Server> {
    apache_with(root, &[], "")
}

/// [`apache`] with more of Debian's modules loaded (`"autoindex"` for
/// `mod_autoindex.so`) and `directives` for `root` (`Options +Indexes`).
pub fn apache_with(root: &Path, modules: &[&str], directives: &str) -> Option<Server> {
    let tool = peer("apache2")?;
    let state = public_dir();
    let port = free_port();
    let s = state.path().display();
    let dir = "/usr/lib/apache2/modules";
    let more_modules: String = modules
        .iter()
        .map(|name| format!("LoadModule {name}_module {dir}/mod_{name}.so\n"))
        .collect();
    let conf = format!(
        "ServerRoot \"{s}\"\nServerName 127.0.0.1\nListen 127.0.0.1:{port}\n\
         LoadModule mpm_event_module {dir}/mod_mpm_event.so\n\
         LoadModule authz_core_module {dir}/mod_authz_core.so\n{more_modules}\
         User nobody\nGroup nogroup\nPidFile {s}/httpd.pid\nErrorLog {s}/error.log\n\
         LogFormat \"%r %>s %B\" plain\nCustomLog {s}/access.log plain\n\
         DocumentRoot \"{root}\"\n<Directory \"{root}\">\n  Require all granted\n{directives}\n</Directory>\n",
        root = root.display()
    );
    let config = state.path().join("httpd.conf");
    std::fs::write(&config, conf).unwrap();
    let mut command = Command::new(tool);
    command.arg("-X").arg("-f").arg(&config);
    Some(serve_from(command, port, state))
}

/// Squid, a forward proxy, on a free loopback port, caching nothing; with `basic_auth`
/// it asks its clients for that user and password (`407` otherwise).
pub fn squid(basic_auth: Option<(&str, &str)>) -> Option<Server> {
    let tool = peer("squid")?;
    let state = public_dir();
    let s = state.path().display();
    // Squid drops root for its own user, which must be able to write here.
    let _ = Command::new("chown")
        .arg("proxy:proxy")
        .arg(state.path())
        .status();
    let port = free_port();
    let auth = match basic_auth {
        Some((user, password)) => {
            let users = htpasswd(state.path(), user, password)?;
            format!(
                "auth_param basic program /usr/lib/squid/basic_ncsa_auth {}\n\
                 auth_param basic realm deltadrop test proxy\n\
                 acl signed_in proxy_auth REQUIRED\nhttp_access allow localhost signed_in\n",
                users.display()
            )
        }
        None => "http_access allow localhost\n".into(),
    };
    let conf = format!(
        "http_port 127.0.0.1:{port}\npid_filename {s}/squid.pid\ncache_log {s}/cache.log\n\
         access_log stdio:{s}/access.log\ncache deny all\ncache_mem 8 MB\ncoredump_dir {s}\n\
         shutdown_lifetime 0 seconds\n{auth}http_access deny all\n"
    );
    let config = state.path().join("squid.conf");
    std::fs::write(&config, conf).unwrap();
    let mut command = Command::new(tool);
    command.arg("-N").arg("-f").arg(&config);
    Some(serve_from(command, port, state))
}

/// An `htpasswd` file for nginx's `auth_basic_user_file`, in `dir`, with one user (the
/// password hashed by `openssl passwd -apr1`).
pub fn htpasswd(dir: &Path, user: &str, password: &str) -> Option<PathBuf> {
    let openssl = peer("openssl")?;
    let out = Command::new(openssl)
        .args(["passwd", "-apr1", password])
        .output()
        .expect("run openssl passwd");
    assert!(out.status.success());
    let path = dir.join("htpasswd");
    std::fs::write(&path, format!("{user}:{}", text(&out.stdout))).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Read by the servers' own users (nginx's workers, squid's helper).
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    Some(path)
}

/// Python's `http.server`: no range support at all (every reply is a 200).
pub fn python_http(root: &Path) -> Option<Server> {
    let tool = peer("python3")?;
    let port = free_port();
    let mut child = Command::new(tool)
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start python http.server");
    wait_for_port(port, &mut child);
    Some(Server {
        child,
        port,
        log: None,
        log_barrier: None,
        scheme: "http",
        _state: None,
    })
}

/// How a [`misbehaving`] server answers a range request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    /// None: ranges served correctly, one part or multipart (a baseline, and a recorder
    /// of what clients send).
    Honest,
    /// Answers only the first range of a multi-range request, as a single-part 206
    /// (some CDNs do this).
    FirstRangeOnly,
    /// Serves correct framing but flips bits in every range that covers `offset`.
    CorruptAt(u64),
    /// Sends a multipart reply whose framing is garbage when more than one range is asked.
    GarbledMultipart,
    /// Serves one range per request with `206`, but answers a request for several with
    /// `200` and the whole file, as S3, MinIO and many CDNs do.
    WholeFileForSeveralRanges,
    /// Answers range requests `503 Service Unavailable` with `Retry-After: seconds` while
    /// it has answered fewer than `requests` requests in all, then serves them.
    Busy { requests: usize, seconds: u64 },
    /// Starts answering the first `requests` range requests (headers, then 16 KiB of the
    /// body) and then goes silent with the connection open; serves later ones.
    Stall { requests: usize },
    /// Answers every range request `416 Range Not Satisfiable`, as if its file were empty.
    NotSatisfiable,
    /// Sends the first range asked for, with a `Content-Length` 1000 bytes longer than
    /// the body, and closes the connection.
    LyingLength,
    /// Sends the ranges asked for in reverse order, each twice: whole, and again as an
    /// overlapping piece of it.
    OverlappingParts,
    /// Ignores ranges: `200` without a length, the file, then junk without end.
    EndlessBody,
    /// Redirects every range request to itself.
    RedirectLoop,
    /// Serves honestly, but once it has answered `requests` requests, serves the
    /// subfolder `folder` of its root instead: a publisher replacing a build between
    /// two requests.
    SwitchFolder {
        requests: usize,
        folder: &'static str,
    },
}

/// A one-file-at-a-time server written here to misbehave in the ways real ones do.
/// Serves `root` (GET only). Counts the requests it answered, and those that carried
/// credentials.
pub struct Misbehaving {
    pub port: u16,
    tally: std::sync::Arc<Tally>,
}

#[derive(Default)]
struct Tally {
    requests: std::sync::atomic::AtomicUsize,
    with_credentials: std::sync::atomic::AtomicUsize,
}

impl Tally {
    /// Counts one request; returns how many came before it.
    fn count(&self, request: &Request) -> usize {
        if request.authorization {
            self.with_credentials
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
}

impl Misbehaving {
    pub fn url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }

    pub fn requests(&self) -> usize {
        self.tally
            .requests
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Requests that came with credentials: an `Authorization` header, or a token header
    /// (`PRIVATE-TOKEN`, `X-JFrog-Art-Api`).
    pub fn requests_with_credentials(&self) -> usize {
        self.tally
            .with_credentials
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Accepts connections on a loopback port, each on its own thread, with `handle`.
fn listen(
    handle: impl Fn(TcpStream, &Tally) -> std::io::Result<()> + Send + Sync + 'static,
) -> Misbehaving {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let tally = std::sync::Arc::new(Tally::default());
    let handle = std::sync::Arc::new(handle);
    let counts = tally.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (handle, counts) = (handle.clone(), counts.clone());
            std::thread::spawn(move || {
                let _ = handle(stream, &counts);
            });
        }
    });
    Misbehaving { port, tally }
}

/// What the test servers look at in a request.
struct Request {
    /// The path, without its leading `/`.
    path: String,
    range: Option<String>,
    authorization: bool,
}

/// Reads one request's head; `None` at the end of the connection.
fn read_request(reader: &mut impl BufRead) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .trim_start_matches('/')
        .to_string();
    let mut request = Request {
        path,
        range: None,
        authorization: false,
    };
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        if line.trim().is_empty() {
            return Ok(Some(request));
        }
        let (name, value) = line.split_once(':').unwrap_or((&line, ""));
        match name.to_ascii_lowercase().as_str() {
            "range" => request.range = Some(value.trim().to_string()),
            // Credentials, or a token in a header of its own.
            "authorization" | "private-token" | "x-jfrog-art-api" => request.authorization = true,
            _ => {}
        }
    }
}

pub fn misbehaving(root: &Path, how: Misbehaviour) -> Misbehaving {
    let root = root.to_path_buf();
    listen(move |stream, tally| answer(stream, &root, how, tally))
}

fn answer(stream: TcpStream, root: &Path, how: Misbehaviour, tally: &Tally) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut w = stream;
    while let Some(request) = read_request(&mut reader)? {
        let answered = tally.count(&request);
        let path = request.path.as_str();
        let range = request.range;
        let root = match how {
            Misbehaviour::SwitchFolder { requests, folder } if answered >= requests => {
                root.join(folder)
            }
            _ => root.to_path_buf(),
        };
        let Ok(mut data) = std::fs::read(root.join(path)) else {
            w.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")?;
            continue;
        };
        let len = data.len() as u64;
        let Some(range) = range else {
            write!(w, "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n")?;
            w.write_all(&data)?;
            continue;
        };
        if let Misbehaviour::Busy { requests, seconds } = how
            && answered < requests
        {
            write!(
                w,
                "HTTP/1.1 503 Service Unavailable\r\nRetry-After: {seconds}\r\nContent-Length: 0\r\n\r\n"
            )?;
            continue;
        }
        let ranges: Vec<(u64, u64)> = range
            .trim_start_matches("bytes=")
            .split(',')
            .filter_map(|r| {
                let (a, b) = r.split_once('-')?;
                Some((a.parse().ok()?, b.parse::<u64>().ok()?.min(len - 1)))
            })
            .collect();
        match how {
            Misbehaviour::Stall { requests } if answered < requests => {
                let some = len.min(16 << 10);
                write!(
                    w,
                    "HTTP/1.1 206 Partial Content\r\nContent-Length: {len}\r\nContent-Range: bytes 0-{}/{len}\r\n\r\n",
                    len - 1
                )?;
                w.write_all(&data[..some as usize])?;
                std::thread::sleep(Duration::from_secs(3600));
                return Ok(());
            }
            Misbehaviour::NotSatisfiable => {
                write!(
                    w,
                    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */0\r\nContent-Length: 0\r\n\r\n"
                )?;
                continue;
            }
            Misbehaviour::EndlessBody => {
                w.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")?;
                w.write_all(&data)?;
                let junk = random_bytes(1 << 16, 7);
                loop {
                    w.write_all(&junk)?;
                }
            }
            Misbehaviour::RedirectLoop => {
                write!(
                    w,
                    "HTTP/1.1 302 Found\r\nLocation: /{path}\r\nContent-Length: 0\r\n\r\n"
                )?;
                continue;
            }
            _ => {}
        }
        if let Misbehaviour::CorruptAt(offset) = how
            && (offset as usize) < data.len()
        {
            data[offset as usize] ^= 0x55;
        }
        let single = |w: &mut TcpStream, (a, b): (u64, u64)| -> std::io::Result<()> {
            write!(
                w,
                "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {a}-{b}/{len}\r\n\r\n",
                b - a + 1
            )?;
            w.write_all(&data[a as usize..=b as usize])
        };
        match (how, ranges.len()) {
            (Misbehaviour::LyingLength, _) => {
                let (a, b) = ranges[0];
                write!(
                    w,
                    "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {a}-{b}/{len}\r\n\r\n",
                    b - a + 1 + 1000
                )?;
                w.write_all(&data[a as usize..=b as usize])?;
                return Ok(());
            }
            (Misbehaviour::OverlappingParts, _) => {
                let mut parts = Vec::new();
                for &(a, b) in ranges.iter().rev() {
                    parts.push((a, b));
                    parts.push(((a + b) / 2, b));
                }
                multipart(&mut w, &data, &parts)?;
            }
            (_, 1) | (Misbehaviour::FirstRangeOnly, _) => single(&mut w, ranges[0])?,
            (Misbehaviour::WholeFileForSeveralRanges, _) => {
                write!(w, "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n")?;
                w.write_all(&data)?;
            }
            (Misbehaviour::GarbledMultipart, _) => {
                let body = b"--zz\r\nthis is not what a multipart reply looks like\r\n";
                write!(
                    w,
                    "HTTP/1.1 206 Partial Content\r\nContent-Type: multipart/byteranges; boundary=zz\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )?;
                w.write_all(body)?;
            }
            _ => multipart(&mut w, &data, &ranges)?,
        }
    }
    Ok(())
}

/// A `206` `multipart/byteranges` reply with `parts` (inclusive ranges) of `data`.
fn multipart(w: &mut impl Write, data: &[u8], parts: &[(u64, u64)]) -> std::io::Result<()> {
    let len = data.len();
    let mut body = Vec::new();
    for &(a, b) in parts {
        write!(
            body,
            "\r\n--zz\r\nContent-Range: bytes {a}-{b}/{len}\r\n\r\n"
        )?;
        body.extend_from_slice(&data[a as usize..=b as usize]);
    }
    body.extend_from_slice(b"\r\n--zz--\r\n");
    write!(
        w,
        "HTTP/1.1 206 Partial Content\r\nContent-Type: multipart/byteranges; boundary=zz\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )?;
    w.write_all(&body)
}

/// What a [`scripted`] server answers.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// A server that answers each GET with the [`Reply`] that `reply` makes of its target
/// (path and query, without the leading `/`): for services no Debian package provides,
/// such as an S3 bucket's listing. Counts the requests it answered.
pub fn scripted(reply: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Misbehaving {
    listen(move |stream, tally| {
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut w = stream;
        while let Some(request) = read_request(&mut reader)? {
            tally.count(&request);
            let Reply {
                status,
                content_type,
                body,
            } = reply(&request.path);
            write!(
                w,
                "HTTP/1.1 {status} Scripted\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )?;
            w.write_all(&body)?;
        }
        Ok(())
    })
}

/// A mirror redirector (MirrorBrain, download.opensuse.org style): serves files itself
/// when asked without a range (the control file), and sends each range request on to the
/// next of `mirrors` (base URLs) in turn with a `302`.
pub fn redirector(root: &Path, mirrors: Vec<String>) -> Misbehaving {
    let root = root.to_path_buf();
    listen(move |stream, tally| redirect(stream, &root, &mirrors, tally))
}

fn redirect(
    stream: TcpStream,
    root: &Path,
    mirrors: &[String],
    tally: &Tally,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut w = stream;
    while let Some(request) = read_request(&mut reader)? {
        let n = tally.count(&request);
        if request.range.is_some() {
            let mirror = &mirrors[n % mirrors.len()];
            write!(
                w,
                "HTTP/1.1 302 Found\r\nLocation: {mirror}/{}\r\nContent-Length: 0\r\n\r\n",
                request.path
            )?;
            continue;
        }
        let data = std::fs::read(root.join(&request.path)).unwrap_or_default();
        write!(
            w,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            data.len()
        )?;
        w.write_all(&data)?;
    }
    Ok(())
}

/// Where cargo builds: `CARGO_TARGET_DIR`, or the workspace's `target/`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// A file the packaging builds under `target/` (`relative`), or a skip (a failure under
/// `DELTADROP_REQUIRE_PEERS=1`).
pub fn built(relative: &str) -> Option<PathBuf> {
    let path = target_dir().join(relative);
    if path.is_file() {
        return Some(path);
    }
    let why = format!(
        "{} is not built (run packaging/package.sh deb windows)",
        path.display()
    );
    if std::env::var("DELTADROP_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("{why}");
    }
    eprintln!("SKIPPED: {why}");
    None
}

/// Waits (up to 90 s) until the app's frame log (`DELTADROP_FRAME_LOG`) says its form's
/// "Download from" holds `shown`; else photographs the screen into `shot` and fails.
pub fn wait_for_form(x: &Xvfb, log: &Path, shown: &str, shot: &Path) {
    let shown = format!("\t{shown}");
    let deadline = Instant::now() + Duration::from_secs(90);
    let last_frame = || {
        let log = std::fs::read_to_string(log).unwrap_or_default();
        log.lines().last().unwrap_or_default().to_string()
    };
    while !last_frame().ends_with(&shown) {
        if Instant::now() > deadline {
            x.screenshot(shot);
            panic!(
                "the form does not show {shown:?}; last frame: {:?}; the screen: {}",
                last_frame(),
                shot.display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A child process, killed when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An X server without a screen (Xvfb) on a free display, stopped when dropped, for
/// running real app windows and photographing them.
pub struct Xvfb {
    _server: Killed,
    /// The `DISPLAY` value, `:N`.
    pub display: String,
}

/// Starts Xvfb (1280x860, 24-bit), or skips without it or imagemagick (for screenshots).
pub fn xvfb() -> Option<Xvfb> {
    let (tool, _, _) = (peer("Xvfb")?, peer("import")?, peer("convert")?);
    // Xvfb picks a free display itself and prints its number on `-displayfd`: choosing one
    // here by looking for lock files raced with tests starting their own Xvfb at once.
    let mut server = Killed(
        Command::new(tool)
            .args(["-displayfd", "1", "-screen", "0", "1280x860x24"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb"),
    );
    let mut number = String::new();
    BufReader::new(server.0.stdout.take().expect("Xvfb's stdout"))
        .read_line(&mut number)
        .expect("read Xvfb's display number");
    let n: u32 = number
        .trim()
        .parse()
        .expect("Xvfb printed its display number");
    Some(Xvfb {
        _server: server,
        display: format!(":{n}"),
    })
}

impl Xvfb {
    /// Photographs the whole screen into the PNG file `to`; returns how many distinct
    /// colours it has (1 for a blank screen; a drawn window with text has hundreds).
    pub fn screenshot(&self, to: &Path) -> usize {
        let import = peer("import").expect("imagemagick");
        let status = Command::new(import)
            .args(["-display", &self.display, "-window", "root"])
            .arg(to)
            .status()
            .expect("run import");
        assert!(status.success(), "import failed");
        assert_eq!(&read(to)[..8], b"\x89PNG\r\n\x1a\n");
        let convert = peer("convert").expect("imagemagick");
        let colours = Command::new(convert)
            .arg(to)
            .args(["-format", "%k", "info:"])
            .output()
            .expect("run convert");
        String::from_utf8_lossy(&colours.stdout)
            .trim()
            .parse()
            .expect("convert prints the number of colours")
    }
}

/// A D-Bus session bus of a test's own (`dbus-daemon --session`), stopped when dropped,
/// for desktop services (a notification daemon, a tray icon) that must not touch the
/// machine's own session.
pub struct SessionBus {
    _daemon: Killed,
    /// The `DBUS_SESSION_BUS_ADDRESS` value.
    pub address: String,
}

/// Starts a session bus, or skips without `dbus-daemon`.
pub fn session_bus() -> Option<SessionBus> {
    let mut daemon = Command::new(peer("dbus-daemon")?)
        .args(["--session", "--nofork", "--print-address=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dbus-daemon");
    let mut address = String::new();
    BufReader::new(daemon.stdout.take().expect("piped"))
        .read_line(&mut address)
        .expect("dbus-daemon prints its address");
    let address = address.trim().to_string();
    assert!(!address.is_empty(), "dbus-daemon printed no address");
    Some(SessionBus {
        _daemon: Killed(daemon),
        address,
    })
}

/// A Secret Service of a test's own: GNOME Keyring's daemon (secrets only, its login
/// keyring unlocked) on a session bus of its own, its keyrings and the config folder in
/// a temporary home. Programs run with [`SecretService::env`] save and read sign-ins
/// there and never in the machine's own keyring.
pub struct SecretService {
    _daemon: Killed,
    bus: SessionBus,
    home: TempDir,
}

impl SecretService {
    /// The environment a program needs to use this store and this home's config folder.
    pub fn env(&self) -> Vec<(&'static str, PathBuf)> {
        secret_service_env(&self.bus, self.home.path())
    }

    /// The temporary home (its `config/deltadrop` is the app's config folder).
    pub fn home(&self) -> &Path {
        self.home.path()
    }
}

/// Starts a Secret Service, or skips without `gnome-keyring-daemon`, `dbus-daemon` or
/// `dbus-send`.
pub fn secret_service() -> Option<SecretService> {
    let keyring = peer("gnome-keyring-daemon")?;
    let dbus_send = peer("dbus-send")?;
    let bus = session_bus()?;
    let home = tempfile::tempdir().expect("tempdir");
    let run_dir = home.path().join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let env = secret_service_env(&bus, home.path());
    let mut daemon = Command::new(keyring)
        .args(["--foreground", "--components=secrets", "--unlock"])
        .envs(env.clone())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start gnome-keyring-daemon");
    // --unlock reads the login keyring's password from stdin, to its end.
    daemon
        .stdin
        .take()
        .expect("piped")
        .write_all(b"test keyring password")
        .unwrap();
    let service = SecretService {
        _daemon: Killed(daemon),
        bus,
        home,
    };
    wait_until("the Secret Service on the test's bus", || {
        let reply = Command::new(&dbus_send)
            .args([
                "--session",
                "--dest=org.freedesktop.DBus",
                "--print-reply",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.secrets",
            ])
            .envs(env.clone())
            .output()
            .expect("run dbus-send");
        text(&reply.stdout).contains("boolean true")
    });
    Some(service)
}

fn secret_service_env(bus: &SessionBus, home: &Path) -> Vec<(&'static str, PathBuf)> {
    vec![
        ("DBUS_SESSION_BUS_ADDRESS", PathBuf::from(&bus.address)),
        ("HOME", home.to_path_buf()),
        ("XDG_CONFIG_HOME", home.join("config")),
        ("XDG_DATA_HOME", home.join("data")),
        ("XDG_RUNTIME_DIR", home.join("run")),
    ]
}

/// An nginx `extra` that asks for Basic auth (realm `realm`) and lets `user` in with
/// `password`, and the folder that holds its password file (keep it while nginx runs).
/// The file is made with `openssl passwd -apr1`, the hash `htpasswd` writes.
pub fn basic_auth(realm: &str, user: &str, password: &str) -> Option<(String, TempDir)> {
    let openssl = peer("openssl")?;
    let hash = Command::new(openssl)
        .args(["passwd", "-apr1", password])
        .output()
        .expect("run openssl passwd");
    let folder = public_dir();
    let htpasswd = folder.path().join("htpasswd");
    let line = format!("{user}:{}\n", text(&hash.stdout).trim());
    std::fs::write(&htpasswd, line).unwrap();
    let extra = format!(
        "auth_basic \"{realm}\"; auth_basic_user_file {};",
        htpasswd.display()
    );
    Some((extra, folder))
}

/// Waits until `done` (checked every 100 ms), failing the test after a minute.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `program` (a binary under test: `env!("CARGO_BIN_EXE_…")`, known only to its own
/// package's tests) with `args`, to run in `cwd`.
pub fn command(program: impl AsRef<OsStr>, args: &[&str], cwd: &Path) -> Command {
    let mut command = Command::new(program);
    command.args(args).current_dir(cwd);
    command
}

/// Runs `program` with `args` in `cwd` to its end; its exit status and output.
pub fn run(program: impl AsRef<OsStr>, args: &[&str], cwd: &Path) -> Output {
    let program = program.as_ref();
    command(program, args, cwd)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()))
}

/// A child's output as text (lossy), for messages and matching.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Reads a whole file, panicking with its name.
pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Drains a reader (for child output).
pub fn read_all(mut r: impl Read) -> String {
    let mut s = String::new();
    let _ = r.read_to_string(&mut s);
    s
}
