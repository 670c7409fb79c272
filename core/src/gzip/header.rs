//! The gzip member header (RFC 1952), to find where the deflate data begins.
//!
//! zsyncmake's own header skip only knows FNAME; this one honours every flag, so a map
//! built by another tool, or a check of the first checkpoint, can rely on it.

const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const FRESERVED: u8 = 0xe0;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GzipHeaderError {
    #[error("gzip header is cut short")]
    Truncated,
    #[error("not gzip data (bad magic bytes)")]
    BadMagic,
    #[error("unsupported gzip compression method {0}")]
    Method(u8),
    #[error("reserved gzip header flags {0:#04x} are set")]
    ReservedFlags(u8),
}

/// A parsed gzip member header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GzipHeader {
    /// Header length in bytes: the deflate data starts at this offset.
    pub len: usize,
    pub flags: u8,
    pub mtime: u32,
    pub extra_flags: u8,
    pub os: u8,
    /// The FEXTRA payload, without its length prefix.
    pub extra: Option<Vec<u8>>,
    /// The original file name (FNAME), without its terminating NUL; not necessarily UTF-8.
    pub name: Option<Vec<u8>>,
    pub comment: Option<Vec<u8>>,
}

/// Parses the gzip header at the start of `bytes`. `Truncated` means more bytes are
/// needed, not that the data is bad.
pub fn parse_gzip_header(bytes: &[u8]) -> Result<GzipHeader, GzipHeaderError> {
    let fixed = bytes.get(..10).ok_or(GzipHeaderError::Truncated)?;
    if fixed[0] != 0x1f || fixed[1] != 0x8b {
        return Err(GzipHeaderError::BadMagic);
    }
    if fixed[2] != 8 {
        return Err(GzipHeaderError::Method(fixed[2]));
    }
    let flags = fixed[3];
    if flags & FRESERVED != 0 {
        return Err(GzipHeaderError::ReservedFlags(flags & FRESERVED));
    }
    let mut pos: usize = 10;
    let mut take = |n: usize| -> Result<&[u8], GzipHeaderError> {
        let s = bytes.get(pos..pos.checked_add(n).ok_or(GzipHeaderError::Truncated)?);
        let s = s.ok_or(GzipHeaderError::Truncated)?;
        pos += n;
        Ok(s)
    };
    let extra = if flags & FEXTRA != 0 {
        let xlen = take(2)?;
        let xlen = usize::from(u16::from_le_bytes([xlen[0], xlen[1]]));
        Some(take(xlen)?.to_vec())
    } else {
        None
    };
    let mut zstring = |present: bool| -> Result<Option<Vec<u8>>, GzipHeaderError> {
        if !present {
            return Ok(None);
        }
        let rest = bytes.get(pos..).unwrap_or_default();
        let nul = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(GzipHeaderError::Truncated)?;
        pos += nul + 1;
        Ok(Some(rest[..nul].to_vec()))
    };
    let name = zstring(flags & FNAME != 0)?;
    let comment = zstring(flags & FCOMMENT != 0)?;
    if flags & FHCRC != 0 {
        if bytes.len() < pos + 2 {
            return Err(GzipHeaderError::Truncated);
        }
        pos += 2;
    }
    Ok(GzipHeader {
        len: pos,
        flags,
        mtime: u32::from_le_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
        extra_flags: fixed[8],
        os: fixed[9],
        extra,
        name,
        comment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_full_headers() {
        let h = parse_gzip_header(b"\x1f\x8b\x08\x00\x01\x02\x03\x04\x00\x03rest").unwrap();
        assert_eq!(
            (h.len, h.mtime, h.os, h.name.clone()),
            (10, 0x04030201, 3, None)
        );

        let mut full = b"\x1f\x8b\x08\x1e\0\0\0\0\x02\xff".to_vec();
        full.extend_from_slice(&[3, 0, b'a', b'b', b'c']);
        full.extend_from_slice(b"file.img\0a comment\0");
        full.extend_from_slice(&[0x12, 0x34]);
        let len = full.len();
        full.extend_from_slice(b"deflate data");
        let h = parse_gzip_header(&full).unwrap();
        assert_eq!(h.len, len);
        assert_eq!(h.extra.as_deref(), Some(&b"abc"[..]));
        assert_eq!(h.name.as_deref(), Some(&b"file.img"[..]));
        assert_eq!(h.comment.as_deref(), Some(&b"a comment"[..]));
        for cut in 0..len {
            assert_eq!(
                parse_gzip_header(&full[..cut]),
                Err(GzipHeaderError::Truncated),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn bad_headers() {
        assert_eq!(
            parse_gzip_header(b"\x1f\x8c\x08\0\0\0\0\0\0\0"),
            Err(GzipHeaderError::BadMagic)
        );
        assert_eq!(
            parse_gzip_header(b"\x1f\x8b\x07\0\0\0\0\0\0\0"),
            Err(GzipHeaderError::Method(7))
        );
        assert_eq!(
            parse_gzip_header(b"\x1f\x8b\x08\x20\0\0\0\0\0\0"),
            Err(GzipHeaderError::ReservedFlags(0x20))
        );
    }

    #[test]
    fn flate2_headers_parse() {
        use std::io::Write;
        let mut enc = flate2::GzBuilder::new()
            .filename("x.bin")
            .comment("c")
            .write(Vec::new(), flate2::Compression::default());
        enc.write_all(b"hello").unwrap();
        let gz = enc.finish().unwrap();
        let h = parse_gzip_header(&gz).unwrap();
        assert_eq!(h.len, 10 + 6 + 2);
        assert_eq!(h.name.as_deref(), Some(&b"x.bin"[..]));
    }
}
