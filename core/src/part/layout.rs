//! How a target is cut into pieces that are checked one by one. zsync cuts it into
//! blocks of one size with a weak and a strong sum each; zchunk into chunks of any size,
//! each with its own checksum. The [`Assembly`](super::Assembly) tracks pieces through
//! this trait, so that each format only says where its pieces are and how one is checked.
//! Where the pieces are is one of two [`Bounds`], written once here: blocks of one size
//! ([`Geometry`]), or pieces of any size that end where [`Ends`] says.

use std::ops::Range;

use crate::blocks::{FileHash, Geometry};
use crate::control::ControlFile;

/// The pieces of a target, and what its finished file must hash to.
pub(crate) trait Layout: Sync {
    /// The target's size in bytes.
    fn length(&self) -> u64;
    /// Where its pieces are.
    fn bounds(&self) -> impl Bounds + '_;
    /// Whether `data` is `piece`: its bytes, which a format with fixed-size blocks may
    /// pad with zeros to the block size.
    fn piece_matches(&self, piece: u64, data: &[u8]) -> bool;
    /// The hash the finished file must have and the bytes it covers; `None` for a file
    /// only checked piece by piece.
    fn file_hash(&self) -> Option<(&FileHash, Range<u64>)>;

    /// How many pieces it is cut into.
    fn piece_count(&self) -> u64 {
        self.bounds().count()
    }

    /// The target bytes of `piece`.
    fn piece_range(&self, piece: u64) -> Range<u64> {
        self.bounds().range(piece)
    }

    /// The piece holding target byte `offset` (below [`length`](Self::length)).
    fn piece_at(&self, offset: u64) -> u64 {
        self.bounds().at(offset)
    }

    /// The target bytes of consecutive pieces.
    fn byte_range(&self, pieces: Range<u64>) -> Range<u64> {
        if pieces.is_empty() {
            return 0..0;
        }
        self.piece_range(pieces.start).start..self.piece_range(pieces.end - 1).end
    }

    /// The pieces that lie wholly inside `bytes`.
    fn whole_pieces_in(&self, bytes: Range<u64>) -> Range<u64> {
        if bytes.is_empty() || bytes.start >= self.length() {
            return 0..0;
        }
        let at_start = self.piece_at(bytes.start);
        let first = if self.piece_range(at_start).start == bytes.start {
            at_start
        } else {
            at_start + 1
        };
        let end = if bytes.end >= self.length() {
            self.piece_count()
        } else {
            // Every piece before the one holding `bytes.end` ends at or before it.
            self.piece_at(bytes.end)
        };
        first..end.max(first)
    }
}

/// zsync's blocks: all of the control file's block size but the last.
impl Layout for ControlFile {
    fn length(&self) -> u64 {
        self.length
    }

    fn bounds(&self) -> impl Bounds + '_ {
        self.geometry()
    }

    fn piece_matches(&self, piece: u64, data: &[u8]) -> bool {
        self.block_matches(piece, data)
    }

    fn file_hash(&self) -> Option<(&FileHash, Range<u64>)> {
        Some((&self.file_hash, 0..self.length))
    }
}

/// Where a layout's pieces are: the piece arithmetic, apart from how a piece is checked.
pub(crate) trait Bounds {
    /// How many pieces there are.
    fn count(&self) -> u64;
    /// The target bytes of `piece`.
    fn range(&self, piece: u64) -> Range<u64>;
    /// The piece holding target byte `offset`.
    fn at(&self, offset: u64) -> u64;
}

/// zsync's blocks: all of one size but the last.
impl Bounds for Geometry {
    fn count(&self) -> u64 {
        self.block_count()
    }

    fn range(&self, piece: u64) -> Range<u64> {
        self.byte_range(piece..piece + 1)
    }

    fn at(&self, offset: u64) -> u64 {
        self.block_of(offset)
    }
}

/// Where each piece of a layout with pieces of any size ends, ascending: zchunk's and
/// casync's chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ends(pub Vec<u64>);

impl Bounds for &Ends {
    fn count(&self) -> u64 {
        self.0.len() as u64
    }

    fn range(&self, piece: u64) -> Range<u64> {
        let piece = piece as usize;
        let start = if piece == 0 { 0 } else { self.0[piece - 1] };
        start..self.0[piece]
    }

    /// The piece holding byte `offset` (empty pieces hold none).
    fn at(&self, offset: u64) -> u64 {
        self.0.partition_point(|&end| end <= offset) as u64
    }
}
