//! The gzip module against the real `zsyncmake` 0.6.2: every checkpoint of its Z-Map2
//! must be a place our decoder can restart from, and range mapping plus decoding must
//! rebuild any missing ranges from the fetched compressed bytes alone.
//!
//! Needs `zsyncmake` on PATH; without it the tests skip with a message, unless
//! `DELTADROP_REQUIRE_PEERS=1` makes that a failure.

use std::io::Write;
use std::ops::Range;
use std::path::Path;

use crate::gzip::{
    CheckpointKind, Compressed, Inflater, MAX_BLOCK_HEADER_BYTES, WINDOW_SIZE, ZMap, fetch_ranges,
    parse_gzip_header,
};

fn run(dir: &Path, args: &[&str]) {
    run_peer("zsyncmake", args, dir);
}

use crate::test_data::{Rng, peer_available, run_peer};

/// A few MB of log-like text, random bytes, runs and short repeats, in pieces.
fn test_data(len: usize) -> Vec<u8> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut v = Vec::with_capacity(len);
    let mut line = 0u64;
    while v.len() < len {
        let n = 1 + rng.below(60_000) as usize;
        let end = (v.len() + n).min(len);
        match rng.below(5) {
            0 | 1 => {
                while v.len() < end {
                    line += 1;
                    let s = format!(
                        "{line:08} block {} checksum {:016x} state={}\n",
                        rng.below(1000),
                        rng.next(),
                        ["ok", "missing", "seeded"][rng.below(3) as usize]
                    );
                    v.extend_from_slice(s.as_bytes());
                }
            }
            2 => v.extend((v.len()..end).map(|_| rng.next() as u8)),
            3 => v.resize(end, rng.next() as u8),
            _ => {
                let pat: Vec<u8> = (0..1 + rng.below(12)).map(|_| rng.next() as u8).collect();
                v.extend(pat.iter().cycle().take(end - v.len()));
            }
        }
        v.truncate(end);
    }
    v
}

/// The `Length` and the raw `Z-Map2` bytes of a .zsync file. The map sits inside the
/// header section: `Z-Map2: N` is followed by N * 4 raw bytes, then the header lines go on
/// (in practice only the blank line that ends them).
fn zsync_map(zsync: &[u8]) -> (u64, ZMap) {
    let mut pos = 0;
    let mut length = None;
    loop {
        let nl = pos
            + zsync[pos..]
                .iter()
                .position(|&b| b == b'\n')
                .expect("header line");
        let line = std::str::from_utf8(&zsync[pos..nl]).unwrap();
        pos = nl + 1;
        if line.is_empty() {
            panic!("no Z-Map2 header");
        }
        if let Some(v) = line.strip_prefix("Length: ") {
            length = Some(v.parse().unwrap());
        }
        if let Some(v) = line.strip_prefix("Z-Map2: ") {
            let n: usize = v.parse().unwrap();
            let map = ZMap::parse_entries(n, &zsync[pos..pos + 4 * n]).unwrap();
            assert_eq!(zsync[pos + 4 * n], b'\n', "headers end right after the map");
            return (length.expect("Length before Z-Map2"), map);
        }
    }
}

fn window(data: &[u8], at: u64) -> &[u8] {
    let at = at as usize;
    &data[at.saturating_sub(WINDOW_SIZE)..at]
}

/// Whether the block whose header starts at `bit` is a stored block (BTYPE 00).
fn is_stored(gz: &[u8], bit: u64) -> bool {
    let byte = bit as usize / 8;
    let two = u16::from_le_bytes([gz[byte], gz.get(byte + 1).copied().unwrap_or(0)]);
    (two >> (bit % 8)) & 0b110 == 0
}

