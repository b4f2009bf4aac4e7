//! The media model every vfed component shares: access units (frames) with
//! 90 kHz timestamps and a keyframe flag, grouped in GOPs, and the stream
//! metadata (codec, parameter sets, resolution, frame rate, bitrate) that
//! travels beside them.
#![forbid(unsafe_code)]

mod model;

pub use model::{AccessUnit, Codec, Gop, StreamMetadata, CLOCK_RATE};
