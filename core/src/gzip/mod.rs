//! Gzip targets: fetching parts of a `.gz` file and inflating them mid-stream.
//!
//! A `.zsync` made from a gzip file (`zsyncmake -z`, or zsyncmake run on a `.gz`)
//! describes the *uncompressed* data, while the server only holds the compressed file
//! (`Z-URL`). Its `Z-Map2` lists checkpoints where inflating can start. To obtain
//! missing uncompressed ranges the engine:
//!
//! 1. parses the map ([`ZMap::parse`]);
//! 2. maps the ranges to compressed reads ([`ZMap::reads_for`]) and the byte ranges to
//!    fetch ([`fetch_ranges`]);
//! 3. decodes each read in order with an [`Inflater`] whose window holds the 32 KiB of
//!    uncompressed data before the read ([`Inflater::set_window`]), starting from
//!    [`Checkpoint::resume`].
//!
//! Everything here is pure computation over byte slices: no I/O, no HTTP. The decoder is
//! our own (safe Rust, no zlib): restarting at a bit offset inside a block with another
//! block's tables is exactly what general-purpose inflaters hide.

mod header;
mod huffman;
mod inflate;
mod zmap;

pub use header::{GzipHeader, GzipHeaderError, parse_gzip_header};
pub use inflate::{
    BlockInfo, BlockType, Compressed, InflateError, Inflater, MAX_BLOCK_HEADER_BYTES, Outcome,
    Resume, WINDOW_SIZE,
};
pub use zmap::{Checkpoint, CheckpointKind, CompressedRead, ZMap, ZMapError, fetch_ranges};

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
