//! A session's frame rate when neither its bitstream (SPS/VPS timing info)
//! nor its SDP (`a=framerate`) signals one: measured from the frames'
//! timestamps ([`FrameRateProbe`]) and filled into its metadata.

use vfed_media::{FrameRateProbe, StreamMetadata};

/// The measured frame rate of one RTSP session.
#[derive(Debug, Default)]
pub(crate) struct SessionRate {
    /// Measuring, while the metadata has no frame rate.
    probe: Option<FrameRateProbe>,
    /// Measured so far in this session.
    measured: Option<u32>,
}

impl SessionRate {
    /// Completes `metadata` (announced next) with the measured rate if it
    /// has none, or starts measuring it.
    pub(crate) fn fill(&mut self, metadata: &mut StreamMetadata) {
        if metadata.fps_milli != 0 {
            self.probe = None;
        } else if let Some(measured) = self.measured {
            metadata.fps_milli = measured;
        } else if self.probe.is_none() {
            self.probe = Some(FrameRateProbe::new());
        }
    }

    /// Feeds a frame's presentation time (90 kHz); the frame rate ×1000 once
    /// it is measured, to announce.
    pub(crate) fn frame(&mut self, pts: i64) -> Option<u32> {
        let measured = self.probe.as_mut()?.push(pts)?;
        self.probe = None;
        self.measured = Some(measured);
        Some(measured)
    }
}

#[cfg(test)]
mod tests {
    use vfed_media::Codec;

    use super::*;

    fn metadata(fps_milli: u32) -> StreamMetadata {
        StreamMetadata {
            codec: Codec::H265,
            vps: vec![],
            sps: vec![],
            pps: vec![],
            width: 320,
            height: 240,
            fps_milli,
            bitrate_bps: 0,
        }
    }

    #[test]
    fn measures_only_what_is_not_signalled() {
        let mut rate = SessionRate::default();
        let mut signalled = metadata(30_000);
        rate.fill(&mut signalled);
        assert_eq!(signalled.fps_milli, 30_000);
        assert!(
            (0..20).all(|n| rate.frame(n * 3600).is_none()),
            "nothing to measure"
        );

        let mut rate = SessionRate::default();
        let mut unknown = metadata(0);
        rate.fill(&mut unknown);
        let measured: Vec<u32> = (0..20).filter_map(|n| rate.frame(n * 7200)).collect();
        assert_eq!(measured, [12_500], "announced once");
        // New parameters mid-session without a rate keep the measured one.
        let mut again = metadata(0);
        rate.fill(&mut again);
        assert_eq!(again.fps_milli, 12_500);
        assert!((20..40).all(|n| rate.frame(n * 7200).is_none()));
    }
}
