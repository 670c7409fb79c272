//! The chunker against a line-by-line transcription of casync's `ca_chunker_scan` (ring
//! buffer, division and all), over random data, sizes and piece boundaries. The peer
//! tests then hold both to the real `casync make`.

use proptest::prelude::*;

use super::*;
use crate::test_data::{Rng, noise};

/// `ca_chunker_scan` as casync writes it, kept plain on purpose.
struct Reference {
    min: usize,
    avg: usize,
    max: usize,
    d: usize,
    h: u32,
    window: [u8; WINDOW],
    window_size: usize,
    chunk_size: usize,
}

impl Reference {
    fn new(sizes: ChunkSizes) -> Self {
        Reference {
            min: sizes.min as usize,
            avg: sizes.avg as usize,
            max: sizes.max as usize,
            d: sizes.discriminator() as usize,
            h: 0,
            window: [0; WINDOW],
            window_size: 0,
            chunk_size: 0,
        }
    }

    fn shall_break(&self, v: u32) -> bool {
        self.chunk_size >= self.max || (v as usize % self.d) == self.d - 1
    }

    fn now(&mut self, k: usize) -> Option<usize> {
        (self.h, self.chunk_size, self.window_size) = (0, 0, 0);
        Some(k)
    }

    fn scan(&mut self, p: &[u8]) -> Option<usize> {
        let (mut q, mut n, mut k, mut skip) = (0, p.len(), 0, 0);
        if self.min == self.avg && self.max == self.avg {
            let m = (self.avg - self.chunk_size).min(n);
            self.chunk_size += m;
            return if self.chunk_size < self.avg {
                None
            } else {
                self.now(m)
            };
        }
        if self.min > WINDOW {
            skip = self.min - WINDOW;
            if self.chunk_size < skip {
                k = skip - self.chunk_size;
                if k >= n {
                    self.chunk_size += n;
                    return None;
                }
                (q, n) = (q + k, n - k);
                self.chunk_size += k;
            }
        }
        if self.window_size < WINDOW {
            let m = (WINDOW - self.window_size).min(n);
            self.window[self.window_size..self.window_size + m].copy_from_slice(&p[q..q + m]);
            (q, n) = (q + m, n - m);
            self.window_size += m;
            self.chunk_size += m;
            if self.window_size < WINDOW {
                return None;
            }
            self.h = 0;
            for i in 1..WINDOW {
                self.h ^=
                    TABLE[self.window[i - 1] as usize].rotate_left(((WINDOW - i) % 32) as u32);
            }
            self.h ^= TABLE[self.window[WINDOW - 1] as usize];
            k += m;
            if self.shall_break(self.h) {
                return self.now(k);
            }
        }
        let mut idx = (self.chunk_size - skip) % WINDOW;
        while n > 0 {
            let leave = self.window[idx];
            self.h = self.h.rotate_left(1)
                ^ TABLE[leave as usize].rotate_left((WINDOW % 32) as u32)
                ^ TABLE[p[q] as usize];
            self.chunk_size += 1;
            k += 1;
            if self.shall_break(self.h) {
                return self.now(k);
            }
            self.window[idx] = p[q];
            idx = (idx + 1) % WINDOW;
            (q, n) = (q + 1, n - 1);
        }
        None
    }
}

/// The chunk lengths a scanner finds in `data` given in `pieces` (cycled), the last
/// chunk included.
fn lengths(
    mut scan: impl FnMut(&[u8]) -> Option<usize>,
    data: &[u8],
    pieces: &[usize],
) -> Vec<usize> {
    let (mut out, mut len, mut at) = (Vec::new(), 0, 0);
    let mut sizes = pieces.iter().cycle();
    while at < data.len() {
        let end = (at + sizes.next().unwrap()).min(data.len());
        let mut piece = &data[at..end];
        while let Some(k) = scan(piece) {
            out.push(len + k);
            len = 0;
            piece = &piece[k..];
        }
        len += piece.len();
        at = end;
    }
    if len > 0 {
        out.push(len);
    }
    out
}

/// Random data with runs and repeats, so the max-size rule and equal windows come up.
fn mixed(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    let mut data = noise(len, seed);
    for _ in 0..len / 4000 {
        let at = rng.below(len as u64) as usize;
        let run = (rng.below(3000) as usize).min(len - at);
        let byte = rng.next() as u8;
        data[at..at + run].fill(byte);
    }
    data
}

