//! A small range-capable HTTP/1.1 file server (`deltadrop-cli serve DIR`, and the GUI's
//! offline demo), for publishers who have no suitable web server.
//!
//! hyper speaks the protocol: message framing, request bodies, header limits, keep-alive
//! and HTTP/1.0, versions. A parser of our own got each of those wrong in ways a proxy in
//! front of it would read differently (issue 19), so only what is ours is here: which
//! file a path names, never one outside the directory (`path`); what a `Range` header
//! asks for, bounded (`ranges`); the reply to a request (`reply`); its body, streamed
//! from the file part by part and paced by an optional rate limit shared by all
//! connections, which the GUI's demo uses so that its block map visibly fills (`body`);
//! and a limit on clients that stop reading (`stall`).
//!
//! It runs a tokio runtime of its own on its own thread, as its callers are not async: a
//! connection is a task, so hundreds of idle ones cost little, and file reads run on the
//! runtime's blocking threads. One thread does the protocol, as nginx's one worker does
//! by default: ample for a LAN. For the internet, put it behind a proper server.

mod body;
mod path;
mod ranges;
mod reply;
mod stall;
#[cfg(test)]
mod tests;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

use crate::error::{Error, Result};
use body::Pace;
use stall::WriteStall;

/// The most a request's head (request line and headers) may take; more gets a `431`.
/// nginx takes about half this; here 1024 ranges of 20-digit offsets fit, so the range
/// limit, not this one, is what a long range list meets.
const MAX_HEAD: usize = 64 << 10;
/// How long after an accept fails to try again: it fails when the process is out of
/// file descriptors, and retrying at once would spin until a connection ends.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);
/// Threads reading files for replies at once; more replies wait their turn.
const FILE_READERS: usize = 8;

/// How long a connection may keep the server waiting.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// For a request's whole head, from when the server is ready for it: an idle
    /// keep-alive connection is closed after this long, and so is a client that sends
    /// its head a byte at a time (slowloris).
    pub head: Duration,
    /// For a client to take any of the reply while the server has more to send.
    pub write_stall: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            head: Duration::from_secs(30),
            write_stall: Duration::from_secs(60),
        }
    }
}

/// What every connection of one server shares.
struct Site {
    /// The served directory, canonical.
    root: PathBuf,
    pace: Option<Pace>,
    timeouts: Timeouts,
}

/// A running server; it stops when the process ends.
pub struct Server {
    addr: SocketAddr,
    thread: JoinHandle<()>,
}

impl Server {
    /// Serves `dir` on `addr` (port 0 picks a free port) from a background thread, sending
    /// at most `rate_limit` bytes per second over all connections together, if given.
    pub fn start(dir: &Path, addr: SocketAddr, rate_limit: Option<u64>) -> Result<Server> {
        Server::start_with(dir, addr, rate_limit, Timeouts::default())
    }

    /// As [`Server::start`], with other timeouts (tests use short ones).
    pub(crate) fn start_with(
        dir: &Path,
        addr: SocketAddr,
        rate_limit: Option<u64>,
        timeouts: Timeouts,
    ) -> Result<Server> {
        let root = dir.canonicalize().map_err(|e| Error::io("serve", dir, e))?;
        let cannot_listen =
            |e: std::io::Error| Error::Invalid(format!("cannot listen on {addr}: {e}"));
        let listener = std::net::TcpListener::bind(addr).map_err(cannot_listen)?;
        listener.set_nonblocking(true).map_err(cannot_listen)?;
        let addr = listener.local_addr().map_err(cannot_listen)?;
        let runtime =
            runtime().map_err(|e| Error::Invalid(format!("cannot start serving: {e}")))?;
        let listener = {
            let _inside = runtime.enter();
            TcpListener::from_std(listener).map_err(cannot_listen)?
        };
        let site = Arc::new(Site {
            root,
            pace: rate_limit.map(Pace::new),
            timeouts,
        });
        let thread = std::thread::Builder::new()
            .name("deltadrop-serve".into())
            .spawn(move || runtime.block_on(accept(listener, site)))
            .map_err(|e| Error::Invalid(format!("cannot start serving: {e}")))?;
        Ok(Server { addr, thread })
    }

    /// The base URL, ending in `/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Blocks for as long as the server runs.
    pub fn wait(self) {
        let _ = self.thread.join();
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(FILE_READERS)
        .build()
}

async fn accept(listener: TcpListener, site: Arc<Site>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                // Replies are written whole or in big pieces: nothing to gain from Nagle's
                // delay, and a small reply on a kept-alive connection would wait for it.
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_connection(stream, site.clone()));
            }
            Err(_) => tokio::time::sleep(ACCEPT_RETRY).await,
        }
    }
}

/// Answers the requests of one connection until it ends, fails or times out.
async fn serve_connection<Io>(io: Io, site: Arc<Site>)
where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let timeouts = site.timeouts;
    let io = TokioIo::new(WriteStall::new(io, timeouts.write_stall));
    let service = service_fn(move |request| {
        let site = site.clone();
        async move { Ok::<_, Infallible>(reply::answer(site, request).await) }
    });
    // An error here is the connection's end (the client left, a timeout, a request hyper
    // refused and answered itself): nothing to report to anyone.
    let _ = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.head)
        .max_header_size(MAX_HEAD)
        // Header names as nginx writes them, for old clients' hand-written parsers.
        .title_case_headers(true)
        // A client that has sent its last request and shut its side down still gets
        // every answer.
        .half_close(true)
        .serve_connection(io, service)
        .await;
}

/// The bytes a client sends on one connection (after which it shuts its side), answered
/// by the server's own connection code over memory; the bytes sent back, or `None` if the
/// server had not ended the connection within `limit`. For the fuzzing wrappers.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn exchange(root: &Path, request: &[u8], limit: Duration) -> Option<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let site = Arc::new(Site {
        root: root.to_path_buf(),
        pace: None,
        timeouts: Timeouts::default(),
    });
    let runtime = runtime().expect("a runtime for the exchange");
    runtime.block_on(async {
        let (client, server) = tokio::io::duplex(64 << 10);
        tokio::spawn(serve_connection(server, site));
        let (mut from_server, mut to_server) = tokio::io::split(client);
        // Sending beside reading: a server blocked on a full pipe reads no more.
        let request = request.to_vec();
        tokio::spawn(async move {
            // The server may stop reading (a request it refused): the rest is not sent.
            if to_server.write_all(&request).await.is_ok() {
                let _ = to_server.shutdown().await;
            }
        });
        let receive = async {
            let mut reply = Vec::new();
            let _ = from_server.read_to_end(&mut reply).await;
            reply
        };
        tokio::time::timeout(limit, receive).await.ok()
    })
}