/// Decodes from every checkpoint to the next one that adds output, given exactly the
/// compressed bytes the range mapping would fetch. Returns how many checkpoints were
/// mid-block in a stored block, a case worth knowing was covered.
fn check_every_checkpoint(name: &str, data: &[u8], gz: &[u8], map: &ZMap) -> usize {
    let cps: Vec<_> = map.checkpoints().collect();
    let header = parse_gzip_header(gz).unwrap();
    assert_eq!(
        cps[0].in_bit,
        header.len as u64 * 8,
        "{name}: first entry is the gzip header"
    );
    assert_eq!(map.uncompressed_len(), data.len() as u64, "{name}");
    assert_eq!(
        map.last().in_bit,
        (gz.len() as u64 - 8) * 8,
        "{name}: map ends at the trailer"
    );
    let mut inf = Inflater::new(&[]);
    let (mut mid, mut starts, mut stored_mid) = (0, 0, 0);
    for (i, cp) in cps.iter().enumerate() {
        inf.set_window(window(data, cp.out_byte));
        let Some(end) = cps[i + 1..].iter().find(|c| c.out_byte > cp.out_byte) else {
            // Stream-end entries: nothing more to decode from here.
            let (out, _) = inf
                .inflate(Compressed::whole(gz), cp.resume(Compressed::whole(gz)), 0)
                .unwrap();
            assert!(out.is_empty());
            continue;
        };
        match cp.kind {
            CheckpointKind::MidBlock => {
                mid += 1;
                stored_mid += usize::from(is_stored(gz, cp.block_start_bit));
            }
            CheckpointKind::BlockStart => starts += 1,
        }
        let from = cp.in_bit / 8;
        let input = Compressed::new(&gz[from as usize..end.in_bit.div_ceil(8) as usize], from);
        let h_from = cp.block_start_bit / 8;
        let h_to = (h_from + MAX_BLOCK_HEADER_BYTES).min(cp.in_bit.div_ceil(8));
        let hdr = Compressed::new(&gz[h_from as usize..h_to as usize], h_from);
        let want = end.out_byte - cp.out_byte;
        let (out, outcome) = inf
            .inflate(input, cp.resume(hdr), want)
            .unwrap_or_else(|e| panic!("{name}: checkpoint {i} {cp:?}: {e}"));
        assert!(
            out[..] == data[cp.out_byte as usize..end.out_byte as usize],
            "{name}: checkpoint {i} {cp:?} decodes wrong bytes"
        );
        // Checkpoints are symbol boundaries: decoding ends exactly on the next one (or,
        // for a block start, just before the end-of-block code that precedes it).
        assert_eq!(outcome.decoded, want, "{name}: checkpoint {i}");
        match end.kind {
            CheckpointKind::MidBlock => {
                assert_eq!(outcome.end_bit, end.in_bit, "{name}: checkpoint {i}")
            }
            CheckpointKind::BlockStart => {
                assert!(outcome.end_bit <= end.in_bit, "{name}: checkpoint {i}")
            }
        }
    }
    eprintln!(
        "{name}: {} checkpoints decoded: {starts} block starts, {mid} mid-block \
         ({stored_mid} in stored blocks)",
        cps.len()
    );
    stored_mid
}

/// Fetches only what `reads_for` asks for and rebuilds the needed ranges from it.
fn check_missing_ranges(name: &str, data: &[u8], gz: &[u8], map: &ZMap, needed: &[Range<u64>]) {
    let reads = map.reads_for(needed, Some(gz.len() as u64)).unwrap();
    let fetches = fetch_ranges(&reads);
    let fetched: Vec<&[u8]> = fetches
        .iter()
        .map(|r| &gz[r.start as usize..r.end as usize])
        .collect();
    let slice_for = |r: &Range<u64>| -> Compressed<'_> {
        let i = fetches
            .iter()
            .position(|f| f.start <= r.start && r.end <= f.end)
            .expect("range fetched");
        Compressed::new(fetched[i], fetches[i].start)
    };
    // The engine's view of the output: known (seeded) bytes everywhere except `needed`.
    let mut assembled = data.to_vec();
    for r in needed {
        let end = (r.end as usize).min(data.len());
        assembled[r.start as usize..end].fill(0xAA);
    }
    let mut inf = Inflater::new(&[]);
    for read in &reads {
        inf.set_window(window(&assembled, read.out.start));
        let hdr = read
            .header
            .as_ref()
            .map(slice_for)
            .unwrap_or(Compressed::new(&[], 0));
        let (out, _) = inf
            .inflate(
                slice_for(&read.data),
                read.start.resume(hdr),
                read.out_len(),
            )
            .unwrap_or_else(|e| panic!("{name}: read {read:?}: {e}"));
        assert_eq!(out.len() as u64, read.out_len());
        assembled[read.out.start as usize..read.out.end as usize].copy_from_slice(&out);
    }
    assert!(assembled == data, "{name}: needed ranges not rebuilt");
    let bytes: u64 = fetches.iter().map(|r| r.end - r.start).sum();
    let want: u64 = needed
        .iter()
        .map(|r| r.end.min(data.len() as u64) - r.start)
        .sum();
    eprintln!(
        "{name}: {} needed bytes in {} ranges -> {} reads, {} fetches, {bytes} of {} compressed bytes",
        want,
        needed.len(),
        reads.len(),
        fetches.len(),
        gz.len()
    );
}