fn sizes() -> impl Strategy<Value = ChunkSizes> {
    prop_oneof![
        Just(ChunkSizes::new(64, 256, 1024).unwrap()),
        Just(ChunkSizes::new(16, 64, 256).unwrap()),
        Just(ChunkSizes::new(1, 2, 60).unwrap()),
        Just(ChunkSizes::new(1, 1, 1).unwrap()),
        Just(ChunkSizes::new(300, 300, 300).unwrap()),
        Just(ChunkSizes::new(40, 1000, 1000).unwrap()),
        Just(ChunkSizes::new(2048, 4096, 16384).unwrap()),
        (1..3000u64, 0..3000u64, 0..5000u64).prop_map(|(min, a, b)| ChunkSizes::new(
            min,
            min + a,
            min + a + b
        )
        .unwrap()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn cuts_are_casyncs_whatever_the_pieces(
        sizes in sizes(),
        seed in any::<u64>(),
        len in 0..40_000usize,
        pieces in prop::collection::vec(1..5000usize, 1..6),
    ) {
        let data = mixed(len, seed);
        let mut reference = Reference::new(sizes);
        let expected = lengths(|p| reference.scan(p), &data, &[data.len().max(1)]);
        let mut ours = Chunker::new(sizes);
        prop_assert_eq!(&lengths(|p| ours.scan(p), &data, &pieces), &expected);
        let mut whole = Chunker::new(sizes);
        prop_assert_eq!(&lengths(|p| whole.scan(p), &data, &[data.len().max(1)]), &expected);
        let mut byte_by_byte = Reference::new(sizes);
        prop_assert_eq!(&lengths(|p| byte_by_byte.scan(p), &data, &[1, 7, 300]), &expected);
    }

    #[test]
    fn the_border_test_is_the_remainder(h in any::<u32>(), d in 1..=(128u64 << 20)) {
        let border = Border::new(d);
        prop_assert_eq!(border.is_border(h), u64::from(h) % d == d - 1);
        let just_below = (d - 1) as u32;
        prop_assert!(border.is_border(just_below));
    }
}

#[test]
fn the_border_test_at_the_edges() {
    for d in [1, 2, 3, 7, 1 << 16, 49_535, (128 << 20) - 1, 128 << 20] {
        let border = Border::new(d);
        for h in [
            0,
            1,
            (d - 1) as u32,
            d as u32,
            u32::MAX,
            u32::MAX - 1,
            (2 * d - 1) as u32,
        ] {
            assert_eq!(border.is_border(h), u64::from(h) % d == d - 1, "{h} % {d}");
        }
    }
}

#[test]
fn discriminators_are_what_casync_computes() {
    // CA_CHUNKER_DISCRIMINATOR_FROM_AVG(avg) printed by a C program built with gcc on
    // x86-64 (before casync's clamp), and the clamp.
    let raw = |avg| {
        ChunkSizes::new(1, avg, CHUNK_SIZE_LIMIT)
            .unwrap()
            .discriminator()
    };
    assert_eq!(raw(48), 36);
    assert_eq!(raw(4096), 3075);
    assert_eq!(raw(16384), 12318);
    assert_eq!(raw(65536), 49535);
    assert_eq!(raw(1 << 20), 886_711);
    assert_eq!(raw(8 << 20), 62_724_856);
    // 18446744073646355096 in C: the negative quotient, wrapped, clamped to the maximum.
    assert_eq!(raw(10 << 20), CHUNK_SIZE_LIMIT);
    assert_eq!(ChunkSizes::new(1, 1, 4).unwrap().discriminator(), 1);
    assert_eq!(ChunkSizes::DEFAULT.discriminator(), 49535);
    let big = ChunkSizes::new(1 << 20, 10 << 20, 20 << 20).unwrap();
    assert_eq!(big.discriminator(), 20 << 20);
}

#[test]
fn the_streams_agree_with_the_chunker_and_the_ids_with_the_bytes() {
    let data = mixed(3 * BUF_LEN + 12_345, 7);
    let sizes = ChunkSizes::new(1000, 4000, 9000).unwrap();
    let path = Path::new("mixed");
    let cuts: Vec<Cut> = Cuts::new(&data[..], sizes, path)
        .map(Result::unwrap)
        .collect();
    let mut chunker = Chunker::new(sizes);
    let expected = lengths(|p| chunker.scan(p), &data, &[data.len()]);
    assert_eq!(
        cuts.iter().map(|c| c.len as usize).collect::<Vec<_>>(),
        expected
    );
    let mut offset = 0;
    let chunks = Chunks::new(&data[..], sizes, ChunkDigest::Sha256, path);
    for (chunk, cut) in chunks.map(Result::unwrap).zip(&cuts) {
        assert_eq!((chunk.offset, chunk.len), (cut.offset, cut.len));
        assert_eq!(chunk.offset, offset);
        offset += chunk.len;
        let bytes = &data[chunk.range().start as usize..chunk.range().end as usize];
        assert_eq!(chunk.id, ChunkDigest::Sha256.id_of(bytes));
    }
    assert_eq!(offset, data.len() as u64);
}

#[test]
fn an_empty_stream_has_no_chunks() {
    let sizes = ChunkSizes::DEFAULT;
    assert_eq!(Cuts::new(&[][..], sizes, Path::new("e")).count(), 0);
}

#[test]
fn read_errors_name_the_file_and_end_the_stream() {
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
    }
    let mut chunks = Chunks::new(
        Failing,
        ChunkSizes::DEFAULT,
        ChunkDigest::Sha256,
        Path::new("seed.img"),
    );
    let err = chunks.next().unwrap().unwrap_err();
    assert_eq!(err.to_string(), "could not read seed.img: disk on fire");
    assert!(chunks.next().is_none());
}

#[test]
fn sizes_are_checked_like_casync_does() {
    assert!(ChunkSizes::new(0, 1, 1).is_err());
    assert!(ChunkSizes::new(2, 1, 4).is_err());
    assert!(ChunkSizes::new(1, 4, 2).is_err());
    assert!(ChunkSizes::new(1, 1, CHUNK_SIZE_LIMIT + 1).is_err());
    assert!(ChunkSizes::new(1, 1, CHUNK_SIZE_LIMIT).is_ok());
}
