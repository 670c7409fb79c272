//! The zchunk header: lead, preface, index and signatures, parsed from bytes.
//!
//! The lead holds the header's size, so a reader fetches [`MAX_LEAD_LEN`] bytes, asks
//! [`Lead::parse`] for [`Lead::header_len`], fetches that much from the start and hands
//! it to [`Header::parse`]. Everything after the lead is trusted only once the header
//! checksum over it matches; before and after, every count and length is checked
//! against the bytes present before anything is sized by it, so hostile input gives an
//! error, never a panic or a large allocation.
//!
//! Field order is zchunk 1.x's (`src/lib/header.c`): the index size is written at the
//! end of the preface, the chunk checksum type and count begin the index.

use crate::error::{Error, Result};

use super::bad_header;
use super::checksum::{Checksum, ChecksumType, MAX_LEN};
use super::chunk::Chunk;
use super::cursor::{Cursor, Cut, MAX_INT_LEN};

/// The id of a zchunk file.
pub(crate) const MAGIC: &[u8; 5] = b"\0ZCK1";
/// The id of a detached header (the header alone, as `unzck --header` writes it).
const DETACHED_MAGIC: &[u8; 5] = b"\0ZHR1";

/// Bytes that always hold a whole lead: the id, two compressed integers and the longest
/// checksum. Fetch this many (or the whole file, if shorter) for [`Lead::parse`].
pub(crate) const MAX_LEAD_LEN: usize = 5 + 2 * MAX_INT_LEN + MAX_LEN;

/// The largest header we accept: 256 MiB holds the index of about ten million
/// SHA-512/128 chunks, some 300 GB of data at zck's default chunk sizes.
pub(crate) const MAX_HEADER_LEN: u64 = 256 << 20;

/// Preface flag bits (a decoder must refuse bits it does not know).
const FLAG_STREAMS: u64 = 1;
const FLAG_OPTIONAL_ELEMENTS: u64 = 2;
const FLAG_UNCOMPRESSED: u64 = 4;

/// The lead: what is needed to fetch and check the rest of the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lead {
    /// A detached header (`\0ZHR1`): no data follows.
    pub detached: bool,
    /// The type of the header and data checksums.
    pub checksum_type: ChecksumType,
    /// The checksum of the whole header, this field left out.
    pub header_checksum: Checksum,
    /// Bytes in the lead.
    pub len: usize,
    /// Bytes of header after the lead: preface, index and signatures.
    pub rest_len: u64,
    /// Where `header_checksum` starts.
    checksum_at: usize,
}

impl Lead {
    /// Reads the lead from the first bytes of a file; `name` names it in errors.
    pub fn parse(start: &[u8], name: &str) -> Result<Lead> {
        let detached = match start.get(..5) {
            Some(id) if id == MAGIC => false,
            Some(id) if id == DETACHED_MAGIC => true,
            _ => return Err(bad_header(name, "is not a zchunk file")),
        };
        let mut parse = Parse::new(&start[5..], name, "lead");
        let checksum_type = parse.checksum_type()?;
        let rest_len = parse.int()?;
        if rest_len > MAX_HEADER_LEN {
            return Err(parse.fail(&format!(
                "claims a {rest_len}-byte header, more than the {MAX_HEADER_LEN} we accept"
            )));
        }
        let checksum_at = 5 + parse.cursor.pos();
        let header_checksum = parse.checksum(checksum_type)?;
        Ok(Lead {
            detached,
            checksum_type,
            header_checksum,
            len: 5 + parse.cursor.pos(),
            rest_len,
            checksum_at,
        })
    }

    /// Bytes from the start of the file to the end of the header, where the data starts.
    pub fn header_len(&self) -> u64 {
        self.len as u64 + self.rest_len
    }

    /// The header checksum of `header` (the whole header, lead included), computed as
    /// zchunk does: over everything but the checksum field, with `\0ZCK1` as the id even
    /// in a detached header.
    fn compute_checksum(&self, header: &[u8]) -> Checksum {
        let mut hasher = self.checksum_type.hasher();
        hasher.update(MAGIC);
        hasher.update(&header[5..self.checksum_at]);
        hasher.update(&header[self.len..]);
        hasher.finish()
    }
}

/// How the dictionary and the chunks are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    /// 0: stored as they are.
    None,
    /// 2: each a zstd frame; chunks use the dictionary when there is one.
    Zstd,
}

impl Compression {
    /// The number the preface gives it.
    pub fn code(self) -> u64 {
        match self {
            Compression::None => 0,
            Compression::Zstd => 2,
        }
    }
}

/// An optional element of the preface; none are defined yet, so all are kept unread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OptionalElement {
    pub id: u64,
    pub data: Vec<u8>,
}

/// A signature entry; the format defines no signature type yet, so none is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signature {
    pub kind: u64,
    pub data: Vec<u8>,
}

