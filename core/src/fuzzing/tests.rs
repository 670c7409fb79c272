//! Bounded property tests over the fuzzing entry points, in every `cargo test`: random
//! bytes, and valid inputs (control files, gzip streams with their maps, multipart
//! replies, HTTP requests) with a few bytes changed, inserted, removed or cut, which reach
//! far deeper than random bytes do.

use std::io::Write;

use proptest::prelude::*;

use super::*;
use crate::gzip::{Inflater, Resume};
use crate::test_data::mutate;

/// Up to four edits: overwrite, insert or remove a byte, or cut the input short.
fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    prop::collection::vec(any::<(usize, u8, u8)>(), 0..4)
}

/// Numbers a header may claim: small, and the hostile ones (2^62 bytes, a billion
/// blocks, the block limit at the largest block size, u64::MAX).
fn length() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0..20_000u64,
        1 => prop::sample::select(vec![
            1 << 62,
            1_000_000_000 * 2048,
            (1 << 26) << 24,
            ((1 << 26) << 24) + 1,
            u64::MAX,
        ]),
    ]
}

prop_compose! {
    fn control_file_bytes()(
        block_size in prop::sample::select(vec![8u32, 64, 2048, 1 << 24]),
        length in length(),
        (seq, rsum, checksum) in (1..=2u8, 1..=4u8, 1..=16u8),
        z_map in prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
        sha256 in any::<bool>(),
        table_seed in any::<u8>(),
    ) -> Vec<u8> {
        let mut file = format!(
            "zsync: 0.6.2\nFilename: f\nBlocksize: {block_size}\nLength: {length}\nHash-Lengths: {seq},{rsum},{checksum}\nURL: f\n"
        );
        if sha256 {
            file += "Safe: Strong-Hash-Algorithm\nStrong-Hash-Algorithm: SHA-256\n";
        }
        file += &format!("SHA-1: {}\n", "ab".repeat(20));
        let mut file = file.into_bytes();
        if let Some(map) = z_map {
            file.extend(format!("Z-Map2: {}\n", map.len() / 4).bytes());
            file.extend(&map[..map.len() / 4 * 4]);
        }
        file.push(b'\n');
        let blocks = length.div_ceil(u64::from(block_size)).min(3000);
        let record = u64::from(rsum + checksum);
        file.extend((0..blocks * record).map(|i| (i as u8).wrapping_mul(table_seed)));
        file
    }
}

/// Raw deflate or gzip data of compressible bytes at any level.
fn compressed(gzip: bool) -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    (prop::collection::vec(0u8..6, 0..6000), 0..=9u32).prop_map(move |(data, level)| {
        // Runs and repeats, so that matches of every length and distance occur.
        let data: Vec<u8> = data
            .iter()
            .enumerate()
            .map(|(i, &b)| if b < 3 { (i / 100) as u8 } else { b + 65 })
            .collect();
        let level = flate2::Compression::new(level);
        let deflated = if gzip {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
            e.write_all(&data).unwrap();
            e.finish().unwrap()
        } else {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), level);
            e.write_all(&data).unwrap();
            e.finish().unwrap()
        };
        (data, deflated)
    })
}

/// The input of [`super::inflate`] for `mode`, no window and `bit`.
fn inflate_input(mode: u8, bit: u16, deflated: &[u8]) -> Vec<u8> {
    let mut input = vec![mode, 0, 0];
    input.extend(bit.to_be_bytes());
    input.extend(deflated);
    input
}

/// A `Z-Map2` for a gzip file as zsyncmake writes one: every block start, and a mid-block
/// checkpoint about every `every` bytes of output, found by decoding up to them.
fn map_of(gz: &[u8], every: u64) -> Vec<u8> {
    let header = crate::gzip::parse_gzip_header(gz).unwrap().len as u64 * 8;
    let whole = Compressed::whole(gz);
    let mut points = vec![(header, 0u64, false)];
    let (mut bit, mut out) = (header, 0u64);
    loop {
        let block = Inflater::new(&[])
            .inflate_block(whole, bit, &mut |_| Ok(()))
            .unwrap();
        let mut at = (bit, out);
        let mut resume = Resume::BlockStart { bit };
        // Whole output of earlier blocks is not needed: only positions are recorded.
        while at.1 + every < out + block.produced {
            let piece = |n| {
                Inflater::new(&[0; WINDOW_SIZE])
                    .inflate(whole, resume, n)
                    .unwrap()
                    .1
            };
            let mut o = piece(every);
            if o.decoded != o.produced {
                // The last match ran past: end the piece after it instead.
                o = piece(o.decoded);
            }
            at = (o.end_bit, at.1 + o.produced);
            points.push((at.0, at.1, true));
            resume = Resume::MidBlock {
                bit: o.end_bit,
                block_start_bit: bit,
                header: whole,
            };
        }
        bit = block.end_bit;
        out += block.produced;
        points.push((bit, out, false));
        if block.is_final {
            break;
        }
    }
    let mut prev = (0, 0);
    let mut map = Vec::new();
    for (in_bit, out_byte, mid) in points {
        let in_delta = u16::try_from(in_bit - prev.0).unwrap_or(u16::MAX);
        let out_delta = u16::try_from(out_byte - prev.1)
            .unwrap_or(0x7fff)
            .min(0x7fff);
        map.extend(in_delta.to_be_bytes());
        map.extend((out_delta | if mid { 0x8000 } else { 0 }).to_be_bytes());
        prev = (in_bit, out_byte);
    }
    map
}

