//! `make -z`: publishing a target as a `.gz` that clients can fetch pieces of.
//!
//! A client rebuilding from a gzip target needs restart points (the `Z-Map2`) close to
//! every zsync block. Like `zsyncmake -z`, we get them by ending a deflate block at every
//! zsync block boundary: each block of input is compressed with a sync flush, so the next
//! deflate block starts on a byte boundary whose position the compressor reports. Every
//! map entry is then a block start, the simplest kind for any client, zsync 0.6.2's
//! included.
//!
//! The input is cut into chunks compressed in parallel, each with a fresh dictionary (as
//! `pigz` does): sync-flushed raw deflate pieces concatenate into one valid stream, and
//! losing the 32 KiB of history once per MiB costs a fraction of a percent of size.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use flate2::{Compress, Compression, Crc, FlushCompress};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::part::read_at;
use crate::spares::Spares;

/// Input compressed per parallel piece; a multiple of every block size `-z` accepts.
const CHUNK: usize = 1 << 20;

/// The largest block size whose worst case (a stored block of incompressible data) still
/// fits the map's 16-bit delta of compressed bits.
pub const MAX_BLOCK_SIZE: u32 = 4096;

/// `1f 8b`, deflate, no flags, the input's mtime, no extra flags, OS "Unix": the header
/// zsyncmake writes.
fn gzip_header(mtime: u32) -> [u8; 10] {
    let t = mtime.to_le_bytes();
    [0x1f, 0x8b, 8, 0, t[0], t[1], t[2], t[3], 0, 3]
}

/// An empty final block with fixed codes (`BFINAL=1, BTYPE=01`, end-of-block), 10 bits.
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// A compressing thread's input buffer and compressor (with its deflate state, a few
/// hundred KiB at the best level), kept from one piece to the next as [`Spares`].
struct Scratch {
    data: Vec<u8>,
    compressor: Compress,
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            data: Vec::new(),
            compressor: Compress::new(Compression::best(), false),
        }
    }
}

/// One chunk's deflate bytes and where each of its blocks' compressed data starts.
struct Piece {
    deflate: Vec<u8>,
    block_starts: Vec<usize>,
    crc: Crc,
}

