//! `deltadrop-cli serve` as a client on the wire sees it: raw-socket probes of the HTTP/1.x
//! framing an attack run found broken in the hand-written server (issue 19), Debian's
//! `zsync` downloading from it as fast as from nginx, and our own client reading its
//! multipart replies.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use deltadrop_core::serve::Server;
use deltadrop_core::{MakeOptions, write_control_file};
use deltadrop_tests::*;

/// The served file's bytes: 5000 of them, none repeating a short pattern.
fn content() -> Vec<u8> {
    random_bytes(5000, 19)
}

/// A server over a fresh directory holding [`content`] as `f`.
fn serving() -> (TempDir, Server) {
    let www = public_dir();
    std::fs::write(www.path().join("f"), content()).unwrap();
    let server = Server::start(www.path(), "127.0.0.1:0".parse().unwrap(), None).unwrap();
    (www, server)
}

fn connect(server: &Server) -> TcpStream {
    let address = server.url();
    let address = address
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let stream = TcpStream::connect(address).unwrap();
    // Every probe expects the server to end the connection long before this; a server
    // that keeps it open fails the probe instead of hanging it.
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Sends `request` and reads until the server closes the connection, leaving the client's
/// side open (as a client waiting for more would).
fn until_closed(server: &Server, request: &[u8]) -> Vec<u8> {
    let mut stream = connect(server);
    stream.write_all(request).unwrap();
    read_to_close(&mut stream)
}

/// Sends `request`, says it will send no more (half-close), and reads every answer.
fn all_answers(server: &Server, request: &[u8]) -> Vec<u8> {
    let mut stream = connect(server);
    stream.write_all(request).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    read_to_close(&mut stream)
}

fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut reply = Vec::new();
    match stream.read_to_end(&mut reply) {
        Ok(_) => {}
        // A server that closes with unread input resets the connection: what it sent first
        // is what counts.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!(
            "the server kept the connection open ({e}); it sent {} bytes:\n{}",
            reply.len(),
            text(&reply[..reply.len().min(200)])
        ),
    }
    reply
}

/// One reply as the bytes framed it.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// The status and headers, and only the body's length: bodies are file bytes.
impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Splits the bytes a server sent on one connection into its replies, each framed by its
/// `Content-Length` (every reply `serve` sends has one; bodies of HEAD replies are not
/// read). Panics on bytes that are not a whole reply.
fn replies(mut bytes: &[u8], head_only: bool) -> Vec<Reply> {
    let mut replies = Vec::new();
    while !bytes.is_empty() {
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("a reply's head does not end: {}", text(bytes)));
        let head = text(&bytes[..end]);
        bytes = &bytes[end + 4..];
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        assert!(status_line.starts_with("HTTP/1."), "{status_line}");
        let status = status_line[9..12].parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (name, value) = l.split_once(':').unwrap();
                (name.to_string(), value.trim().to_string())
            })
            .collect();
        let mut reply = Reply {
            status,
            headers,
            body: Vec::new(),
        };
        if !head_only {
            let len: usize = reply
                .header("Content-Length")
                .unwrap_or_else(|| panic!("a reply without a length: {head}"))
                .parse()
                .unwrap();
            assert!(len <= bytes.len(), "a reply's body is cut short: {head}");
            reply.body = bytes[..len].to_vec();
            bytes = &bytes[len..];
        }
        replies.push(reply);
    }
    replies
}

/// The one reply the server sent, and that it sent only one.
fn only_reply(bytes: &[u8]) -> Reply {
    let mut all = replies(bytes, false);
    assert_eq!(all.len(), 1, "{all:#?}");
    all.remove(0)
}

const GET: &str = "GET /f HTTP/1.1\r\nHost: x\r\n\r\n";

#[test]
fn a_request_body_is_never_read_as_a_request() {
    let (_www, server) = serving();
    // A body that is itself a request: after a POST, and after a GET.
    for method in ["POST", "GET"] {
        let request = format!(
            "{method} /f HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{GET}",
            GET.len()
        );
        let reply = only_reply(&all_answers(&server, request.as_bytes()));
        match method {
            "POST" => {
                assert_eq!(reply.status, 405);
                assert_eq!(reply.header("Allow"), Some("GET, HEAD"));
            }
            _ => assert_eq!((reply.status, reply.body), (200, content())),
        }
    }
}

#[test]
fn conflicting_framing_is_refused() {
    let (_www, server) = serving();
    let two_lengths = format!(
        "POST /f HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: {}\r\n\r\n{GET}",
        GET.len()
    );
    assert_eq!(
        only_reply(&all_answers(&server, two_lengths.as_bytes())).status,
        400
    );
    // Whitespace before the colon: RFC 9112 §5.1 says reject, as a proxy may read it
    // differently.
    let spaced = format!(
        "GET /f HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n{:x}\r\n{GET}\r\n0\r\n\r\n",
        GET.len()
    );
    assert_eq!(
        only_reply(&all_answers(&server, spaced.as_bytes())).status,
        400
    );
}

