//! What a listener grants one connection: a slot out of a fixed number, held
//! until the connection is dropped, and an idle deadline after which a
//! connection on which no byte moved either way fails with `TimedOut` (so
//! the server closes it). Slow, silent and flooding peers are bounded by
//! these two, whatever protocol runs on top.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// The limits of one listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Connections open at once; the next one is closed on accept.
    pub max_connections: usize,
    /// A connection with no byte read or written for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for ListenerLimits {
    /// The gRPC port's defaults (`connections.grpc` in the node config).
    fn default() -> Self {
        Self {
            max_connections: 1024,
            idle_timeout: Duration::from_secs(120),
        }
    }
}

/// The connection slots of one listener.
#[derive(Clone, Debug)]
pub struct ConnectionSlots {
    slots: Arc<Semaphore>,
    idle_timeout: Duration,
}

impl ConnectionSlots {
    /// Slots for `limits`.
    pub fn new(limits: ListenerLimits) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            idle_timeout: limits.idle_timeout,
        }
    }

    /// Admits `io` if a slot is free; `None` when the listener is full (the
    /// caller drops the connection).
    pub fn admit<T>(&self, io: T) -> Option<LimitedStream<T>> {
        let permit = Arc::clone(&self.slots).try_acquire_owned().ok()?;
        Some(LimitedStream {
            inner: io,
            idle_timeout: self.idle_timeout,
            last_progress: Instant::now(),
            deadline: Box::pin(tokio::time::sleep(self.idle_timeout)),
            _slot: permit,
        })
    }

    /// Connections open now.
    pub fn in_use(&self, max: usize) -> usize {
        max.saturating_sub(self.slots.available_permits())
    }
}

/// A connection holding a slot, with an idle deadline.
#[derive(Debug)]
pub struct LimitedStream<T> {
    inner: T,
    idle_timeout: Duration,
    last_progress: Instant,
    deadline: Pin<Box<Sleep>>,
    _slot: OwnedSemaphorePermit,
}

impl<T> LimitedStream<T> {
    /// The wrapped connection.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// Called when an operation is pending: `Err(TimedOut)` once the idle
    /// deadline has passed. Progress only records an instant; the timer is
    /// moved forward when it fires, not on every byte.
    fn check_idle(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        loop {
            if self.deadline.as_mut().poll(cx).is_pending() {
                return Ok(());
            }
            let due = self.last_progress + self.idle_timeout;
            if due <= Instant::now() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no data either way for {:?}", self.idle_timeout),
                ));
            }
            self.deadline.as_mut().reset(due);
        }
    }

    fn progressed(&mut self) {
        self.last_progress = Instant::now();
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for LimitedStream<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    self.progressed();
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                self.check_idle(cx)?;
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for LimitedStream<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(result) => {
                if matches!(result, Ok(n) if n > 0) {
                    self.progressed();
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                self.check_idle(cx)?;
                Poll::Pending
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => {
                self.check_idle(cx)?;
                Poll::Pending
            }
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(result) => {
                if matches!(result, Ok(n) if n > 0) {
                    self.progressed();
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                self.check_idle(cx)?;
                Poll::Pending
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
