//! One GOP per unidirectional QUIC stream: a fixed header, then frames.
//!
//! ```text
//! header: "VG" | version u8 (1) | request_id u64 | gop_seq u64          (19 bytes)
//! frame:  payload_len u32 | pts i64 | dts i64 | ingest_unix_us i64 | flags u8 | payload
//!         (29-byte frame header; flags bit 0 = keyframe, other bits must be 0)
//! ```
//! All integers big-endian. The first frame of a GOP must be a keyframe.

use bytes::{BufMut, Bytes, BytesMut};
use vfed_media::AccessUnit;

use super::{Decoded, WireError};

/// Magic bytes opening a GOP stream.
pub const GOP_MAGIC: [u8; 2] = *b"VG";
/// GOP header length.
pub const GOP_HEADER_LEN: usize = 19;
/// Frame header length.
pub const FRAME_HEADER_LEN: usize = 29;
/// The largest frame payload accepted (a 4K intra frame fits many times).
pub const MAX_FRAME_PAYLOAD: usize = 8 * 1024 * 1024;
const VERSION: u8 = 1;
const KEYFRAME: u8 = 0x01;

/// The header of a GOP stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GopHeader {
    /// The subscription this GOP belongs to.
    pub request_id: u64,
    /// Sequence number of the GOP in its stream (newer is larger).
    pub gop_seq: u64,
}

/// A frame on the wire.
pub type WireFrame = AccessUnit;

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

fn be_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    i64::from_be_bytes(a)
}

/// Encodes a GOP header.
pub fn encode_gop_header(header: GopHeader) -> Bytes {
    let mut buf = BytesMut::with_capacity(GOP_HEADER_LEN);
    buf.put_slice(&GOP_MAGIC);
    buf.put_u8(VERSION);
    buf.put_u64(header.request_id);
    buf.put_u64(header.gop_seq);
    buf.freeze()
}

/// Decodes a GOP header.
pub fn decode_gop_header(buf: &[u8]) -> Result<Decoded<GopHeader>, WireError> {
    let Some(h) = buf.get(..GOP_HEADER_LEN) else {
        return Ok(Decoded::NeedMore(GOP_HEADER_LEN));
    };
    if h[..2] != GOP_MAGIC {
        return Err(WireError::Malformed {
            what: "GOP header",
            reason: "bad magic".into(),
        });
    }
    if h[2] != VERSION {
        return Err(WireError::Malformed {
            what: "GOP header",
            reason: format!("unsupported version {}", h[2]),
        });
    }
    Ok(Decoded::Value(
        GopHeader {
            request_id: be_u64(&h[3..]),
            gop_seq: be_u64(&h[11..]),
        },
        GOP_HEADER_LEN,
    ))
}

/// Encodes a frame header; the payload is sent after it as is (no copy).
pub fn encode_frame(unit: &AccessUnit) -> Bytes {
    let mut buf = BytesMut::with_capacity(FRAME_HEADER_LEN);
    buf.put_u32(u32::try_from(unit.data.len()).unwrap_or(u32::MAX));
    buf.put_i64(unit.pts);
    buf.put_i64(unit.dts);
    buf.put_i64(unit.ingest_unix_us);
    buf.put_u8(if unit.keyframe { KEYFRAME } else { 0 });
    buf.freeze()
}

/// A validated frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length (checked against [`MAX_FRAME_PAYLOAD`]).
    pub len: usize,
    /// Presentation time.
    pub pts: i64,
    /// Decode time.
    pub dts: i64,
    /// Ingest wall clock (unix µs).
    pub ingest_unix_us: i64,
    /// Keyframe flag.
    pub keyframe: bool,
}

impl FrameHeader {
    /// The access unit this header describes, with `data` as payload.
    pub fn unit(self, data: Bytes) -> AccessUnit {
        AccessUnit {
            pts: self.pts,
            dts: self.dts,
            keyframe: self.keyframe,
            data,
            ingest_unix_us: self.ingest_unix_us,
        }
    }
}

