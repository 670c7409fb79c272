//! The command line: `get` (zsync's client flags), `make` (zsyncmake's), `info`, `serve`,
//! and `follow` (a build, checked and kept up to date for schedulers).
//!
//! Flags are parsed by clap into [`Cli`], turned into an engine [`JobSpec`], and the job's
//! events go to one of the renderers in [`render`]. Nothing here downloads or hashes.

mod access;
mod follow;
mod render;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory, Parser, Subcommand};
use deltadrop_core::{ControlSource, Error, Job, JobOptions, JobSpec, Mode};
use deltadrop_core::{MakeOptions, write_casync_index, write_control_file, write_zck};

pub use access::{CLIENT_CERT_PASSWORD_VAR, LoginArgs, LogoutArgs};
use render::Renderer;

/// Exit codes, as zsync's.
pub const EXIT_OK: u8 = 0;
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_VERIFY_FAILED: u8 = 2;
/// Stopped by Ctrl-C, as shells count it (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, Parser)]
#[command(
    name = "deltadrop-cli",
    version,
    about = "Download big files by fetching only what changed (zsync compatible)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Download the target of a .zsync, reusing local seed files (zsync's flags).
    ///
    /// Exit codes: 0 done and verified, 1 error, 2 the result did not match the
    /// control file's SHA-1 (the data is kept in OUT.part).
    Get(GetArgs),
    /// Keep a folder up to date with a build published at a stable URL (a `latest/`
    /// folder, Jenkins' lastSuccessfulBuild, a release's latest/download).
    ///
    /// Each check is a conditional request (nothing new costs one request and no body); a
    /// new build is downloaded with the builds kept in the folder as seeds. Exit codes
    /// with --once: 0 up to date or updated, 1 error.
    Follow(FollowArgs),
    /// Show what a .zsync describes and, with seeds, how much would be reused and fetched.
    Info(InfoArgs),
    /// Save a sign-in (or a token) for HOST in the system's credential store; get, follow
    /// and info then use it for that host. The password is asked for without echo, or
    /// read as one line from standard input when that is not a terminal.
    Login(LoginArgs),
    /// Forget the sign-in and tokens saved for HOST.
    Logout(LogoutArgs),
    /// Write a .zsync control file for FILE (zsyncmake's flags).
    Make(MakeArgs),
    /// Serve a directory over HTTP with range support, for publishing without a web server.
    Serve(ServeArgs),
    /// Write the man pages or print shell completions (for packagers and your shell's rc).
    #[command(subcommand)]
    Generate(Generate),
}

