//! Writing a zchunk file (`deltadrop-cli make --zck`): the input cut where its content
//! says, each chunk compressed with zstd on its own, and the header zchunk's tools read.
//!
//! **Cuts.** casync's chunker (`casync::chunker`), with zchunk's sizes: at least 8 KiB,
//! about 32 KiB, at most 128 KiB (zck's automatic minimum, average and maximum). zck has
//! its own rule on the same buzhash (the same table and 48-byte window; a cut where the
//! low 15 bits are zero), but any content-defined cut does what a delta needs: an edit
//! moves only the borders next to it. casync's rule at these sizes makes chunks a little
//! smaller than zck's (33 KiB against 37 KiB on average for 8 MB of text: zck adds its
//! minimum to its average), so an update fetches no more than from zck's own file, for a
//! file about 1% larger; the end-to-end tests hold an update to within 5% of zck's, on
//! the same pair of versions.
//!
//! **Compression.** zstd level 9 with the btopt strategy, zck's own settings
//! (`src/lib/comp/zstd`), and no dictionary: the dictionary chunk is empty, as `zck`
//! without `-D` writes it. Chunks are compressed in parallel, a batch while the next one
//! is cut.
//!
//! **Layout.** The header comes first but its size depends on every chunk's length, so
//! the compressed chunks go to a temporary file beside the output as they are made, and
//! only their checksums and lengths are kept (a few dozen bytes a chunk). The header is
//! then written to a second temporary file, the chunks copied after it (by the kernel
//! where it can), and that file renamed to the output. Memory stays at two batches
//! whatever the input's size, and a failure leaves nothing under the output's name.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::casync::chunker::{ChunkSizes, Cuts};
use crate::error::{Error, Result};
use crate::part::{canonical, with_suffix};

use super::checksum::{Checksum, ChecksumType};
use super::cursor::encode_int;
use super::header::{Compression, MAGIC};

/// zck's automatic chunk sizes (`src/lib/comp/comp.c`): a quarter of, exactly, and four
/// times the average its 15-bit mask gives.
const MIN_CHUNK: u64 = 8 << 10;
const AVG_CHUNK: u64 = 32 << 10;
const MAX_CHUNK: u64 = 128 << 10;

/// zck's default zstd level; with [`STRATEGY`], its compression exactly.
const LEVEL: i32 = 9;
/// zck sets btopt so that its output is the same on every architecture.
const STRATEGY: zstd::zstd_safe::Strategy = zstd::zstd_safe::Strategy::ZSTD_btopt;

/// The header and data checksum type zck writes by default.
const OVERALL_CHECKSUM: ChecksumType = ChecksumType::Sha256;
/// The chunk checksum type zck writes by default.
const CHUNK_CHECKSUM: ChecksumType = ChecksumType::Sha512_128;

/// Input cut and compressed per batch: enough chunks to keep every core busy.
const BATCH_BYTES: usize = 16 << 20;

/// What [`write_zck`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZckMade {
    /// Data chunks (the empty dictionary not counted).
    pub chunks: u64,
    /// Bytes of the input.
    pub uncompressed_len: u64,
    /// Bytes of the `.zck`, header and chunks.
    pub len: u64,
}

/// Writes `input` as the zchunk file `output` (through a temporary file beside it, then
/// a rename). The input is never overwritten: an `output` that is the input is refused.
pub fn write_zck(input: &Path, output: &Path) -> Result<ZckMade> {
    let chunks_path = with_suffix(output, ".chunks.tmp");
    let header_path = with_suffix(output, ".tmp");
    refuse_to_overwrite(input, &[output, &chunks_path, &header_path])?;
    let source = open_input(input)?;
    let chunks_file = TempFile::create(chunks_path)?;
    let packed = pack_chunks(source, input, &chunks_file)?;
    let header = header_bytes(&packed);
    let whole = TempFile::create(header_path)?;
    assemble(&header, &chunks_file, &whole)?;
    whole.rename_to(output)?;
    Ok(ZckMade {
        chunks: packed.entries.len() as u64,
        uncompressed_len: packed.uncompressed_len,
        len: header.len() as u64 + packed.data_len,
    })
}

