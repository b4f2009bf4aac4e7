//! Recorded video through the tree: a node asks the node a device comes
//! from (over the QUIC link the child dialed) for a playback's bytes, on
//! demand, one bidirectional stream per request; that node answers from its
//! archive or asks further down, so it works at any depth. The relay knows
//! nothing of archives: the node gives it a [`RecordedSource`].
//!
//! ```text
//! request: "VR" | version u8 = 2 | form u8 | device 20 ASCII digits | start_ms i64 | end_ms i64
//!          | range u8 | first u64 | last u64                                   (57 bytes)
//!          | viewer_len u8 | viewer | node_len u8 | node                       (then FIN)
//!          (range 0: all; 1: first..=last, last u64::MAX = to the end; 2: the last `last` bytes;
//!           viewer, node: who the playback is for and the node they asked, UTF-8, <= 128
//!           bytes each, 0 = not said; version 1 is the 57 bytes alone)
//! answer:  "VA" | version u8 = 1 | status u16 | total u64 | first u64 | last u64
//!          | message_len u16 (<= 1024) | message | body ... FIN            (31 bytes + message)
//! ```
//!
//! Only a node that may pull this node's streams (its parent) may ask;
//! anyone else gets status 403.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

use crate::RelayError;
use crate::link::Link;
use crate::stream_reader::StreamReader;

/// Bytes of a request's fixed part.
pub const REQUEST_LEN: usize = 57;
/// Longest `viewer` or `node` of a request.
pub const MAX_NAME: usize = 128;
/// Bytes of an answer's head before its message.
pub const ANSWER_HEAD_LEN: usize = 31;
/// Longest message of an answer.
pub const MAX_MESSAGE: usize = 1024;
/// How long a peer has to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// The HLS VOD playlist (its URIs name `stream.mp4` without a query).
    Playlist = 1,
    /// The recorded init segments and fragments of the range.
    Fragmented = 2,
    /// One progressive MP4 of the range.
    Progressive = 3,
    /// The spans and gaps of the device's main stream in the range
    /// (`vfed.archive.v1.ListSpansResponse`, protobuf; 0 means open).
    Spans = 4,
}

impl Form {
    fn from_u8(v: u8) -> Option<Form> {
        match v {
            1 => Some(Form::Playlist),
            2 => Some(Form::Fragmented),
            3 => Some(Form::Progressive),
            4 => Some(Form::Spans),
            _ => None,
        }
    }
}

/// A request for recorded bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// What is asked for.
    pub form: Form,
    /// The device (20 digits).
    pub device_id: String,
    /// `[start_ms, end_ms)`, Unix ms.
    pub start_ms: i64,
    /// End of the range.
    pub end_ms: i64,
    /// Which bytes.
    pub range: ByteRange,
    /// Who the playback is for, as the node the viewer asked says it
    /// (carried hop by hop; the viewer's token never leaves that node).
    pub viewer: Option<Viewer>,
    /// The node that asked over its link (authenticated by the link, set
    /// by the answering node, not sent).
    pub via: Option<String>,
}

/// The viewer of a playback asked through the tree, for the origin's audit
/// record (R14.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Viewer {
    /// The viewer's actor at that node (`user/<name>`).
    pub actor: String,
    /// The node the viewer asked.
    pub node: String,
}

/// The bytes asked for, as HTTP `Range` says them (resolved by the node
/// that knows the size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteRange {
    /// All of it.
    Whole,
    /// From the first byte to the last (inclusive; `None`: to the end).
    From(u64, Option<u64>),
    /// The last `n` bytes.
    Suffix(u64),
}

impl ByteRange {
    /// `(first, last)` inclusive within `total` bytes; `None` when it cannot
    /// be satisfied (416).
    pub fn resolve(self, total: u64) -> Option<(u64, u64)> {
        let last_byte = total.checked_sub(1);
        match self {
            ByteRange::Whole => Some((0, last_byte.unwrap_or(0))),
            ByteRange::From(first, last) => {
                let end = last_byte?;
                let last = last.map_or(end, |l| l.min(end));
                (first <= last).then_some((first, last))
            }
            ByteRange::Suffix(n) => {
                let end = last_byte?;
                (n > 0).then(|| (total.saturating_sub(n), end))
            }
        }
    }
}

