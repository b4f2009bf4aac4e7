//! Recording at a county from a real GStreamer RTSP camera: a span is
//! listed, ffprobe decodes the HLS VOD of a range (codec, size, frame count
//! from the index), the playback is audited with its range, and after a
//! crash (in-process kill: recorders aborted where they stand) the archive
//! verifies at restart and lists the downtime as a "node down" gap.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use vfed_gateway::testing::{CameraOptions, RtspCamera};
use vfed_proto::archive::v1::archive_client::ArchiveClient;
use vfed_proto::archive::v1::{Gap, ListSpansRequest, ListSpansResponse, StatusRequest};
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_tests::{NodeOptions, TestNode, TestPki, eventually};

async fn spans(node: &TestNode, pki: &TestPki, device: &str) -> anyhow::Result<ListSpansResponse> {
    let mut archive = ArchiveClient::new(node.channel(pki)?);
    Ok(archive
        .list_spans(ListSpansRequest {
            device_id: device.to_owned(),
            ..ListSpansRequest::default()
        })
        .await?
        .into_inner())
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// A county recording Naidong's camera 1 from `url`; its device ID.
async fn recording_county(pki: &TestPki, url: String) -> anyhow::Result<(TestNode, String)> {
    let county = TestNode::start(
        pki,
        NodeOptions::new(NAIDONG, "county").keepalive(Duration::from_secs(1)),
    )
    .await?;
    let device = naidong_camera(1);
    register_camera(&mut RegistryClient::new(county.channel(pki)?), &device, url).await?;
    Ok((county, device))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_county_records_its_camera_plays_it_back_and_survives_a_crash() -> anyhow::Result<()> {
    let camera = RtspCamera::start(CameraOptions::default()).await?;
    let pki = TestPki::new()?;
    let (mut county, device) = recording_county(&pki, camera.url("/h264")).await?;

    // A span of at least 8 s (files of 10 s: the first, staggered, is shorter).
    let listed = eventually("8 s recorded", Duration::from_secs(40), || async {
        let r = spans(&county, &pki, &device).await.ok();
        Ok(r.filter(|r| {
            r.spans.len() == 1 && r.spans[0].end_unix_ms - r.spans[0].start_unix_ms >= 8000
        }))
    })
    .await?;
    let span = listed.spans[0];
    let mut status = ArchiveClient::new(county.channel(&pki)?)
        .status(StatusRequest {})
        .await?
        .into_inner();
    assert_eq!(status.retention_seconds, 30 * 86_400);
    assert!(!status.sealing, "tests run with archive.seal = false");
    assert!(status.sealing_detail.contains("sealing unavailable"));
    status.streams.retain(|s| s.key == format!("{device}/main"));
    assert_eq!(status.streams.len(), 1, "recording now");

    // HLS VOD of 4 s inside the span: the frames of the fragments it covers.
    let (from, to) = (span.start_unix_ms + 2000, span.start_unix_ms + 6000);
    let expected = common::indexed_frames(&county, &device, from, to)?;
    assert!(
        expected >= 100,
        "4 s at 25 fps span at least 100 frames, got {expected}"
    );
    let token = county.admin_token(&pki).await?;
    let url = format!(
        "http://{}/playback/{device}/index.m3u8?start={}&end={}&token={token}",
        county.http_addr(),
        rfc3339(from),
        rfc3339(to)
    );
    let (codec, width, height, frames) = common::probe(&url).await?;
    assert_eq!((codec.as_str(), width, height), ("h264", 1280, 720));
    assert!(
        frames.abs_diff(expected) <= 1,
        "decoded {frames}, recorded {expected}"
    );
    let records = county.audit_records().await?;
    let view = records
        .iter()
        .find(|r| r.action == "recording.view")
        .expect("the playback is in the audit log");
    assert_eq!(view.details["start_unix_ms"], from);
    assert_eq!(view.details["end_unix_ms"], to);
    assert!(view.actor.starts_with("user/"), "{}", view.actor);
    assert!(
        records.iter().any(|r| r.action == "recording.file.closed"),
        "a rotated file's manifest is logged"
    );
    // Without a token: refused.
    let refused = http_get(
        county.http_addr(),
        &format!(
            "/playback/{device}/index.m3u8?start={}&end={}",
            rfc3339(from),
            rfc3339(to)
        ),
    )
    .await?;
    assert!(refused.starts_with("HTTP/1.0 401"), "{refused}");

    // Crash while recording; 2 s down; restart.
    let (killed_at, _, down) = crash_and_restart(&mut county, &pki, &device).await?;
    assert!(down.start_unix_ms <= killed_at, "{down:?}");
    assert!(
        down.end_unix_ms - down.start_unix_ms <= 2000 + 2000 + 4000,
        "the gap is about the downtime (plus the fragment lost): {down:?}"
    );
    drop(camera);
    Ok(())
}

/// Kills `county` while it records `device` (in-process: its recorders
/// are aborted where they stand), keeps it down 2 s and restarts it; the
/// archive verifies. Returns when the kill returned (Unix ms), how long the
/// node was down as the test saw it (from before the kill to the end of
/// the restart) and the `node down` gap once recording resumed.
async fn crash_and_restart(
    county: &mut TestNode,
    pki: &TestPki,
    device: &str,
) -> anyhow::Result<(i64, i64, Gap)> {
    let before = vfed_archive_now();
    county.kill().await;
    let killed_at = vfed_archive_now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    county.restart().await?;
    let downtime = vfed_archive_now() - before;
    let report = vfed_archive::verify(&county.config.archive.dir_for(&county.config.store))?;
    assert!(report.is_clean(), "{:?}", report.findings);
    let after = eventually("recording resumed", Duration::from_secs(30), || async {
        let r = spans(county, pki, device).await.ok();
        Ok(r.filter(|r| r.spans.len() >= 2 && r.gaps.iter().any(|g| g.cause == "node down")))
    })
    .await?;
    let down = after
        .gaps
        .into_iter()
        .find(|g| g.cause == "node down")
        .ok_or_else(|| anyhow::anyhow!("no node down gap"))?;
    Ok((killed_at, downtime, down))
}

fn vfed_archive_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}

/// A camera whose GOP (2 s) is longer than a fragment: its GOPs are cut
/// into fragments of at most half a second, each durable as it closes, so
/// a crash (in-process kill) loses less than a second: the `node down` gap is at
/// most the measured downtime + 1 s. The fragments play over HLS VOD
/// (segments grouped from each keyframe) and as one MP4.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_while_recording_a_long_gop_loses_at_most_a_second() -> anyhow::Result<()> {
    let media = tempfile::tempdir()?;
    let camera = common::gop_camera(media.path(), 50).await?;
    let pki = TestPki::new()?;
    let (mut county, device) = recording_county(&pki, camera.url()).await?;
    let dir = common::stream_dir(&county, &device);
    eventually("a closed file", Duration::from_secs(60), || async {
        Ok((!common::closed_files(&dir).is_empty()).then_some(()))
    })
    .await?;
    let (_, index) = &common::closed_files(&dir)[0];
    assert!(
        index
            .fragments
            .iter()
            .all(|f| f.duration <= vfed_archive::FRAGMENT_TICKS as u64),
        "fragments of at most half a second: {:?}",
        index.fragments
    );
    assert!(index.fragments[0].sync);
    assert!(
        index.fragments.iter().any(|f| !f.sync),
        "a 2 s GOP spans two fragments"
    );

    // HLS VOD and the MP4 of 4 s starting inside a GOP's second fragment.
    let start = index
        .fragments
        .iter()
        .find(|f| !f.sync)
        .unwrap()
        .start_unix_ms
        + 200;
    let (from, to) = (start, start + 4000);
    let token = county.admin_token(&pki).await?;
    for form in ["/index.m3u8", ".mp4"] {
        let url = format!(
            "http://{}/playback/{device}{form}?start={}&end={}&token={token}",
            county.http_addr(),
            rfc3339(from),
            rfc3339(to)
        );
        let (codec, width, height, frames) = common::probe(&url).await?;
        assert_eq!(
            (codec.as_str(), width, height),
            ("h264", 640, 360),
            "{form}"
        );
        assert!(frames >= 90, "{form}: 4 s at 25 fps, decoded {frames}");
    }

    // Crash while recording; restart; the downtime as the test sees it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, downtime, down) = crash_and_restart(&mut county, &pki, &device).await?;
    let gap = down.end_unix_ms - down.start_unix_ms;
    eprintln!("node down gap {gap} ms, downtime {downtime} ms");
    assert!(
        gap <= downtime + 1000,
        "the gap ({gap} ms) is at most the downtime ({downtime} ms) + 1 s: {down:?}"
    );
    drop(camera);
    Ok(())
}
