//! What a stream's parameter sets say about its timing, read from the
//! [`StreamMetadata`] every node has (the parameter sets travel with it):
//! the frame rate and whether pictures are reordered (B-frames).

use crate::h265;
use crate::model::{Codec, StreamMetadata};
use crate::sps::Sps;

impl StreamMetadata {
    /// The first SPS, parsed.
    fn first_sps(&self) -> Option<Sps> {
        self.sps
            .first()
            .and_then(|nal| Sps::parse(self.codec, nal).ok())
    }

    /// The frame rate ×1000 the bitstream signals: the SPS VUI timing info,
    /// else (H.265) the VPS timing info. `None` when neither carries one:
    /// measure it from the timestamps then ([`crate::FrameRateProbe`]).
    pub fn signalled_fps_milli(&self) -> Option<u32> {
        self.first_sps()
            .and_then(|sps| sps.fps_milli())
            .or_else(|| match self.codec {
                Codec::H264 => None,
                Codec::H265 => self
                    .vps
                    .first()
                    .and_then(|nal| h265::vps_fps_milli(nal).ok().flatten()),
            })
    }

    /// How many pictures may precede another in decode order and follow it
    /// in output order, as the SPS says (ffprobe's `has_b_frames`): 0 means
    /// decode order is presentation order; more means B-frames out of
    /// order, whose presentation times are not their decode times. `None`
    /// when the SPS does not say (H.264 Main/High without
    /// `bitstream_restriction`).
    pub fn reorder_frames(&self) -> Option<u32> {
        self.first_sps().and_then(|sps| sps.reorder_frames())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use bytes::Bytes;

    use super::*;
    use crate::bits::hex;

    fn hevc(vps: &str, sps: &str) -> StreamMetadata {
        StreamMetadata {
            codec: Codec::H265,
            vps: vec![hex(vps).into()],
            sps: vec![hex(sps).into()],
            pps: vec![],
            width: 320,
            height: 240,
            fps_milli: 0,
            bitrate_bps: 0,
        }
    }

    /// x265's VPS (no timing) and its SPS at 12.5 fps without B-frames.
    const VPS: &str = "40010c01ffff01600000030090000003000003003cba0240";
    const SPS_12_5: &str =
        "42010101600000030090000003000003003ca00a080f165ba4a4c2f016808000000301000003000c84";
    /// x265 with `vui-timing-info=0`.
    const SPS_NO_TIMING: &str = "42010101600000030090000003000003003ca00a080f165ba4a4c2f0168008";
    /// A VPS with `vps_timing_info` at 50 fps (see `h265::tests`).
    const VPS_50: &str = "40010c03ffff01600000030090000003000003003c8000016000000300900000030000030095cae13ae000000300200000064a";

    #[test]
    fn the_sps_timing_first_then_the_vps() {
        let m = hevc(VPS, SPS_12_5);
        assert_eq!(
            (m.signalled_fps_milli(), m.reorder_frames()),
            (Some(12_500), Some(0))
        );
        assert_eq!(hevc(VPS, SPS_NO_TIMING).signalled_fps_milli(), None);
        assert_eq!(
            hevc(VPS_50, SPS_NO_TIMING).signalled_fps_milli(),
            Some(50_000)
        );
        assert_eq!(hevc(VPS_50, SPS_12_5).signalled_fps_milli(), Some(12_500));
        let mut garbage = hevc(VPS, SPS_12_5);
        garbage.sps = vec![Bytes::from_static(&[0x42, 0x01, 0xff])];
        assert_eq!(
            (garbage.signalled_fps_milli(), garbage.reorder_frames()),
            (None, None)
        );
    }
}
