//! The format layer against Debian's zchunk tools: files made by `zck` (several sizes,
//! a dictionary, each chunk checksum type, no compression, uncompressed checksums,
//! manual chunking, an empty file) are parsed, checked chunk by chunk, compared with
//! `zck_read_header -c`, and uncompressed byte for byte as `unzck` does; an old/new
//! pair matches as many chunks as `zck_delta_size` reports; `unzck` reads the files
//! our test builder writes, and the tools read the files our writer (`make --zck`) makes.

use std::path::{Path, PathBuf};

use super::{Build, pieces};
use crate::test_data::{Rng, peer_available, run_peer};
use crate::zck::header::Header;
use crate::zck::read::verify_file;
use crate::zck::seed::Seed;
use crate::zck::uncompress::uncompress_file;
use crate::zck::write_zck;

/// Log-like lines with repeats and a little noise: compressible, and chunked by zck's
/// rolling hash into many chunks.
fn text(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(len + 100);
    while out.len() < len {
        let line = match rng.below(4) {
            0 => format!(
                "{} INFO request {} served in {} ms\n",
                rng.below(1 << 30),
                rng.below(999),
                rng.below(90)
            ),
            1 => format!("{:x}{:x}\n", rng.next(), rng.next()),
            _ => format!("DEBUG cache {} hit {}\n", rng.below(50), rng.below(7)),
        };
        out.extend(line.bytes());
    }
    out.truncate(len);
    out
}

/// `zck args... name` in `dir`, from `data`; the .zck's path.
fn make(dir: &Path, name: &str, data: &[u8], args: &[&str]) -> PathBuf {
    std::fs::write(dir.join(name), data).unwrap();
    let out = format!("{name}.zck");
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["-o", &out, name]);
    run_peer("zck", &all, dir);
    dir.join(out)
}

/// Our reading of `zck` against the tools' for one file.
fn check_against_tools(dir: &Path, zck: &Path, plain: &[u8]) -> Header {
    let header = verify_file(zck).unwrap();
    let file_len = std::fs::metadata(zck).unwrap().len();
    let mut at = header.lead.header_len();
    for chunk in &header.chunks {
        assert_eq!(chunk.range.start, at, "chunks tile the file");
        at = chunk.range.end;
    }
    assert_eq!(at, file_len, "the last chunk ends the file");
    compare_read_header(dir, zck, &header);

    let ours = dir.join("ours.out");
    assert_eq!(uncompress_file(zck, &ours).unwrap(), plain.len() as u64);
    let ours = std::fs::read(&ours).unwrap();
    assert!(ours == plain, "uncompressed differs from the original");
    let theirs = run_peer("unzck", &["-c", zck.to_str().unwrap()], dir);
    assert!(theirs == ours, "unzck's output differs from ours");
    header
}

/// Every chunk row of `zck_read_header -c` against our chunks; the summary lines too.
fn compare_read_header(dir: &Path, zck: &Path, header: &Header) {
    let out = run_peer("zck_read_header", &["-c", zck.to_str().unwrap()], dir);
    let out = String::from_utf8(out).unwrap();
    let line = |label: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label} in {out}"))
            .trim()
            .to_string()
    };
    assert_eq!(line("Header size:"), header.lead.header_len().to_string());
    assert_eq!(line("Chunk count:"), header.chunks.len().to_string());
    assert_eq!(
        line("Chunk checksum type:"),
        header.chunk_checksum_type.name()
    );
    assert_eq!(
        line("Overall checksum type:"),
        header.lead.checksum_type.name()
    );
    assert_eq!(line("Data checksum:"), header.data_checksum.to_string());
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("Chunk Checksum"))
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), header.chunks.len());
    for (row, chunk) in rows.iter().zip(&header.chunks) {
        let mut expected = vec![chunk.number.to_string(), chunk.checksum.to_string()];
        expected.extend(chunk.uncompressed_checksum.map(|c| c.to_string()));
        expected.extend([chunk.range.start, chunk.comp_len(), chunk.len].map(|n| n.to_string()));
        assert_eq!(*row, expected);
    }
}

#[test]
fn files_made_by_zck_read_as_zchunk_reads_them() {
    if !peer_available("zck", "--version", "zchunk") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let big = text(1_500_000, 1);
    std::fs::write(dir.join("dict"), &big[..20_000]).unwrap();
    // Split strings that do not straddle a 32 KiB boundary of this text: zck 1.2.3's
    // `-s DEBUG` drops the byte at 98,304 (its own `unzck` then gives 399,999 bytes), so
    // that file cannot round-trip.
    let cases: &[(usize, &[&str])] = &[
        (0, &[]),
        (1, &[]),
        (5_000, &[]),
        (400_000, &[]),
        (1_500_000, &[]),
        (400_000, &["-D", "dict"]),
        (400_000, &["-h", "sha256"]),
        (400_000, &["-h", "sha512"]),
        (400_000, &["-h", "sha512_128", "-u"]),
        (400_000, &["--compression-format=none"]),
        (400_000, &["--compression-format=none", "-u"]),
        (400_000, &["-m", "-s", "INFO"]),
        (400_000, &["-D", "dict", "-u", "-h", "sha512"]),
        (400_000, &["-m", "-s", "INFO", "-D", "dict"]),
    ];
    for (i, (len, args)) in cases.iter().enumerate() {
        let plain = &big[..*len];
        let zck = make(dir, &format!("case{i}"), plain, args);
        let header = check_against_tools(dir, &zck, plain);
        let has_dict = args.contains(&"-D");
        assert_eq!(header.dict().len > 0, has_dict, "{args:?}");
        assert_eq!(header.uncompressed_checksums, args.contains(&"-u"));
        if *len >= 400_000 && !args.contains(&"-m") {
            assert!(
                header.chunks.len() > 5,
                "{args:?}: {} chunks",
                header.chunks.len()
            );
        }
    }
}