#[derive(Debug, Subcommand)]
pub enum Generate {
    /// Write man pages for deltadrop-cli, each of its commands and the deltadrop app
    /// into DIR (section 1).
    Man {
        /// The folder to write the `.1` files into.
        dir: PathBuf,
    },
    /// Print the completion script for SHELL on stdout.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct SourceArgs {
    /// URL of the .zsync control file, or a local .zsync file; or the URL of a zchunk
    /// file (.zck), which is its own control file; or a casync index (.caibx, URL or
    /// file).
    #[arg(value_name = "URL|FILE.zsync")]
    pub control: String,
    /// A local file that may hold parts of the target (repeatable).
    #[arg(short = 'i', long = "input", value_name = "SEED")]
    pub seeds: Vec<PathBuf>,
    /// The URL the .zsync came from, for resolving its relative URLs when it is a local file
    /// (for a local casync index: its default store is beside this URL).
    #[arg(short = 'u', long = "url", value_name = "URL")]
    pub base_url: Option<String>,
    /// Credentials for a host, as host=user:password (repeatable); saved ones
    /// (deltadrop-cli login) are used without it.
    #[arg(short = 'A', value_name = "HOST=USER:PASS")]
    pub auth: Vec<String>,
    /// A header sent to one host only, as 'host=Name: value' (repeatable): a token
    /// (`PRIVATE-TOKEN`, `X-JFrog-Art-Api`, `Authorization: Bearer ...`).
    #[arg(long = "header", value_name = "HOST=NAME: VALUE")]
    pub headers: Vec<String>,
    /// A client certificate for one host's mutual TLS, as host=FILE (repeatable): PEM
    /// (certificate and key), or PKCS#12 with its password in
    /// DELTADROP_CLIENT_CERT_PASSWORD.
    #[arg(long = "client-cert", value_name = "HOST=FILE")]
    pub client_certs: Vec<String>,
    /// Proxy for all requests (default: http_proxy / https_proxy from the environment).
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// Also trust the certificate authorities in this PEM file (repeatable), for servers
    /// with an in-house CA.
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub ca_certs: Vec<PathBuf>,
    /// Print one JSON object per event on stdout, for scripts.
    #[arg(long)]
    pub json: bool,
    /// The casync chunk store (URL or folder) for a .caibx (default: default.castr
    /// beside the index).
    #[arg(long, value_name = "URL|DIR")]
    pub store: Option<String>,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output file (default: the control file's Filename, in the current directory).
    #[arg(short = 'o', value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Keep a copy of the .zsync here and only download it again if it changed.
    #[arg(short = 'k', value_name = "FILE")]
    pub saved_control: Option<PathBuf>,
    /// Quiet: no progress, only errors and the closing line.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Same as -q (zsync's flag).
    #[arg(short = 's', hide = true)]
    pub silent: bool,
    /// Do not keep the replaced output as OUT.zs-old.
    #[arg(long)]
    pub no_keep_old: bool,
    /// HTTP requests in flight at once.
    #[arg(long, default_value_t = JobOptions::default().parallel_requests, value_name = "N")]
    pub parallel: usize,
    /// Most byte ranges asked for in one request (fewer if the server needs it).
    #[arg(long, default_value_t = JobOptions::default().max_ranges_per_request, value_name = "N")]
    pub max_ranges: usize,
    /// Seconds a server may go silent in the middle of a reply before the request is
    /// retried (a stalled connection).
    #[arg(long, default_value_t = JobOptions::default().stall_timeout.as_secs(), value_name = "SECONDS")]
    pub stall_timeout: u64,
    /// For a target published as a .gz: also re-create that .gz next to the output, as
    /// the control file's Recompress line says (needs the system gzip).
    #[arg(long)]
    pub recompress: bool,
    /// For a zchunk target (.zck): also write the file it was made from beside it, the
    /// name without .zck.
    #[arg(long)]
    pub uncompress: bool,
}

#[derive(Debug, Args)]
pub struct FollowArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The folder the builds go into: the newest under its own name, older ones beside
    /// it with their date.
    #[arg(long, value_name = "FOLDER")]
    pub into: PathBuf,
    /// How many builds to keep, the newest included.
    #[arg(long, default_value_t = JobOptions::default().keep_builds, value_name = "N")]
    pub keep: usize,
    /// Builds in numbered folders: URL is a folder listing (nginx or Apache autoindex,
    /// S3), and this pattern leads to each build's control file (`*/image.wic.zsync`);
    /// the newest is the highest build number or date.
    #[arg(long, value_name = "PATTERN")]
    pub pattern: Option<String>,
    /// Check once, download if there is a new build, and exit.
    #[arg(long, conflicts_with = "every")]
    pub once: bool,
    /// How often to check until stopped (30m, 1h, 1d...); Ctrl-C stops a download
    /// cleanly and the next run resumes it.
    #[arg(long, default_value = "1h", value_name = "INTERVAL", value_parser = humantime::parse_duration)]
    pub every: std::time::Duration,
    /// Only errors and the outcome of each check.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Where the output would go (its old version and .part count as seeds).
    #[arg(short = 'o', value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Estimate how much of the target each seed (-i) would supply, from samples of it,
    /// in about a second per GB of seeds instead of scanning them whole: for choosing
    /// seeds among many files. Prints "SEED: about N% of the target".
    #[arg(long, conflicts_with = "output")]
    pub estimate: bool,
}