/// An error if any of `written` (the output and the temporary files) is `input` itself.
fn refuse_to_overwrite(input: &Path, written: &[&Path]) -> Result<()> {
    let input_key = canonical(input);
    match written
        .iter()
        .find(|path| path.exists() && canonical(path) == input_key)
    {
        Some(path) => Err(Error::Invalid(format!(
            "{} would overwrite the input {}; give another output (-o)",
            path.display(),
            input.display()
        ))),
        None => Ok(()),
    }
}

fn open_input(input: &Path) -> Result<File> {
    let file = File::open(input).map_err(|e| Error::io("open", input, e))?;
    let meta = file.metadata().map_err(|e| Error::io("read", input, e))?;
    if meta.is_dir() {
        return Err(Error::Invalid(format!(
            "{} is a folder; make --zck writes one file's .zck",
            input.display()
        )));
    }
    Ok(file)
}

/// One data chunk as the index lists it.
struct Entry {
    checksum: Checksum,
    comp_len: u64,
    len: u64,
}

/// The chunks written, and what the header says of them.
struct Packed {
    entries: Vec<Entry>,
    data_checksum: Checksum,
    data_len: u64,
    uncompressed_len: u64,
}

/// Cuts `source`, compresses each chunk and appends it to `chunks`; the next batch is
/// cut while one is compressed.
fn pack_chunks(source: File, input: &Path, chunks: &TempFile) -> Result<Packed> {
    let sizes = ChunkSizes::new(MIN_CHUNK, AVG_CHUNK, MAX_CHUNK).expect("zck's sizes are valid");
    let mut cuts = Cuts::new(source, sizes, input);
    let mut out = BufWriter::new(chunks.file());
    let mut data = OVERALL_CHECKSUM.hasher();
    let (mut entries, mut data_len, mut uncompressed_len) = (Vec::new(), 0, 0);
    let mut batch = cut_batch(&mut cuts)?;
    while !batch.is_empty() {
        let (next, compressed) =
            rayon::join(|| cut_batch(&mut cuts), || compress_batch(&batch, input));
        for (plain, (stored, checksum)) in batch.iter().zip(compressed?) {
            out.write_all(&stored)
                .map_err(|e| Error::io("write", &chunks.path, e))?;
            data.update(&stored);
            data_len += stored.len() as u64;
            uncompressed_len += plain.len() as u64;
            entries.push(Entry {
                checksum,
                comp_len: stored.len() as u64,
                len: plain.len() as u64,
            });
        }
        batch = next?;
    }
    out.flush()
        .map_err(|e| Error::io("write", &chunks.path, e))?;
    Ok(Packed {
        entries,
        data_checksum: data.finish(),
        data_len,
        uncompressed_len,
    })
}

/// The next chunks of the input, about [`BATCH_BYTES`] of them; none at its end.
fn cut_batch(cuts: &mut Cuts<File>) -> Result<Vec<Vec<u8>>> {
    let mut batch = Vec::new();
    let mut bytes = 0;
    while bytes < BATCH_BYTES {
        let mut chunk = Vec::new();
        match cuts.next_with_bytes(&mut chunk) {
            Some(cut) => cut?,
            None => break,
        };
        bytes += chunk.len();
        batch.push(chunk);
    }
    Ok(batch)
}

/// Each chunk's zstd frame and that frame's checksum, in parallel.
fn compress_batch(batch: &[Vec<u8>], input: &Path) -> Result<Vec<(Vec<u8>, Checksum)>> {
    batch
        .par_iter()
        .map_init(compressor, |compressor, plain| {
            let stored = compressor
                .compress(plain)
                .map_err(|e| Error::io("compress", input, e))?;
            let mut checksum = CHUNK_CHECKSUM.hasher();
            checksum.update(&stored);
            Ok((stored, checksum.finish()))
        })
        .collect()
}

