//! `--uncompress`: a complete .zck file back to the file it was made from.
//!
//! zchunk compresses each chunk on its own, as one zstd frame, with the file's
//! dictionary (itself the first chunk, compressed without one). So the dictionary is
//! decompressed first, then each chunk in turn straight into the output: memory stays
//! at one zstd window and a few buffers per chunk, whatever the file's size. Every
//! chunk's stored bytes are checked against its checksum, its output against its
//! length and (when the file has them) its uncompressed checksum, and all stored bytes
//! against the data checksum.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Take, Write};
use std::path::Path;

use zstd::dict::DecoderDictionary;
use zstd::stream::read::Decoder;

use crate::error::{Error, Result};

use super::checksum::Hasher;
use super::chunk::{Chunk, ChunkCheck, DataCheck};
use super::header::{Compression, Header};
use super::invalid;
use super::read::{self, PIECE, chunk_mismatch};

/// The largest dictionary we load (zstd's trained dictionaries are ~100 KiB).
pub(crate) const MAX_DICT_LEN: u64 = 128 << 20;

/// Uncompresses the .zck file `src` into `dst` (created or replaced); on failure `dst`
/// is removed. Returns the bytes written.
pub(crate) fn uncompress_file(src: &Path, dst: &Path) -> Result<u64> {
    let (header, mut reader) = read::open(src)?;
    let file = File::create(dst).map_err(|e| Error::io("create", dst, e))?;
    let mut out = BufWriter::new(file);
    let result = uncompress(&header, &mut reader, &mut out, Names { src, dst })
        .and_then(|written| read::expect_end(&mut reader, src).map(|()| written))
        .and_then(|written| {
            let file = out
                .into_inner()
                .map_err(|e| Error::io("write", dst, e.into_error()))?;
            file.sync_all().map_err(|e| Error::io("write", dst, e))?;
            Ok(written)
        });
    if result.is_err() {
        let _ = std::fs::remove_file(dst);
    }
    result
}

/// The files in errors: the .zck read and the output written.
#[derive(Clone, Copy)]
pub(crate) struct Names<'a> {
    pub src: &'a Path,
    pub dst: &'a Path,
}

/// Uncompresses the data of a .zck whose `header` has been read, from `data` (at the
/// first byte after the header) into `out`. Returns the bytes written.
pub(crate) fn uncompress(
    header: &Header,
    data: &mut impl Read,
    out: &mut impl Write,
    names: Names<'_>,
) -> Result<u64> {
    let mut data_check = DataCheck::new(header);
    let codec = read_dict(header, data, &mut data_check, names)?;
    let mut written = 0;
    for chunk in header.data_chunks() {
        written += one_chunk(chunk, &codec, data, &mut data_check, out, names)?;
    }
    data_check.finish().map_err(|actual| {
        invalid(
            &names.src.display().to_string(),
            &format!(
                "is damaged: its data checksum does not match (the header says {}, the data gives {actual})",
                header.data_checksum
            ),
        )
    })?;
    Ok(written)
}