/// Compresses `input` (`length` bytes) to `gz` (through a temporary file and a rename)
/// and returns the `Z-Map2` entries (4 bytes each) for it with `block_size`.
pub fn compress(
    input: &File,
    input_path: &Path,
    length: u64,
    mtime: u32,
    block_size: u32,
    gz: &Path,
) -> Result<Vec<u8>> {
    if !block_size.is_power_of_two() || block_size > MAX_BLOCK_SIZE {
        return Err(Error::Invalid(format!(
            "with -z the block size must be a power of two of at most {MAX_BLOCK_SIZE} (the Z-Map cannot describe larger blocks)"
        )));
    }
    let tmp = crate::part::with_suffix(gz, ".tmp");
    let file = File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
    let mut out = BufWriter::new(file);
    let write_err = |e| Error::io("write", &tmp, e);
    let header = gzip_header(mtime);
    out.write_all(&header).map_err(write_err)?;

    let mut map = MapWriter::default();
    let mut written = header.len() as u64;
    let mut crc = Crc::new();
    // Uncompressed offset of the next block: every block but the last is whole.
    let mut block_out = 0u64;
    let batch = rayon::current_num_threads().max(1) * 2;
    let (scratches, outputs) = (Spares::<Scratch>::new(), Spares::<Vec<u8>>::new());
    let mut offset = 0u64;
    while offset < length {
        let starts: Vec<u64> = (0..batch as u64)
            .map(|i| offset + i * CHUNK as u64)
            .filter(|&s| s < length)
            .collect();
        let pieces = starts
            .par_iter()
            .map(|&start| {
                let mut scratch = scratches.take();
                let data = &mut scratch.data;
                data.resize((length - start).min(CHUNK as u64) as usize, 0);
                let got =
                    read_at(input, data, start).map_err(|e| Error::io("read", input_path, e))?;
                if got < data.len() {
                    return Err(Error::Invalid(format!(
                        "{} got shorter while it was being compressed",
                        input_path.display()
                    )));
                }
                let piece = compress_piece(
                    data,
                    block_size as usize,
                    &mut scratch.compressor,
                    outputs.take(),
                );
                scratches.give_back(scratch);
                Ok(piece)
            })
            .collect::<Result<Vec<Piece>>>()?;
        for piece in pieces {
            for start in &piece.block_starts {
                map.push(written + *start as u64, block_out)?;
                block_out += u64::from(block_size);
            }
            out.write_all(&piece.deflate).map_err(write_err)?;
            written += piece.deflate.len() as u64;
            crc.combine(&piece.crc);
            outputs.give_back(piece.deflate);
        }
        offset = starts
            .last()
            .map_or(length, |&s| s + CHUNK as u64)
            .min(length);
    }
    // As zsyncmake ends its map: the final block's start, its end, and the trailer's
    // byte. An empty input has only these.
    map.push_bits(written * 8, length)?;
    map.push_bits(written * 8 + 10, length)?;
    map.push_bits((written + FINAL_BLOCK.len() as u64) * 8, length)?;
    out.write_all(&FINAL_BLOCK).map_err(write_err)?;
    out.write_all(&crc.sum().to_le_bytes()).map_err(write_err)?;
    // ISIZE is the length modulo 2^32 (RFC 1952), so files over 4 GiB are fine.
    out.write_all(&(length as u32).to_le_bytes())
        .map_err(write_err)?;
    let file = out.into_inner().map_err(|e| write_err(e.into_error()))?;
    file.sync_all().map_err(write_err)?;
    drop(file);
    std::fs::rename(&tmp, gz).map_err(|e| Error::io("replace", gz, e))?;
    Ok(map.entries)
}

/// Compresses `data` with `compressor` (reset first) into `deflate` (emptied first),
/// ending a deflate block (with a sync flush) after every `block_size` bytes of it.
fn compress_piece(
    data: &[u8],
    block_size: usize,
    compressor: &mut Compress,
    mut deflate: Vec<u8>,
) -> Piece {
    compressor.reset();
    deflate.clear();
    deflate.reserve(data.len() / 2 + 1024);
    let mut block_starts = Vec::with_capacity(data.len().div_ceil(block_size));
    let mut crc = Crc::new();
    crc.update(data);
    for block in data.chunks(block_size) {
        block_starts.push(deflate.len());
        let mut consumed = 0;
        loop {
            // Room for a stored block of all of it plus the flush marker, and only this
            // room is handed to the compressor. Handed all of the buffer's spare capacity
            // (`compress_vec`), zlib-rs took more time, the more the capacity: make -z of
            // the bench's 300 MiB image took 6.4 s of user time with a new buffer per
            // piece, 8.1 s with reused ones (whose capacity only grows), 5.9 s either way
            // with this room. Why it costs zlib-rs more is not established.
            let (start, room) = (deflate.len(), block.len() - consumed + 64);
            deflate.resize(start + room, 0);
            let (before_in, before_out) = (compressor.total_in(), compressor.total_out());
            compressor
                .compress(
                    &block[consumed..],
                    &mut deflate[start..],
                    FlushCompress::Sync,
                )
                .expect("deflate cannot fail on valid parameters");
            consumed += (compressor.total_in() - before_in) as usize;
            let produced = (compressor.total_out() - before_out) as usize;
            deflate.truncate(start + produced);
            // Room left over means the flush is complete.
            if consumed == block.len() && produced < room {
                break;
            }
        }
    }
    Piece {
        deflate,
        block_starts,
        crc,
    }
}

