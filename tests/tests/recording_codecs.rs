//! Recording the cameras that are not the easy case, at a county, from
//! real RTSP cameras (issue 10, build item 2):
//! - H.265, and H.264 with B-frames (MP4s made here by ffmpeg, looped by
//!   `rtsp_file_camera.py` with their real PTS/DTS): recorded, and ffprobe
//!   decodes the HLS VOD of a range with the right codec, size and frame
//!   count; the B-frame camera also plays live over HLS without DTS errors
//!   (RTP carries no decode times: vfed synthesizes them from the SPS
//!   reorder depth).
//! - A camera sending every frame with the same RTP timestamp (GStreamer's
//!   `multifilesrc ! h264parse ! rtph264pay`) is re-timed from its frame
//!   rate: recorded with a duration that matches the wall clock, and
//!   `vfedctl streams show` says so.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use vfed_gateway::testing::{CameraOptions, RtspCamera, write_test_h264};
use vfed_proto::archive::v1::archive_client::ArchiveClient;
use vfed_proto::archive::v1::{ListSpansRequest, ListSpansResponse, Span};
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_proto::relay::v1::GetStreamRequest;
use vfed_proto::relay::v1::streams_client::StreamsClient;
use vfed_tests::{
    ClipSpec, FileCamera, FileCodec, NodeOptions, TestNode, TestPki, eventually, make_clip,
};

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

async fn list(node: &TestNode, pki: &TestPki, device: &str) -> anyhow::Result<ListSpansResponse> {
    Ok(ArchiveClient::new(node.channel(pki)?)
        .list_spans(ListSpansRequest {
            device_id: device.to_owned(),
            ..ListSpansRequest::default()
        })
        .await?
        .into_inner())
}

/// The first span of `device` once it covers `at_least` ms.
async fn recorded(
    node: &TestNode,
    pki: &TestPki,
    device: &str,
    at_least: i64,
) -> anyhow::Result<Span> {
    let listed = eventually(
        &format!("{device}: {at_least} ms recorded"),
        Duration::from_secs(60),
        || async {
            let r = list(node, pki, device).await.ok();
            Ok(r.and_then(|r| {
                r.spans
                    .first()
                    .copied()
                    .filter(|s| s.end_unix_ms - s.start_unix_ms >= at_least)
            }))
        },
    )
    .await?;
    Ok(listed)
}

/// Checks the HLS VOD of 4 s inside `span`: codec, size, frames (±1).
async fn check_vod(
    node: &TestNode,
    token: &str,
    device: &str,
    span: &Span,
    want: (&str, u32, u32),
) -> anyhow::Result<()> {
    let (from, to) = (span.start_unix_ms + 2000, span.start_unix_ms + 6000);
    let expected = common::indexed_frames(node, device, from, to)?;
    assert!(expected >= 100, "{device}: 4 s at 25 fps, got {expected}");
    let url = format!(
        "http://{}/playback/{device}/index.m3u8?start={}&end={}&token={token}",
        node.http_addr(),
        rfc3339(from),
        rfc3339(to)
    );
    let ((codec, width, height, frames), warnings) = common::probe_warnings(&url, None).await?;
    assert_eq!((codec.as_str(), width, height), want, "{device}");
    assert!(
        frames.abs_diff(expected) <= 1,
        "{device}: decoded {frames}, recorded {expected}; {warnings}"
    );
    Ok(())
}

fn dts_complaints(warnings: &str) -> Vec<&str> {
    warnings
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains("dts"))
        .collect()
}

