//! The remote file is the target itself (zsync's plain target, a `.zck`): the ranges a
//! round asks for are the missing pieces' bytes, and what arrives is cut into pieces as
//! the format cuts them ([`FeedPieces`]).

use std::io::Read;
use std::ops::Range;

use url::Url;

use super::pieces::{Assembler, BlockWriter, broken};
use super::transport::{Cuts, ReceiveError, Receiver, Round};
use crate::blocks::runs;
use crate::control::ControlFile;
use crate::error::{Error, Result, shown_url};
use crate::event::{BlockSource, BlockState};
use crate::part::Layout;

/// How the bytes of a remote file that is the target itself become its pieces.
pub(crate) trait FeedPieces: Sync {
    /// Where a range of the file may be cut between requests.
    fn cuts(&self) -> Cuts;
    /// Takes `body`: the target's bytes from offset `start` on.
    fn feed(&self, url: &Url, start: u64, body: &mut dyn Read) -> Result<(), ReceiveError>;
    /// Why the remote file may not be the length expected, for the user.
    fn why_other_length(&self) -> &'static str;
}

/// zsync's blocks: cut at block boundaries, checked many at a time by the [`Assembler`].
impl FeedPieces for BlockWriter<'_> {
    fn cuts(&self) -> Cuts {
        Cuts::Every(u64::from(self.geometry().block_size))
    }

    fn feed(&self, url: &Url, start: u64, body: &mut dyn Read) -> Result<(), ReceiveError> {
        Assembler::new(self, url, start).copy_from(body, broken)
    }

    fn why_other_length(&self) -> &'static str {
        "the .zsync is out of date or for another file"
    }
}

/// The remote file is the target itself: its bytes are the target's pieces.
pub(crate) struct PlainTarget<'w, 'a, L: Layout + ?Sized = ControlFile> {
    pub writer: &'w BlockWriter<'a, L>,
}

impl<L: Layout + ?Sized> PlainTarget<'_, '_, L> {
    fn piece_runs(&self, ranges: &[Range<u64>]) -> Vec<Range<u64>> {
        let layout = self.writer.assembly.layout();
        ranges
            .iter()
            .map(|r| layout.whole_pieces_in(r.clone()))
            .collect()
    }
}

impl<L: Layout + ?Sized> Receiver for PlainTarget<'_, '_, L>
where
    for<'a> BlockWriter<'a, L>: FeedPieces,
{
    fn next_round(&self) -> Result<Option<Round>> {
        let layout = self.writer.assembly.layout();
        let missing = self.writer.assembly.missing();
        Ok((!missing.is_empty()).then(|| Round {
            ranges: missing
                .into_iter()
                .map(|run| layout.byte_range(run))
                .collect(),
            cuts: self.writer.cuts(),
            in_file_order: false,
        }))
    }

    fn check_reply(&self, url: &Url, range: &Range<u64>, total: Option<u64>) -> Result<()> {
        let length = self.writer.assembly.layout().length();
        match total {
            Some(total) if total != length => Err(Error::BadData {
                url: shown_url(url.as_str()),
                problem: format!(
                    "its file is {total} bytes but {length} bytes were expected: {}",
                    self.writer.why_other_length()
                ),
            }),
            _ if range.end > length => Err(Error::BadData {
                url: shown_url(url.as_str()),
                problem: format!(
                    "it sent bytes {}-{}, past the end of the {length}-byte file",
                    range.start,
                    range.end - 1,
                ),
            }),
            _ => Ok(()),
        }
    }

    fn feed(&self, url: &Url, start: u64, body: &mut dyn Read) -> Result<(), ReceiveError> {
        self.writer.feed(url, start, body)
    }

    fn feed_whole(&self, url: &Url, body: &mut dyn Read) -> Result<(), ReceiveError> {
        self.writer.feed(url, 0, body)
    }

    fn requested(&self, ranges: &[Range<u64>]) {
        self.writer.reporter.blocks(
            self.piece_runs(ranges),
            BlockState::InFlight,
            BlockSource::Network,
        );
    }

    fn request_over(&self, ranges: &[Range<u64>]) {
        // Whatever did not arrive goes back to unknown, to be asked for again.
        let unfetched = self
            .piece_runs(ranges)
            .into_iter()
            .flat_map(|run| runs(run.filter(|&p| !self.writer.assembly.is_present(p))))
            .collect::<Vec<_>>();
        self.writer
            .reporter
            .blocks(unfetched, BlockState::Unknown, BlockSource::Network);
    }

    fn present(&self) -> u64 {
        self.writer.assembly.present_count()
    }
}
