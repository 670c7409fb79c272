//! zsync's rolling weak sum (the strong sums and file hashes are in `digest`).
//!
//! The weak sum is rsync's: `a` = sum of the bytes, `b` = sum of `(len - i) * byte_i`,
//! both modulo 2^16. It can be *rolled*: moving the window one byte costs two additions,
//! which is what makes testing every byte offset of a seed affordable.

/// A weak sum of one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rsum {
    a: u16,
    b: u16,
}

impl Rsum {
    /// The sum of a whole window (the block size is `data.len()`).
    pub fn of_block(data: &[u8]) -> Rsum {
        let len = data.len() as u32;
        let (mut a, mut b) = (0u32, 0u32);
        for (i, &byte) in data.iter().enumerate() {
            a = a.wrapping_add(u32::from(byte));
            b = b.wrapping_add((len - i as u32).wrapping_mul(u32::from(byte)));
        }
        Rsum {
            a: a as u16,
            b: b as u16,
        }
    }

    /// Moves the window one byte on: `old` leaves at the front, `new` enters at the back.
    /// `shift` is log2 of the window length.
    #[inline(always)]
    pub fn roll(&mut self, old: u8, new: u8, shift: u32) {
        self.a = self
            .a
            .wrapping_add(u16::from(new))
            .wrapping_sub(u16::from(old));
        self.b = self
            .b
            .wrapping_add(self.a)
            .wrapping_sub((u16::from(old)) << shift);
    }

    /// The sum [`Self::packed`] gave.
    #[inline(always)]
    pub fn from_packed(packed: u32) -> Rsum {
        Rsum {
            a: (packed >> 16) as u16,
            b: packed as u16,
        }
    }

    /// Rolls this sum, of the window at `data[0..bs]`, over every window of `data` and
    /// appends each one's packed sum to `out`: `data.len() - bs + 1` of them, this one
    /// first. A loop with nothing else in it: the seed scan rolls a tile of windows this
    /// way, then tests the tile, each stage tight enough to run at full speed.
    pub fn roll_packed(self, data: &[u8], bs: usize, out: &mut Vec<u32>) {
        let shift = bs.trailing_zeros();
        let mut sum = self;
        let first = out.len();
        out.resize(first + data.len() + 1 - bs, 0);
        let (this, rest) = out[first..].split_first_mut().expect("one window at least");
        *this = sum.packed();
        for ((&old, &new), packed) in data.iter().zip(&data[bs..]).zip(rest) {
            sum.roll(old, new, shift);
            *packed = sum.packed();
        }
    }

    /// `(a << 16) | b`: the 4 bytes `[a_hi a_lo b_hi b_lo]` a control file keeps the tail of.
    #[inline(always)]
    pub fn packed(self) -> u32 {
        (u32::from(self.a) << 16) | u32::from(self.b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::noise;

    #[test]
    fn rolling_equals_recomputation_at_every_offset() {
        for shift in [4u32, 9, 11] {
            let bs = 1usize << shift;
            let mut data = noise(bs * 6, u64::from(shift));
            data[bs..bs * 2].fill(0xff); // saturating runs exercise the 16-bit wrap
            let mut rolling = Rsum::of_block(&data[..bs]);
            for start in 1..=data.len() - bs {
                rolling.roll(data[start - 1], data[start + bs - 1], shift);
                assert_eq!(
                    rolling,
                    Rsum::of_block(&data[start..start + bs]),
                    "offset {start}, bs {bs}"
                );
            }
        }
    }

    #[test]
    fn rolling_a_tile_gives_every_window_its_own_sum() {
        let bs = 64;
        let mut data = noise(bs * 5 + 7, 3);
        data[bs..bs * 3].fill(0xff);
        let mut out = vec![42];
        Rsum::of_block(&data[..bs]).roll_packed(&data, bs, &mut out);
        assert_eq!(out.len(), 1 + data.len() - bs + 1, "appends one per window");
        for (start, &packed) in out[1..].iter().enumerate() {
            let window = Rsum::of_block(&data[start..start + bs]);
            assert_eq!(packed, window.packed(), "window {start}");
            assert_eq!(Rsum::from_packed(packed), window);
        }
    }

    #[test]
    fn known_values() {
        // a = 1+2+3+4 = 10, b = 4*1 + 3*2 + 2*3 + 1*4 = 20
        assert_eq!(Rsum::of_block(&[1, 2, 3, 4]).packed(), (10 << 16) | 20);
    }
}
