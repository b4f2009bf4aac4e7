//! Access units, GOPs and stream metadata.

use bytes::Bytes;

/// Every media timestamp in vfed counts this many ticks per second.
pub const CLOCK_RATE: u32 = 90_000;

/// A video codec vfed carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// H.264 / AVC.
    H264,
    /// H.265 / HEVC.
    H265,
}

impl Codec {
    /// The name ffprobe reports (`h264`, `hevc`).
    pub fn name(self) -> &'static str {
        match self {
            Self::H264 => "h264",
            Self::H265 => "hevc",
        }
    }
}

/// One coded picture (an access unit).
///
/// `data` holds the picture's NAL units in **length-prefixed** form (4-byte
/// big-endian length before each NAL unit, as in MP4 `avcC`/`hvcC` with
/// `lengthSizeMinusOne = 3`), without parameter sets: those live in
/// [`StreamMetadata`]. Reference counted: cloning never copies the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessUnit {
    /// Presentation time, 90 kHz ticks.
    pub pts: i64,
    /// Decode time, 90 kHz ticks (equal to `pts` without B-frames).
    pub dts: i64,
    /// Whether decoding can start here (IDR / IRAP).
    pub keyframe: bool,
    /// Length-prefixed NAL units.
    pub data: Bytes,
    /// Wall-clock time the access unit entered vfed (unix µs), for latency measurement.
    pub ingest_unix_us: i64,
}

/// Codec and parameters of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamMetadata {
    /// The codec.
    pub codec: Codec,
    /// VPS NAL units (H.265 only), without start codes or length prefixes.
    pub vps: Vec<Bytes>,
    /// SPS NAL units.
    pub sps: Vec<Bytes>,
    /// PPS NAL units.
    pub pps: Vec<Bytes>,
    /// Picture width in pixels (from the SPS).
    pub width: u32,
    /// Picture height in pixels (from the SPS).
    pub height: u32,
    /// Frames per second times 1000 (25 fps = 25000), measured or signalled; 0 if unknown.
    pub fps_milli: u32,
    /// Measured bitrate in bits per second; 0 if unknown.
    pub bitrate_bps: u64,
}

/// A group of pictures: a keyframe and everything up to the next one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gop {
    /// The access units, the first a keyframe.
    pub units: Vec<AccessUnit>,
}

impl Gop {
    /// Total payload bytes.
    pub fn bytes(&self) -> usize {
        self.units.iter().map(|u| u.data.len()).sum()
    }
}