fn zmap_input(map: &[u8], wanted: &[(u32, u16)], gz: &[u8]) -> Vec<u8> {
    let mut input = ((map.len() / 4) as u16).to_be_bytes().to_vec();
    input.extend(map);
    input.push(wanted.len() as u8);
    for &(start, len) in wanted {
        input.extend(start.to_be_bytes());
        input.extend(len.to_be_bytes());
    }
    input.extend(gz);
    input
}

fn request() -> impl Strategy<Value = String> {
    let method = prop::sample::select(vec!["GET", "HEAD", "POST", "", "GET GET"]);
    let target = prop::sample::select(vec![
        "/f",
        "/a%20b.txt",
        "/d/empty",
        "/d/../f",
        "/../f",
        "/%2e%2e/f",
        "/%",
        "/%zz",
        "/%+f",
        "/f?x#y",
        "",
    ]);
    let version = prop::sample::select(vec!["HTTP/1.1", "HTTP/1.0"]);
    (method, target, version, range_header(), any::<bool>()).prop_map(
        |(method, target, version, range, close)| {
            let close = if close { "Connection: close\r\n" } else { "" };
            format!("{method} {target} {version}\r\nHost: x\r\n{range}{close}\r\n")
        },
    )
}

/// A request every HTTP/1.1 server must take as one, and whether it is a HEAD.
fn well_formed_request() -> impl Strategy<Value = (String, bool)> {
    let method = prop::sample::select(vec!["GET", "HEAD", "POST", "DELETE"]);
    let target = prop::sample::select(vec![
        "/f",
        "/a%20b.txt",
        "/d/empty",
        "/d/../f",
        "/../f",
        "/%2e%2e/f",
        "/missing",
        "/f?x",
    ]);
    (method, target, range_header()).prop_map(|(method, target, range)| {
        let request = format!("{method} {target} HTTP/1.1\r\nHost: x\r\n{range}\r\n");
        (request, method == "HEAD")
    })
}

/// No `Range` header, or one of a few ranges with any numbers.
fn range_header() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        prop::collection::vec(
            (prop::option::of(number()), prop::option::of(number())),
            1..5
        )
        .prop_map(|parts| {
            let parts: Vec<String> = parts
                .into_iter()
                .map(|(a, b)| {
                    format!(
                        "{}-{}",
                        a.map(|a| a.to_string()).unwrap_or_default(),
                        b.map(|b| b.to_string()).unwrap_or_default()
                    )
                })
                .collect();
            format!("Range: bytes={}\r\n", parts.join(","))
        }),
    ]
}

