//! The real viewer: streams made by ffmpeg, read with `AnnexBFile`, muxed
//! into fMP4 + an HLS playlist on disk, then decoded by ffprobe and ffmpeg.
#![allow(clippy::unwrap_used)]

mod common;

use common::{TempDir, encode, ffmpeg_decode_errors, ffprobe_stream, write_hls};
use vfed_media::{AnnexBFile, Codec, fmp4};

const X264_GOP25: &[&str] = &[
    "-c:v",
    "libx264",
    "-g",
    "25",
    "-sc_threshold",
    "0",
    "-bf",
    "0",
    "-f",
    "h264",
];
const X265_GOP25: &[&str] = &[
    "-c:v",
    "libx265",
    "-x265-params",
    "keyint=25:min-keyint=25:bframes=0:log-level=error",
    "-f",
    "hevc",
];

/// ffprobe prints the stream once under the HLS program and once under
/// `streams`: every line it prints must be the expected one.
fn assert_probe(probe: &str, expected: &str) {
    let lines: Vec<&str> = probe.lines().filter(|l| !l.is_empty()).collect();
    assert!(
        !lines.is_empty() && lines.iter().all(|l| *l == expected),
        "ffprobe said {probe:?}, expected {expected}"
    );
}

/// Reads `file`, checks its metadata, muxes it to HLS and asks the viewer.
fn roundtrip(dir: &TempDir, file: &str, codec: Codec, width: u32, height: u32, frames: usize) {
    let (metadata, units) = AnnexBFile::read(dir.path().join(file)).unwrap();
    assert_eq!(
        (metadata.codec, metadata.width, metadata.height),
        (codec, width, height)
    );
    assert_eq!(units.len(), frames);
    assert!(units[0].keyframe);
    let keyframes = units.iter().filter(|u| u.keyframe).count();
    assert!(keyframes >= 2, "{keyframes} keyframes");
    let playlist = write_hls(dir.path(), &metadata, units);
    let text = std::fs::read_to_string(&playlist).unwrap();
    println!("{text}");
    // One segment per GOP, and the real durations add up to the clip.
    let durations: Vec<f64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|d| d.trim_end_matches(',').parse().unwrap())
        .collect();
    assert_eq!(durations.len(), keyframes, "{text}");
    let total: f64 = durations.iter().sum();
    assert!((total - frames as f64 / 25.0).abs() < 1e-6, "{text}");
    let probe = ffprobe_stream(&playlist);
    println!("ffprobe: {probe:?}");
    assert_probe(
        &probe,
        &format!("{},{width},{height},{frames}", codec.name()),
    );
    assert_eq!(ffmpeg_decode_errors(&playlist), "");
    println!("codecs: {}", fmp4::codecs_string(&metadata).unwrap());
}

#[test]
fn h264_720p_plays_as_hls() {
    let dir = TempDir::new("h264-720p");
    encode(dir.path(), "clip.h264", "1280x720", 60, X264_GOP25);
    roundtrip(&dir, "clip.h264", Codec::H264, 1280, 720, 60);
}

#[test]
fn h264_1080p_cropped_multislice_with_aud_plays_as_hls() {
    let dir = TempDir::new("h264-1080p");
    let args = [
        &X264_GOP25[..4],
        &["-x264-params", "slices=4:aud=1"],
        &X264_GOP25[4..],
    ]
    .concat();
    encode(dir.path(), "clip.264", "1920x1080", 40, &args);
    roundtrip(&dir, "clip.264", Codec::H264, 1920, 1080, 40);
}

#[test]
fn h265_720p_plays_as_hls() {
    let dir = TempDir::new("h265-720p");
    encode(dir.path(), "clip.h265", "1280x720", 60, X265_GOP25);
    roundtrip(&dir, "clip.h265", Codec::H265, 1280, 720, 60);
}

#[test]
fn h265_odd_size_with_conformance_window_plays_as_hls() {
    let dir = TempDir::new("h265-odd");
    encode(dir.path(), "clip.hevc", "1270x714", 30, X265_GOP25);
    roundtrip(&dir, "clip.hevc", Codec::H265, 1270, 714, 30);
}

#[test]
fn demo_clip_plays_as_hls() {
    let dir = TempDir::new("demo");
    let clip = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo-720p25.h264");
    let (metadata, units) = AnnexBFile::read(clip).unwrap();
    let playlist = write_hls(dir.path(), &metadata, units);
    let text = std::fs::read_to_string(&playlist).unwrap();
    assert_eq!(text.matches("#EXTINF:2.000,").count(), 5, "{text}");
    let probe = ffprobe_stream(&playlist);
    println!("ffprobe: {probe:?}");
    assert_probe(&probe, "h264,1280,720,250");
    assert_eq!(ffmpeg_decode_errors(&playlist), "");
}