/// An answer: HTTP-like status, the size of the whole, the bytes sent.
pub struct RecordedAnswer {
    /// 200, 206, 400, 403, 404, 416, 503...
    pub status: u16,
    /// Size of the whole (for `Content-Range`).
    pub total: u64,
    /// First byte sent (206).
    pub first: u64,
    /// Last byte sent, inclusive (206).
    pub last: u64,
    /// Why, when not 2xx.
    pub message: String,
    /// The bytes.
    pub body: BoxStream<'static, std::io::Result<Bytes>>,
}

impl RecordedAnswer {
    /// An answer without body.
    pub fn refused(status: u16, message: impl Into<String>) -> Self {
        RecordedAnswer {
            status,
            total: 0,
            first: 0,
            last: 0,
            message: message.into(),
            body: futures::stream::empty().boxed(),
        }
    }
}

/// Answers requests for recorded bytes (the node: its archive, or the
/// child a device comes from).
pub trait RecordedSource: Send + Sync + 'static {
    /// The answer to `request`.
    fn answer(&self, request: RecordedRequest) -> BoxFuture<'_, RecordedAnswer>;
}

/// Checks a name the request carries (`viewer`, `node`).
fn check_name(field: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(format!(
            "{field}: 1 to {MAX_NAME} bytes of UTF-8 without control characters"
        ));
    }
    Ok(())
}

/// Encodes a request (version 2).
pub fn encode_request(r: &RecordedRequest) -> Result<Vec<u8>, RelayError> {
    let device = r.device_id.as_bytes();
    if device.len() != 20 || !device.iter().all(u8::is_ascii_digit) {
        return Err(RelayError::Transport(format!(
            "device-id: {:?} is not a 20-digit device ID",
            r.device_id
        )));
    }
    let mut out = vec![0u8; REQUEST_LEN];
    out[..2].copy_from_slice(b"VR");
    out[2] = 2;
    out[3] = r.form as u8;
    out[4..24].copy_from_slice(device);
    out[24..32].copy_from_slice(&r.start_ms.to_be_bytes());
    out[32..40].copy_from_slice(&r.end_ms.to_be_bytes());
    let (has, a, b) = match r.range {
        ByteRange::Whole => (0, 0, 0),
        ByteRange::From(a, b) => (1, a, b.unwrap_or(u64::MAX)),
        ByteRange::Suffix(n) => (2, 0, n),
    };
    out[40] = has;
    out[41..49].copy_from_slice(&a.to_be_bytes());
    out[49..57].copy_from_slice(&b.to_be_bytes());
    let (actor, node) = r
        .viewer
        .as_ref()
        .map_or(("", ""), |v| (v.actor.as_str(), v.node.as_str()));
    for (field, name) in [("viewer", actor), ("node", node)] {
        if !name.is_empty() {
            check_name(field, name).map_err(RelayError::Transport)?;
        }
        out.push(u8::try_from(name.len()).unwrap_or(0));
        out.extend_from_slice(name.as_bytes());
    }
    Ok(out)
}

fn be64(b: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&b[..8]);
    out
}

/// Decodes a request's fixed part (its first [`REQUEST_LEN`] bytes); the
/// error says what is wrong. A version 2 request's viewer follows
/// ([`decode_viewer`]).
pub fn decode_request(b: &[u8]) -> Result<RecordedRequest, String> {
    if b.len() != REQUEST_LEN || &b[..2] != b"VR" {
        return Err("not a recorded-bytes request".into());
    }
    if !matches!(b[2], 1 | 2) {
        return Err(format!("version {} unknown (1 or 2 expected)", b[2]));
    }
    let form = Form::from_u8(b[3]).ok_or_else(|| format!("form {} unknown", b[3]))?;
    let device = &b[4..24];
    if !device.iter().all(u8::is_ascii_digit) {
        return Err("device-id: not 20 digits".into());
    }
    let (first, last) = (
        u64::from_be_bytes(be64(&b[41..])),
        u64::from_be_bytes(be64(&b[49..])),
    );
    let range = match b[40] {
        0 => ByteRange::Whole,
        1 => ByteRange::From(first, (last != u64::MAX).then_some(last)),
        2 => ByteRange::Suffix(last),
        v => return Err(format!("has_range {v} is not 0, 1 or 2")),
    };
    Ok(RecordedRequest {
        form,
        device_id: String::from_utf8_lossy(device).into_owned(),
        start_ms: i64::from_be_bytes(be64(&b[24..])),
        end_ms: i64::from_be_bytes(be64(&b[32..])),
        range,
        viewer: None,
        via: None,
    })
}

