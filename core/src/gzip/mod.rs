//! Gzip targets: fetching parts of a `.gz` file and inflating them mid-stream.
//!
//! A `.zsync` made from a gzip file (`zsyncmake -z`, or zsyncmake run on a `.gz`)
//! describes the *uncompressed* data, while the server only holds the compressed file
//! (`Z-URL`). Its `Z-Map2` lists checkpoints where inflating can start. To obtain
//! missing uncompressed ranges the engine:
//!
//! 1. parses the map ([`ZMap::parse`]);
//! 2. maps the ranges to compressed reads ([`ZMap::reads_in_cells`]) and the byte ranges to
//!    fetch ([`fetch_ranges`]);
//! 3. decodes each read in order with an [`Inflater`] whose window holds the 32 KiB of
//!    uncompressed data before the read ([`Inflater::set_window`]), starting from
//!    [`Checkpoint::resume`].
//!
//! ```ignore
//! use std::ops::Range;
//! use deltadrop_core::gzip::{Compressed, Inflater, ZMap, fetch_ranges};
//! # fn fetch(_: &Range<u64>) -> Vec<u8> { unimplemented!() }
//! # fn output_before(_: u64) -> Vec<u8> { unimplemented!() }
//! # fn store(_: u64, _: &[u8]) {}
//! # let (map_bytes, missing, gz_len): (Vec<u8>, Vec<Range<u64>>, u64) = unimplemented!();
//! let map = ZMap::parse(&map_bytes)?;
//! let reads = map.reads_in_cells(&missing, Some(gz_len), 1 << 20)?;
//! let fetches = fetch_ranges(&reads);
//! let buffers: Vec<Vec<u8>> = fetches.iter().map(fetch).collect();
//! // Every read's data and header range lies inside one fetched range.
//! let slice_for = |r: &Range<u64>| {
//!     let i = fetches.iter().position(|f| f.start <= r.start && r.end <= f.end).unwrap();
//!     Compressed::new(&buffers[i], fetches[i].start)
//! };
//! let mut inflater = Inflater::new(&[]);
//! for read in &reads {
//!     // In order: the window may include output of the previous read.
//!     inflater.set_window(&output_before(read.out.start));
//!     let header = read.header.as_ref().map(slice_for).unwrap_or(Compressed::new(&[], 0));
//!     let resume = read.start.resume(header);
//!     let (bytes, _) = inflater.inflate(slice_for(&read.data), resume, read.out_len())?;
//!     store(read.out.start, &bytes); // then check block sums as for any fetched block
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Everything here is pure computation over byte slices: no I/O, no HTTP. The decoder is
//! our own (safe Rust, no zlib): restarting at a bit offset inside a block with another
//! block's tables is exactly what general-purpose inflaters hide.

mod header;
mod huffman;
mod inflate;
mod recompress;
#[cfg(test)]
mod speed;
mod zmap;
#[cfg(test)]
mod zsyncmake_contract;

pub(crate) use header::parse_gzip_header;
#[cfg(test)]
pub(crate) use inflate::MAX_BLOCK_HEADER_BYTES;
pub(crate) use inflate::{Compressed, Inflater, Resume, WINDOW_SIZE};
pub(crate) use recompress::recompress;
pub(crate) use zmap::{Checkpoint, CheckpointKind, CompressedRead, ZMap, fetch_ranges};

impl Checkpoint {
    /// The decoder start for this checkpoint. `header` must hold the compressed bytes
    /// from byte `block_start_bit / 8` on (a read's `header` range, or any slice that
    /// covers it, such as the whole file); it is ignored for block starts.
    pub fn resume<'a>(&self, header: Compressed<'a>) -> Resume<'a> {
        match self.kind {
            CheckpointKind::BlockStart => Resume::BlockStart { bit: self.in_bit },
            CheckpointKind::MidBlock => Resume::MidBlock {
                bit: self.in_bit,
                block_start_bit: self.block_start_bit,
                header,
            },
        }
    }
}
