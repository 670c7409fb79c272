//! MD4 of several blocks at once, one block per SIMD lane.
//!
//! A seed scan spends a quarter of its time in MD4: every block of a run of matches is
//! confirmed by its strong sum, and a 600 MiB seed that mostly matches means 500 MiB of
//! MD4. One MD4 is a chain of 48 dependent steps, so a core runs it far below its
//! arithmetic width; the blocks of a run are independent, so running [`LANES`] of them
//! side by side, one per 32-bit lane, fills that width. The `md4` crate hashes one
//! message at a time, so this small module does the lanes; it is checked against that
//! crate.
//!
//! The code is plain arrays of lanes which the compiler turns into vector instructions;
//! on x86-64 a copy compiled for AVX2 is picked at run time when the CPU has it.

/// Blocks hashed per call.
pub const LANES: usize = 8;

type Lanes = [u32; LANES];

/// MD4 of each of `blocks`, which must all have the same length. Unused lanes (fewer
/// than [`LANES`] blocks) repeat the first block; their sums are not returned.
pub fn strong_sums(blocks: &[&[u8]]) -> Vec<[u8; 16]> {
    assert!(!blocks.is_empty() && blocks.len() <= LANES);
    let len = blocks[0].len();
    assert!(
        blocks.iter().all(|b| b.len() == len),
        "blocks differ in length"
    );
    let lanes: [&[u8]; LANES] = std::array::from_fn(|i| *blocks.get(i).unwrap_or(&blocks[0]));
    let sums = dispatch(&lanes);
    sums[..blocks.len()].to_vec()
}

#[cfg(target_arch = "x86_64")]
fn dispatch(lanes: &[&[u8]; LANES]) -> [[u8; 16]; LANES] {
    #[target_feature(enable = "avx2")]
    fn with_avx2(lanes: &[&[u8]; LANES]) -> [[u8; 16]; LANES] {
        digest(lanes)
    }
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU was just checked to have AVX2.
        unsafe { with_avx2(lanes) }
    } else {
        digest(lanes)
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn dispatch(lanes: &[&[u8]; LANES]) -> [[u8; 16]; LANES] {
    digest(lanes)
}

#[inline(always)]
fn digest(lanes: &[&[u8]; LANES]) -> [[u8; 16]; LANES] {
    let len = lanes[0].len();
    let mut state: [Lanes; 4] = [
        [0x6745_2301; LANES],
        [0xefcd_ab89; LANES],
        [0x98ba_dcfe; LANES],
        [0x1032_5476; LANES],
    ];
    let whole = len / 64;
    for chunk in 0..whole {
        let words = transpose(|lane| &lanes[lane][chunk * 64..chunk * 64 + 64]);
        compress(&mut state, &words);
    }
    // The padding: 0x80, zeros, then the length in bits; one or two more chunks.
    let rest = len - whole * 64;
    let tail_len = if rest < 56 { 64 } else { 128 };
    let mut tails = [[0u8; 128]; LANES];
    for (tail, data) in tails.iter_mut().zip(lanes) {
        tail[..rest].copy_from_slice(&data[whole * 64..]);
        tail[rest] = 0x80;
        tail[tail_len - 8..tail_len].copy_from_slice(&(len as u64 * 8).to_le_bytes());
    }
    for at in (0..tail_len).step_by(64) {
        let words = transpose(|lane| &tails[lane][at..at + 64]);
        compress(&mut state, &words);
    }
    std::array::from_fn(|lane| {
        let mut sum = [0u8; 16];
        for (word, bytes) in state.iter().zip(sum.chunks_exact_mut(4)) {
            bytes.copy_from_slice(&word[lane].to_le_bytes());
        }
        sum
    })
}

/// The 16 message words of one 64-byte chunk per lane, word-major.
#[inline(always)]
fn transpose<'a>(chunk_of: impl Fn(usize) -> &'a [u8]) -> [Lanes; 16] {
    let mut words = [[0u32; LANES]; 16];
    for lane in 0..LANES {
        let chunk = chunk_of(lane);
        for (w, word) in words.iter_mut().enumerate() {
            word[lane] = u32::from_le_bytes(chunk[w * 4..w * 4 + 4].try_into().unwrap());
        }
    }
    words
}

