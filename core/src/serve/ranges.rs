//! What a `Range` header asks of a file (RFC 9110 §14), bounded so that no request makes
//! the server send more than the file, or any byte twice.

use std::ops::Range;

/// More ranges than this in one request are refused (nginx's kind of limit).
pub(super) const MAX_RANGES: usize = 1024;

/// What a request's `Range` header asks of a file.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Wanted {
    /// The whole file: no `Range` header, or one in a unit other than bytes, which a
    /// server must ignore (RFC 9110 §14.2).
    Whole,
    /// These ranges, in the order to send them.
    Parts(Vec<Range<u64>>),
    /// A `416`: no range lies in the file, the header is malformed, or it lists more than
    /// [`MAX_RANGES`]. RFC 9110 §15.5.17 names "invalid ranges or an excessive request of
    /// small or overlapping ranges" as reasons for it; ignoring the header, the other
    /// answer it allows, would send the whole file to a client that asked for a few bytes.
    Refused,
}

/// What `header` (the `Range` lines' values joined by commas, as RFC 9110 §5.3 combines
/// lines) asks of a file of `len` bytes.
pub(super) fn wanted(header: Option<&str>, len: u64) -> Wanted {
    let Some(header) = header else {
        return Wanted::Whole;
    };
    match header.split_once('=') {
        Some((unit, _)) if !unit.trim().eq_ignore_ascii_case("bytes") => Wanted::Whole,
        _ => parse_ranges(header, len).map_or(Wanted::Refused, Wanted::Parts),
    }
}

/// Parses `bytes=a-b,c-,-d` against a file of `len` bytes; `None` if unsatisfiable or
/// listing more than [`MAX_RANGES`]. Overlapping or touching ranges are merged
/// (RFC 9110 §14.2 allows it), so no request makes us send a byte twice.
pub(super) fn parse_ranges(header: &str, len: u64) -> Option<Vec<Range<u64>>> {
    let (unit, spec) = header.split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    // Empty list elements are allowed (RFC 9110 §5.6.1) and ignored.
    let listed = spec
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty());
    let mut ranges = Vec::new();
    for (count, part) in listed.enumerate() {
        if count == MAX_RANGES {
            return None;
        }
        let (first, last) = part.split_once('-')?;
        let range = match (first.trim(), last.trim()) {
            ("", suffix) => {
                let n: u64 = suffix.parse().ok()?;
                len.saturating_sub(n)..len
            }
            (first, "") => first.parse().ok()?..len,
            (first, last) => {
                let first: u64 = first.parse().ok()?;
                let last: u64 = last.parse().ok()?;
                if last < first {
                    return None;
                }
                // A last byte past the end means the end, u64::MAX included.
                first..last.saturating_add(1).min(len)
            }
        };
        if range.start < len && range.start < range.end {
            ranges.push(range);
        }
    }
    (!ranges.is_empty()).then(|| coalesce(ranges))
}

/// Ranges as asked when they are ascending and apart (the parts then come in the order
/// asked, as RFC 9110 wants); otherwise sorted, with overlapping and touching ones merged.
fn coalesce(ranges: Vec<Range<u64>>) -> Vec<Range<u64>> {
    if ranges.windows(2).all(|w| w[0].end < w[1].start) {
        return ranges;
    }
    crate::blocks::merge(ranges)
}
