//! Tests of the zchunk format layer: files built here byte by byte (every checksum
//! type, optional elements, signatures, hostile claims), truncated and mutated input
//! that must give errors and never panic, and (in `peers`) the real zchunk tools.

use proptest::prelude::*;

use super::checksum::ChecksumType;
use super::cursor::encode_int;
use super::header::{Compression, Header, Lead, MAX_LEAD_LEN};
use super::read;
use super::uncompress::{Names, uncompress};
use crate::error::Result;
use crate::test_data::{Rng, mutate, noise};

mod peers;

/// A .zck file to build: the choices the format leaves to the writer.
#[derive(Clone)]
pub(super) struct Build {
    pub overall: ChecksumType,
    pub chunk_type: ChecksumType,
    pub zstd: bool,
    pub dict: Vec<u8>,
    pub uncompressed: bool,
    pub optional: Vec<(u64, Vec<u8>)>,
    pub signatures: Vec<(u64, Vec<u8>)>,
}

impl Default for Build {
    fn default() -> Self {
        Build {
            overall: ChecksumType::Sha256,
            chunk_type: ChecksumType::Sha512_128,
            zstd: true,
            dict: Vec::new(),
            uncompressed: false,
            optional: Vec::new(),
            signatures: Vec::new(),
        }
    }
}

fn int(value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    encode_int(value, &mut out);
    out
}

impl Build {
    /// The .zck of `pieces`, one chunk each, laid out as zchunk 1.x writes it.
    pub fn file(&self, pieces: &[&[u8]]) -> Vec<u8> {
        let stored: Vec<(Vec<u8>, &[u8])> = std::iter::once(self.compress(&self.dict, &[]))
            .zip(std::iter::once(&self.dict[..]))
            .chain(pieces.iter().map(|p| (self.compress(p, &self.dict), *p)))
            .collect();
        let mut index = [int(self.chunk_type as u64), int(stored.len() as u64)].concat();
        for (bytes, plain) in &stored {
            index.extend(self.chunk_checksum(bytes));
            if self.uncompressed {
                index.extend(self.chunk_checksum(plain));
            }
            index.extend(int(bytes.len() as u64));
            index.extend(int(plain.len() as u64));
        }
        let data: Vec<u8> = stored.iter().flat_map(|(b, _)| b.clone()).collect();
        let mut rest = self.preface(&data);
        rest.extend(int(index.len() as u64));
        rest.extend(index);
        rest.extend(self.signatures());
        let mut file = [
            b"\0ZCK1".to_vec(),
            int(self.overall as u64),
            int(rest.len() as u64),
        ]
        .concat();
        file.extend(vec![0; self.overall.len()]);
        file.extend(rest);
        reseal(&mut file);
        file.extend(data);
        file
    }

    fn compress(&self, plain: &[u8], dict: &[u8]) -> Vec<u8> {
        if !self.zstd || plain.is_empty() {
            return plain.to_vec();
        }
        let mut compressor = zstd::bulk::Compressor::with_dictionary(3, dict).unwrap();
        compressor.compress(plain).unwrap()
    }

    fn chunk_checksum(&self, bytes: &[u8]) -> Vec<u8> {
        if bytes.is_empty() {
            return vec![0; self.chunk_type.len()];
        }
        self.chunk_type.of(bytes).as_bytes().to_vec()
    }

    fn preface(&self, data: &[u8]) -> Vec<u8> {
        let mut preface = if self.uncompressed {
            vec![0; self.overall.len()]
        } else {
            self.overall.of(data).as_bytes().to_vec()
        };
        let flags = u64::from(!self.optional.is_empty()) * 2 + u64::from(self.uncompressed) * 4;
        preface.extend(int(flags));
        preface.extend(int(if self.zstd { 2 } else { 0 }));
        if !self.optional.is_empty() {
            preface.extend(entries(&self.optional));
        }
        preface
    }

    fn signatures(&self) -> Vec<u8> {
        entries(&self.signatures)
    }
}

/// A count, then each entry's id, size and data (optional elements, signatures).
fn entries(list: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut out = int(list.len() as u64);
    for (id, data) in list {
        out.extend(int(*id));
        out.extend(int(data.len() as u64));
        out.extend(data);
    }
    out
}

/// Writes the right header checksum into `file` (whose lead must parse): so mutated
/// headers reach the parser past the checksum.
pub(super) fn reseal(file: &mut [u8]) {
    let Ok(lead) = Lead::parse(file, "t") else {
        return;
    };
    let Some(header) = usize::try_from(lead.header_len())
        .ok()
        .and_then(|len| file.get(..len))
    else {
        return;
    };
    let at = lead.len - lead.checksum_type.len();
    let mut hasher = lead.checksum_type.hasher();
    hasher.update(b"\0ZCK1");
    hasher.update(&header[5..at]);
    hasher.update(&header[lead.len..]);
    let sum = hasher.finish();
    file[at..lead.len].copy_from_slice(sum.as_bytes());
}

