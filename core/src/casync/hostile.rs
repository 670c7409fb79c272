//! Indexes and chunk files come from the network: property tests that no input makes the
//! parser or the unpacker panic, that what is accepted is consistent, and that nothing is
//! reserved beyond what the input's bytes justify.

use proptest::prelude::*;

use super::id::{ChunkDigest, ChunkId};
use super::index::{BLOB_FLAGS, Chunk, Index, write_index};
use super::store::unpack_in_memory;
use crate::test_data::mutate;

fn valid_index(chunks: usize, seed: u8) -> Vec<u8> {
    let items: Vec<(u64, ChunkId)> = (0..chunks)
        .map(|i| {
            (
                (i as u64 + 1) * 1000 + u64::from(seed),
                ChunkId([seed ^ i as u8; 32]),
            )
        })
        .collect();
    write_index(BLOB_FLAGS, [500, 1000, 4000], &items)
}

/// Whatever parses is a consistent index no larger than its bytes allow.
fn check(bytes: &[u8]) {
    let Ok(index) = Index::parse(bytes, "hostile") else {
        return;
    };
    assert!(index.len() <= bytes.len() / 40);
    let max = index.sizes().max();
    let mut offset = 0;
    for chunk in index.chunks() {
        assert_eq!(chunk.offset, offset);
        assert!(chunk.len >= 1 && chunk.len <= max);
        offset += chunk.len;
    }
    assert_eq!(offset, index.blob_len());
}

#[test]
fn every_truncation_is_refused() {
    for chunks in [0, 1, 3] {
        let good = valid_index(chunks, 7);
        check(&good);
        assert!(Index::parse(&good, "x").is_ok());
        for len in 0..good.len() {
            assert!(
                Index::parse(&good[..len], "x").is_err(),
                "{chunks} chunks cut at {len}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        check(&bytes);
    }

    #[test]
    fn mutated_indexes_never_panic(
        chunks in 0..6usize,
        seed in any::<u8>(),
        edits in prop::collection::vec(any::<(usize, u8, u8)>(), 1..5),
    ) {
        check(&mutate(valid_index(chunks, seed), &edits));
    }

    #[test]
    fn mutated_chunks_never_unpack_wrong(
        len in 1..5000usize,
        byte in any::<u8>(),
        edits in prop::collection::vec(any::<(usize, u8, u8)>(), 0..4),
    ) {
        let data: Vec<u8> = (0..len).map(|i| byte ^ (i % 7) as u8).collect();
        let chunk = Chunk { offset: 0, len: len as u64, id: ChunkDigest::Sha256.id_of(&data) };
        let packed = zstd::bulk::compress(&data, 1).unwrap();
        let mutated = mutate(packed, &edits);
        if let Ok(out) = unpack_in_memory(&mutated, &chunk, ChunkDigest::Sha256, "hostile") {
            prop_assert_eq!(out, data);
        }
    }
}
