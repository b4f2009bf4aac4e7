//! Three minutes of recording (issue 10, "done means"), with real peers: a
//! county records three real RTSP cameras (GStreamer replaying encoded
//! clips, so no live encoder competes for the CPU: H.264, H.265, and H.264
//! with B-frames) under a city.
//! After 3 minutes `vfedctl recordings list` shows one span, at the county
//! and at the city (asked of the county over the relay link); from the
//! city, ffprobe decodes the HLS VOD and the single MP4 of the 3 minutes
//! (18 recorded files of 10 s) with the right codec, resolution and frame
//! count (±1 frame): the MP4 from the frame on screen at `start`, the HLS
//! VOD from the keyframe before it.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_tests::{ClipSpec, FileCamera, FileCodec, NodeOptions, TestNode, TestPki, eventually};

/// Seconds recorded.
const RECORDED: i64 = 180;

/// The newest span `vfedctl recordings list <device> -o json` shows at
/// `node`, once it is at least `seconds` long: (spans listed, start, end).
async fn listed(node: &TestNode, pki: &TestPki, device: &str, seconds: i64) -> (usize, i64, i64) {
    eventually(
        "a long enough span",
        Duration::from_secs(seconds as u64 + 90),
        || async {
            let Ok(list) = vfedctl_json(pki, node, &["recordings", "list", device]).await else {
                return Ok(None);
            };
            let spans = list["spans"].as_array().cloned().unwrap_or_default();
            let Some(last) = spans.last() else {
                return Ok(None);
            };
            let (start, end) = (
                last["start_unix_ms"].as_i64().unwrap(),
                last["end_unix_ms"].as_i64().unwrap(),
            );
            Ok((end - start >= seconds * 1000).then_some((spans.len(), start, end)))
        },
    )
    .await
    .unwrap()
}

/// One camera of the test: its clip, the codec ffprobe must name.
struct Case {
    name: &'static str,
    codec: FileCodec,
    b_frames: u32,
    probed: &'static str,
}

const CASES: [Case; 3] = [
    Case {
        name: "h264",
        codec: FileCodec::H264,
        b_frames: 0,
        probed: "h264",
    },
    Case {
        name: "h265",
        codec: FileCodec::H265,
        b_frames: 0,
        probed: "hevc",
    },
    Case {
        name: "h264-bframes",
        codec: FileCodec::H264,
        b_frames: 2,
        probed: "h264",
    },
];

/// The recorded 3 minutes of `device` from the city, starting inside a GOP:
/// the MP4 and the HLS VOD decode with `codec`, 640x360 and the recorded
/// frame count (±1).
async fn plays_from_the_city(
    city: &TestNode,
    county: &TestNode,
    pki: &TestPki,
    device: &str,
    codec: &str,
    start: i64,
) {
    let (from, to) = (start + 1_520, start + 1_520 + (RECORDED - 2) * 1000);
    let (shown, fragments) = expected_frames(county, device, from, to);
    assert!(
        shown >= 25 * (RECORDED as u64 - 2) - 1,
        "{device}: {shown} frames shown"
    );
    let token = city.admin_token(pki).await.unwrap();
    let http = city.http_addr();
    let query = format!("start={}&end={}&token={token}", rfc3339(from), rfc3339(to));
    let (probed, width, height, frames) =
        probe(&format!("http://{http}/playback/{device}.mp4?{query}"))
            .await
            .unwrap();
    assert_eq!(
        (probed.as_str(), width, height),
        (codec, 640, 360),
        "{device}"
    );
    assert!(
        frames.abs_diff(shown) <= 1,
        "{device} MP4: decoded {frames}, recorded {shown}"
    );
    let (probed, width, height, frames) = probe(&format!(
        "http://{http}/playback/{device}/index.m3u8?{query}"
    ))
    .await
    .unwrap();
    assert_eq!(
        (probed.as_str(), width, height),
        (codec, 640, 360),
        "{device}"
    );
    assert!(
        frames.abs_diff(fragments) <= 1,
        "{device} HLS: decoded {frames}, recorded {fragments}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_minutes_are_one_span_and_play_from_the_city() {
    let media = tempfile::tempdir().unwrap();
    let mut cameras = Vec::new();
    for case in &CASES {
        let clip = media.path().join(format!("{}.mp4", case.name));
        // Longer than the recording: the loop's seam is not in the range.
        let spec = ClipSpec {
            codec: case.codec,
            width: 640,
            height: 360,
            fps: 25,
            gop: 50,
            b_frames: case.b_frames,
            kbps: 600,
            seconds: 200,
        };
        vfed_tests::make_clip(&clip, &spec).await.unwrap();
        cameras.push(
            FileCamera::start(&clip, case.codec, case.name)
                .await
                .unwrap(),
        );
    }
    let pki = TestPki::new().unwrap();
    let city = TestNode::start(&pki, NodeOptions::new(CITY, "city").children(&[NAIDONG]))
        .await
        .unwrap();
    let county = TestNode::start(&pki, NodeOptions::new(NAIDONG, "county").under(&city))
        .await
        .unwrap();
    let mut registry = RegistryClient::new(county.channel(&pki).unwrap());
    for (n, camera) in cameras.iter().enumerate() {
        register_camera(&mut registry, &naidong_camera(n as u32 + 1), camera.url())
            .await
            .unwrap();
    }

    for (n, case) in CASES.iter().enumerate() {
        let device = naidong_camera(n as u32 + 1);
        // After 3 minutes: one span, at the county and at the city.
        let (spans, start, end) = listed(&county, &pki, &device, RECORDED).await;
        assert_eq!(spans, 1, "{}: one span at the county", case.name);
        let (at_city, city_start, city_end) = listed(&city, &pki, &device, RECORDED).await;
        assert_eq!(at_city, 1, "{}: one span at the city", case.name);
        assert_eq!(city_start, start);
        assert!(city_end >= end);
        plays_from_the_city(&city, &county, &pki, &device, case.probed, start).await;
    }
    drop(cameras);
}