#[test]
fn seed_matches_as_zck_delta_size_counts() {
    if !peer_available("zck", "--version", "zchunk") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let old = text(1_000_000, 2);
    // The new version: a line changed near the start, a block inserted in the middle,
    // a block removed near the end.
    let mut new = old.clone();
    new[5_000..5_040].copy_from_slice(&[b'X'; 40]);
    new.splice(500_000..500_000, text(30_000, 3));
    new.drain(900_000..920_000);
    for args in [&[][..], &["-h", "sha256"]] {
        let old_zck = make(dir, "old", &old, args);
        let new_zck = make(dir, "new", &new, args);
        let seed = Seed::open(&old_zck).unwrap();
        let target = verify_file(&new_zck).unwrap();
        let matched: Vec<_> = seed.matches(&target).collect();
        let unmatched: u64 = target
            .chunks
            .iter()
            .filter(|c| seed.find(c).is_none())
            .map(|c| c.comp_len())
            .sum();

        let report = run_peer(
            "zck_delta_size",
            &[old_zck.to_str().unwrap(), new_zck.to_str().unwrap()],
            dir,
        );
        let report = String::from_utf8(report).unwrap();
        let expected = format!("Matched {} of {} ", matched.len(), target.chunks.len());
        assert!(report.contains(&expected), "{expected} in {report}");
        let download = target.lead.header_len() + unmatched;
        assert!(
            report.contains(&format!("Would download {download} of ")),
            "{download} in {report}"
        );
        assert!(matched.len() > target.chunks.len() / 2, "{report}");
        assert!(matched.len() < target.chunks.len(), "{report}");

        let mut reader = seed.reader().unwrap();
        for (wanted, have) in matched {
            let bytes = seed.read_chunk(&mut reader, have, wanted).unwrap().unwrap();
            let start = wanted.range.start as usize;
            assert_eq!(
                bytes,
                std::fs::read(&new_zck).unwrap()[start..][..bytes.len()]
            );
        }
    }
}

#[test]
fn a_changed_seed_gives_no_chunk() {
    if !peer_available("zck", "--version", "zchunk") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let data = text(300_000, 4);
    let zck = make(dir, "seed", &data, &[]);
    let seed = Seed::open(&zck).unwrap();
    let target = seed.header.clone();
    let chunk = &target.chunks[3];
    let mut bytes = std::fs::read(&zck).unwrap();
    bytes[chunk.range.start as usize + 10] ^= 0x40;
    std::fs::write(&zck, &bytes).unwrap();
    let mut reader = seed.reader().unwrap();
    assert_eq!(seed.read_chunk(&mut reader, chunk, chunk).unwrap(), None);
    let next = &target.chunks[4];
    assert!(seed.read_chunk(&mut reader, next, next).unwrap().is_some());
    // A seed cut short keeps the chunks it still holds.
    std::fs::write(&zck, &bytes[..chunk.range.end as usize - 1]).unwrap();
    let cut = Seed::open(&zck).unwrap();
    assert!(cut.find(&target.chunks[2]).is_some());
    assert!(cut.find(chunk).is_none());
}

#[test]
fn unzck_reads_what_our_test_builder_writes() {
    if !peer_available("zck", "--version", "zchunk") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let pieces = pieces(20, 9);
    let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
    let build = Build {
        dict: b"piece 3 piece 4 ".repeat(30),
        ..Build::default()
    };
    let file = dir.join("built.zck");
    std::fs::write(&file, build.file(&refs)).unwrap();
    let out = run_peer("unzck", &["-c", "built.zck"], dir);
    assert!(out == pieces.concat());
    run_peer("zck_read_header", &["-f", "built.zck"], dir);
}

#[test]
fn files_we_write_read_as_zchunk_reads_them() {
    if !peer_available("zck", "--version", "zchunk") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let big = text(1_500_000, 5);
    for len in [0, 1, 5_000, 400_000, 1_500_000] {
        let plain = &big[..len];
        let input = dir.join(format!("ours{len}"));
        std::fs::write(&input, plain).unwrap();
        let ours = dir.join(format!("ours{len}.zck"));
        write_zck(&input, &ours).unwrap();
        let header = check_against_tools(dir, &ours, plain);
        run_peer("zck_read_header", &["-f", ours.to_str().unwrap()], dir);
        if len >= 400_000 {
            assert!(header.chunks.len() > 5, "{} chunks", header.chunks.len());
        }
    }
    // With no data, the header is all there is, and it is zck's, byte for byte.
    let theirs = make(dir, "empty", b"", &[]);
    assert_eq!(
        std::fs::read(dir.join("ours0.zck")).unwrap(),
        std::fs::read(theirs).unwrap()
    );
}
