//! Checking what arrives before it is written: the [`BlockWriter`], the one place where a
//! piece from the network is checked against its format's sums and where bad data is
//! counted; and the assemblers that cut a reply's stream of bytes into whole pieces for
//! it, blocks of one size ([`Assembler`], zsync) or pieces of any size
//! ([`PieceAssembler`], chunks).

use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;

use url::Url;

use super::transport::{ReceiveError, UNNAMED_SERVER};
use crate::blocks::{Geometry, runs};
use crate::control::ControlFile;
use crate::error::{Error, Result, shown_url};
use crate::event::Reporter;
use crate::event::{BlockSource, BlockState};
use crate::part::{Assembly, Layout, Offer};

/// A block whose data fails its checksum this often fails the job.
const MAX_BAD_BLOCK: u32 = 3;

/// Hands pieces received from the network to the [`Assembly`], reports the new ones, and
/// counts the bad ones: the job fails when one keeps coming back wrong.
pub(crate) struct BlockWriter<'a, L: Layout + ?Sized = ControlFile> {
    pub assembly: &'a Assembly<'a, L>,
    pub reporter: &'a Reporter<'a>,
    bad_pieces: Mutex<HashMap<u64, u32>>,
}

impl<'a, L: Layout + ?Sized> BlockWriter<'a, L> {
    pub fn new(assembly: &'a Assembly<'a, L>, reporter: &'a Reporter<'a>) -> Self {
        BlockWriter {
            assembly,
            reporter,
            bad_pieces: Mutex::new(HashMap::new()),
        }
    }

    /// Offers `data` (a whole piece; a block zero-padded to the block size) as `piece`,
    /// received from `url`; true when it was missing and is now written.
    pub fn accept(&self, url: &Url, piece: u64, data: &[u8]) -> Result<bool> {
        let offer = self.assembly.offer(piece, data)?;
        self.account(url, piece, offer)
    }

    /// Reports what became of an offered piece; true if it was written now.
    fn account(&self, url: &Url, piece: u64, offer: Offer) -> Result<bool> {
        match offer {
            Offer::Written => {
                let bytes = self.assembly.layout().piece_range(piece);
                self.reporter.add_fetched(bytes.end - bytes.start);
                Ok(true)
            }
            Offer::AlreadyPresent => Ok(false),
            Offer::WrongSums => self.reject_checksum(url, piece).map(|()| false),
        }
    }

    fn reject_checksum(&self, url: &Url, piece: u64) -> Result<()> {
        let bytes = self.assembly.layout().piece_range(piece);
        self.reject(
            url,
            piece,
            &format!(
                "block {piece} (bytes {}-{}) failed its checksum",
                bytes.start,
                bytes.end - 1
            ),
        )
    }

    /// Counts a failure to obtain `piece` from `url`'s data (`what` says which); an error
    /// once that piece has failed [`MAX_BAD_BLOCK`] times.
    pub fn reject(&self, url: &Url, piece: u64, what: &str) -> Result<()> {
        self.reporter.blocks(
            std::iter::once(piece..piece + 1),
            BlockState::Failed,
            BlockSource::Network,
        );
        let mut bad = self.bad_pieces.lock().unwrap();
        let count = bad.entry(piece).or_default();
        *count += 1;
        if *count >= MAX_BAD_BLOCK {
            return Err(Error::BadData {
                url: shown_url(url.as_str()),
                problem: format!("{what} {MAX_BAD_BLOCK} times"),
            });
        }
        Ok(())
    }
}

impl BlockWriter<'_> {
    pub fn geometry(&self) -> Geometry {
        self.assembly.geometry()
    }

    /// Offers consecutive full-size blocks from `first` on, all of `data`. Returns the
    /// blocks that were missing and are now written.
    fn accept_blocks(&self, url: &Url, first: u64, data: &[u8]) -> Result<Vec<u64>> {
        let offers = self.assembly.offer_run(first, data)?;
        let mut new = Vec::new();
        for (k, offer) in offers.into_iter().enumerate() {
            let block = first + k as u64;
            if self.account(url, block, offer)? {
                new.push(block);
            }
        }
        Ok(new)
    }
}

