//! The media model every vfed component shares: access units (frames) with
//! 90 kHz timestamps and a keyframe flag, grouped in GOPs, and the stream
//! metadata (codec, parameter sets, resolution, frame rate, bitrate) that
//! travels beside them.
//!
//! Around it: NAL unit helpers ([`nal`]), SPS parsing ([`sps`]), an Annex-B
//! file reader for the demo's looping source ([`annexb`]), the fMP4 muxer
//! ([`fmp4`]) and the live HLS playlist window ([`hls`]).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod annexb;
mod assembler;
pub mod bits;
mod boxes;
mod error;
pub mod fmp4;
mod frame_rate;
pub mod h265;
pub mod hls;
mod model;
pub mod nal;
pub mod progressive;
mod rate;
mod signalled;
pub mod sps;
pub mod timing;
mod vui;

pub use annexb::AnnexBFile;
pub use assembler::{AccessUnitAssembler, AssembledUnit, ParameterSets};
pub use error::MediaError;
pub use frame_rate::FrameRateProbe;
pub use hls::{MediaPlaylist, Segment, SegmentWindow};
pub use model::{AccessUnit, CLOCK_RATE, Codec, Gop, StreamMetadata};
pub use rate::RateWindow;
pub use timing::{DecodeTimes, Retimer, Retiming};
