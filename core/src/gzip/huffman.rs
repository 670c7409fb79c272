//! Canonical Huffman decode tables for DEFLATE.
//!
//! A table is a flat `Vec<u32>`: a primary part indexed by the next `primary` bits of the
//! stream (DEFLATE sends codes most significant bit first, packed from the least
//! significant bit of each byte, so the index is the bit-reversed code), followed by
//! subtables for codes longer than `primary` bits. One lookup resolves most symbols;
//! long codes take a second lookup. This is what makes decoding table-driven rather
//! than bit-by-bit.
//!
//! An entry packs `value << 16 | kind << 12 | extra << 8 | len`:
//! - `len`: bits to consume for the whole code (for a subtable pointer: unused);
//! - `extra`: extra bits following the code (length or distance), or a subtable's
//!   index width;
//! - `kind`: one of the `KIND_*` constants;
//! - `value`: literal byte, length or distance base, code-length symbol, or subtable
//!   offset.

/// A literal byte (or, in the code-length table, a code-length symbol).
pub(super) const KIND_LIT: u32 = 0;
/// A length (lit/len table) or distance (distance table): `value` base plus `extra` bits.
pub(super) const KIND_BASE: u32 = 1;
/// End of block.
pub(super) const KIND_EOB: u32 = 2;
/// Pointer to a subtable at `value`, indexed by `extra` further bits.
pub(super) const KIND_SUB: u32 = 3;
/// No code maps here: the stream is corrupt (or truncated).
pub(super) const KIND_BAD: u32 = 4;

pub(super) const BAD_ENTRY: u32 = KIND_BAD << 12;

/// Primary index widths. 10 bits covers nearly every literal/length code a real
/// encoder emits, so the second lookup is rare; distance codes are fewer and shorter.
pub(super) const LIT_BITS: u32 = 10;
pub(super) const DIST_BITS: u32 = 8;
/// Code-length codes are at most 7 bits long, so their table never needs subtables.
pub(super) const CL_BITS: u32 = 7;

#[inline(always)]
pub(super) fn e_len(e: u32) -> u32 {
    e & 0xff
}
#[inline(always)]
pub(super) fn e_extra(e: u32) -> u32 {
    (e >> 8) & 0xf
}
#[inline(always)]
pub(super) fn e_kind(e: u32) -> u32 {
    (e >> 12) & 0xf
}
#[inline(always)]
pub(super) fn e_value(e: u32) -> u32 {
    e >> 16
}

#[inline(always)]
const fn entry(value: u32, kind: u32, extra: u32) -> u32 {
    value << 16 | kind << 12 | extra << 8
}

/// Looks up the entry for the code at the bottom of `bits`, following a subtable
/// pointer when the code is longer than the primary width.
#[inline(always)]
pub(super) fn lookup(table: &[u32], bits: u64, primary: u32) -> u32 {
    let e = table[(bits & ((1u64 << primary) - 1)) as usize];
    if e_kind(e) == KIND_SUB {
        let sub = (bits >> primary) as u32 & ((1u32 << e_extra(e)) - 1);
        table[(e_value(e) + sub) as usize]
    } else {
        e
    }
}

const LEN_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEN_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// Entry (without length) for a literal/length alphabet symbol. Symbols 286 and 287 only
/// exist to complete the fixed code; a stream using them is corrupt.
pub(super) fn litlen_symbol(sym: usize) -> u32 {
    match sym {
        0..=255 => entry(sym as u32, KIND_LIT, 0),
        256 => entry(0, KIND_EOB, 0),
        257..=285 => {
            let i = sym - 257;
            entry(u32::from(LEN_BASE[i]), KIND_BASE, u32::from(LEN_EXTRA[i]))
        }
        _ => BAD_ENTRY,
    }
}

/// Entry (without length) for a distance symbol; 30 and 31 are invalid like 286/287.
pub(super) fn dist_symbol(sym: usize) -> u32 {
    match sym {
        0..=29 => entry(
            u32::from(DIST_BASE[sym]),
            KIND_BASE,
            u32::from(DIST_EXTRA[sym]),
        ),
        _ => BAD_ENTRY,
    }
}