/// The viewer of a version 2 request, read after its fixed part: `None`
/// when the asking node did not say.
async fn read_viewer(reader: &mut StreamReader) -> Result<Option<Viewer>, String> {
    let mut names = Vec::new();
    for field in ["viewer", "node"] {
        let len = reader
            .read_exact(1)
            .await
            .map_err(|e| format!("{field}: {e:?}"))?[0];
        let name = if len == 0 {
            String::new()
        } else {
            let raw = reader
                .read_exact(usize::from(len))
                .await
                .map_err(|e| format!("{field}: {e:?}"))?;
            let name =
                String::from_utf8(raw.to_vec()).map_err(|_| format!("{field}: not UTF-8"))?;
            check_name(field, &name)?;
            name
        };
        names.push(name);
    }
    let node = names.pop().unwrap_or_default();
    let actor = names.pop().unwrap_or_default();
    Ok((!actor.is_empty() || !node.is_empty()).then_some(Viewer { actor, node }))
}

/// Reads a whole request (version 1 or 2); `via` is the asking peer.
async fn read_request(reader: &mut StreamReader, via: String) -> Result<RecordedRequest, String> {
    let raw = reader
        .read_exact(REQUEST_LEN)
        .await
        .map_err(|e| format!("request: {e:?}"))?;
    let mut request = decode_request(&raw)?;
    if raw[2] == 2 {
        request.viewer = read_viewer(reader).await?;
    }
    request.via = Some(via);
    Ok(request)
}

fn encode_answer_head(a: &RecordedAnswer) -> Vec<u8> {
    let message = truncated(&a.message);
    let mut out = Vec::with_capacity(ANSWER_HEAD_LEN + message.len());
    out.extend_from_slice(b"VA");
    out.push(1);
    out.extend_from_slice(&a.status.to_be_bytes());
    out.extend_from_slice(&a.total.to_be_bytes());
    out.extend_from_slice(&a.first.to_be_bytes());
    out.extend_from_slice(&a.last.to_be_bytes());
    out.extend_from_slice(&u16::try_from(message.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(message.as_bytes());
    out
}

/// At most [`MAX_MESSAGE`] bytes of `m`, cut at a character boundary.
fn truncated(m: &str) -> &str {
    let mut end = m.len().min(MAX_MESSAGE);
    while !m.is_char_boundary(end) {
        end -= 1;
    }
    &m[..end]
}

/// Asks the peer of `link` for `request`.
pub async fn fetch(link: &Link, request: &RecordedRequest) -> Result<RecordedAnswer, RelayError> {
    let encoded = encode_request(request)?;
    let transport = |e: &dyn std::fmt::Display| {
        RelayError::Transport(format!("recorded bytes from {}: {e}", link.peer))
    };
    let (mut send, recv) = link.connection.open_bi().await.map_err(|e| transport(&e))?;
    send.write_all(&encoded).await.map_err(|e| transport(&e))?;
    send.finish().map_err(|e| transport(&e))?;
    let mut reader = StreamReader::new(recv, Bytes::new());
    let head = tokio::time::timeout(REQUEST_TIMEOUT * 3, reader.read_exact(ANSWER_HEAD_LEN))
        .await
        .map_err(|_| transport(&"no answer within 30 s"))?
        .map_err(|e| transport(&format!("{e:?}")))?;
    if &head[..3] != b"VA\x01" {
        return Err(RelayError::Protocol(format!(
            "{} answered a recorded-bytes request with something else",
            link.peer
        )));
    }
    let message_len = usize::from(u16::from_be_bytes([head[29], head[30]]));
    if message_len > MAX_MESSAGE {
        return Err(RelayError::Protocol(format!(
            "{}: answer message of {message_len} bytes (at most {MAX_MESSAGE})",
            link.peer
        )));
    }
    let message = if message_len == 0 {
        Bytes::new()
    } else {
        reader
            .read_exact(message_len)
            .await
            .map_err(|e| transport(&format!("{e:?}")))?
    };
    let body = futures::stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader?;
        match reader.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), Some(reader))),
            Ok(None) => None,
            Err(e) => Some((Err(std::io::Error::other(format!("{e:?}"))), None)),
        }
    });
    Ok(RecordedAnswer {
        status: u16::from_be_bytes([head[3], head[4]]),
        total: u64::from_be_bytes(be64(&head[5..])),
        first: u64::from_be_bytes(be64(&head[13..])),
        last: u64::from_be_bytes(be64(&head[21..])),
        message: String::from_utf8_lossy(&message).into_owned(),
        body: body.boxed(),
    })
}