/// Cuts a stream of target bytes, starting at a known offset, into blocks for the
/// [`BlockWriter`]. Bytes of blocks the stream does not hold whole are dropped.
pub(crate) struct Assembler<'w, 'a> {
    writer: &'w BlockWriter<'a>,
    url: &'w Url,
    /// Target offset of the next byte.
    next: u64,
    block: Vec<u8>,
    /// Bytes of the block at `next - filled` collected in `block`.
    filled: usize,
    fetched: Vec<u64>,
}

impl<'w, 'a> Assembler<'w, 'a> {
    pub fn new(writer: &'w BlockWriter<'a>, url: &'w Url, start: u64) -> Self {
        Assembler {
            writer,
            url,
            next: start,
            block: vec![0; writer.geometry().block_size as usize],
            filled: 0,
            fetched: Vec::new(),
        }
    }

    /// Target offset of the next byte expected.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Takes the next bytes of the stream.
    pub fn write(&mut self, mut data: &[u8]) -> Result<()> {
        let geometry = self.writer.geometry();
        let bs = u64::from(geometry.block_size);
        while !data.is_empty() && self.next < geometry.length {
            let in_block = (self.next % bs) as usize;
            if in_block != self.filled {
                // Data starting inside a block cannot complete that block: skip to the
                // next one.
                let skip = (bs as usize - in_block).min(data.len());
                self.next += skip as u64;
                data = &data[skip..];
                continue;
            }
            let block = geometry.block_of(self.next);
            let len = geometry.block_len(block);
            let whole = (data.len() / bs as usize).min((geometry.length / bs - block) as usize);
            if self.filled == 0 && whole > 0 {
                // Whole full-size blocks in the input: check and write them where they are.
                let take = whole * bs as usize;
                let new = self.writer.accept_blocks(self.url, block, &data[..take])?;
                self.record(new);
                self.next += take as u64;
                data = &data[take..];
                continue;
            }
            let take = (len - self.filled).min(data.len());
            self.block[self.filled..self.filled + take].copy_from_slice(&data[..take]);
            self.filled += take;
            self.next += take as u64;
            data = &data[take..];
            if self.filled == len {
                self.filled = 0;
                self.block[len..].fill(0);
                if self.writer.accept(self.url, block, &self.block)? {
                    self.record([block]);
                }
            }
        }
        Ok(())
    }

    /// Takes everything `body` yields; read errors become what `on_error` makes of them.
    pub fn copy_from(
        &mut self,
        body: &mut dyn Read,
        on_error: impl Fn(std::io::Error) -> ReceiveError,
    ) -> Result<(), ReceiveError> {
        let length = self.writer.geometry().length;
        copy_until(body, on_error, length, |chunk| {
            self.write(chunk)?;
            Ok(self.next)
        })
    }

    /// Notes newly written blocks; they are reported in batches.
    fn record(&mut self, blocks: impl IntoIterator<Item = u64>) {
        self.fetched.extend(blocks);
        if self.fetched.len() >= 64 {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let fetched = std::mem::take(&mut self.fetched);
        self.writer
            .reporter
            .blocks(runs(fetched), BlockState::Fetched, BlockSource::Network);
    }
}

impl Drop for Assembler<'_, '_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Cuts a stream of target bytes, starting at a known offset, into pieces of any size
/// (chunks), each offered whole. Bytes of pieces the stream does not hold whole are
/// dropped. A piece is held in memory until it is complete: formats bound their pieces'
/// size when they read their index.
pub(crate) struct PieceAssembler<'w, 'a, L: Layout + ?Sized> {
    writer: &'w BlockWriter<'a, L>,
    url: &'w Url,
    /// Target offset of the next byte.
    next: u64,
    /// The bytes of the piece being collected, from its start.
    piece: Vec<u8>,
}

impl<'w, 'a, L: Layout + ?Sized> PieceAssembler<'w, 'a, L> {
    pub fn new(writer: &'w BlockWriter<'a, L>, url: &'w Url, start: u64) -> Self {
        PieceAssembler {
            writer,
            url,
            next: start,
            piece: Vec::new(),
        }
    }

