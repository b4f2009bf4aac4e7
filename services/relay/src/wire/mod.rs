//! The relay's wire format over QUIC.
//!
//! - The control stream carries [`vfed_proto::relay::v1::ControlMessage`]s,
//!   each prefixed by its length (u32, big-endian, at most
//!   [`MAX_CONTROL_MESSAGE`] bytes).
//! - Each GOP travels on its own unidirectional stream: a [`GopHeader`], then
//!   [`WireFrame`]s until the stream finishes (GOP complete) or is reset (GOP
//!   abandoned by a congested sender).
//!
//! Decoders are sans-IO (`&[u8]` in, values out) so that they can be fuzzed
//! and never trust a length before checking it against a limit.

mod control;
mod gop;

pub use control::{MAX_CONTROL_MESSAGE, decode_control, encode_control};
pub use gop::{
    FRAME_HEADER_LEN, FrameHeader, GOP_HEADER_LEN, GOP_MAGIC, GopHeader, MAX_FRAME_PAYLOAD,
    WireFrame, decode_frame, decode_frame_header, decode_gop_header, encode_frame,
    encode_gop_header,
};

/// A malformed or hostile input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A length field exceeds its limit.
    #[error("{what} of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Which length.
        what: &'static str,
        /// The announced length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The bytes are not what the protocol allows here.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Which structure.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

/// What a decoder found in a buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded<T> {
    /// A value and how many bytes it used.
    Value(T, usize),
    /// More bytes are needed (at least this many in total).
    NeedMore(usize),
}