/// Answers the requests `link`'s peer opens, from the relay's source, until
/// the link closes. `may_ask`: whether the peer may read this node's
/// recordings.
pub(crate) async fn serve(relay: crate::Relay, link: Arc<Link>, may_ask: bool) {
    loop {
        let stream = tokio::select! {
            () = link.closed.cancelled() => return,
            s = link.connection.accept_bi() => s,
        };
        let Ok((send, recv)) = stream else {
            return;
        };
        let (link, source) = (link.clone(), relay.recorded_source());
        tokio::spawn(async move {
            let mut reader = StreamReader::new(recv, Bytes::new());
            let via = link.peer.to_string();
            let Ok(decoded) =
                tokio::time::timeout(REQUEST_TIMEOUT, read_request(&mut reader, via)).await
            else {
                return;
            };
            let answer = match decoded {
                Err(reason) => RecordedAnswer::refused(400, reason),
                Ok(_) if !may_ask || !link.peer.is_node() => RecordedAnswer::refused(
                    403,
                    format!("{} may not read this node's recordings (R18.4)", link.peer),
                ),
                Ok(request) => match source {
                    Some(source) => source.answer(request).await,
                    None => RecordedAnswer::refused(404, "this node keeps no recordings"),
                },
            };
            write_answer(send, answer).await;
        });
    }
}

async fn write_answer(mut send: quinn::SendStream, mut answer: RecordedAnswer) {
    if send.write_all(&encode_answer_head(&answer)).await.is_err() {
        return;
    }
    while let Some(chunk) = answer.body.next().await {
        match chunk {
            Ok(bytes) => {
                if send.write_chunk(bytes).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "recorded bytes: read failed; stream reset");
                let _ = send.reset(quinn::VarInt::from_u32(
                    crate::link::close_code::GOP_DROPPED,
                ));
                return;
            }
        }
    }
    let _ = send.finish();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_garbage_is_named() {
        let r = RecordedRequest {
            form: Form::Progressive,
            device_id: "54050200001320000001".into(),
            start_ms: 1_764_684_000_000,
            end_ms: 1_764_684_010_000,
            range: ByteRange::From(10, Some(99)),
            viewer: None,
            via: None,
        };
        let encoded = encode_request(&r).unwrap_or_default();
        assert_eq!(encoded.len(), REQUEST_LEN + 2, "two empty names");
        let mut v1 = encoded[..REQUEST_LEN].to_vec();
        v1[2] = 1;
        assert_eq!(decode_request(&v1), Ok(r.clone()));
        let encoded: [u8; REQUEST_LEN] = encoded[..REQUEST_LEN]
            .try_into()
            .unwrap_or([0; REQUEST_LEN]);
        assert_eq!(decode_request(&encoded), Ok(r.clone()));
        let mut bad = encoded;
        bad[3] = 9;
        assert!(decode_request(&bad).is_err_and(|e| e.contains("form 9")));
        let mut bad = encoded;
        bad[40] = 3;
        assert!(decode_request(&bad).is_err_and(|e| e.contains("has_range")));
        assert!(decode_request(&encoded[..10]).is_err());
        assert_eq!(ByteRange::Suffix(10).resolve(100), Some((90, 99)));
        assert_eq!(ByteRange::From(100, None).resolve(100), None);
        assert_eq!(ByteRange::From(5, Some(500)).resolve(100), Some((5, 99)));
        let mut wrong = r.clone();
        wrong.device_id = "x".into();
        assert!(encode_request(&wrong).is_err());
        let mut wrong = r;
        wrong.viewer = Some(Viewer {
            actor: "user/a\nb".into(),
            node: "54050000002000000001".into(),
        });
        assert!(encode_request(&wrong).is_err_and(|e| e.to_string().contains("viewer")));
    }
}
