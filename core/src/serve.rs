//! A small range-capable HTTP/1.1 file server (`deltadrop-cli serve DIR`, and the GUI's
//! offline demo), for publishers who have no suitable web server.
//!
//! It serves regular files below one directory (never outside it), answers `Range` with
//! `206` (one part, or `multipart/byteranges` for several), `416` for ranges outside the
//! file, and keeps connections alive. One thread per connection: it is meant for a
//! handful of clients, not for the internet at large. An optional rate limit, shared by
//! all connections, stands in for a slow link (the GUI's demo uses it so that its block
//! map visibly fills).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

const BOUNDARY: &str = "deltadrop-byteranges-7c1f";
/// More ranges than this in one request are refused (nginx's kind of limit).
const MAX_RANGES: usize = 1024;
/// A connection that sends nothing for this long is closed, so idle clients do not pile
/// up threads.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A running server; it stops when the process ends.
pub struct Server {
    addr: SocketAddr,
    thread: JoinHandle<()>,
}

impl Server {
    /// Serves `dir` on `addr` (port 0 picks a free port) from a background thread, sending
    /// at most `rate_limit` bytes per second over all connections together, if given.
    pub fn start(dir: &Path, addr: SocketAddr, rate_limit: Option<u64>) -> Result<Server> {
        let root = dir.canonicalize().map_err(|e| Error::io("serve", dir, e))?;
        let listener = TcpListener::bind(addr)
            .map_err(|e| Error::Invalid(format!("cannot listen on {addr}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Invalid(format!("cannot listen on {addr}: {e}")))?;
        let pace = rate_limit.map(|rate| Arc::new(Pace::new(rate)));
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let root = root.clone();
                let pace = pace.clone();
                std::thread::spawn(move || {
                    let _ = serve_connection(stream, &root, pace.as_deref());
                });
            }
        });
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

/// One bandwidth shared by all of a server's connections: each write books its time on
/// one clock and sleeps until its turn.
struct Pace {
    bytes_per_second: f64,
    next_free: Mutex<Instant>,
}

impl Pace {
    fn new(bytes_per_second: u64) -> Pace {
        Pace {
            bytes_per_second: bytes_per_second.max(1) as f64,
            next_free: Mutex::new(Instant::now()),
        }
    }

    fn book(&self, bytes: usize) {
        let wait = {
            let mut next_free = self.next_free.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let start = (*next_free).max(now);
            *next_free = start + Duration::from_secs_f64(bytes as f64 / self.bytes_per_second);
            start - now
        };
        std::thread::sleep(wait);
    }
}

/// A connection's writer: small writes, each one paced when the server has a limit.
struct Paced<'a> {
    stream: TcpStream,
    pace: Option<&'a Pace>,
}

impl Write for Paced<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let Some(pace) = self.pace else {
            return self.stream.write(buf);
        };
        // Small pieces, so that a paced reply trickles instead of arriving in bursts.
        let piece = &buf[..buf.len().min(16 << 10)];
        pace.book(piece.len());
        self.stream.write(piece)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

fn serve_connection(stream: TcpStream, root: &Path, pace: Option<&Pace>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = Paced { stream, pace };
    serve_requests(&mut reader, &mut writer, root)
}

/// Answers the requests read from `reader` until it ends or one asks to close. Apart from
/// `serve_connection` so that the fuzzing wrappers can feed it bytes from memory.
pub(crate) fn serve_requests(
    reader: &mut impl BufRead,
    writer: &mut impl Write,
    root: &Path,
) -> std::io::Result<()> {
    loop {
        let mut request_line = String::new();
        if Read::take(&mut *reader, 8192).read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut range = None;
        let mut close = false;
        loop {
            let mut line = String::new();
            if Read::take(&mut *reader, 8192).read_line(&mut line)? == 0 {
                return Ok(());
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "range" => range = Some(value.trim().to_string()),
                    "connection" => close = value.trim().eq_ignore_ascii_case("close"),
                    _ => {}
                }
            }
        }
        let mut words = request_line.split_whitespace();
        let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        let head_only = method == "HEAD";
        if method != "GET" && !head_only {
            respond(writer, "405 Method Not Allowed", &[], b"")?;
            continue;
        }
        match resolve(root, target) {
            Some(path) => send_file(writer, &path, range.as_deref(), head_only)?,
            None => respond(writer, "404 Not Found", &[], b"not found\n")?,
        }
        if close {
            return Ok(());
        }
    }
}