/// Entry (without length) for a code-length alphabet symbol (0..=18).
pub(super) fn codelen_symbol(sym: usize) -> u32 {
    entry(sym as u32, KIND_LIT, 0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TableError {
    /// More codes than the code space holds (Kraft sum above one).
    OverSubscribed,
    /// Code space left unused: only a lone one-bit code may do that (zlib's rule).
    Incomplete,
}

/// Builds the decode table for `lengths` (code length per symbol, each 0..=15) into
/// `table`, reusing its allocation.
pub(super) fn build(
    table: &mut Vec<u32>,
    lengths: &[u8],
    primary: u32,
    symbol: fn(usize) -> u32,
) -> Result<(), TableError> {
    debug_assert!(lengths.len() <= 320 && primary <= 10);
    let mut count = [0u16; 16];
    for &l in lengths {
        count[usize::from(l & 15)] += 1;
    }
    count[0] = 0;

    let mut left: i32 = 1;
    let mut max = 0;
    for (len, &c) in count.iter().enumerate().skip(1) {
        left = (left << 1) - i32::from(c);
        if left < 0 {
            return Err(TableError::OverSubscribed);
        }
        if c > 0 {
            max = len;
        }
    }
    // An incomplete code is tolerated only as a single one-bit code (e.g. a block with
    // one distance code); an empty code is tolerated too, as every lookup then fails.
    if left > 0 && max > 1 {
        return Err(TableError::Incomplete);
    }

    let mut next = [0u32; 16];
    let mut code = 0u32;
    for len in 1..16 {
        code = (code + u32::from(count[len - 1])) << 1;
        next[len] = code;
    }

    let size = 1usize << primary;
    let pmask = (size - 1) as u32;
    let mut rev = [0u16; 320];
    let mut sub_max = [0u8; 1 << 10];
    for (sym, &l) in lengths.iter().enumerate() {
        if l == 0 {
            continue;
        }
        let c = next[usize::from(l)];
        next[usize::from(l)] += 1;
        let r = ((c as u16).reverse_bits() >> (16 - u32::from(l))) as u32;
        rev[sym] = r as u16;
        if u32::from(l) > primary {
            let p = (r & pmask) as usize;
            sub_max[p] = sub_max[p].max(l);
        }
    }

    table.clear();
    table.resize(size, BAD_ENTRY);
    for (sym, &l) in lengths.iter().enumerate() {
        if l == 0 {
            continue;
        }
        let l = u32::from(l);
        let r = u32::from(rev[sym]);
        let e = symbol(sym) | l;
        if l <= primary {
            for i in (r as usize..size).step_by(1 << l) {
                table[i] = e;
            }
        } else {
            let p = (r & pmask) as usize;
            if e_kind(table[p]) != KIND_SUB {
                let bits = u32::from(sub_max[p]) - primary;
                let off = table.len() as u32;
                table.resize(table.len() + (1 << bits), BAD_ENTRY);
                table[p] = entry(off, KIND_SUB, bits);
            }
            let off = e_value(table[p]) as usize;
            let bits = e_extra(table[p]);
            for i in ((r >> primary) as usize..1 << bits).step_by(1 << (l - primary)) {
                table[off + i] = e;
            }
        }
    }
    debug_assert!(table.len() < 1 << 16);
    Ok(())
}

/// Code lengths of the fixed literal/length code (RFC 1951 3.2.6).
pub(super) fn fixed_litlen_lengths() -> [u8; 288] {
    let mut l = [8u8; 288];
    l[144..256].fill(9);
    l[256..280].fill(7);
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversubscribed_and_incomplete_codes_are_rejected() {
        let mut t = Vec::new();
        assert_eq!(
            build(&mut t, &[1, 1, 1], LIT_BITS, litlen_symbol),
            Err(TableError::OverSubscribed)
        );
        assert_eq!(
            build(&mut t, &[2, 2, 2], LIT_BITS, litlen_symbol),
            Err(TableError::Incomplete)
        );
        // A lone one-bit code is the one incomplete code allowed.
        assert_eq!(build(&mut t, &[0, 1], DIST_BITS, dist_symbol), Ok(()));
        // Symbol 1's code is a single 0 bit; a 1 bit is no code at all.
        assert_eq!(e_kind(t[0]), KIND_BASE);
        assert_eq!(e_kind(t[1]), KIND_BAD);
    }

    #[test]
    fn long_codes_resolve_through_subtables() {
        // Symbols 0..=9 get lengths 1..=10, symbols 10 and 11 get 11: a complete code.
        let mut lengths = vec![0u8; 12];
        for (i, l) in lengths.iter_mut().enumerate().take(10) {
            *l = i as u8 + 1;
        }
        lengths[10] = 11;
        lengths[11] = 11;
        let mut t = Vec::new();
        build(&mut t, &lengths, 8, codelen_symbol).unwrap();
        // Canonical code of symbol 11 is all ones (11 bits); reversed it is all ones too.
        let e = lookup(&t, 0x7ff, 8);
        assert_eq!((e_kind(e), e_value(e), e_len(e)), (KIND_LIT, 11, 11));
        let e = lookup(&t, 0x3ff, 8);
        assert_eq!((e_value(e), e_len(e)), (10, 11));
        // Symbol 0 is code "0" (one bit).
        let e = lookup(&t, 0x2, 8);
        assert_eq!((e_value(e), e_len(e)), (0, 1));
    }
}