/// A zstd compressor set as zck sets its own. Only a zstd without btopt (older than
/// 1.3, never linked here: the zstd crate brings its own) could refuse these settings.
fn compressor() -> zstd::bulk::Compressor<'static> {
    let mut compressor = zstd::bulk::Compressor::new(LEVEL).expect("zstd knows level 9");
    compressor
        .set_parameter(zstd::stream::raw::CParameter::Strategy(STRATEGY))
        .expect("zstd knows btopt");
    compressor
}

/// The whole header: lead, preface, index and no signatures, laid out as zchunk 1.x
/// writes it (`src/lib/header.c`), its checksum over everything but its own field.
fn header_bytes(packed: &Packed) -> Vec<u8> {
    let mut rest = packed.data_checksum.as_bytes().to_vec();
    encode_int(0, &mut rest); // flags: no streams, optional elements or uncompressed sums
    encode_int(Compression::Zstd.code(), &mut rest);
    let index = index_bytes(&packed.entries);
    encode_int(index.len() as u64, &mut rest);
    rest.extend(index);
    encode_int(0, &mut rest); // signatures
    let mut lead = MAGIC.to_vec();
    encode_int(OVERALL_CHECKSUM.code(), &mut lead);
    encode_int(rest.len() as u64, &mut lead);
    let mut checksum = OVERALL_CHECKSUM.hasher();
    checksum.update(&lead);
    checksum.update(&rest);
    lead.extend(checksum.finish().as_bytes());
    lead.extend(rest);
    lead
}

/// The index: the chunk checksum type, the count, the empty dictionary (a zero checksum
/// and zero lengths, as zck writes it without `-D`), then each chunk.
fn index_bytes(entries: &[Entry]) -> Vec<u8> {
    let mut index = Vec::with_capacity(8 + (entries.len() + 1) * (CHUNK_CHECKSUM.len() + 8));
    encode_int(CHUNK_CHECKSUM.code(), &mut index);
    encode_int(entries.len() as u64 + 1, &mut index);
    index.resize(index.len() + CHUNK_CHECKSUM.len(), 0);
    encode_int(0, &mut index);
    encode_int(0, &mut index);
    for entry in entries {
        index.extend(entry.checksum.as_bytes());
        encode_int(entry.comp_len, &mut index);
        encode_int(entry.len, &mut index);
    }
    index
}

/// Writes `header` to `whole`, then copies the chunks after it and syncs.
fn assemble(header: &[u8], chunks: &TempFile, whole: &TempFile) -> Result<()> {
    let write_err = |e| Error::io("write", &whole.path, e);
    let mut out = whole.file();
    out.write_all(header).map_err(write_err)?;
    let mut from = chunks.file();
    from.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io("read", &chunks.path, e))?;
    // File to file: on Linux, std copies in the kernel (copy_file_range).
    std::io::copy(&mut from, &mut out).map_err(write_err)?;
    whole.file().sync_all().map_err(write_err)
}

/// A file this writer makes and removes again, unless renamed into place first. It is
/// closed before either: Windows renames or removes no file that is open.
struct TempFile {
    path: PathBuf,
    file: Option<File>,
}

impl TempFile {
    fn create(path: PathBuf) -> Result<TempFile> {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        Ok(TempFile {
            path,
            file: Some(file),
        })
    }

    fn file(&self) -> &File {
        self.file.as_ref().expect("open until renamed or dropped")
    }

    fn rename_to(mut self, output: &Path) -> Result<()> {
        self.file = None;
        std::fs::rename(&self.path, output).map_err(|e| Error::io("replace", output, e))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        self.file = None;
        // Gone already once renamed into place; otherwise a failed run's leftover.
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests;