/// Builds `Z-Map2` entries: `u16` compressed-bit and uncompressed-byte deltas, big-endian.
#[derive(Default)]
struct MapWriter {
    entries: Vec<u8>,
    bits: u64,
    out: u64,
}

impl MapWriter {
    /// A block starts at compressed byte `byte`, uncompressed offset `out`.
    fn push(&mut self, byte: u64, out: u64) -> Result<()> {
        self.push_bits(byte * 8, out)
    }

    fn push_bits(&mut self, bits: u64, out: u64) -> Result<()> {
        let (in_delta, out_delta) = (bits - self.bits, out - self.out);
        if in_delta > 0xffff || out_delta > 0x7fff {
            return Err(Error::Invalid(format!(
                "a Z-Map step of {in_delta} bits for {out_delta} bytes does not fit the map; use a smaller block size"
            )));
        }
        self.entries
            .extend_from_slice(&(in_delta as u16).to_be_bytes());
        self.entries
            .extend_from_slice(&(out_delta as u16).to_be_bytes());
        (self.bits, self.out) = (bits, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gzip::{Compressed, Inflater, ZMap};
    use crate::test_data::noise;

    /// Stretches of text, zeros and noise: every kind of deflate block.
    fn sample(len: usize) -> Vec<u8> {
        let text = b"kernel: usb 1-1: new high-speed USB device number 2 using xhci_hcd\n";
        let random = noise(len, 7);
        (0..len)
            .map(|i| match (i / 5000) % 3 {
                0 => text[i % text.len()],
                1 => 0,
                _ => random[i],
            })
            .collect()
    }

    /// Compresses `data`; checks that any gzip reader gets it back and that decoding from
    /// every map checkpoint to the next gives exactly that stretch of `data`.
    fn round_trip(data: &[u8], block_size: u32) -> usize {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        std::fs::write(&input, data).unwrap();
        let gz = dir.path().join("in.gz");
        let file = File::open(&input).unwrap();
        let map = compress(&file, &input, data.len() as u64, 0, block_size, &gz).unwrap();
        let gz = std::fs::read(&gz).unwrap();
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut back).unwrap();
        assert!(back == data, "gzip round trip");

        let map = ZMap::parse(&map).unwrap();
        map.check_compressed_len(gz.len() as u64).unwrap();
        assert_eq!(map.uncompressed_len(), data.len() as u64);
        let cps: Vec<_> = map.checkpoints().collect();
        for pair in cps.windows(2) {
            let (from, to) = (pair[0], pair[1]);
            let out = from.out_byte as usize..to.out_byte as usize;
            let mut inflater = Inflater::new(&data[out.start.saturating_sub(32 << 10)..out.start]);
            let (got, _) = inflater
                .inflate(
                    Compressed::whole(&gz),
                    from.resume(Compressed::whole(&gz)),
                    out.len() as u64,
                )
                .unwrap();
            assert!(got == data[out.clone()], "checkpoint at {}", from.in_bit);
        }
        cps.len()
    }

    #[test]
    fn every_block_is_a_checkpoint_and_decodes() {
        // Text, zeros and noise, a partial last block, several parallel chunks.
        let entries = round_trip(&sample(CHUNK * 2 + 3 * 4096 + 100), 4096);
        assert_eq!(entries, (CHUNK * 2 / 4096 + 4) + 3);
        round_trip(&sample(10_000), 2048);
    }

    #[test]
    fn empty_and_tiny_inputs() {
        assert_eq!(round_trip(&[], 2048), 3);
        assert_eq!(round_trip(b"x", 2048), 4);
    }

    #[test]
    fn block_sizes_the_map_cannot_describe_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        std::fs::write(&input, b"data").unwrap();
        let file = File::open(&input).unwrap();
        let e = compress(&file, &input, 4, 0, 8192, &dir.path().join("in.gz")).unwrap_err();
        assert!(e.to_string().contains("at most 4096"), "{e}");
    }
}