async fn clip(
    dir: &Path,
    name: &str,
    codec: FileCodec,
    b_frames: u32,
) -> anyhow::Result<std::path::PathBuf> {
    let path = dir.join(name);
    make_clip(
        &path,
        &ClipSpec {
            codec,
            width: 640,
            height: 360,
            fps: 25,
            gop: 25,
            b_frames,
            kbps: 800,
            seconds: 12,
        },
    )
    .await?;
    Ok(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h265_b_frames_and_broken_timestamps_are_recorded_and_play() -> anyhow::Result<()> {
    let media = tempfile::tempdir()?;
    let b_frames_mp4 = clip(media.path(), "bf.mp4", FileCodec::H264, 2).await?;
    let hevc_mp4 = clip(media.path(), "hevc.mp4", FileCodec::H265, 0).await?;
    let b_camera = FileCamera::start(&b_frames_mp4, FileCodec::H264, "bf").await?;
    let hevc_camera = FileCamera::start(&hevc_mp4, FileCodec::H265, "hevc").await?;
    // The old pipeline: every packet with the same RTP timestamp.
    let raw = media.path().join("constant.h264");
    write_test_h264(&raw, 4).await?;
    let constant_camera = RtspCamera::start(CameraOptions::default().with_file(&raw)).await?;

    let pki = TestPki::new()?;
    let county = TestNode::start(&pki, NodeOptions::new(NAIDONG, "county")).await?;
    let (b_device, hevc_device, constant_device) =
        (naidong_camera(11), naidong_camera(12), naidong_camera(13));
    let mut registry = RegistryClient::new(county.channel(&pki)?);
    register_camera(&mut registry, &b_device, b_camera.url()).await?;
    register_camera(&mut registry, &hevc_device, hevc_camera.url()).await?;
    register_camera(
        &mut registry,
        &constant_device,
        constant_camera.url("/file"),
    )
    .await?;
    let token = county.admin_token(&pki).await?;

    // B-frames play live over HLS: whole GOPs, decode times increasing.
    let live = format!(
        "http://{}/live/{b_device}/main/index.m3u8?token={token}",
        county.http_addr()
    );
    let live_probe = eventually(
        "live HLS of the B-frame camera",
        Duration::from_secs(40),
        || async { Ok(common::probe_warnings(&live, Some(100)).await.ok()) },
    )
    .await?;
    let ((codec, width, height, frames), warnings) = live_probe;
    assert_eq!((codec.as_str(), width, height), ("h264", 640, 360));
    assert!(
        frames >= 99,
        "100 packets read, {frames} frames decoded; {warnings}"
    );
    assert!(
        dts_complaints(&warnings).is_empty(),
        "DTS errors in live HLS: {warnings}"
    );

    // Recorded: 8 s each, then the VOD of 4 s decodes whole.
    let b_span = recorded(&county, &pki, &b_device, 8000).await?;
    check_vod(&county, &token, &b_device, &b_span, ("h264", 640, 360)).await?;
    let hevc_span = recorded(&county, &pki, &hevc_device, 8000).await?;
    check_vod(
        &county,
        &token,
        &hevc_device,
        &hevc_span,
        ("hevc", 640, 360),
    )
    .await?;

    // The constant-timestamp camera: recorded with about the wall clock's
    // duration (re-timed frames, not one instant), and shown as re-timed.
    let constant_span = recorded(&county, &pki, &constant_device, 8000).await?;
    let listed = list(&county, &pki, &constant_device).await?;
    let recorded_ms: i64 = listed
        .spans
        .iter()
        .map(|s| s.end_unix_ms - s.start_unix_ms)
        .sum();
    let wall_ms = now_ms() - constant_span.start_unix_ms;
    assert!(
        (recorded_ms - wall_ms).abs() <= 3000,
        "recorded {recorded_ms} ms in {wall_ms} ms of wall clock: {listed:?}"
    );
    let key = format!("{constant_device}/main");
    let info = StreamsClient::new(county.channel(&pki)?)
        .get_stream(GetStreamRequest { key: key.clone() })
        .await?
        .into_inner();
    let retiming = info.status.unwrap_or_default().retiming;
    assert!(
        retiming.starts_with("RTP timestamps constant: re-timed at "),
        "{retiming:?}"
    );
    let shown = vfedctl(&pki, &county, &["streams", "show", &key]).await?;
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("Timestamps") && l.contains("RTP timestamps constant")),
        "{shown}"
    );
    // Sound timestamps are shown as the camera's.
    let shown = vfedctl(
        &pki,
        &county,
        &["streams", "show", &format!("{b_device}/main")],
    )
    .await?;
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("Timestamps") && l.contains("from the camera")),
        "{shown}"
    );
    Ok(())
}
