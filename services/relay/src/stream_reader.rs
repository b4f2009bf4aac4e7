//! Reading exact byte counts from a QUIC stream with as few copies as
//! possible: a frame that arrives in one chunk is sliced, not copied.

use bytes::{Bytes, BytesMut};

/// Buffered exact reads over a `quinn::RecvStream`.
pub struct StreamReader {
    stream: quinn::RecvStream,
    pending: Bytes,
}

/// Why a read stopped.
#[derive(Debug)]
pub enum ReadError {
    /// The stream finished cleanly before the requested bytes (at a boundary if `at_boundary`).
    Finished {
        /// Whether no byte of the requested item had been read.
        at_boundary: bool,
    },
    /// The peer reset the stream or the connection failed.
    Failed(String),
}

impl StreamReader {
    /// Wraps a stream, with bytes already read from it.
    pub fn new(stream: quinn::RecvStream, pending: Bytes) -> Self {
        Self { stream, pending }
    }

    async fn chunk(&mut self) -> Result<Option<Bytes>, ReadError> {
        match self.stream.read_chunk(usize::MAX, true).await {
            Ok(Some(chunk)) => Ok(Some(chunk.bytes)),
            Ok(None) => Ok(None),
            Err(e) => Err(ReadError::Failed(e.to_string())),
        }
    }

    /// Exactly `n` bytes.
    pub async fn read_exact(&mut self, n: usize) -> Result<Bytes, ReadError> {
        while self.pending.is_empty() {
            match self.chunk().await? {
                Some(c) => self.pending = c,
                None => return Err(ReadError::Finished { at_boundary: true }),
            }
        }
        if self.pending.len() >= n {
            return Ok(self.pending.split_to(n));
        }
        let mut out = BytesMut::with_capacity(n);
        out.extend_from_slice(&std::mem::take(&mut self.pending));
        while out.len() < n {
            let Some(mut c) = self.chunk().await? else {
                return Err(ReadError::Finished { at_boundary: false });
            };
            let need = n - out.len();
            if c.len() > need {
                self.pending = c.split_off(need);
            }
            out.extend_from_slice(&c);
        }
        Ok(out.freeze())
    }

    /// The next bytes, whatever arrived (buffered first); `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, ReadError> {
        if !self.pending.is_empty() {
            return Ok(Some(std::mem::take(&mut self.pending)));
        }
        self.chunk().await
    }

    /// Tells the peer to stop sending (we lost interest in this GOP).
    pub fn stop(&mut self) {
        let _ = self.stream.stop(quinn::VarInt::from_u32(0));
    }
}