/// How the chunks are decoded.
enum Codec {
    Stored,
    Zstd(Option<DecoderDictionary<'static>>),
}

/// Reads (and checks) the dictionary chunk; the codec for the chunks after it.
fn read_dict(
    header: &Header,
    data: &mut impl Read,
    data_check: &mut DataCheck,
    names: Names<'_>,
) -> Result<Codec> {
    let chunk = header.dict();
    if chunk.len > MAX_DICT_LEN {
        return Err(invalid(
            &names.src.display().to_string(),
            &format!(
                "has a {}-byte dictionary, more than the {MAX_DICT_LEN} we load",
                chunk.len
            ),
        ));
    }
    let plain = match header.compression {
        Compression::None => Codec::Stored,
        Compression::Zstd => Codec::Zstd(None),
    };
    let mut dict = Vec::new();
    one_chunk(chunk, &plain, data, data_check, &mut dict, names)?;
    if dict.is_empty() || header.compression == Compression::None {
        return Ok(plain);
    }
    let prepared = DecoderDictionary::try_copy(&dict).map_err(|e| {
        invalid(
            &names.src.display().to_string(),
            &format!("has a dictionary zstd cannot load: {e}"),
        )
    })?;
    Ok(Codec::Zstd(Some(prepared)))
}

/// Decodes one chunk from `data` into `out` and checks it; the bytes written.
fn one_chunk<R: Read, W: Write>(
    chunk: &Chunk,
    codec: &Codec,
    data: &mut R,
    data_check: &mut DataCheck,
    out: &mut W,
    names: Names<'_>,
) -> Result<u64> {
    let mut stored = Stored {
        inner: data.take(chunk.comp_len()),
        check: chunk.check(),
        data: data_check,
        error: None,
    };
    let mut sink = Sink {
        out,
        hasher: chunk.uncompressed_checksum.map(|c| c.kind().hasher()),
        written: 0,
        error: None,
    };
    let decoded = decode(chunk, codec, &mut stored, &mut sink);
    // What a failed decode left unread still counts for the checksums.
    let _ = io::copy(&mut stored, &mut io::sink());
    let src = names.src.display().to_string();
    if let Some(e) = sink.error {
        return Err(Error::io("write", names.dst, e));
    }
    if let Some(e) = stored.error {
        return Err(Error::io("read", names.src, e));
    }
    if stored.inner.limit() > 0 {
        return Err(invalid(
            &src,
            &format!("is cut short inside chunk {}", chunk.number),
        ));
    }
    if !stored.check.finish() {
        return Err(chunk_mismatch(&src, chunk));
    }
    decoded.map_err(|e| {
        invalid(
            &src,
            &format!(
                "is damaged: chunk {} does not decompress ({e})",
                chunk.number
            ),
        )
    })?;
    check_output(chunk, sink.written, sink.hasher, &src)?;
    Ok(sink.written)
}

/// Runs the codec over one chunk's stored bytes.
fn decode<R: Read, W: Write>(
    chunk: &Chunk,
    codec: &Codec,
    stored: &mut Stored<'_, '_, R>,
    sink: &mut Sink<'_, W>,
) -> io::Result<()> {
    let limit = chunk.len.saturating_add(1);
    match codec {
        _ if chunk.comp_len() == 0 => {}
        Codec::Stored => {
            io::copy(&mut stored.take(limit), sink)?;
        }
        Codec::Zstd(dict) => {
            let buffered = BufReader::with_capacity(PIECE, stored);
            let decoder = match dict {
                Some(dict) => Decoder::with_prepared_dictionary(buffered, dict)?,
                None => Decoder::with_buffer(buffered)?,
            };
            io::copy(&mut decoder.take(limit), sink)?;
        }
    }
    Ok(())
}

/// The decoded length and uncompressed checksum against the index.
fn check_output(chunk: &Chunk, written: u64, hasher: Option<Hasher>, src: &str) -> Result<()> {
    if written != chunk.len {
        return Err(invalid(
            src,
            &format!(
                "is damaged: chunk {} decompresses to {}{written} bytes, not the {} its header says",
                chunk.number,
                if written > chunk.len {
                    "more than "
                } else {
                    ""
                },
                chunk.len
            ),
        ));
    }
    // The dictionary's uncompressed checksum "has no use" (zchunk_format.txt) and zck
    // 1.2 writes zeros or the checksum of nothing there: only chunks' are checked.
    if chunk.is_dict() {
        return Ok(());
    }
    let actual = hasher.map(Hasher::finish);
    if actual.is_some() && actual != chunk.uncompressed_checksum {
        return Err(invalid(
            src,
            &format!(
                "is damaged: chunk {} does not match its uncompressed checksum",
                chunk.number
            ),
        ));
    }
    Ok(())
}

/// One chunk's stored bytes, checked as they are read.
struct Stored<'c, 'd, R> {
    inner: Take<&'d mut R>,
    check: ChunkCheck<'c>,
    data: &'d mut DataCheck,
    /// A read error of the file itself, told apart from a decoding error.
    error: Option<io::Error>,
}

impl<R: Read> Read for Stored<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.check.update(&buf[..n]);
                self.data.update(&buf[..n]);
                Ok(n)
            }
            Err(e) => {
                let kind = e.kind();
                self.error = Some(e);
                Err(kind.into())
            }
        }
    }
}

/// The output of one chunk: counted, hashed when the file has uncompressed checksums.
struct Sink<'w, W> {
    out: &'w mut W,
    hasher: Option<Hasher>,
    written: u64,
    /// A write error of the output, told apart from a decoding error.
    error: Option<io::Error>,
}

impl<W: Write> Write for Sink<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Err(e) = self.out.write_all(buf) {
            let kind = e.kind();
            self.error = Some(e);
            return Err(kind.into());
        }
        if let Some(hasher) = &mut self.hasher {
            hasher.update(buf);
        }
        self.written += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