fn missing_blocks(len: u64, block: u64, seed: u64) -> Vec<Range<u64>> {
    let mut rng = Rng(seed);
    let blocks = len.div_ceil(block);
    let mut v: Vec<Range<u64>> = Vec::new();
    let mut b = 0;
    while b < blocks {
        if rng.below(8) == 0 {
            let longest = if rng.below(10) == 0 { 60 } else { 3 };
            let run = 1 + rng.below(longest);
            // The last block's range is rounded up past the end, as zsync's are.
            v.push(b * block..(b + run) * block);
            b += run;
        }
        b += 1;
    }
    v
}

#[test]
fn gzip_zsyncmake_z_checkpoints_all_decode() {
    if !peer_available("zsyncmake", "-V", "zsync") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = test_data(3_000_000);
    std::fs::write(dir.path().join("image.img"), &data).unwrap();
    run(dir.path(), &["-z", "-u", "image.img.gz", "image.img"]);
    let gz = std::fs::read(dir.path().join("image.img.gz")).unwrap();
    let (length, map) = zsync_map(&std::fs::read(dir.path().join("image.img.zsync")).unwrap());
    assert_eq!(length, data.len() as u64);
    check_every_checkpoint("zsyncmake -z", &data, &gz, &map);
    for seed in 1..4 {
        check_missing_ranges(
            "zsyncmake -z",
            &data,
            &gz,
            &map,
            &missing_blocks(length, 2048, seed),
        );
    }
    check_missing_ranges(
        "zsyncmake -z, everything",
        &data,
        &gz,
        &map,
        std::slice::from_ref(&(0..length)),
    );
}

#[test]
fn gzip_zsyncmake_on_a_gzip_file_checkpoints_all_decode() {
    if !peer_available("zsyncmake", "-V", "zsync") {
        return;
    }
    let data = test_data(2_500_000);
    for level in [1, 6, 9] {
        let dir = tempfile::tempdir().unwrap();
        // Ordinary gzip output has long blocks, so most checkpoints are mid-block.
        let mut enc = flate2::GzBuilder::new()
            .filename("image.img")
            .write(Vec::new(), flate2::Compression::new(level));
        enc.write_all(&data).unwrap();
        let gz = enc.finish().unwrap();
        std::fs::write(dir.path().join("image.img.gz"), &gz).unwrap();
        run(dir.path(), &["-u", "image.img.gz", "image.img.gz"]);
        let (length, map) = zsync_map(&std::fs::read(dir.path().join("image.img.zsync")).unwrap());
        assert_eq!(length, data.len() as u64);
        let name = format!("gzip -{level} + zsyncmake");
        assert!(
            map.checkpoints()
                .any(|c| c.kind == CheckpointKind::MidBlock)
        );
        let stored_mid = check_every_checkpoint(&name, &data, &gz, &map);
        if level > 1 {
            // flate2 stores the random stretches at these levels.
            assert!(
                stored_mid > 0,
                "{name}: no mid-block checkpoint in a stored block"
            );
        }
        for seed in 1..4 {
            check_missing_ranges(&name, &data, &gz, &map, &missing_blocks(length, 2048, seed));
        }
    }
}