/// Maps a request target to a regular file inside `root`, or nothing.
fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?;
    let decoded = percent_decode(path)?;
    let mut out = root.to_path_buf();
    for component in Path::new(decoded.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    let real = out.canonicalize().ok()?;
    (real.starts_with(root) && real.is_file()).then_some(real)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            // Two hex digits: `from_str_radix` alone would also take "+f".
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parses `bytes=a-b,c-,-d` against a file of `len` bytes; `None` if unsatisfiable or
/// asking for more than [`MAX_RANGES`]. Overlapping or touching ranges are merged
/// (RFC 9110 §14.2 allows it), so no request makes us send a byte twice.
fn parse_ranges(header: &str, len: u64) -> Option<Vec<Range<u64>>> {
    let spec = header.trim().strip_prefix("bytes=")?;
    let mut ranges = Vec::new();
    for part in spec.split(',') {
        let (first, last) = part.trim().split_once('-')?;
        let range = match (first.trim(), last.trim()) {
            ("", suffix) => {
                let n: u64 = suffix.parse().ok()?;
                len.saturating_sub(n)..len
            }
            (first, "") => first.parse().ok()?..len,
            (first, last) => {
                let first: u64 = first.parse().ok()?;
                let last: u64 = last.parse().ok()?;
                if last < first {
                    return None;
                }
                // A last byte past the end means the end, u64::MAX included.
                first..last.saturating_add(1).min(len)
            }
        };
        if range.start < len && range.start < range.end {
            ranges.push(range);
        }
    }
    (!ranges.is_empty() && ranges.len() <= MAX_RANGES).then(|| coalesce(ranges))
}

/// Ranges as asked when they are ascending and apart (the parts then come in the order
/// asked, as RFC 9110 wants); otherwise sorted, with overlapping and touching ones merged.
fn coalesce(ranges: Vec<Range<u64>>) -> Vec<Range<u64>> {
    if ranges.windows(2).all(|w| w[0].end < w[1].start) {
        return ranges;
    }
    crate::blocks::merge(ranges)
}

fn send_file(
    w: &mut impl Write,
    path: &Path,
    range: Option<&str>,
    head_only: bool,
) -> std::io::Result<()> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let Some(range) = range else {
        let headers = [
            ("Content-Length", len.to_string()),
            ("Accept-Ranges", "bytes".into()),
        ];
        write_head(w, "200 OK", &headers)?;
        if !head_only {
            std::io::copy(&mut file, w)?;
        }
        return Ok(());
    };
    let Some(ranges) = parse_ranges(range, len) else {
        return respond(
            w,
            "416 Range Not Satisfiable",
            &[("Content-Range", format!("bytes */{len}"))],
            b"",
        );
    };
    if let [single] = ranges.as_slice() {
        let headers = [
            ("Content-Length", (single.end - single.start).to_string()),
            (
                "Content-Range",
                format!("bytes {}-{}/{len}", single.start, single.end - 1),
            ),
        ];
        write_head(w, "206 Partial Content", &headers)?;
        if !head_only {
            copy_range(&mut file, single, w)?;
        }
        return Ok(());
    }
    let part_head = |r: &Range<u64>| {
        format!(
            "\r\n--{BOUNDARY}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes {}-{}/{len}\r\n\r\n",
            r.start,
            r.end - 1
        )
    };
    let closing = format!("\r\n--{BOUNDARY}--\r\n");
    let body_len: u64 = ranges
        .iter()
        .map(|r| part_head(r).len() as u64 + (r.end - r.start))
        .sum::<u64>()
        + closing.len() as u64;
    let headers = [
        ("Content-Length", body_len.to_string()),
        (
            "Content-Type",
            format!("multipart/byteranges; boundary={BOUNDARY}"),
        ),
    ];
    write_head(w, "206 Partial Content", &headers)?;
    if !head_only {
        for r in &ranges {
            w.write_all(part_head(r).as_bytes())?;
            copy_range(&mut file, r, w)?;
        }
        w.write_all(closing.as_bytes())?;
    }
    Ok(())
}

fn copy_range(file: &mut File, range: &Range<u64>, w: &mut impl Write) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(range.start))?;
    std::io::copy(&mut Read::by_ref(file).take(range.end - range.start), w)?;
    Ok(())
}