    /// Takes the next bytes of the stream.
    fn write(&mut self, mut data: &[u8]) -> Result<()> {
        let layout = self.writer.assembly.layout();
        while !data.is_empty() && self.next < layout.length() {
            let piece = layout.piece_at(self.next);
            let bytes = layout.piece_range(piece);
            if self.piece.is_empty() && self.next != bytes.start {
                // Data starting inside a piece cannot complete it: skip to the next one.
                let skip = (bytes.end - self.next).min(data.len() as u64);
                self.next += skip;
                data = &data[skip as usize..];
                continue;
            }
            let take = (bytes.end - self.next).min(data.len() as u64) as usize;
            self.piece.extend_from_slice(&data[..take]);
            self.next += take as u64;
            data = &data[take..];
            if self.next == bytes.end {
                if self.writer.accept(self.url, piece, &self.piece)? {
                    self.writer.reporter.blocks(
                        std::iter::once(piece..piece + 1),
                        BlockState::Fetched,
                        BlockSource::Network,
                    );
                }
                self.piece.clear();
            }
        }
        Ok(())
    }

    /// Takes everything `body` yields; read errors become what `on_error` makes of them.
    pub fn copy_from(
        &mut self,
        body: &mut dyn Read,
        on_error: impl Fn(std::io::Error) -> ReceiveError,
    ) -> Result<(), ReceiveError> {
        let length = self.writer.assembly.layout().length();
        copy_until(body, on_error, length, |chunk| {
            self.write(chunk)?;
            Ok(self.next)
        })
    }
}

/// Whether a reader of a reply body wants the bytes that follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wanted {
    More,
    Nothing,
}

/// A read error on a reply body: the connection broke.
pub(crate) fn broken(e: std::io::Error) -> ReceiveError {
    let timed_out = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
        .is_some_and(reqwest::Error::is_timeout);
    let problem = if timed_out {
        "it stopped sending in the middle of its reply".to_string()
    } else {
        format!("the reply broke off: {e}")
    };
    ReceiveError::Network(Error::http(UNNAMED_SERVER, problem))
}

/// An assembler's `copy_from`: hands `body`'s bytes to `write`, which says how far the
/// file is filled, until it is filled to `end` or the body ends.
fn copy_until(
    body: &mut dyn Read,
    on_error: impl Fn(std::io::Error) -> ReceiveError,
    end: u64,
    mut write: impl FnMut(&[u8]) -> crate::error::Result<u64>,
) -> Result<(), ReceiveError> {
    for_each_chunk(body, on_error, |chunk| {
        let filled = write(chunk).map_err(ReceiveError::Fatal)?;
        Ok(if filled < end {
            Wanted::More
        } else {
            Wanted::Nothing
        })
    })
}

