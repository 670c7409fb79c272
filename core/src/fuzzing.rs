//! One entry point per parser of hostile input, each taking arbitrary bytes, for the
//! cargo-fuzz targets in `fuzz/` (feature `fuzzing`) and for the property tests below,
//! which run in every `cargo test`.
//!
//! Control files, `Z-Map2`s, gzip data and multipart replies come from the network, and
//! `serve` reads requests from anyone who connects: none of them may panic, hang or
//! allocate more than the input justifies. Each wrapper drives the crate's real code (no
//! copies) and checks what must hold of any input: what is written back reads back the
//! same, restarting the inflater mid-stream gives the bytes decoding straight through
//! gives, and that flate2 agrees where both decoders accept a stream. A panic here is a
//! bug, in the parser or in the property.

use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::control::ControlFile;
use crate::fetch::{PartError, boundary_of, for_each_part, parse_content_range};
use crate::gzip::{Compressed, Inflater, Resume, WINDOW_SIZE, ZMap, fetch_ranges};

/// `ControlFile::from_bytes`; what parses is written and must read back the same.
pub fn control_file(data: &[u8]) {
    let Ok(cf) = ControlFile::from_bytes(data, "fuzz") else {
        return;
    };
    // Every block takes at least two bytes of the table: nothing is trusted beyond them.
    assert!(cf.block_count() <= data.len() as u64 / 2);
    if let Some(last) = cf.block_count().checked_sub(1) {
        let _ = (cf.weak_sum(last), cf.strong_sum(last));
    }
    if let Some(map) = &cf.z_map {
        let _ = ZMap::parse_entries(map.len() / 4, map);
    }
    let mut written = Vec::new();
    cf.write(&mut written).expect("writing to memory");
    let again = ControlFile::from_bytes(&written, "fuzz").expect("what we write reads back");
    assert_eq!(again, cf, "what we write reads back the same");
}

/// `[n: u16 BE][n * 4 map bytes][k: u8][k * (start: u32 BE, len: u16 BE)][gzip file]`:
/// parses the map, maps the `k` uncompressed ranges to compressed reads and inflates each
/// read from its checkpoint, as the gzip fetcher does.
pub fn zmap(data: &[u8]) {
    let mut input = data;
    let n = usize::from(u16::from_be_bytes([take(&mut input), take(&mut input)]));
    let map_bytes = &input[..(n * 4).min(input.len())];
    input = &input[map_bytes.len()..];
    let Ok(map) = ZMap::parse_entries(n, map_bytes) else {
        return;
    };
    assert_eq!(map.checkpoints().count(), map.checkpoint_count());
    assert_eq!(map.checkpoints().last(), Some(map.last()));
    let k = take(&mut input) % 9;
    let mut wanted = Vec::new();
    for _ in 0..k {
        let start = u32::from_be_bytes(std::array::from_fn(|_| take(&mut input)));
        let len = u16::from_be_bytes([take(&mut input), take(&mut input)]);
        wanted.push(u64::from(start)..u64::from(start) + u64::from(len));
        let at = map.start_index(u64::from(start));
        assert!(map.checkpoint(at).out_byte <= u64::from(start));
        let _ = map.end_index(u64::from(start));
    }
    let gz = input;
    let Ok(reads) = map.reads_for(&wanted, Some(gz.len() as u64)) else {
        return;
    };
    let fetches = fetch_ranges(&reads);
    let slice_for = |r: &Range<u64>| {
        let f = fetches
            .iter()
            .find(|f| f.start <= r.start && r.end <= f.end)
            .expect("every read's bytes lie in one fetched range");
        let bytes = &gz[f.start as usize..f.end as usize];
        Compressed::new(bytes, f.start)
    };
    let mut inflater = Inflater::new(&[]);
    for read in &reads {
        let header = read
            .header
            .as_ref()
            .map_or(Compressed::new(&[], 0), slice_for);
        let resume = read.start.resume(header);
        let _ = inflater.inflate_with(slice_for(&read.data), resume, read.out_len(), &mut |_| {
            Ok(())
        });
    }
}

/// `[mode][window length: u16 BE][window][bit: u16 BE][deflate data]`: inflates raw
/// deflate data from the start (mode 0, checked against flate2 and against decoding in
/// pieces restarted where each piece ended), a gzip file after its header (1), from an
/// arbitrary mid-block bit and window (2), or block by block (3).
pub fn inflate(data: &[u8]) {
    let mut input = data;
    let mode = take(&mut input) % 4;
    let window_len = usize::from(u16::from_be_bytes([take(&mut input), take(&mut input)]));
    let window = &input[..window_len.min(input.len()).min(WINDOW_SIZE + 16)];
    input = &input[window.len()..];
    let bit = u64::from(u16::from_be_bytes([take(&mut input), take(&mut input)]));
    let whole = Compressed::whole(input);
    let mut inflater = Inflater::new(window);
    match mode {
        0 => {
            // From the start of a stream: no window, as for flate2.
            inflater.set_window(&[]);
            let mut ours = Vec::new();
            let start = Resume::BlockStart { bit: 0 };
            let outcome = inflater.inflate_with(whole, start, u64::MAX, &mut |b| {
                ours.extend_from_slice(b);
                Ok(())
            });
            let mut theirs = Vec::new();
            let flate2_ok = flate2::read::DeflateDecoder::new(input)
                .read_to_end(&mut theirs)
                .is_ok();
            if let Ok(outcome) = outcome {
                assert!(outcome.stream_end);
                assert_eq!(outcome.produced, ours.len() as u64);
                if flate2_ok {
                    assert!(ours == theirs, "flate2 decodes the stream differently");
                }
                assert_eq!(in_pieces(input, &ours, bit % 4096 + 1), ours);
            }
        }
        1 => {
            if let Ok(header) = crate::gzip::parse_gzip_header(input) {
                let start = Resume::BlockStart {
                    bit: header.len as u64 * 8,
                };
                let _ = inflater.inflate_with(whole, start, u64::MAX, &mut |_| Ok(()));
            }
        }
        2 => {
            let block_start_bit = u64::from(window.first().copied().unwrap_or(0));
            let resume = Resume::MidBlock {
                bit,
                block_start_bit,
                header: whole,
            };
            let _ = inflater.inflate_with(whole, resume, u64::MAX, &mut |_| Ok(()));
        }
        _ => {
            let mut bit = 0;
            while let Ok(block) = inflater.inflate_block(whole, bit, &mut |_| Ok(())) {
                assert!(block.end_bit > bit, "every block takes some input");
                if block.is_final {
                    break;
                }
                bit = block.end_bit;
            }
        }
    }
}