fn write_head(w: &mut impl Write, status: &str, headers: &[(&str, String)]) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\nServer: deltadrop\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())
}

fn respond(
    w: &mut impl Write,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut all = headers.to_vec();
    all.push(("Content-Length", body.len().to_string()));
    write_head(w, status, &all)?;
    w.write_all(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::parse_content_range;

    #[test]
    fn range_specs() {
        assert_eq!(
            parse_ranges("bytes=0-9,20-29", 100),
            Some(vec![0..10, 20..30])
        );
        assert_eq!(parse_ranges("bytes=90-", 100), Some(vec![90..100; 1]));
        assert_eq!(parse_ranges("bytes=-10", 100), Some(vec![90..100; 1]));
        assert_eq!(parse_ranges("bytes=95-200", 100), Some(vec![95..100; 1]));
        assert_eq!(parse_ranges("bytes=100-200", 100), None);
        assert_eq!(parse_ranges("bytes=5-1", 100), None);
        assert_eq!(parse_ranges("lines=1-2", 100), None);
        // Overlapping, repeated and touching ranges are sent once.
        let repeated = format!("bytes={}", vec!["0-"; 53].join(","));
        assert_eq!(parse_ranges(&repeated, 100), Some(vec![0..100; 1]));
        assert_eq!(
            parse_ranges("bytes=50-59,0-9,5-19,20-29,60-", 100),
            Some(vec![0..30, 50..100])
        );
        // A last byte of u64::MAX is the end of the file (it overflowed, found by fuzzing).
        assert_eq!(
            parse_ranges("bytes=0-18446744073709551615", 100),
            Some(vec![0..100; 1])
        );
        assert_eq!(
            parse_ranges("bytes=-18446744073709551615", 100),
            Some(vec![0..100; 1])
        );
        let too_many = format!("bytes={}", vec!["1-1"; MAX_RANGES + 1].join(","));
        assert_eq!(parse_ranges(&too_many, 100), None);
        // Our own Content-Range parser reads what we write.
        assert_eq!(
            parse_content_range("bytes 0-9/100"),
            Some((0..10, Some(100)))
        );
    }

    #[test]
    fn a_rate_limit_paces_the_body() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), vec![7u8; 300 << 10]).unwrap();
        let rate = 1 << 20;
        let server = Server::start(dir.path(), "127.0.0.1:0".parse().unwrap(), Some(rate)).unwrap();
        let started = Instant::now();
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream
            .write_all(b"GET /f HTTP/1.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).unwrap();
        assert!(reply.len() > 300 << 10 && reply.ends_with(&[7u8; 64]));
        // 300 KiB at 1 MiB/s: at least about 0.29 s; without the limit, milliseconds.
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(250), "took {took:?}");
    }

    #[test]
    fn idle_connections_do_not_stop_it_serving() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"hello").unwrap();
        let server = Server::start(dir.path(), "127.0.0.1:0".parse().unwrap(), None).unwrap();
        let idle: Vec<TcpStream> = (0..300)
            .map(|_| TcpStream::connect(server.addr).unwrap())
            .collect();
        let mut half_sent = TcpStream::connect(server.addr).unwrap();
        half_sent
            .write_all(b"GET /f HTTP/1.1\r\nRange: by")
            .unwrap();
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(b"GET /f HTTP/1.1\r\nRange: bytes=1-2,0-\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).unwrap();
        let reply = String::from_utf8_lossy(&reply);
        assert!(reply.starts_with("HTTP/1.1 206"), "{reply}");
        assert!(reply.ends_with("\r\n\r\nhello"), "{reply}");
        drop(idle);
    }

    #[test]
    fn never_serves_outside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a b.txt"), b"x").unwrap();
        let root = dir.path().canonicalize().unwrap();
        assert!(resolve(&root, "/a%20b.txt").is_some());
        assert!(resolve(&root, "/../etc/passwd").is_none());
        assert!(resolve(&root, "/%2e%2e/etc/passwd").is_none());
        assert!(resolve(&root, "/").is_none());
        assert!(resolve(&root, "/missing").is_none());
        // Exactly two hex digits after '%'.
        assert_eq!(percent_decode("%41%2f"), Some("A/".into()));
        for bad in ["%+f", "%-1", "% f", "%4", "%g0"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
    }
}
