//! Stream metadata on the wire (`StreamInfo`) and in the media model.

use bytes::Bytes;
use vfed_media::{Codec, StreamMetadata};
use vfed_proto::relay::v1::StreamInfo;

/// `base` (key, counters) completed with the codec parameters of `m`.
pub fn info(base: &StreamInfo, m: &StreamMetadata) -> StreamInfo {
    StreamInfo {
        codec: m.codec.name().to_owned(),
        vps: m.vps.iter().map(|b| b.to_vec()).collect(),
        sps: m.sps.iter().map(|b| b.to_vec()).collect(),
        pps: m.pps.iter().map(|b| b.to_vec()).collect(),
        width: m.width,
        height: m.height,
        fps_milli: m.fps_milli,
        bitrate_bps: m.bitrate_bps,
        ..base.clone()
    }
}

/// The media metadata a peer announced, if its codec is known.
pub fn metadata(info: &StreamInfo) -> Option<StreamMetadata> {
    let codec = match info.codec.as_str() {
        "h264" => Codec::H264,
        "hevc" => Codec::H265,
        _ => return None,
    };
    let bytes = |v: &[Vec<u8>]| v.iter().map(|b| Bytes::from(b.clone())).collect();
    Some(StreamMetadata {
        codec,
        vps: bytes(&info.vps),
        sps: bytes(&info.sps),
        pps: bytes(&info.pps),
        width: info.width,
        height: info.height,
        fps_milli: info.fps_milli,
        bitrate_bps: info.bitrate_bps,
    })
}