/// Decodes the stream whose whole output is `expected` in pieces of `piece` bytes, each
/// restarting where the last one ended, as a Z-Map's mid-block checkpoints do; a piece
/// whose last match ran past it is no restart point, so decoding goes on from the start.
fn in_pieces(input: &[u8], expected: &[u8], piece: u64) -> Vec<u8> {
    let whole = Compressed::whole(input);
    // At most about 32 pieces, to keep each run fast.
    let piece = piece.max(expected.len() as u64 / 32);
    let mut out: Vec<u8> = Vec::new();
    let mut resume = Resume::BlockStart { bit: 0 };
    let mut inflater = Inflater::new(&[]);
    while (out.len() as u64) < expected.len() as u64 {
        // Each piece starts afresh from the output before it, as a fetched read does.
        inflater.set_window(&out);
        let (bytes, outcome) = inflater
            .inflate(whole, resume, piece)
            .expect("what decodes in one go decodes in pieces");
        if outcome.decoded != outcome.produced || outcome.produced == 0 {
            inflater.set_window(&out);
            let rest = inflater.inflate(whole, resume, u64::MAX);
            out.extend(rest.expect("decoding on from a restart point").0);
            break;
        }
        out.extend(bytes);
        resume = if outcome.block_start_bit == outcome.end_bit {
            Resume::BlockStart {
                bit: outcome.end_bit,
            }
        } else {
            Resume::MidBlock {
                bit: outcome.end_bit,
                block_start_bit: outcome.block_start_bit,
                header: whole,
            }
        };
    }
    out
}

/// `[content type]\n[buffer size][body]`: the content type gives the boundary, the body is
/// read as a `multipart/byteranges` reply through a buffer of the given size.
pub fn multipart(data: &[u8]) {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let content_type = String::from_utf8_lossy(&data[..split]);
    let _ = parse_content_range(&content_type);
    let boundary = boundary_of(&content_type).unwrap_or_else(|| "b".into());
    let mut rest = data.get(split + 1..).unwrap_or_default();
    let capacity = usize::from(take(&mut rest)) + 1;
    let mut reader = std::io::BufReader::with_capacity(capacity, rest);
    let mut parts: Vec<(u64, Option<u64>)> = Vec::new();
    let result = for_each_part(&mut reader, &boundary, |range, _total, body| {
        // Every other part is left unread, which the parser must skip.
        let mut read = None;
        if parts.len().is_multiple_of(2) {
            let mut bytes = Vec::new();
            body.read_to_end(&mut bytes)?;
            read = Some(bytes.len() as u64);
        }
        parts.push((range.end - range.start, read));
        Ok::<_, PartError>(())
    });
    if result.is_ok() {
        for (len, read) in parts {
            assert!(
                read.is_none_or(|read| read == len),
                "a part's body is its range"
            );
        }
    }
}

/// The bytes as what a client sends on one connection to `serve`, over a directory of
/// a few files made once per process.
pub fn serve_request(data: &[u8]) {
    let _ = serve_request_in(served_dir(), data);
}

/// The bytes as one connection's requests to `root`, over memory, through the server's
/// own connection code (hyper and ours); the bytes sent back. The server must end the
/// connection soon after the input ends, and whatever it sends starts with a status line.
pub(crate) fn serve_request_in(root: &Path, data: &[u8]) -> Vec<u8> {
    let reply = crate::serve::exchange(root, data, SERVE_LIMIT)
        .expect("serve ends the connection soon after the client's input ends");
    // hyper answers HTTP/1.0 in kind.
    assert!(reply.is_empty() || reply.starts_with(b"HTTP/1.1 ") || reply.starts_with(b"HTTP/1.0 "));
    reply
}

/// How long `serve` may take to answer an input of a few kilobytes from a directory of
/// small files and close: ample, and far below its 30 s wait for a request's head.
const SERVE_LIMIT: Duration = Duration::from_secs(10);

/// Files named as the serve seeds in `fuzz/` ask for them.
pub(crate) fn make_served_files(dir: &Path) {
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::create_dir_all(dir.join("d")).expect("creating the served directory");
    std::fs::write(dir.join("f"), &data).expect("writing a served file");
    std::fs::write(dir.join("a b.txt"), b"hello\n").expect("writing a served file");
    std::fs::write(dir.join("d/empty"), b"").expect("writing a served file");
}

fn served_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("deltadrop-fuzz-serve-{}", std::process::id()));
        make_served_files(&dir);
        dir.canonicalize().expect("the served directory exists")
    })
}

/// The next byte of `input`, or 0 once it is used up.
fn take(input: &mut &[u8]) -> u8 {
    let Some((&first, rest)) = input.split_first() else {
        return 0;
    };
    *input = rest;
    first
}

#[cfg(test)]
mod tests;
