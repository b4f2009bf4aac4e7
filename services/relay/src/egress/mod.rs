//! Egress for viewers on the node's HTTP port. HLS with fMP4 segments
//! today; WebRTC (WHEP) and RTSP-out plug in beside it, each one more
//! reader of the same relay tracks.

mod hls;

pub use hls::{HlsEgress, HlsOptions, segment_sequence};