#[derive(Debug, Args)]
pub struct MakeArgs {
    /// The file to describe.
    pub file: PathBuf,
    /// Block size, a power of two (default 2048, or 4096 for files over 100 MB).
    #[arg(short = 'b', value_name = "BLOCKSIZE")]
    pub block_size: Option<u32>,
    /// URL the file will be served at (repeatable; default: its name, relative).
    #[arg(short = 'u', value_name = "URL")]
    pub urls: Vec<String>,
    /// Where to write the .zsync (default: FILE.zsync in the current directory), or with
    /// --caibx the index, with --zck the .zck.
    #[arg(short = 'o', value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// The Filename header (default: FILE's name).
    #[arg(short = 'f', value_name = "FILENAME")]
    pub filename: Option<String>,
    /// Also write FILE.gz beside the .zsync and describe that (Z-URL, Z-Map2): clients
    /// fetch compressed pieces and rebuild FILE. -u then gives the .gz's URL.
    #[arg(short = 'z')]
    pub compress: bool,
    /// Write a casync index (FILE.caibx, or -o) and its chunk store instead of a .zsync,
    /// as `casync make` does.
    #[arg(long, conflicts_with_all = ["compress", "block_size", "urls", "filename"])]
    pub caibx: bool,
    /// With --caibx: the chunk store folder (default: default.castr beside the index).
    #[arg(long, value_name = "DIR", requires = "caibx")]
    pub store: Option<PathBuf>,
    /// Write a zchunk file (FILE.zck in the current directory, or -o) instead of a
    /// .zsync: chunks cut by content and compressed with zstd, which zchunk's own tools
    /// (zckdl, unzck) read too. The .zck is its own control file: serve it alone.
    #[arg(long, conflicts_with_all = ["compress", "block_size", "urls", "filename", "caibx"])]
    pub zck: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The directory to serve.
    pub dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Send at most this many KiB per second over all connections (to try a slow link).
    #[arg(long, value_name = "KIB")]
    pub limit_rate: Option<u64>,
}

/// Runs a parsed command line; returns the exit code.
pub fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Get(args) => match get_spec(&args) {
            Ok(spec) => run_job(spec, Renderer::for_get(&args)),
            Err(code) => code,
        },
        Command::Follow(args) => follow::run(&args),
        Command::Info(args) => match job_spec(&args.source) {
            Ok(mut spec) => {
                spec.output = args.output.clone();
                spec.options.mode = if args.estimate {
                    Mode::EstimateSeeds
                } else {
                    Mode::PlanOnly
                };
                run_job(spec, Renderer::for_info(args.source.json))
            }
            Err(code) => code,
        },
        Command::Login(args) => access::login(&args),
        Command::Logout(args) => access::logout(&args),
        Command::Make(args) => make(&args),
        Command::Serve(args) => serve(&args),
        Command::Generate(what) => generate(&what),
    }
}

/// The job the source arguments describe, with the sign-ins given and saved; an
/// argument that cannot be used is said, and is the exit code's error.
fn job_spec(source: &SourceArgs) -> Result<JobSpec, u8> {
    let mut spec = JobSpec::new(ControlSource::parse(&source.control));
    spec.seeds = source.seeds.clone();
    spec.options.base_url = source.base_url.clone();
    spec.options.proxy = source.proxy.clone();
    spec.options.ca_certs = source.ca_certs.clone();
    spec.options.store = source.store.clone();
    if let Err(err) = access::access_options(source, &mut spec.options) {
        eprintln!("deltadrop-cli: {err}");
        return Err(EXIT_ERROR);
    }
    Ok(spec)
}

fn get_spec(args: &GetArgs) -> Result<JobSpec, u8> {
    let mut spec = job_spec(&args.source)?;
    spec.output = args.output.clone();
    spec.options.saved_control = args.saved_control.clone();
    spec.options.keep_old = !args.no_keep_old;
    spec.options.parallel_requests = args.parallel.max(1);
    spec.options.max_ranges_per_request = args.max_ranges.max(1);
    spec.options.recompress = args.recompress;
    spec.options.uncompress = args.uncompress;
    spec.options.stall_timeout = std::time::Duration::from_secs(args.stall_timeout.max(1));
    Ok(spec)
}

