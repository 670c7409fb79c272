//! A streaming parser for `multipart/byteranges` (RFC 9110 §14.6), which reqwest leaves to
//! us.
//!
//! Each part's body length is known from its `Content-Range`, so bodies are never searched
//! for the boundary: they are handed to the caller as a bounded reader, in any size of
//! chunk, and nothing but one header line is ever buffered. Servers that mangle the framing
//! get a [`PartError`], which the fetcher answers by asking for fewer ranges at once.

use std::io::{BufRead, Read};
use std::ops::Range;

/// Longest header line in a part, and most header lines per part.
const MAX_LINE: u64 = 8 * 1024;
const MAX_HEADERS: usize = 64;
/// Lines of preamble (before the first boundary) or of padding between parts tolerated.
const MAX_SKIPPED_LINES: usize = 64;

/// A framing problem in a multipart reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartError {
    #[error("the multipart reply is malformed: {0}")]
    Malformed(String),
    #[error("reading the reply failed: {0}")]
    Io(String),
}

impl From<std::io::Error> for PartError {
    fn from(e: std::io::Error) -> Self {
        PartError::Io(e.to_string())
    }
}

/// `Content-Range: bytes first-last/total`, as a half-open range and the total if given.
pub fn parse_content_range(value: &str) -> Option<(Range<u64>, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (span, total) = rest.split_once('/')?;
    let (first, last) = span.trim().split_once('-')?;
    let first: u64 = first.trim().parse().ok()?;
    let last: u64 = last.trim().parse().ok()?;
    if last < first {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((first..last.checked_add(1)?, total))
}

/// The `boundary` parameter of a `multipart/byteranges` content type.
pub fn boundary_of(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/byteranges") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_string())
    })
}

/// Calls `on_part(range, total, body)` for each part in order. `body` yields exactly the
/// part's bytes; whatever the callback leaves unread is skipped.
pub fn for_each_part<R, E>(
    reader: &mut R,
    boundary: &str,
    mut on_part: impl FnMut(Range<u64>, Option<u64>, &mut dyn Read) -> Result<(), E>,
) -> Result<(), E>
where
    R: BufRead,
    E: From<PartError>,
{
    let delimiter = format!("--{boundary}");
    let close = format!("--{boundary}--");
    let mut line = Vec::new();
    let mut skipped = 0;
    loop {
        line.clear();
        let n = reader
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .map_err(PartError::from)?;
        if n == 0 {
            return Err(PartError::Malformed(
                "the reply ended without the closing boundary".into(),
            )
            .into());
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        if text == close {
            return Ok(());
        }
        if text != delimiter {
            skipped += 1;
            if skipped > MAX_SKIPPED_LINES {
                return Err(
                    PartError::Malformed("no part boundary where one was expected".into()).into(),
                );
            }
            continue;
        }
        skipped = 0;
        let (range, total) = read_part_headers(reader)?;
        let mut body = reader.take(range.end - range.start);
        on_part(range.clone(), total, &mut body)?;
        std::io::copy(&mut body, &mut std::io::sink()).map_err(PartError::from)?;
        if body.limit() != 0 {
            return Err(PartError::Malformed(format!(
                "the part for bytes {}-{} ended {} bytes early",
                range.start,
                range.end - 1,
                body.limit()
            ))
            .into());
        }
    }
}

fn read_part_headers(reader: &mut impl BufRead) -> Result<(Range<u64>, Option<u64>), PartError> {
    let mut content_range = None;
    let mut line = Vec::new();
    for _ in 0..MAX_HEADERS {
        line.clear();
        let n = reader.take(MAX_LINE).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Err(PartError::Malformed(
                "the reply ended inside a part's headers".into(),
            ));
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        if text.is_empty() {
            return content_range
                .ok_or_else(|| PartError::Malformed("a part has no Content-Range".into()));
        }
        if let Some((name, value)) = text.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-range")
        {
            let parsed = parse_content_range(value).ok_or_else(|| {
                PartError::Malformed(format!("bad Content-Range \"{}\"", value.trim()))
            })?;
            content_range = Some(parsed);
        }
    }
    Err(PartError::Malformed(
        "a part has too many header lines".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Parts = Vec<(Range<u64>, Vec<u8>)>;

    fn collect(body: &[u8], boundary: &str, chunk: usize) -> Result<Parts, PartError> {
        let mut reader = std::io::BufReader::with_capacity(chunk, body);
        let mut parts = Vec::new();
        for_each_part(
            &mut reader,
            boundary,
            |range, _total, part: &mut dyn Read| {
                let mut data = Vec::new();
                part.read_to_end(&mut data)?;
                parts.push((range, data));
                Ok::<_, PartError>(())
            },
        )?;
        Ok(parts)
    }

    const NGINX_STYLE: &[u8] = b"\r\n--00000000000000000001\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 0-4/100\r\n\r\nhello\r\n--00000000000000000001\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 10-12/100\r\n\r\n--x\r\n--00000000000000000001--\r\n";

    #[test]
    fn parses_parts_whatever_the_buffer_size() {
        for chunk in [1, 2, 7, 64, 4096] {
            let parts = collect(NGINX_STYLE, "00000000000000000001", chunk).unwrap();
            assert_eq!(
                parts,
                vec![(0..5, b"hello".to_vec()), (10..13, b"--x".to_vec())],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn bad_framing_is_an_error_not_a_hang() {
        let cut = &NGINX_STYLE[..NGINX_STYLE.len() - 30];
        assert!(collect(cut, "00000000000000000001", 16).is_err());
        assert!(collect(b"garbage\r\n".repeat(100).as_slice(), "b", 16).is_err());
        let no_range = b"--b\r\nContent-Type: x\r\n\r\nabc\r\n--b--\r\n";
        assert!(collect(no_range, "b", 16).is_err());
        let bad_range = b"--b\r\nContent-Range: bytes 9-3/10\r\n\r\nabc\r\n--b--\r\n";
        assert!(collect(bad_range, "b", 16).is_err());
    }

    #[test]
    fn content_ranges_and_boundaries() {
        assert_eq!(
            parse_content_range("bytes 0-99/1000"),
            Some((0..100, Some(1000)))
        );
        assert_eq!(parse_content_range(" bytes 5-5/*"), Some((5..6, None)));
        assert_eq!(parse_content_range("bytes 5-4/10"), None);
        assert_eq!(parse_content_range("bytes 0-18446744073709551615/1"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
        assert_eq!(
            boundary_of("multipart/byteranges; boundary=00001"),
            Some("00001".into())
        );
        assert_eq!(
            boundary_of("Multipart/Byteranges; charset=x; boundary=\"a b\""),
            Some("a b".into())
        );
        assert_eq!(boundary_of("text/html"), None);
    }
}
