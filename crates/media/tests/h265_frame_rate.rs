//! The frame rate of H.265 streams comes from the stream (x265 writes it in
//! the SPS VUI), not from an assumed 25 fps; whether pictures are reordered
//! (B-frames) is read from the SPS too.
#![allow(clippy::unwrap_used)]

use vfed_media::{AnnexBFile, CLOCK_RATE, Codec, FrameRateProbe};

fn data(file: &str) -> String {
    format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn an_x265_stream_at_12_5_fps_is_timed_at_12_5_fps() {
    let (metadata, units) = AnnexBFile::read(data("x265-12.5fps.h265")).unwrap();
    assert_eq!(
        (metadata.codec, metadata.width, metadata.height),
        (Codec::H265, 128, 72)
    );
    assert_eq!(metadata.signalled_fps_milli(), Some(12_500));
    assert_eq!(metadata.fps_milli, 12_500);
    assert_eq!(metadata.reorder_frames(), Some(0));
    assert_eq!(units.len(), 6);
    let frame = i64::from(CLOCK_RATE) * 2 / 25;
    for (n, unit) in (0i64..).zip(&units) {
        assert_eq!((unit.pts, unit.dts), (n * frame, n * frame));
    }
    // Measuring the timestamps finds the same rate.
    let mut probe = FrameRateProbe::new();
    let measured = (0..20).find_map(|n| probe.push(n * frame));
    assert_eq!(measured, Some(12_500));
}

#[test]
fn an_x265_stream_with_b_frames_says_so() {
    let (metadata, _) = AnnexBFile::read(data("x265-30fps-bframes.h265")).unwrap();
    assert_eq!(metadata.fps_milli, 30_000);
    assert_eq!(metadata.reorder_frames(), Some(2));
}

#[test]
fn without_timing_in_the_stream_the_callers_rate_applies() {
    let file = data("x265-no-timing.h265");
    let (metadata, units) = AnnexBFile::read(&file).unwrap();
    assert_eq!(metadata.signalled_fps_milli(), None);
    assert_eq!(metadata.fps_milli, vfed_media::annexb::DEFAULT_FPS_MILLI);
    let (metadata, units_at_30) = AnnexBFile::read_as(&file, Codec::H265, 30_000).unwrap();
    assert_eq!(metadata.fps_milli, 30_000);
    assert_eq!((units[1].pts, units_at_30[1].pts), (3600, 3000));
}
