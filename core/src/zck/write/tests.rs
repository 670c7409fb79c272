//! The writer against our own reader: every header field, chunk and checksum read back,
//! the data uncompressed back to the input, the delta property of the cuts, the edge
//! sizes, and arguments that must be refused without touching any file.
//! (`zck/tests/peers.rs` reads the same files with zchunk's own tools.)

use std::path::{Path, PathBuf};

use super::*;
use crate::test_data::noise;
use crate::zck::header::Header;
use crate::zck::read::verify_file;
use crate::zck::seed::Seed;
use crate::zck::uncompress::uncompress_file;

/// Text and noise in stretches: compressible and not, cut into many chunks.
fn sample(len: usize, seed: u64) -> Vec<u8> {
    let random = noise(len, seed);
    let line = b"Dec  5 08:09:35 host kernel: usb 1-1: new high-speed USB device\n";
    (0..len)
        .map(|i| match (i / 100_000) % 3 {
            0 | 1 => line[i % line.len()] ^ (random[i] & u8::from(i % 97 == 0)),
            _ => random[i],
        })
        .collect()
}

/// `data` written as `dir/name` and made into `dir/name.zck`; the .zck's path and what
/// the writer said.
fn write_zck_of(dir: &Path, name: &str, data: &[u8]) -> (PathBuf, ZckMade) {
    let input = dir.join(name);
    std::fs::write(&input, data).unwrap();
    let output = dir.join(format!("{name}.zck"));
    let made = write_zck(&input, &output).unwrap();
    (output, made)
}

/// Checks the .zck at `zck` with our reader (header checksum, every chunk, the data
/// checksum, nothing after the last chunk) and uncompresses it back to `data`.
fn read_back(zck: &Path, data: &[u8], made: ZckMade) -> Header {
    let header = verify_file(zck).unwrap();
    assert_eq!(header.lead.checksum_type, ChecksumType::Sha256);
    assert_eq!(header.chunk_checksum_type, ChecksumType::Sha512_128);
    assert_eq!(header.compression, Compression::Zstd);
    assert!(!header.lead.detached && header.has_data_checksum());
    assert!(header.optional_elements.is_empty() && header.signatures.is_empty());
    let dict = header.dict();
    assert_eq!((dict.len, dict.comp_len()), (0, 0), "no dictionary");
    assert!(dict.checksum.is_zero());
    assert_eq!(header.file_len(), std::fs::metadata(zck).unwrap().len());
    assert_eq!(header.uncompressed_len(), data.len() as u64);
    assert_eq!(made.chunks, header.data_chunks().len() as u64);
    assert_eq!(made.uncompressed_len, data.len() as u64);
    assert_eq!(made.len, header.file_len());

    let out = zck.with_extension("out");
    assert_eq!(uncompress_file(zck, &out).unwrap(), data.len() as u64);
    assert!(std::fs::read(&out).unwrap() == data, "uncompressed differs");
    header
}

/// No file but `keep` in `dir`: no temporary file is left behind.
fn only_files(dir: &Path, keep: &[&str]) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut keep: Vec<String> = keep.iter().map(|k| k.to_string()).collect();
    keep.sort();
    assert_eq!(names, keep);
}

#[test]
fn a_file_reads_back_through_our_reader_chunk_by_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let data = sample(1_000_000, 1);
    let (zck, made) = write_zck_of(dir.path(), "data", &data);
    let header = read_back(&zck, &data, made);
    let lens: Vec<u64> = header.data_chunks().iter().map(|c| c.len).collect();
    assert!(lens.len() > 10, "{lens:?}");
    let (last, rest) = lens.split_last().unwrap();
    assert!(*last > 0 && *last <= MAX_CHUNK);
    for len in rest {
        assert!((MIN_CHUNK..=MAX_CHUNK).contains(len), "{lens:?}");
    }
    // The text compresses, the noise does not: both were stored as zstd frames.
    assert!(made.len < data.len() as u64 * 3 / 4, "{made:?}");
    only_files(dir.path(), &["data", "data.zck", "data.out"]);
}

#[test]
fn more_than_one_batch_keeps_the_chunks_in_order() {
    let dir = tempfile::tempdir().unwrap();
    // Mostly zeros (fast to compress) with marks that differ, so that chunks differ.
    let mut data = vec![0u8; BATCH_BYTES + BATCH_BYTES / 2];
    for (i, mark) in noise(data.len() / 4096, 2).into_iter().enumerate() {
        data[i * 4096] = mark;
    }
    data.extend(sample(300_000, 3));
    let (zck, made) = write_zck_of(dir.path(), "big", &data);
    read_back(&zck, &data, made);
}

