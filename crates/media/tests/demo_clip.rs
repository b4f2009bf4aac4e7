//! The clip the demo loops: shipped in `assets/`, read with `AnnexBFile`.
#![allow(clippy::unwrap_used)]

use vfed_media::{AnnexBFile, CLOCK_RATE, Codec};

#[test]
fn demo_clip_is_720p25_with_gop_50_and_under_1_mb() {
    let clip = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo-720p25.h264");
    assert!(std::fs::metadata(clip).unwrap().len() < 1_000_000);
    let (metadata, units) = AnnexBFile::read(clip).unwrap();
    assert_eq!(metadata.codec, Codec::H264);
    assert_eq!(
        (metadata.width, metadata.height, metadata.fps_milli),
        (1280, 720, 25_000)
    );
    assert_eq!((metadata.sps.len(), metadata.pps.len()), (1, 1));
    assert_eq!(metadata.sps[0][1], 66, "baseline profile");
    assert!(metadata.bitrate_bps > 100_000 && metadata.bitrate_bps < 800_000);
    assert_eq!(units.len(), 250);
    for (i, unit) in units.iter().enumerate() {
        assert_eq!(unit.keyframe, i % 50 == 0, "frame {i}");
        let ts = i as i64 * i64::from(CLOCK_RATE) / 25;
        assert_eq!((unit.pts, unit.dts), (ts, ts));
    }
}
