use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::path::{percent_decode, resolve};
use super::ranges::{MAX_RANGES, Wanted, parse_ranges, wanted};
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
    // Too many is too many, however few bytes they are and whether they lie in the file.
    let too_many = format!("bytes={}", vec!["1-1"; MAX_RANGES + 1].join(","));
    assert_eq!(parse_ranges(&too_many, 100), None);
    let beyond = format!("bytes=0-0,{}", vec!["200-"; MAX_RANGES].join(","));
    assert_eq!(parse_ranges(&beyond, 100), None);
    // Range units are case-insensitive; empty list elements are skipped.
    assert_eq!(parse_ranges("Bytes=0-9,,", 100), Some(vec![0..10; 1]));
    // Our own Content-Range parser reads what we write.
    assert_eq!(
        parse_content_range("bytes 0-9/100"),
        Some((0..10, Some(100)))
    );
}

#[test]
fn a_range_in_another_unit_is_ignored() {
    assert_eq!(wanted(None, 100), Wanted::Whole);
    assert_eq!(wanted(Some("lines=1-2"), 100), Wanted::Whole);
    assert_eq!(wanted(Some("bytes=5-1"), 100), Wanted::Refused);
    assert_eq!(wanted(Some("nonsense"), 100), Wanted::Refused);
    assert_eq!(wanted(Some("bytes=1-2"), 100), Wanted::Parts(vec![1..3; 1]));
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

/// A server over a fresh directory holding `f` with `content`.
fn serving(
    content: &[u8],
    rate_limit: Option<u64>,
    timeouts: Timeouts,
) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), content).unwrap();
    let any_port = "127.0.0.1:0".parse().unwrap();
    let server = Server::start_with(dir.path(), any_port, rate_limit, timeouts).unwrap();
    (dir, server)
}

/// Sends `request` on a new connection and reads until the server closes it.
fn fetch(server: &Server, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    reply
}

const GET_AND_CLOSE: &[u8] = b"GET /f HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

#[test]
fn a_rate_limit_paces_the_body() {
    let (_dir, server) = serving(&[7u8; 300 << 10], Some(1 << 20), Timeouts::default());
    let started = Instant::now();
    let reply = fetch(&server, GET_AND_CLOSE);
    assert!(reply.len() > 300 << 10 && reply.ends_with(&[7u8; 64]));
    // 300 KiB at 1 MiB/s: at least about 0.29 s; without the limit, milliseconds.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(250), "took {took:?}");
}

#[test]
fn a_rate_limit_is_shared_by_all_connections() {
    let (_dir, server) = serving(&[7u8; 150 << 10], Some(1 << 20), Timeouts::default());
    let started = Instant::now();
    std::thread::scope(|scope| {
        let both = [(); 2].map(|_| scope.spawn(|| fetch(&server, GET_AND_CLOSE)));
        for reply in both {
            assert!(reply.join().unwrap().ends_with(&[7u8; 64]));
        }
    });
    // 2 x 150 KiB at 1 MiB/s together: at least about 0.29 s; each alone would take half.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(250), "took {took:?}");
}

#[test]
fn idle_connections_do_not_stop_it_serving() {
    let (_dir, server) = serving(b"hello", None, Timeouts::default());
    let idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    let mut half_sent = TcpStream::connect(server.addr).unwrap();
    half_sent
        .write_all(b"GET /f HTTP/1.1\r\nRange: by")
        .unwrap();
    let reply = fetch(
        &server,
        b"GET /f HTTP/1.1\r\nHost: x\r\nRange: bytes=1-2,0-\r\nConnection: close\r\n\r\n",
    );
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 206"), "{reply}");
    assert!(reply.ends_with("\r\n\r\nhello"), "{reply}");
    drop(idle);
}

#[test]
fn a_head_sent_slowly_is_cut_off() {
    let timeouts = Timeouts {
        head: Duration::from_secs(1),
        ..Timeouts::default()
    };
    let (_dir, server) = serving(b"hello", None, timeouts);
    let mut slow = TcpStream::connect(server.addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let started = Instant::now();
    slow.write_all(b"GET /f HTTP/1.1\r\n").unwrap();
    // A header line every 100 ms, never the head's end: however busy the client looks,
    // the server gives up a second after it began waiting for the head.
    while started.elapsed() < Duration::from_secs(20) {
        match slow.read(&mut [0u8; 64]) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if slow.write_all(b"X-A: b\r\n").is_err() {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "still open after {took:?}");
    // A kept-alive connection that sends no next request is closed the same way.
    let reply = fetch(&server, b"GET /f HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(reply.ends_with(b"\r\n\r\nhello"));
}

#[test]
fn a_client_that_stops_reading_is_cut_off() {
    let timeouts = Timeouts {
        write_stall: Duration::from_secs(1),
        ..Timeouts::default()
    };
    // More than loopback's socket buffers hold, so the server's writes wait for us.
    let len = 64 << 20;
    let dir = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(dir.path().join("f")).unwrap();
    file.set_len(len).unwrap();
    let any_port = "127.0.0.1:0".parse().unwrap();
    let server = Server::start_with(dir.path(), any_port, None, timeouts).unwrap();
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.write_all(GET_AND_CLOSE).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut received = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        received += n as u64;
    }
    assert!(received < len, "the whole file came after a 3 s stall");
}

/// This process's resident memory, from Linux's `/proc`.
#[cfg(target_os = "linux")]
fn resident_memory() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}

#[test]
fn files_past_4_gib_stream_from_disk() {
    let len: u64 = 5 << 30;
    let dir = tempfile::tempdir().unwrap();
    let mut file = std::fs::File::create(dir.path().join("f")).unwrap();
    // Sparse: 5 GiB of zeros cost no disk, and five bytes to find past 4 GiB.
    file.set_len(len).unwrap();
    file.seek(SeekFrom::Start((4 << 30) + 1)).unwrap();
    file.write_all(b"past4").unwrap();
    let any_port = "127.0.0.1:0".parse().unwrap();
    let server = Server::start(dir.path(), any_port, None).unwrap();

    let range = fetch(
        &server,
        b"GET /f HTTP/1.1\r\nHost: x\r\nRange: bytes=4294967296-4294967301\r\nConnection: close\r\n\r\n",
    );
    let range = String::from_utf8_lossy(&range);
    let content_range = "Content-Range: bytes 4294967296-4294967301/5368709120";
    assert!(range.contains(content_range), "{range}");
    assert!(range.ends_with("\r\n\r\n\0past4"), "{range}");

    // The whole file: its head at once, then its bytes as they are taken.
    #[cfg(target_os = "linux")]
    let memory_before = resident_memory();
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.write_all(GET_AND_CLOSE).unwrap();
    let mut head = [0u8; 256];
    let n = stream.read(&mut head).unwrap();
    let head = String::from_utf8_lossy(&head[..n]);
    assert!(head.contains("Content-Length: 5368709120"), "{head}");
    std::io::copy(&mut (&mut stream).take(256 << 20), &mut std::io::sink()).unwrap();
    // Other tests of this process allocate too, but not gigabytes.
    #[cfg(target_os = "linux")]
    {
        let grew = resident_memory().saturating_sub(memory_before);
        assert!(grew < 1 << 30, "serving grew this process by {grew} bytes");
    }
}