#[inline(always)]
fn step(
    a: &mut Lanes,
    (b, c, d): (&Lanes, &Lanes, &Lanes),
    word: &Lanes,
    constant: u32,
    shift: u32,
    f: impl Fn(u32, u32, u32) -> u32,
) {
    for lane in 0..LANES {
        a[lane] = a[lane]
            .wrapping_add(f(b[lane], c[lane], d[lane]))
            .wrapping_add(word[lane])
            .wrapping_add(constant)
            .rotate_left(shift);
    }
}

#[inline(always)]
fn compress(state: &mut [Lanes; 4], x: &[Lanes; 16]) {
    let [mut a, mut b, mut c, mut d] = *state;
    let f = |x: u32, y: u32, z: u32| (x & y) | (!x & z);
    let g = |x: u32, y: u32, z: u32| (x & y) | (x & z) | (y & z);
    let h = |x: u32, y: u32, z: u32| x ^ y ^ z;
    // Four steps, one per register, with the words `w` and shifts `s` of the round.
    macro_rules! four {
        ($f:expr, $k:expr, [$w0:expr, $w1:expr, $w2:expr, $w3:expr], [$s0:expr, $s1:expr, $s2:expr, $s3:expr]) => {
            step(&mut a, (&b, &c, &d), &x[$w0], $k, $s0, $f);
            step(&mut d, (&a, &b, &c), &x[$w1], $k, $s1, $f);
            step(&mut c, (&d, &a, &b), &x[$w2], $k, $s2, $f);
            step(&mut b, (&c, &d, &a), &x[$w3], $k, $s3, $f);
        };
    }
    for i in 0..4 {
        four!(
            f,
            0,
            [4 * i, 4 * i + 1, 4 * i + 2, 4 * i + 3],
            [3, 7, 11, 19]
        );
    }
    for i in 0..4 {
        four!(g, 0x5a82_7999, [i, i + 4, i + 8, i + 12], [3, 5, 9, 13]);
    }
    for i in [0, 2, 1, 3] {
        four!(h, 0x6ed9_eba1, [i, i + 8, i + 4, i + 12], [3, 9, 11, 15]);
    }
    for (total, add) in state.iter_mut().zip([a, b, c, d]) {
        for lane in 0..LANES {
            total[lane] = total[lane].wrapping_add(add[lane]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::noise;
    use md4::{Digest, Md4};

    /// The reference: the `md4` crate, one block at a time.
    fn strong_sum(block: &[u8]) -> [u8; 16] {
        Md4::digest(block).into()
    }

    #[test]
    fn equals_the_md4_crate_for_every_padding_case() {
        // Lengths around the one- and two-chunk padding cut (55/56) and whole chunks.
        for len in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 2048, 4096] {
            let data = noise(len * LANES, len as u64);
            let blocks: Vec<&[u8]> = if len == 0 {
                vec![&[]; 3]
            } else {
                data.chunks(len).collect()
            };
            let ours = strong_sums(&blocks);
            assert_eq!(ours.len(), blocks.len());
            for (block, sum) in blocks.iter().zip(&ours) {
                assert_eq!(*sum, strong_sum(block), "length {len}");
            }
        }
    }

    #[test]
    fn the_portable_code_equals_the_dispatched_one() {
        // Where the CPU has AVX2 the dispatch never runs the baseline build; check it too.
        let data = noise(LANES * 700, 3);
        let lanes: [&[u8]; LANES] = std::array::from_fn(|i| &data[i * 700..(i + 1) * 700]);
        assert_eq!(digest(&lanes), dispatch(&lanes));
        assert_eq!(digest(&lanes)[5], strong_sum(lanes[5]));
    }

    #[test]
    fn fewer_blocks_than_lanes() {
        let data = noise(3 * 512, 7);
        let blocks: Vec<&[u8]> = data.chunks(512).collect();
        let sums = strong_sums(&blocks);
        assert_eq!(sums.len(), 3);
        assert_eq!(sums[2], strong_sum(blocks[2]));
    }
}