/// Text-like pieces of varied sizes.
fn pieces(count: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed);
    (0..count)
        .map(|i| {
            let len = rng.below(3000) as usize;
            let mut piece = format!("piece {i} ").repeat(len / 10);
            piece.extend(
                noise(len % 97, seed + i as u64)
                    .iter()
                    .map(|b| (b % 26 + b'a') as char),
            );
            piece.into_bytes()
        })
        .collect()
}

/// Parses, checks every chunk in memory, and uncompresses `file`.
pub(super) fn uncompress_bytes(file: &[u8]) -> Result<(Header, Vec<u8>)> {
    let header = Header::parse(file, "t.zck")?;
    let mut data = file
        .get(header.lead.header_len() as usize..)
        .unwrap_or_default();
    let mut out = Vec::new();
    let names = Names {
        src: "t.zck".as_ref(),
        dst: "t".as_ref(),
    };
    uncompress(&header, &mut data, &mut out, names)?;
    Ok((header, out))
}

#[test]
fn every_checksum_type_and_optional_part_round_trips() {
    let pieces = pieces(12, 7);
    let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
    let plain = pieces.concat();
    let types = [
        ChecksumType::Sha1,
        ChecksumType::Sha256,
        ChecksumType::Sha512,
        ChecksumType::Sha512_128,
    ];
    for (i, chunk_type) in types.into_iter().enumerate() {
        let build = Build {
            overall: if i % 2 == 0 {
                ChecksumType::Sha1
            } else {
                ChecksumType::Sha256
            },
            chunk_type,
            zstd: i != 2,
            dict: if i == 1 {
                b"piece piece 7 ".repeat(40)
            } else {
                Vec::new()
            },
            uncompressed: i >= 2,
            optional: vec![(9, b"opaque".to_vec())],
            signatures: vec![(1, vec![0xab; 70])],
        };
        let file = build.file(&refs);
        let (header, out) = uncompress_bytes(&file).unwrap();
        assert_eq!(out, plain, "{chunk_type:?}");
        assert_eq!(header.lead.checksum_type, build.overall);
        assert_eq!(header.chunk_checksum_type, chunk_type);
        assert_eq!(header.compression == Compression::Zstd, build.zstd);
        assert_eq!(header.optional_elements[0].data, b"opaque");
        assert_eq!(
            (header.signatures[0].kind, header.signatures[0].data.len()),
            (1, 70)
        );
        assert_eq!(header.chunks.len(), 13);
        assert_eq!(header.dict().len, build.dict.len() as u64);
        assert_eq!(header.file_len(), file.len() as u64);
        assert_eq!(header.uncompressed_len(), plain.len() as u64);
        for chunk in &header.chunks {
            let (start, end) = (chunk.range.start as usize, chunk.range.end as usize);
            assert!(chunk.verify(&file[start..end]), "chunk {}", chunk.number);
            if start < end {
                assert!(!chunk.verify(&file[start..end - 1]));
            }
        }
    }
}

#[test]
fn damage_is_named() {
    let pieces = pieces(4, 3);
    let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
    let file = Build::default().file(&refs);
    let message = |file: &[u8]| uncompress_bytes(file).unwrap_err().to_string();

    let not_zck = uncompress_bytes(b"PK\x03\x04 a zip").unwrap_err();
    assert_eq!(
        not_zck.to_string(),
        "control file t.zck: it is not a zchunk file"
    );
    assert!(not_zck.hint().contains("a .zck file made by zck"));
    let mut bad_header = file.clone();
    bad_header[60] ^= 1;
    assert!(message(&bad_header).contains("its header checksum does not match"));
    let header = Header::parse(&file, "t").unwrap();
    let mut bad_chunk = file.clone();
    bad_chunk[header.chunks[2].range.start as usize + 3] ^= 1;
    assert!(message(&bad_chunk).contains("chunk 2 does not match its checksum"));
    let cut = &file[..file.len() - 1];
    assert!(
        message(cut).contains("is cut short inside chunk 4"),
        "{}",
        message(cut)
    );

    // A data checksum that does not match, its header resealed.
    let mut bad_data = file.clone();
    let at = header.lead.len;
    bad_data[at] ^= 1;
    reseal(&mut bad_data);
    assert!(message(&bad_data).contains("its data checksum does not match"));
}