/// A whole parsed and checked zchunk header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub lead: Lead,
    /// The checksum (of the lead's type) of all the data after the header.
    pub data_checksum: Checksum,
    /// Flag 2: each chunk also carries the checksum of its uncompressed bytes; then
    /// there is no data checksum (zck writes zeros) and none is checked.
    pub uncompressed_checksums: bool,
    pub compression: Compression,
    pub optional_elements: Vec<OptionalElement>,
    pub chunk_checksum_type: ChecksumType,
    /// The dictionary chunk (perhaps empty), then every data chunk, in file order.
    pub chunks: Vec<Chunk>,
    pub signatures: Vec<Signature>,
}

impl Header {
    /// Parses and checks the header at the start of `bytes`, which must hold at least
    /// [`Lead::header_len`] bytes (more are ignored); `name` names the file in errors.
    pub fn parse(bytes: &[u8], name: &str) -> Result<Header> {
        let lead = Lead::parse(bytes, name)?;
        let header = usize::try_from(lead.header_len())
            .ok()
            .and_then(|len| bytes.get(..len))
            .ok_or_else(|| bad_header(name, "is cut short inside its zchunk header"))?;
        let actual = lead.compute_checksum(header);
        if actual != lead.header_checksum {
            return Err(bad_header(
                name,
                &format!(
                    "is damaged: its header checksum does not match (the header says {}, its bytes give {actual})",
                    lead.header_checksum
                ),
            ));
        }
        Self::parse_rest(lead, header, name)
    }

    fn parse_rest(lead: Lead, header: &[u8], name: &str) -> Result<Header> {
        let mut parse = Parse::new(&header[lead.len..], name, "preface");
        let preface = Preface::parse(&mut parse, lead.checksum_type)?;
        parse.section = "index";
        let index_len = parse.int()?;
        let index = parse.take(index_len)?;
        let (chunk_checksum_type, chunks) = parse_index(
            index,
            name,
            lead.header_len(),
            preface.uncompressed_checksums,
        )?;
        parse.section = "signatures";
        let signatures = parse_signatures(&mut parse)?;
        Ok(Header {
            lead,
            data_checksum: preface.data_checksum,
            uncompressed_checksums: preface.uncompressed_checksums,
            compression: preface.compression,
            optional_elements: preface.optional_elements,
            chunk_checksum_type,
            chunks,
            signatures,
        })
    }

    /// The dictionary chunk (zero length when the file has no dictionary).
    pub fn dict(&self) -> &Chunk {
        &self.chunks[0]
    }

    /// The chunks after the dictionary.
    pub fn data_chunks(&self) -> &[Chunk] {
        &self.chunks[1..]
    }

    /// Bytes in the whole .zck file: header and data.
    pub fn file_len(&self) -> u64 {
        self.chunks.last().map_or(0, |c| c.range.end)
    }

    #[cfg(test)]
    /// Bytes in the uncompressed file.
    pub fn uncompressed_len(&self) -> u64 {
        // Summed in the index parser without overflow.
        self.data_chunks().iter().map(|c| c.len).sum()
    }

    /// Whether the file has a data checksum to check (it has none with uncompressed
    /// checksums: zck writes zeros there).
    pub fn has_data_checksum(&self) -> bool {
        !self.uncompressed_checksums
    }
}

/// The preface's fields, as read.
struct Preface {
    data_checksum: Checksum,
    uncompressed_checksums: bool,
    compression: Compression,
    optional_elements: Vec<OptionalElement>,
}

impl Preface {
    fn parse(parse: &mut Parse<'_>, checksum_type: ChecksumType) -> Result<Preface> {
        let data_checksum = parse.checksum(checksum_type)?;
        let flags = parse.int()?;
        if flags & FLAG_STREAMS != 0 {
            return Err(parse.fail("uses data streams, which zchunk itself does not read yet"));
        }
        let unknown = flags & !(FLAG_OPTIONAL_ELEMENTS | FLAG_UNCOMPRESSED);
        if unknown != 0 {
            return Err(parse.fail(&format!(
                "sets flags this version does not know ({unknown:#x}); it may come from a newer zchunk"
            )));
        }
        let compression = match parse.int()? {
            0 => Compression::None,
            2 => Compression::Zstd,
            other => {
                return Err(parse.fail(&format!(
                    "uses compression type {other}; only 0 (none) and 2 (zstd) exist"
                )));
            }
        };
        let optional_elements = if flags & FLAG_OPTIONAL_ELEMENTS != 0 {
            parse_optional_elements(parse)?
        } else {
            Vec::new()
        };
        Ok(Preface {
            data_checksum,
            uncompressed_checksums: flags & FLAG_UNCOMPRESSED != 0,
            compression,
            optional_elements,
        })
    }
}