fn run_job(spec: JobSpec, mut renderer: Renderer) -> u8 {
    let (tx, rx) = std::sync::mpsc::channel();
    let job = Job::start(spec, tx);
    for event in rx {
        renderer.event(&event);
    }
    match job.join() {
        Ok(_) => EXIT_OK,
        Err(e) if e.is_verification() => EXIT_VERIFY_FAILED,
        Err(_) => EXIT_ERROR,
    }
}

fn make(args: &MakeArgs) -> u8 {
    if args.caibx {
        return make_caibx(args);
    }
    if args.zck {
        return make_zck(args);
    }
    let options = MakeOptions {
        block_size: args.block_size,
        urls: args.urls.clone(),
        filename: args.filename.clone(),
        compress: args.compress,
    };
    match write_control_file(&args.file, args.output.as_deref(), &options) {
        Ok((path, cf)) => {
            eprintln!(
                "wrote {} ({} blocks of {} bytes)",
                path.display(),
                cf.block_count(),
                cf.block_size
            );
            EXIT_OK
        }
        Err(e) => report_error(&e),
    }
}

fn make_caibx(args: &MakeArgs) -> u8 {
    let index = args.output.clone().unwrap_or_else(|| {
        let name = args.file.file_name().unwrap_or_default().to_string_lossy();
        PathBuf::from(format!("{name}.caibx"))
    });
    let store = args.store.clone().unwrap_or_else(|| {
        let folder = index.parent().unwrap_or(Path::new(""));
        folder.join("default.castr")
    });
    match write_casync_index(&args.file, &index, &store) {
        Ok(made) => {
            eprintln!(
                "wrote {} ({} chunks) and {} new chunk files in {}",
                index.display(),
                made.chunks,
                made.new_chunk_files,
                store.display()
            );
            EXIT_OK
        }
        Err(e) => report_error(&e),
    }
}

fn make_zck(args: &MakeArgs) -> u8 {
    let output = args.output.clone().unwrap_or_else(|| {
        let name = args.file.file_name().unwrap_or_default().to_string_lossy();
        PathBuf::from(format!("{name}.zck"))
    });
    match write_zck(&args.file, &output) {
        Ok(made) => {
            eprintln!(
                "wrote {} ({} chunks, {} bytes for {} bytes of {})",
                output.display(),
                made.chunks,
                made.len,
                made.uncompressed_len,
                args.file.display()
            );
            EXIT_OK
        }
        Err(e) => report_error(&e),
    }
}

fn serve(args: &ServeArgs) -> u8 {
    let rate_limit = args.limit_rate.map(|kib| kib.saturating_mul(1024));
    match deltadrop_core::serve::Server::start(&args.dir, args.listen, rate_limit) {
        Ok(server) => {
            eprintln!(
                "serving {} at {} (Ctrl-C to stop)",
                args.dir.display(),
                server.url()
            );
            server.wait();
            EXIT_OK
        }
        Err(e) => report_error(&e),
    }
}

fn generate(what: &Generate) -> u8 {
    let written = match what {
        Generate::Man { dir } => std::fs::create_dir_all(dir)
            .and_then(|()| clap_mangen::generate_to(Cli::command(), dir))
            .and_then(|()| clap_mangen::generate_to(crate::gui::GuiArgs::command(), dir)),
        Generate::Completions { shell } => {
            let mut cli = Cli::command();
            clap_complete::generate(*shell, &mut cli, "deltadrop-cli", &mut std::io::stdout());
            Ok(())
        }
    };
    match written {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("deltadrop-cli: could not write the man pages: {e}");
            EXIT_ERROR
        }
    }
}

fn report_error(e: &Error) -> u8 {
    render::print_error(e);
    EXIT_ERROR
}