#[test]
fn a_chunked_body_on_a_get_is_a_body() {
    let (_www, server) = serving();
    let chunked = format!(
        "GET /f HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{GET}\r\n0\r\n\r\n",
        GET.len()
    );
    let reply = only_reply(&all_answers(&server, chunked.as_bytes()));
    assert_eq!((reply.status, reply.body), (200, content()));
}

#[test]
fn long_headers_are_one_header_or_refused() {
    let (_www, server) = serving();
    // 8 KiB into a header line, what looks like a Range header is still X-Pad's value,
    // as a proxy in front reads it: no range applies.
    let padded = format!(
        "GET /f HTTP/1.1\r\nHost: x\r\nX-Pad: {}Range: bytes=0-3\r\n\r\n",
        "A".repeat(8185)
    );
    let reply = only_reply(&all_answers(&server, padded.as_bytes()));
    assert_eq!((reply.status, reply.body), (200, content()));
    // A head too big to take is refused as such.
    let huge = format!(
        "GET /f HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
        "A".repeat(200 << 10)
    );
    assert_eq!(
        only_reply(&until_closed(&server, huge.as_bytes())).status,
        431
    );
}

#[test]
fn too_many_ranges_are_refused_not_cut_short() {
    let (_www, server) = serving();
    let len = content().len();
    let ranges = |count: usize| {
        (0..count)
            .map(|i| format!("{0}-{0}", i * 2 % len))
            .collect::<Vec<_>>()
            .join(",")
    };
    // Within the header limit but over the range limit: a 416 (RFC 9110 §15.5.17 names
    // "an excessive request of small or overlapping ranges" as a reason for it).
    let over_limit = format!(
        "GET /f HTTP/1.1\r\nHost: x\r\nRange: bytes={}\r\n\r\n",
        ranges(2000)
    );
    let reply = only_reply(&all_answers(&server, over_limit.as_bytes()));
    assert_eq!(reply.status, 416);
    assert_eq!(
        reply.header("Content-Range"),
        Some(format!("bytes */{len}").as_str())
    );
    // 10,000 one-byte ranges (a 108 KB header) are refused too, whichever limit catches
    // them first.
    let far_over = format!(
        "GET /f HTTP/1.1\r\nHost: x\r\nRange: bytes={}\r\n\r\n",
        ranges(10_000)
    );
    let status = only_reply(&until_closed(&server, far_over.as_bytes())).status;
    assert!([416, 431].contains(&status), "{status}");
}