#[test]
fn an_edit_changes_only_the_chunks_around_it() {
    let dir = tempfile::tempdir().unwrap();
    let old = sample(2_000_000, 4);
    let mut new = old.clone();
    new.splice(300_000..300_000, b"a few bytes inserted".iter().copied());
    new[1_500_000..1_500_010].copy_from_slice(b"0123456789");
    let (old_zck, _) = write_zck_of(dir.path(), "old", &old);
    let (new_zck, _) = write_zck_of(dir.path(), "new", &new);
    let seed = Seed::open(&old_zck).unwrap();
    let target = verify_file(&new_zck).unwrap();
    let missing: Vec<usize> = target
        .data_chunks()
        .iter()
        .filter(|c| seed.find(c).is_none())
        .map(|c| c.number)
        .collect();
    // Each edit spoils its own chunk and perhaps the next (a border moved by it).
    assert!(
        (2..=4).contains(&missing.len()),
        "{} of {} chunks missing: {missing:?}",
        missing.len(),
        target.data_chunks().len()
    );
}

#[test]
fn an_empty_file_and_a_file_of_one_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (zck, made) = write_zck_of(dir.path(), "empty", b"");
    let header = read_back(&zck, b"", made);
    assert_eq!(header.chunks.len(), 1, "the empty dictionary alone");
    assert_eq!(made.len, header.lead.header_len());
    assert_eq!(
        header.data_checksum,
        ChecksumType::Sha256.of(b""),
        "the checksum of no data"
    );

    let (zck, made) = write_zck_of(dir.path(), "one", b"x");
    let header = read_back(&zck, b"x", made);
    assert_eq!(header.data_chunks().len(), 1);
    assert_eq!(header.data_chunks()[0].len, 1);
}

#[test]
fn a_header_is_the_one_our_parser_reads() {
    // Built by hand from entries, parsed back field by field.
    let entries = [(b"first chunk".as_slice(), 5000), (b"second", 130_000)]
        .into_iter()
        .map(|(stored, len)| Entry {
            checksum: CHUNK_CHECKSUM.of(stored),
            comp_len: stored.len() as u64,
            len,
        })
        .collect();
    let packed = Packed {
        data_checksum: OVERALL_CHECKSUM.of(b"first chunksecond"),
        data_len: 17,
        uncompressed_len: 135_000,
        entries,
    };
    let bytes = header_bytes(&packed);
    let header = Header::parse(&bytes, "t").unwrap();
    assert_eq!(header.lead.header_len(), bytes.len() as u64);
    assert_eq!(header.data_checksum, packed.data_checksum);
    assert_eq!(header.file_len(), bytes.len() as u64 + 17);
    let read: Vec<(Checksum, u64, u64)> = header
        .data_chunks()
        .iter()
        .map(|c| (c.checksum, c.comp_len(), c.len))
        .collect();
    let written: Vec<(Checksum, u64, u64)> = packed
        .entries
        .iter()
        .map(|e| (e.checksum, e.comp_len, e.len))
        .collect();
    assert_eq!(read, written);
    // One byte changed anywhere breaks the header checksum.
    for at in [0, 10, bytes.len() / 2, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[at] ^= 0x40;
        assert!(Header::parse(&bad, "t").is_err(), "byte {at}");
    }
}

#[test]
fn the_input_is_never_overwritten_and_bad_arguments_leave_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let input = dir.join("data");
    std::fs::write(&input, b"the input").unwrap();

    // The output is the input, by its own name or another.
    for output in [input.clone(), dir.join(".").join("data")] {
        let error = write_zck(&input, &output).unwrap_err().to_string();
        assert!(error.contains("would overwrite the input"), "{error}");
    }
    // The input has the name of a temporary file the writer would make.
    let tmp_input = dir.join("out.tmp");
    std::fs::write(&tmp_input, b"named like a temporary").unwrap();
    let error = write_zck(&tmp_input, &dir.join("out"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("would overwrite the input"), "{error}");
    assert_eq!(
        std::fs::read(&tmp_input).unwrap(),
        b"named like a temporary"
    );
    assert_eq!(std::fs::read(&input).unwrap(), b"the input");

    // A missing input, a folder as the input, an output in a missing folder: each says
    // what is wrong, and the output there before is left as it was.
    let output = dir.join("out.zck");
    std::fs::write(&output, b"the previous version").unwrap();
    let error = write_zck(&dir.join("missing"), &output).unwrap_err();
    assert!(error.to_string().contains("missing"), "{error}");
    let error = write_zck(dir, &output).unwrap_err().to_string();
    assert!(error.contains("is a folder"), "{error}");
    let error = write_zck(&input, &dir.join("no such folder").join("out.zck"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("no such folder"), "{error}");
    assert_eq!(std::fs::read(&output).unwrap(), b"the previous version");
    only_files(dir, &["data", "out.tmp", "out.zck"]);

    // And with good arguments the previous version is replaced.
    let made = write_zck(&input, &output).unwrap();
    read_back(&output, b"the input", made);
}
