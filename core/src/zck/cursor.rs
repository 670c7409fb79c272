//! Reading a zchunk header front to back: fixed-size fields and compressed integers
//! (and writing the integers, for `make --zck`).
//!
//! A compressed integer (zchunk's "ci") is little-endian base 128: seven bits a byte, the
//! top bit set only on the last byte. zchunk reads at most `(64 / 7) + 1` = 10 bytes of
//! one, and so do we: a longer one, or one past 64 bits, is refused, not wrapped.

/// The most bytes one compressed integer may take (zchunk's `MAX_COMP_SIZE` for 64 bits).
pub(crate) const MAX_INT_LEN: usize = 10;

/// Why a read failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// The bytes end before the field does.
    Short,
    /// A compressed integer runs past 64 bits.
    TooLarge,
}

/// A position in a borrowed byte slice; reads never go past its end.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    /// Bytes read so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// The next `len` bytes.
    pub fn take(&mut self, len: u64) -> Result<&'a [u8], Cut> {
        let len = usize::try_from(len).map_err(|_| Cut::Short)?;
        if len > self.remaining() {
            return Err(Cut::Short);
        }
        let field = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        Ok(field)
    }

    /// The next compressed integer.
    pub fn int(&mut self) -> Result<u64, Cut> {
        let mut value = 0u64;
        for i in 0..MAX_INT_LEN {
            let byte = *self.bytes.get(self.pos).ok_or(Cut::Short)?;
            self.pos += 1;
            let part = u64::from(byte & 0x7f);
            if i == MAX_INT_LEN - 1 && part > 1 {
                return Err(Cut::TooLarge);
            }
            value |= part << (7 * i);
            if byte & 0x80 != 0 {
                return Ok(value);
            }
        }
        Err(Cut::TooLarge)
    }
}

/// Appends `value` as a compressed integer (the writer's, and the tests' headers).
pub(crate) fn encode_int(mut value: u64, out: &mut Vec<u8>) {
    loop {
        let part = (value % 128) as u8;
        value /= 128;
        if value == 0 {
            out.push(part | 0x80);
            return;
        }
        out.push(part);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Result<u64, Cut> {
        Cursor::new(bytes).int()
    }

    #[test]
    fn compressed_integers_round_trip() {
        for value in [0, 1, 127, 128, 300, 1 << 35, u64::MAX - 1, u64::MAX] {
            let mut bytes = Vec::new();
            encode_int(value, &mut bytes);
            let mut cursor = Cursor::new(&bytes);
            assert_eq!(cursor.int(), Ok(value));
            assert_eq!(cursor.remaining(), 0);
        }
        // zchunk's own encodings: 0x81 is 1, 0x38 0x81 is 56 + 128.
        assert_eq!(decode(&[0x81]), Ok(1));
        assert_eq!(decode(&[0x38, 0x81]), Ok(56 + 128));
    }

    #[test]
    fn bad_integers_are_refused() {
        assert_eq!(decode(&[]), Err(Cut::Short));
        assert_eq!(decode(&[0x01, 0x02]), Err(Cut::Short));
        // 64 bits and one more.
        let mut too_big = vec![0x7f; 9];
        too_big.push(0x82);
        assert_eq!(decode(&too_big), Err(Cut::TooLarge));
        assert_eq!(decode(&[0; 11]), Err(Cut::TooLarge));
    }

    #[test]
    fn take_stops_at_the_end() {
        let mut cursor = Cursor::new(b"abc");
        assert_eq!(cursor.take(2), Ok(&b"ab"[..]));
        assert_eq!(cursor.take(2), Err(Cut::Short));
        assert_eq!(cursor.take(u64::MAX), Err(Cut::Short));
        assert_eq!(cursor.pos(), 2);
    }
}