#[test]
fn connection_close_is_honoured_after_a_405() {
    let (_www, server) = serving();
    let reply = until_closed(
        &server,
        b"DELETE /f HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(only_reply(&reply).status, 405);
}

#[test]
fn http_1_0_closes_after_the_reply_unless_asked_to_keep_it() {
    let (_www, server) = serving();
    let reply = only_reply(&until_closed(&server, b"GET /f HTTP/1.0\r\n\r\n"));
    assert_eq!((reply.status, reply.body), (200, content()));
    // Asked to keep it open, it answers a second request on it.
    let two = b"GET /f HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /f HTTP/1.0\r\n\r\n";
    let answers = replies(&until_closed(&server, two), false);
    assert_eq!(answers.len(), 2, "{answers:#?}");
    assert!(
        answers
            .iter()
            .all(|r| r.status == 200 && r.body == content())
    );
}

#[test]
fn versions_and_hosts_are_checked() {
    let (_www, server) = serving();
    let refused = |request: &[u8], allowed: &[u16]| {
        let reply = until_closed(&server, request);
        // An answer, if any, is a refusal; no file.
        if !reply.is_empty() {
            let status = only_reply(&reply).status;
            assert!(
                allowed.contains(&status),
                "{}: {status}",
                text(request).trim_end()
            );
        }
    };
    refused(b"GET /f HTTP/9.9\r\nHost: x\r\n\r\n", &[400, 505]);
    refused(b"GET /f\r\n\r\n", &[400]);
    refused(b"GET /f HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", &[400]);
    // A missing Host must be answered, not silently dropped.
    assert_eq!(
        only_reply(&until_closed(&server, b"GET /f HTTP/1.1\r\n\r\n")).status,
        400
    );
}

#[test]
fn ranges_heads_and_pipelined_requests_are_answered_in_order() {
    let (_www, server) = serving();
    let data = content();
    let request = "GET /f HTTP/1.1\r\nHost: x\r\nRange: bytes=10-19\r\n\r\n\
                   GET /f HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1,4990-\r\n\r\n\
                   GET /f HTTP/1.1\r\nHost: x\r\nRange: bytes=5000-\r\n\r\n\
                   GET /f HTTP/1.1\r\nHost: x\r\nRange: lines=1-2\r\n\r\n\
                   GET /missing HTTP/1.1\r\nHost: x\r\n\r\n\
                   GET /../f HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let answers = replies(&until_closed(&server, request.as_bytes()), false);
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    // A range unit it does not know is ignored (RFC 9110 §14.2: MUST): the whole file.
    assert_eq!(statuses, [206, 206, 416, 200, 404, 404]);
    assert_eq!(answers[0].body, data[10..20]);
    assert_eq!(answers[0].header("Content-Range"), Some("bytes 10-19/5000"));
    // Two ranges: multipart, in the order asked.
    let multipart = text(&answers[1].body);
    let head = multipart.find("bytes 0-1/5000").unwrap();
    let tail = multipart.find("bytes 4990-4999/5000").unwrap();
    assert!(head < tail, "{multipart}");
    assert_eq!(answers[3].body, data);

    let head = b"HEAD /f HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let reply = until_closed(&server, head);
    let heads = replies(&reply, true);
    assert_eq!(heads.len(), 1, "{}", text(&reply));
    assert_eq!(heads[0].status, 200);
    assert_eq!(heads[0].header("Content-Length"), Some("5000"));
    assert!(reply.ends_with(b"\r\n\r\n"), "a HEAD reply has no body");
}

/// zsync 0.6.2 talks HTTP/1.0 and reads each reply to the connection's end: a server that
/// keeps HTTP/1.0 connections open made it wait out the idle timeout (61 s against
/// nginx's 0.02 s).
#[test]
fn zsync_downloads_from_serve_as_fast_as_from_nginx() {
    let old = text_bytes(3_000_000, 21);
    let new = edited(&old, 22);
    let Some((www, _)) = publish("f.txt", &new, &["-u", "f.txt"]) else {
        return;
    };
    let (Some(zsync), Some(nginx)) = (peer("zsync"), nginx(www.path(), None, "")) else {
        return;
    };
    let serve = Server::start(www.path(), "127.0.0.1:0".parse().unwrap(), None).unwrap();
    let (work, seed) = work_with_seed(&old);
    let download = |url: String, out: &str| {
        let started = Instant::now();
        let output = Command::new(&zsync)
            .args(["-q", "-i"])
            .arg(&seed)
            .arg("-o")
            .arg(work.path().join(out))
            .arg(url)
            .current_dir(work.path())
            .output()
            .unwrap();
        assert!(output.status.success(), "zsync: {}", text(&output.stderr));
        assert_eq!(read(&work.path().join(out)), new);
        started.elapsed()
    };
    let from_nginx = download(nginx.url("f.txt.zsync"), "from-nginx");
    let from_serve = download(format!("{}f.txt.zsync", serve.url()), "from-serve");
    eprintln!("zsync: nginx {from_nginx:?}, serve {from_serve:?}");
    assert!(
        from_serve < from_nginx * 3 + Duration::from_secs(5),
        "zsync took {from_serve:?} from serve, {from_nginx:?} from nginx"
    );
}

#[test]
fn our_client_reads_serves_multipart_replies() {
    let old = random_bytes(4_000_000, 23);
    // Twenty separate stretches changed: twenty ranges to fetch, several per request.
    let mut new = old.clone();
    for i in 0..20 {
        let at = i * 190_000 + 5_000;
        new[at..at + 3000].copy_from_slice(&random_bytes(3000, 100 + i as u64));
    }
    let www = public_dir();
    std::fs::write(www.path().join("image.img"), &new).unwrap();
    let options = MakeOptions {
        urls: vec!["image.img".into()],
        ..MakeOptions::default()
    };
    let image = www.path().join("image.img");
    write_control_file(&image, Some(&www.path().join("image.img.zsync")), &options).unwrap();
    let server = Server::start(www.path(), "127.0.0.1:0".parse().unwrap(), None).unwrap();
    let (work, seed) = work_with_seed(&old);
    let out = work.path().join("image.img");

    let (result, _) = run_job(job_spec(
        format!("{}image.img.zsync", server.url()),
        &[&seed],
        &out,
    ));
    let summary = result.unwrap();
    assert_eq!(read(&out), new);
    assert!(summary.plan.ranges >= 20, "{:?}", summary.plan);
    assert!(
        summary.progress.requests < summary.plan.ranges,
        "one range per request: {summary:?}"
    );
    // Multipart framing came on the wire beside the data.
    assert!(summary.progress.wire_bytes > summary.progress.fetched_bytes);
}