#[test]
fn hostile_claims_are_refused_before_allocating() {
    // Two billion billion chunks in a 40-byte index; a 2^40-byte optional element.
    let mut claims = Vec::new();
    let mut index = [int(3), int(1 << 60)].concat();
    index.extend([0u8; 18]);
    let mut rest = [vec![0; 32], int(0), int(2), int(index.len() as u64)].concat();
    rest.extend(&index);
    rest.extend(int(0));
    claims.push(rest);
    claims.push([vec![0; 32], int(2), int(2), int(1), int(5), int(1 << 40)].concat());
    // Flags for streams and an unknown one, compression type 1, checksum type 9.
    claims.push([vec![0; 32], int(1), int(2)].concat());
    claims.push([vec![0; 32], int(8), int(2)].concat());
    claims.push([vec![0; 32], int(0), int(1)].concat());
    claims.push([vec![0; 32], int(0), int(2), int(2), int(9), int(1)].concat());
    let expected = [
        "its index claims 1152921504606846976 chunks, more than its 28 bytes can hold",
        "is cut short inside its zchunk header (in the preface)",
        "data streams",
        "sets flags this version does not know (0x8)",
        "compression type 1",
        "checksum type 9",
    ];
    for (rest, expected) in claims.into_iter().zip(expected) {
        let mut file = [
            b"\0ZCK1".to_vec(),
            int(1),
            int(rest.len() as u64),
            vec![0; 32],
        ]
        .concat();
        file.extend(rest);
        reseal(&mut file);
        let error = Header::parse(&file, "h.zck").unwrap_err().to_string();
        assert!(
            error.starts_with("control file h.zck: it ") && error.contains(expected),
            "{error}"
        );
    }
    // A lead claiming a 2^62-byte header.
    let lead = [b"\0ZCK1".to_vec(), int(1), int(1 << 62), vec![0; 32]].concat();
    assert!(
        Lead::parse(&lead, "h")
            .unwrap_err()
            .to_string()
            .contains("more than")
    );
}

#[test]
fn every_truncation_of_a_header_is_an_error() {
    let pieces = pieces(30, 5);
    let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
    let build = Build {
        uncompressed: true,
        optional: vec![(1, vec![1, 2, 3])],
        signatures: vec![(2, vec![7; 9])],
        ..Build::default()
    };
    let file = build.file(&refs);
    let len = Lead::parse(&file[..MAX_LEAD_LEN], "t")
        .unwrap()
        .header_len() as usize;
    for cut in 0..len {
        assert!(Header::parse(&file[..cut], "t").is_err(), "{cut}");
        assert!(read::read_header(&mut &file[..cut], "t".as_ref()).is_err());
    }
    let mut reader = &file[..];
    let header = read::read_header(&mut reader, "t".as_ref()).unwrap();
    assert_eq!(reader.len(), file.len() - len, "read exactly the header");
    assert_eq!(header.chunks[0].range.start, len as u64);
}

prop_compose! {
    fn zck_file()(
        count in 0..8usize,
        seed in any::<u64>(),
        kinds in (0..4u64, 0..2u64),
        (zstd, dict, uncompressed) in any::<(bool, bool, bool)>(),
    ) -> Vec<u8> {
        let pieces = pieces(count, seed);
        let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        Build {
            overall: ChecksumType::from_code(kinds.1).unwrap(),
            chunk_type: ChecksumType::from_code(kinds.0).unwrap(),
            zstd,
            dict: if dict { b"piece 1 piece 2 ".repeat(8) } else { Vec::new() },
            uncompressed,
            ..Build::default()
        }
        .file(&refs)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Mutated files, their header checksum made right half the time so the edits
    /// reach the preface, index and chunks: errors, never a panic.
    #[test]
    fn mutated_files_never_panic(
        file in zck_file(),
        edits in prop::collection::vec(any::<(usize, u8, u8)>(), 0..4),
        in_header in any::<bool>(),
        resealed in any::<bool>(),
    ) {
        let header_len = Lead::parse(&file, "t").unwrap().header_len() as usize;
        let edits: Vec<_> = edits
            .into_iter()
            .map(|(at, kind, byte)| (if in_header { at % header_len } else { at }, kind, byte))
            .collect();
        let mut mutated = mutate(file, &edits);
        if resealed {
            reseal(&mut mutated);
        }
        let _ = uncompress_bytes(&mutated);
        let _ = read::read_header(&mut &mutated[..], "t".as_ref());
    }

    #[test]
    fn random_bytes_after_the_magic_never_panic(tail in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut file = b"\0ZCK1".to_vec();
        file.extend(tail);
        reseal(&mut file);
        prop_assert!(uncompress_bytes(&file).is_err() || file.len() > 40);
    }
}