fn number() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..6000u64,
        Just(u64::MAX),
        Just(u64::MAX - 1),
        Just(1 << 63)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600)) {
        control_file(&data);
        zmap(&data);
        inflate(&data);
        multipart(&data);
    }

    #[test]
    fn control_files_mutated(file in control_file_bytes(), edits in edits()) {
        control_file(&mutate(file, &edits));
    }

    #[test]
    fn deflate_streams_mutated(
        (data, deflated) in compressed(false),
        mode in 0..4u8,
        bit in any::<u16>(),
        edits in edits(),
    ) {
        let input = inflate_input(mode, bit, &deflated);
        inflate(&input);
        if mode == 0 {
            // Unchanged, it decodes to the data, in one go and in pieces.
            let mut inflater = Inflater::new(&[]);
            let (out, _) = inflater
                .inflate(Compressed::whole(&deflated), Resume::BlockStart { bit: 0 }, u64::MAX)
                .unwrap();
            prop_assert_eq!(out, data);
        }
        inflate(&mutate(input, &edits));
    }

    #[test]
    fn gzip_files_mutated((_, gz) in compressed(true), edits in edits()) {
        inflate(&mutate(inflate_input(1, 0, &gz), &edits));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// A map made from the gzip file restores every range; changed maps and files fail
    /// cleanly.
    #[test]
    fn zmaps_restore_ranges_and_survive_mutation(
        (data, gz) in compressed(true),
        every in 200..3000u64,
        wanted in prop::collection::vec((any::<u32>(), any::<u16>()), 1..5),
        edits in edits(),
    ) {
        let map_bytes = map_of(&gz, every);
        let len = data.len() as u32;
        let wanted: Vec<(u32, u16)> = wanted
            .into_iter()
            .map(|(s, l)| (if len == 0 { s } else { s % len }, l % 1500))
            .collect();
        let input = zmap_input(&map_bytes, &wanted, &gz);
        zmap(&input);
        zmap(&mutate(input, &edits));

        let map = ZMap::parse(&map_bytes).unwrap();
        prop_assert_eq!(map.uncompressed_len(), data.len() as u64);
        let ranges: Vec<Range<u64>> = wanted
            .iter()
            .map(|&(s, l)| u64::from(s)..u64::from(s) + u64::from(l))
            .collect();
        let Ok(reads) = map.reads_for(&ranges, Some(gz.len() as u64)) else {
            prop_assert!(data.is_empty() || ranges.iter().all(|r| r.start >= r.end));
            return Ok(());
        };
        for read in reads {
            let at = read.out.start as usize;
            let mut inflater = Inflater::new(&data[at.saturating_sub(WINDOW_SIZE)..at]);
            let resume = read.start.resume(Compressed::whole(&gz));
            let (bytes, _) = inflater
                .inflate(Compressed::whole(&gz), resume, read.out_len())
                .unwrap();
            prop_assert_eq!(&bytes[..], &data[at..read.out.end as usize]);
        }
    }

    #[test]
    fn multipart_replies_mutated(
        parts in prop::collection::vec((0..10_000u64, prop::collection::vec(any::<u8>(), 0..80)), 0..5),
        boundary in "[0-9a-zA-Z'()+_,./:=?-]{1,30}",
        crlf in any::<bool>(),
        capacity in any::<u8>(),
        edits in edits(),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut body = eol.as_bytes().to_vec();
        for (start, part) in &parts {
            let end = start + part.len() as u64;
            write!(body, "--{boundary}{eol}Content-Type: application/octet-stream{eol}").unwrap();
            if part.is_empty() {
                // An empty range cannot be written: a Content-Range of one byte, then none.
                write!(body, "Content-Range: bytes {start}-{start}/*{eol}{eol}").unwrap();
            } else {
                write!(body, "Content-Range: bytes {start}-{}/{}{eol}{eol}", end - 1, end + 7).unwrap();
                body.extend(part);
            }
            body.extend(eol.bytes());
        }
        write!(body, "--{boundary}--{eol}").unwrap();
        let mut input = format!("multipart/byteranges; boundary=\"{boundary}\"\n").into_bytes();
        input.push(capacity);
        input.extend(&body);
        multipart(&input);
        multipart(&mutate(input, &edits));

        if parts.iter().all(|(_, p)| !p.is_empty()) {
            let mut got = Vec::new();
            let mut reader = std::io::BufReader::with_capacity(usize::from(capacity) + 1, &body[..]);
            for_each_part(&mut reader, &boundary, |range, _, part| {
                let mut bytes = Vec::new();
                part.read_to_end(&mut bytes)?;
                got.push((range.start, bytes));
                Ok::<_, PartError>(())
            })
            .unwrap();
            prop_assert_eq!(got, parts);
        }
    }

}

/// `serve` over a temporary directory of its own, removed afterwards: `exchange` gets
/// each input and the directory's path.
fn serving<T: std::fmt::Debug>(
    cases: u32,
    strategy: impl Strategy<Value = T>,
    exchange: impl Fn(&Path, T),
) {
    let dir = tempfile::tempdir().unwrap();
    make_served_files(dir.path());
    let root = dir.path().canonicalize().unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(cases));
    runner
        .run(&strategy, |input| {
            exchange(&root, input);
            Ok(())
        })
        .unwrap();
}

fn any_answer(root: &Path, input: Vec<u8>) {
    serve_request_in(root, &input);
}

#[test]
fn serve_requests_mutated() {
    let requests = (prop::collection::vec(request(), 1..4), edits())
        .prop_map(|(requests, edits)| mutate(requests.concat().into_bytes(), &edits));
    serving(1000, requests, any_answer);
}

#[test]
fn serve_random_bytes() {
    serving(1000, prop::collection::vec(any::<u8>(), 0..300), any_answer);
}

/// Requests sent one after another on one connection get one answer each, in order, each
/// framed by its `Content-Length` (the issue-19 server answered a request's body as a
/// request, and cut long headers into several).
#[test]
fn serve_answers_each_request_once() {
    let requests = prop::collection::vec(well_formed_request(), 1..6);
    serving(300, requests, |root, requests: Vec<(String, bool)>| {
        let sent: String = requests
            .iter()
            .map(|(request, _)| request.as_str())
            .collect();
        let reply = serve_request_in(root, sent.as_bytes());
        let mut rest = reply.as_slice();
        for (request, head_only) in &requests {
            assert!(rest.starts_with(b"HTTP/1.1 "), "no answer to {request:?}");
            let head_len = rest
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .expect("a whole head")
                + 4;
            let head = String::from_utf8_lossy(&rest[..head_len]);
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("Content-Length: "))
                .expect("a Content-Length")
                .parse()
                .unwrap();
            let body_len = if *head_only { 0 } else { length };
            assert!(
                head_len + body_len <= rest.len(),
                "a body cut short: {head}"
            );
            rest = &rest[head_len + body_len..];
        }
        assert!(rest.is_empty(), "answers to no request: {rest:?}");
    });
}