/// Hands `body`'s bytes to `on_chunk` as they arrive, until the end of the body or until
/// `on_chunk` says it wants no more (a body that goes on past what can be used, even
/// without end, is not read further); read errors become what `on_error` makes of them.
pub(crate) fn for_each_chunk(
    body: &mut dyn Read,
    on_error: impl Fn(std::io::Error) -> ReceiveError,
    mut on_chunk: impl FnMut(&[u8]) -> Result<Wanted, ReceiveError>,
) -> Result<(), ReceiveError> {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match body.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                if on_chunk(&buf[..n])? == Wanted::Nothing {
                    return Ok(());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(on_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::ops::Range;

    use super::*;
    use crate::event::NullSink;
    use crate::test_data::noise;

    #[test]
    fn assembled_blocks_are_checked_and_only_good_ones_written() {
        // 20 blocks and a partial one; block 5 arrives corrupted. The stream comes in
        // pieces that cut blocks anywhere, so whole blocks are checked together where a
        // piece holds several, one by one where they straddle pieces.
        let bs = 1024;
        let dir = tempfile::tempdir().unwrap();
        let target = noise(20 * bs + 300, 21);
        let path = dir.path().join("target");
        std::fs::write(&path, &target).unwrap();
        let options = crate::make::MakeOptions {
            block_size: Some(bs as u32),
            ..Default::default()
        };
        let cf = crate::make::make(&path, &options).unwrap();
        let part =
            crate::part::PartFile::open(&dir.path().join("out"), target.len() as u64).unwrap();
        let assembly = Assembly::new(&cf, Some(part));
        let sink = NullSink;
        let reporter = Reporter::new(&sink);
        let writer = BlockWriter::new(&assembly, &reporter);
        let url = Url::parse("http://example.invalid/target").unwrap();

        let mut sent = target.clone();
        sent[5 * bs + 700] ^= 1;
        let mut assembler = Assembler::new(&writer, &url, 0);
        for piece in [
            &sent[..1500],
            &sent[1500..13 * bs + 10],
            &sent[13 * bs + 10..],
        ] {
            assembler.write(piece).unwrap();
        }
        drop(assembler);
        assert_eq!(assembly.missing(), vec![5..6]);
        let written = std::fs::read(assembly.file().unwrap().path()).unwrap();
        assert_eq!(written[..5 * bs], target[..5 * bs]);
        assert_eq!(
            written[5 * bs..6 * bs],
            vec![0; bs],
            "the bad block is not written"
        );
        assert_eq!(written[6 * bs..], target[6 * bs..]);
        assert_eq!(writer.bad_pieces.lock().unwrap()[&5], 1);
    }

    /// Pieces of uneven sizes, each checked against the original's bytes.
    struct Uneven {
        data: Vec<u8>,
        ends: crate::part::Ends,
        hash: crate::blocks::FileHash,
    }

    impl Layout for Uneven {
        fn length(&self) -> u64 {
            self.data.len() as u64
        }
        fn bounds(&self) -> impl crate::part::Bounds + '_ {
            &self.ends
        }
        fn piece_matches(&self, piece: u64, data: &[u8]) -> bool {
            let r = self.piece_range(piece);
            self.data[r.start as usize..r.end as usize] == *data
        }
        fn file_hash(&self) -> Option<(&crate::blocks::FileHash, Range<u64>)> {
            Some((&self.hash, 0..self.length()))
        }
    }

    #[test]
    fn pieces_of_any_size_are_assembled_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Uneven {
            data: noise(10_000, 22),
            ends: crate::part::Ends(vec![700, 701, 3000, 3100, 8000, 10_000]),
            hash: crate::blocks::FileHash::from_hex(
                crate::blocks::FileHashAlgorithm::Sha1,
                &"0".repeat(40),
            )
            .unwrap(),
        };
        let part = crate::part::PartFile::open(&dir.path().join("out"), 10_000).unwrap();
        let assembly = Assembly::new(&layout, Some(part));
        let sink = NullSink;
        let reporter = Reporter::new(&sink);
        let writer = BlockWriter::new(&assembly, &reporter);
        let url = Url::parse("http://example.invalid/target").unwrap();

        // From inside piece 0 to the end, piece 2 corrupted, cut anywhere.
        let mut sent = layout.data[200..].to_vec();
        sent[2000] ^= 1;
        let mut assembler = PieceAssembler::new(&writer, &url, 200);
        for cut in sent.chunks(333) {
            assembler.write(cut).unwrap();
        }
        assert_eq!(assembly.missing(), vec![0..1, 2..3]);
        assert_eq!(writer.bad_pieces.lock().unwrap()[&2], 1);
        let written = std::fs::read(assembly.file().unwrap().path()).unwrap();
        assert_eq!(written[700..701], layout.data[700..701]);
        assert_eq!(written[3000..], layout.data[3000..]);
        assert_eq!(
            written[..700],
            vec![0; 700],
            "a piece begun mid-way is dropped"
        );
        assert_eq!(layout.whole_pieces_in(200..3100), 1..4);
        assert_eq!(layout.whole_pieces_in(0..10_000), 0..6);
        assert_eq!(layout.whole_pieces_in(701..702), 2..2);
    }
}
