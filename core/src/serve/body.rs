//! A reply's body, sent as the client takes it: part heads, and the file read a piece at
//! a time on the runtime's blocking threads (a 4 GiB file is never in memory), each piece
//! paced when the server has a rate limit.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::channel::{Channel, Sender};
use http_body_util::{Either, Full};
use hyper::body::Bytes;

use super::Site;
use crate::part::read_at;

/// A reply's body: a few bytes, or a stream of them.
pub(super) type ReplyBody = Either<Full<Bytes>, Channel<Bytes, io::Error>>;

/// Bytes read from the file at a time.
const PIECE: u64 = 64 << 10;
/// Bytes read at a time when paced: small pieces, so that a paced reply trickles instead
/// of arriving in bursts.
const PACED_PIECE: u64 = 16 << 10;
/// Pieces read ahead of what the client has taken.
const READ_AHEAD: usize = 2;

/// A stretch of a reply's body.
pub(super) enum Piece {
    /// Bytes of our own (a multipart part's head, the closing boundary).
    Text(Bytes),
    /// Bytes of the file.
    File(Range<u64>),
}

impl Piece {
    pub(super) fn len(&self) -> u64 {
        match self {
            Piece::Text(text) => text.len() as u64,
            Piece::File(range) => range.end - range.start,
        }
    }
}

/// A body that sends `pieces` of `file`, from a task of its own.
pub(super) fn stream(file: File, pieces: Vec<Piece>, site: Arc<Site>) -> Channel<Bytes, io::Error> {
    let (mut sender, body) = Channel::new(READ_AHEAD);
    tokio::spawn(async move {
        let sent = send_pieces(Arc::new(file), pieces, site.pace.as_ref(), &mut sender).await;
        if let Err(Stop::Failed(e)) = sent {
            // The reply's length is promised: cut the connection rather than send less.
            sender.abort(e);
        }
    });
    body
}

/// Why a body stopped early.
enum Stop {
    /// The connection is gone; nobody is listening.
    ClientGone,
    /// The file could not be read to the end.
    Failed(io::Error),
}

async fn send_pieces(
    file: Arc<File>,
    pieces: Vec<Piece>,
    pace: Option<&Pace>,
    sender: &mut Sender<Bytes, io::Error>,
) -> Result<(), Stop> {
    let piece_len = if pace.is_some() { PACED_PIECE } else { PIECE };
    for piece in pieces {
        match piece {
            Piece::Text(text) => send(sender, text, pace).await?,
            Piece::File(range) => {
                let mut at = range.start;
                while at < range.end {
                    let len = piece_len.min(range.end - at);
                    let bytes = read(file.clone(), at, len as usize).await;
                    send(sender, bytes.map_err(Stop::Failed)?, pace).await?;
                    at += len;
                }
            }
        }
    }
    Ok(())
}

async fn send(
    sender: &mut Sender<Bytes, io::Error>,
    bytes: Bytes,
    pace: Option<&Pace>,
) -> Result<(), Stop> {
    if let Some(pace) = pace {
        tokio::time::sleep_until(pace.book(bytes.len()).into()).await;
    }
    sender.send_data(bytes).await.map_err(|_| Stop::ClientGone)
}

/// `len` bytes of `file` at `at`, read on a blocking thread.
async fn read(file: Arc<File>, at: u64, len: usize) -> io::Result<Bytes> {
    let reading = tokio::task::spawn_blocking(move || {
        let mut bytes = vec![0; len];
        if read_at(&file, &mut bytes, at)? < len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file got shorter while it was being sent",
            ));
        }
        Ok(Bytes::from(bytes))
    });
    reading.await.map_err(io::Error::other)?
}

/// One bandwidth shared by all of a server's connections: each piece books its time on
/// one clock and waits for its turn.
pub(super) struct Pace {
    bytes_per_second: f64,
    next_free: Mutex<Instant>,
}

impl Pace {
    pub(super) fn new(bytes_per_second: u64) -> Pace {
        Pace {
            bytes_per_second: bytes_per_second.max(1) as f64,
            next_free: Mutex::new(Instant::now()),
        }
    }

    /// Books `bytes` on the shared clock; when they may go.
    fn book(&self, bytes: usize) -> Instant {
        let mut next_free = self.next_free.lock().unwrap_or_else(|e| e.into_inner());
        let start = (*next_free).max(Instant::now());
        *next_free = start + Duration::from_secs_f64(bytes as f64 / self.bytes_per_second);
        start
    }
}