/// Each element's id, size and data; the vector grows with the bytes actually read.
fn parse_optional_elements(parse: &mut Parse<'_>) -> Result<Vec<OptionalElement>> {
    let count = parse.int()?;
    let mut elements = Vec::new();
    for _ in 0..count {
        let id = parse.int()?;
        let len = parse.int()?;
        let data = parse.take(len)?.to_vec();
        elements.push(OptionalElement { id, data });
    }
    Ok(elements)
}

/// The index: chunk checksum type, chunk count, then the dictionary and each chunk,
/// laid end to end from `data_start`.
fn parse_index(
    index: &[u8],
    name: &str,
    data_start: u64,
    uncompressed_checksums: bool,
) -> Result<(ChecksumType, Vec<Chunk>)> {
    let mut parse = Parse::new(index, name, "index");
    let kind = parse.checksum_type()?;
    let count = parse.int()?;
    let digests = if uncompressed_checksums { 2 } else { 1 };
    let smallest_entry = (digests * kind.len() + 2) as u64;
    if count == 0 {
        return Err(parse.fail("lists no chunks, not even the dictionary"));
    }
    if count > parse.cursor.remaining() as u64 / smallest_entry {
        return Err(parse.fail(&format!(
            "claims {count} chunks, more than its {} bytes can hold",
            index.len()
        )));
    }
    // Checked just above against the bytes present: at most one chunk per 18 bytes.
    let mut chunks = Vec::with_capacity(count as usize);
    let (mut start, mut total) = (data_start, 0u64);
    for number in 0..count as usize {
        let chunk = parse_chunk(&mut parse, kind, uncompressed_checksums, number, start)?;
        total = total
            .checked_add(chunk.len)
            .ok_or_else(|| parse.fail("claims more than 2^64 uncompressed bytes"))?;
        start = chunk.range.end;
        chunks.push(chunk);
    }
    if parse.cursor.remaining() != 0 {
        return Err(parse.fail(&format!(
            "has {} bytes after its {count} chunks",
            parse.cursor.remaining()
        )));
    }
    Ok((kind, chunks))
}

fn parse_chunk(
    parse: &mut Parse<'_>,
    kind: ChecksumType,
    uncompressed_checksums: bool,
    number: usize,
    start: u64,
) -> Result<Chunk> {
    let checksum = parse.checksum(kind)?;
    let uncompressed_checksum = if uncompressed_checksums {
        Some(parse.checksum(kind)?)
    } else {
        None
    };
    let comp_len = parse.int()?;
    let len = parse.int()?;
    let end = start
        .checked_add(comp_len)
        .ok_or_else(|| parse.fail("claims chunks past 2^64 bytes"))?;
    Ok(Chunk {
        number,
        range: start..end,
        checksum,
        uncompressed_checksum,
        len,
    })
}

/// The signature count and entries; the vector grows with the bytes actually read.
/// Bytes after the last signature are allowed, as zchunk allows them (with a warning).
fn parse_signatures(parse: &mut Parse<'_>) -> Result<Vec<Signature>> {
    let count = parse.int()?;
    let mut signatures = Vec::new();
    for _ in 0..count {
        let kind = parse.int()?;
        let len = parse.int()?;
        let data = parse.take(len)?.to_vec();
        signatures.push(Signature { kind, data });
    }
    Ok(signatures)
}

/// A cursor that names the file and the section in its errors.
struct Parse<'a> {
    cursor: Cursor<'a>,
    name: &'a str,
    section: &'static str,
}

impl<'a> Parse<'a> {
    fn new(bytes: &'a [u8], name: &'a str, section: &'static str) -> Self {
        Parse {
            cursor: Cursor::new(bytes),
            name,
            section,
        }
    }

    fn fail(&self, problem: &str) -> Error {
        bad_header(
            self.name,
            &format!(
                "has a malformed zchunk header: its {} {problem}",
                self.section
            ),
        )
    }

    fn cut(&self, cut: Cut) -> Error {
        match cut {
            Cut::Short => bad_header(
                self.name,
                &format!(
                    "is cut short inside its zchunk header (in the {})",
                    self.section
                ),
            ),
            Cut::TooLarge => self.fail("holds a number larger than 64 bits"),
        }
    }

    fn int(&mut self) -> Result<u64> {
        self.cursor.int().map_err(|cut| self.cut(cut))
    }

    fn take(&mut self, len: u64) -> Result<&'a [u8]> {
        self.cursor.take(len).map_err(|cut| self.cut(cut))
    }

    fn checksum(&mut self, kind: ChecksumType) -> Result<Checksum> {
        Ok(Checksum::new(kind, self.take(kind.len() as u64)?))
    }

    fn checksum_type(&mut self) -> Result<ChecksumType> {
        let code = self.int()?;
        ChecksumType::from_code(code).ok_or_else(|| {
            self.fail(&format!(
                "names checksum type {code}; zchunk knows 0 to 3 (SHA-1, SHA-256, SHA-512, SHA-512/128)"
            ))
        })
    }
}
