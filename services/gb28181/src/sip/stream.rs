//! Framing SIP messages out of a TCP byte stream (RFC 3261 §18.3): each
//! message ends Content-Length bytes after its head. Bounded: a peer that
//! never ends a head, or declares an oversize body, gets an error and the
//! connection is closed.

use bytes::{Buf, BytesMut};

use super::message::Message;
use super::parse::{Limits, ParseError, head_for_answer, parse_head, parse_message};

/// Accumulates bytes from one connection and yields whole messages.
#[derive(Debug)]
pub struct StreamFramer {
    buffer: BytesMut,
    limits: Limits,
}

impl StreamFramer {
    /// A framer with these limits.
    pub fn new(limits: Limits) -> Self {
        Self {
            buffer: BytesMut::with_capacity(4096),
            limits,
        }
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, data: &[u8]) {
        self.buffer.extend_from_slice(data);
    }

    /// How many bytes wait for the rest of their message.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// The head of what is buffered, for answering a refused request.
    pub fn pending_head(&self) -> Option<Message> {
        head_for_answer(&self.buffer, &self.limits)
    }

    /// The next whole message, `Ok(None)` if more bytes are needed, or the
    /// error that makes the rest of the stream unusable.
    pub fn next_message(&mut self) -> Result<Option<Message>, ParseError> {
        // CRLF keepalives between messages (RFC 5626 §3.5.1).
        let skip = self
            .buffer
            .iter()
            .position(|b| !matches!(b, b'\r' | b'\n'))
            .unwrap_or(self.buffer.len());
        self.buffer.advance(skip);
        if self.buffer.is_empty() {
            return Ok(None);
        }
        if !has_blank_line(&self.buffer) {
            if self.buffer.len() > self.limits.max_head {
                return Err(ParseError::HeadTooLarge {
                    max: self.limits.max_head,
                });
            }
            return Ok(None);
        }
        let head = parse_head(&self.buffer, &self.limits)?;
        let Some(length) = head.content_length else {
            return Err(ParseError::ContentLength {
                reason: "required on a stream transport (RFC 3261 §18.3)".to_owned(),
            });
        };
        let total = head.body_offset + length;
        if total > self.limits.max_message {
            return Err(ParseError::TooLarge {
                size: total,
                max: self.limits.max_message,
            });
        }
        if self.buffer.len() < total {
            return Ok(None);
        }
        let message = parse_message(&self.buffer[..total], &self.limits, false)?;
        self.buffer.advance(total);
        Ok(Some(message))
    }
}

fn has_blank_line(data: &[u8]) -> bool {
    data.windows(2).any(|w| w == b"\n\n") || data.windows(4).any(|w| w == b"\r\n\r\n")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const MESSAGE: &[u8] =
        b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\nFrom: <sip:x@y>;tag=1\r\n\
        To: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 2 MESSAGE\r\nContent-Length: 5\r\n\r\nhello";

    #[test]
    fn frames_messages_split_anywhere() {
        let mut stream = Vec::new();
        stream.extend_from_slice(b"\r\n\r\n");
        stream.extend_from_slice(MESSAGE);
        stream.extend_from_slice(MESSAGE);
        for cut in 0..stream.len() {
            let mut framer = StreamFramer::new(Limits::default());
            framer.push(&stream[..cut]);
            let mut got = Vec::new();
            while let Some(message) = framer.next_message().unwrap() {
                got.push(message);
            }
            framer.push(&stream[cut..]);
            while let Some(message) = framer.next_message().unwrap() {
                got.push(message);
            }
            assert_eq!(got.len(), 2, "cut at {cut}");
            assert_eq!(&got[1].body[..], b"hello");
            assert_eq!(framer.buffered(), 0);
        }
    }

    #[test]
    fn refuses_endless_heads_and_huge_bodies() {
        let mut framer = StreamFramer::new(Limits::default());
        framer.push(&vec![b'a'; 20_000]);
        assert!(matches!(
            framer.next_message(),
            Err(ParseError::HeadTooLarge { .. })
        ));
        let mut framer = StreamFramer::new(Limits::default());
        let text =
            String::from_utf8_lossy(MESSAGE).replace("Content-Length: 5", "Content-Length: 999999");
        framer.push(text.as_bytes());
        assert!(matches!(
            framer.next_message(),
            Err(ParseError::BodyTooLarge { .. })
        ));
    }
}