/// Decodes and validates a frame header.
pub fn decode_frame_header(h: &[u8; FRAME_HEADER_LEN]) -> Result<FrameHeader, WireError> {
    let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
    if len > MAX_FRAME_PAYLOAD {
        return Err(WireError::TooLarge {
            what: "frame",
            len: len as u64,
            max: MAX_FRAME_PAYLOAD as u64,
        });
    }
    if len == 0 {
        return Err(WireError::Malformed {
            what: "frame",
            reason: "empty payload".into(),
        });
    }
    let flags = h[28];
    if flags & !KEYFRAME != 0 {
        return Err(WireError::Malformed {
            what: "frame",
            reason: format!("unknown flags {flags:#04x}"),
        });
    }
    Ok(FrameHeader {
        len,
        pts: be_i64(&h[4..]),
        dts: be_i64(&h[12..]),
        ingest_unix_us: be_i64(&h[20..]),
        keyframe: flags & KEYFRAME != 0,
    })
}

/// Decodes one frame (header and payload) from the front of `buf`.
pub fn decode_frame(buf: &Bytes) -> Result<Decoded<WireFrame>, WireError> {
    let Some(h) = buf.get(..FRAME_HEADER_LEN) else {
        return Ok(Decoded::NeedMore(FRAME_HEADER_LEN));
    };
    let mut fixed = [0u8; FRAME_HEADER_LEN];
    fixed.copy_from_slice(h);
    let header = decode_frame_header(&fixed)?;
    let total = FRAME_HEADER_LEN + header.len;
    if buf.len() < total {
        return Ok(Decoded::NeedMore(total));
    }
    Ok(Decoded::Value(
        header.unit(buf.slice(FRAME_HEADER_LEN..total)),
        total,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(keyframe: bool, len: usize) -> AccessUnit {
        AccessUnit {
            pts: 9000,
            dts: 8000,
            keyframe,
            data: Bytes::from(vec![7u8; len]),
            ingest_unix_us: 42,
        }
    }

    #[test]
    fn header_round_trip() {
        let h = GopHeader {
            request_id: 3,
            gop_seq: 99,
        };
        assert_eq!(
            decode_gop_header(&encode_gop_header(h)),
            Ok(Decoded::Value(h, GOP_HEADER_LEN))
        );
        assert!(decode_gop_header(b"XX\x01aaaaaaaaaaaaaaaa").is_err());
        assert!(decode_gop_header(b"VG\x02aaaaaaaaaaaaaaaa").is_err());
    }

    #[test]
    fn frame_round_trip_and_partial() {
        let u = unit(true, 100);
        let mut wire = BytesMut::new();
        wire.put(encode_frame(&u));
        wire.put(u.data.clone());
        let wire = wire.freeze();
        for cut in 0..wire.len() {
            assert!(
                matches!(decode_frame(&wire.slice(..cut)), Ok(Decoded::NeedMore(_))),
                "cut {cut}"
            );
        }
        assert_eq!(decode_frame(&wire), Ok(Decoded::Value(u, wire.len())));
    }

    #[test]
    fn refuses_oversize_empty_and_unknown_flags() {
        let mut h = encode_frame(&unit(false, 1)).to_vec();
        h[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            decode_frame(&Bytes::from(h.clone())),
            Err(WireError::TooLarge { .. })
        ));
        h[..4].copy_from_slice(&0u32.to_be_bytes());
        assert!(matches!(
            decode_frame(&Bytes::from(h.clone())),
            Err(WireError::Malformed { .. })
        ));
        h[..4].copy_from_slice(&1u32.to_be_bytes());
        h[28] = 0x80;
        h.push(0);
        assert!(matches!(
            decode_frame(&Bytes::from(h)),
            Err(WireError::Malformed { .. })
        ));
    }
}
