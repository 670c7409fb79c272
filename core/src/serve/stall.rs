//! A limit on clients that stop reading: without it, a client that asks for a big file
//! and never takes it would hold its connection, its task and the open file for ever.
//! hyper's own timeout covers only the wait for a request's head.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A connection whose writes fail once the client has taken nothing for `limit` while
/// there was something to send.
pub(super) struct WriteStall<Io> {
    io: Io,
    limit: Duration,
    /// Runs while a write waits for the client; reset whenever one goes through.
    deadline: Pin<Box<Sleep>>,
    stalled: bool,
}

impl<Io> WriteStall<Io> {
    pub(super) fn new(io: Io, limit: Duration) -> WriteStall<Io> {
        WriteStall {
            io,
            limit,
            deadline: Box::pin(tokio::time::sleep(limit)),
            stalled: false,
        }
    }

    /// `write`'s outcome, and the stall it ends or continues: an error once the client
    /// has taken nothing for `limit`.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        write: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if write.is_ready() {
            self.stalled = false;
            return write;
        }
        if !self.stalled {
            self.stalled = true;
            self.deadline.as_mut().reset(Instant::now() + self.limit);
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client took none of the reply for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for WriteStall<Io> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for WriteStall<Io> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let write = Pin::new(&mut this.io).poll_write(cx, buf);
        this.watch(cx, write)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let write = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.watch(cx, write)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let flush = Pin::new(&mut this.io).poll_flush(cx);
        this.watch(cx, flush)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let shutdown = Pin::new(&mut this.io).poll_shutdown(cx);
        this.watch(cx, shutdown)
    }
}
