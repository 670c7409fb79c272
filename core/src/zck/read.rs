//! A local .zck file read front to back: its header, then each chunk's stored bytes,
//! a bounded piece at a time.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::error::{Error, Result};

use super::checksum::ChecksumType;
use super::chunk::Chunk;
use super::cursor::{Cursor, MAX_INT_LEN};
use super::header::{Header, Lead};
use super::invalid;

/// The piece stored bytes are read in.
pub(crate) const PIECE: usize = 64 << 10;

/// Reads and checks the header at the start of `reader`; `path` names it in errors.
/// Reads exactly the header, leaving `reader` at the first data byte; the buffer grows
/// with the bytes read, never ahead of them by the lead's claim.
pub(crate) fn read_header(reader: &mut impl Read, path: &Path) -> Result<Header> {
    let name = path.display().to_string();
    let mut bytes = read_lead(reader, path)?;
    let lead = Lead::parse(&bytes, &name)?;
    let rest = lead.header_len() - bytes.len() as u64;
    read_up_to(reader, rest, &mut bytes, path)?;
    Header::parse(&bytes, &name)
}

/// The lead's bytes, read field by field so as not to read past it: the id, the two
/// compressed integers, then the checksum of the type the first one names.
fn read_lead(reader: &mut impl Read, path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    read_up_to(reader, 5, &mut bytes, path)?;
    for _ in 0..2 {
        read_int_bytes(reader, &mut bytes, path)?;
    }
    let checksum_len = bytes
        .get(5..)
        .and_then(|ints| Cursor::new(ints).int().ok())
        .and_then(ChecksumType::from_code)
        .map_or(0, ChecksumType::len);
    read_up_to(reader, checksum_len as u64, &mut bytes, path)?;
    Ok(bytes)
}

/// Appends one compressed integer's bytes (at most [`MAX_INT_LEN`]).
fn read_int_bytes(reader: &mut impl Read, out: &mut Vec<u8>, path: &Path) -> Result<()> {
    for _ in 0..MAX_INT_LEN {
        let before = out.len();
        read_up_to(reader, 1, out, path)?;
        if out.len() == before || out[before] & 0x80 != 0 {
            break;
        }
    }
    Ok(())
}

/// Appends up to `len` bytes of `reader` to `out` (fewer at its end).
fn read_up_to(reader: &mut impl Read, len: u64, out: &mut Vec<u8>, path: &Path) -> Result<()> {
    reader
        .take(len)
        .read_to_end(out)
        .map_err(|e| Error::io("read", path, e))?;
    Ok(())
}

/// Opens a .zck file and reads its header, leaving the file at the first data byte.
pub(crate) fn open(path: &Path) -> Result<(Header, BufReader<File>)> {
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    read_from(file, path)
}

/// [`open`] for a file already open, named `path` in errors.
pub(crate) fn read_from(file: File, path: &Path) -> Result<(Header, BufReader<File>)> {
    let mut reader = BufReader::with_capacity(PIECE, file);
    let header = read_header(&mut reader, path)?;
    Ok((header, reader))
}

#[cfg(test)]
/// Feeds `chunk`'s stored bytes, read from `reader`, to `each` a piece at a time;
/// the file ending first is an error naming the chunk.
pub(crate) fn read_stored(
    reader: &mut impl Read,
    chunk: &Chunk,
    path: &Path,
    mut each: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let at_most = |n: u64| usize::try_from(n).unwrap_or(usize::MAX).min(PIECE);
    let mut piece = vec![0; at_most(chunk.comp_len())];
    let mut left = chunk.comp_len();
    while left > 0 {
        let want = at_most(left);
        let got = reader
            .read(&mut piece[..want])
            .map_err(|e| Error::io("read", path, e))?;
        if got == 0 {
            return Err(invalid(
                &path.display().to_string(),
                &format!("is cut short inside chunk {}", chunk.number),
            ));
        }
        each(&piece[..got])?;
        left -= got as u64;
    }
    Ok(())
}

#[cfg(test)]
/// Checks a whole local .zck file: header checksum, every chunk, the data checksum,
/// and that the last chunk ends the file.
pub(crate) fn verify_file(path: &Path) -> Result<Header> {
    let name = path.display().to_string();
    let (header, mut reader) = open(path)?;
    let mut data = super::chunk::DataCheck::new(&header);
    for chunk in &header.chunks {
        let mut check = chunk.check();
        read_stored(&mut reader, chunk, path, |piece| {
            check.update(piece);
            data.update(piece);
            Ok(())
        })?;
        if !check.finish() {
            return Err(chunk_mismatch(&name, chunk));
        }
    }
    if let Err(actual) = data.finish() {
        return Err(invalid(
            &name,
            &format!(
                "is damaged: its data checksum does not match (the header says {}, the data gives {actual})",
                header.data_checksum
            ),
        ));
    }
    expect_end(&mut reader, path)?;
    Ok(header)
}

/// The error for a chunk whose bytes do not match its checksum.
pub(crate) fn chunk_mismatch(name: &str, chunk: &Chunk) -> Error {
    invalid(
        name,
        &format!(
            "is damaged: chunk {} does not match its checksum {}",
            chunk.number, chunk.checksum
        ),
    )
}

/// An error if `reader` has bytes left: the chunks must end the file.
pub(crate) fn expect_end(reader: &mut impl Read, path: &Path) -> Result<()> {
    let mut byte = [0];
    match reader.read(&mut byte) {
        Ok(0) => Ok(()),
        Ok(_) => Err(invalid(
            &path.display().to_string(),
            "has bytes after its last chunk",
        )),
        Err(e) => Err(Error::io("read", path, e)),
    }
}
