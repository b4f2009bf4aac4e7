//! A county recording a real GStreamer RTSP camera, read through the built
//! `vfedctl` (`-o json`): the camera killed for 20 s, then restarted, is
//! one gap of about 20 s with its cause ("camera offline", or the stream
//! error with its text) and recording resumes by itself; `recordings
//! status` shows the stream recording, the disk state and thresholds, and
//! the files an approved retrieval request holds (R16, R17): those are
//! kept past retention until the request expires.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use vfed_gateway::testing::{CameraOptions, RtspCamera};
use vfed_proto::auth::v1::Role;
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_proto::retrieval::v1 as rpb;
use vfed_proto::retrieval::v1::retrieval_client::RetrievalClient;
use vfed_tests::{NodeOptions, TestNode, TestPki, eventually};

fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp() * 1000
}

fn is_camera_cause(cause: &str) -> bool {
    cause == "camera offline" || cause.starts_with("stream error: ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_away_20_s_is_one_gap_with_its_cause_and_recording_resumes() -> anyhow::Result<()>
{
    let mut camera = RtspCamera::start(CameraOptions::default()).await?;
    let pki = TestPki::new()?;
    let county = TestNode::start(
        &pki,
        NodeOptions::new(NAIDONG, "county").keepalive(Duration::from_secs(1)),
    )
    .await?;
    let device = naidong_camera(1);
    register_camera(
        &mut RegistryClient::new(county.channel(&pki)?),
        &device,
        camera.url("/h264"),
    )
    .await?;

    let listed = eventually("5 s recorded", Duration::from_secs(40), || async {
        let list = vfedctl_json(&pki, &county, &["recordings", "list", &device])
            .await
            .ok();
        Ok(list.filter(|l| {
            l["spans"].as_array().is_some_and(|s| {
                s.len() == 1
                    && s[0]["end_unix_ms"].as_i64().unwrap_or(0)
                        - s[0]["start_unix_ms"].as_i64().unwrap_or(0)
                        >= 5000
            })
        }))
    })
    .await?;
    assert_eq!(listed["device_id"], device.as_str());
    assert_eq!(listed["profile"], "main");
    let span_start = listed["spans"][0]["start_unix_ms"].as_i64().unwrap();
    let status = vfedctl_json(&pki, &county, &["recordings", "status"]).await?;
    // This machine's disk may be over 90% (warn), never critical here.
    let state = status["disk_state"].as_str().unwrap();
    assert!(state == "ok" || state == "warn", "{status}");
    assert_eq!(status["disk_warn"], 0.9);
    assert_eq!(status["disk_critical"], 0.98);
    assert_eq!(status["retention_seconds"], 30 * 86_400);
    assert_eq!(status["files_deleted"], 0);
    assert!(status["volume_bytes"].as_u64().unwrap() > 0);
    assert!(
        !status["alarms"].to_string().contains("disk full"),
        "{status}"
    );
    let streams = status["streams"].as_array().unwrap();
    assert!(
        streams.iter().any(|s| s["key"] == format!("{device}/main")),
        "{status}"
    );

    // Two officers file and co-sign a request for what is recorded so far;
    // the custodian approves it: those files are held.
    let officer = |name: &'static str| {
        let (county, pki) = (&county, &pki);
        async move {
            anyhow::Ok(RetrievalClient::new(
                county.user_channel(pki, name, Role::Officer).await?,
            ))
        }
    };
    let (mut zhuoma, mut tenzin) = (officer("zhuoma").await?, officer("tenzin").await?);
    let mut custodian =
        RetrievalClient::new(county.user_channel(&pki, "custodian", Role::Admin).await?);
    let filed = zhuoma
        .file_request(theft_case(
            vec![device.clone()],
            span_start / 1000,
            now_ms() / 1000,
        ))
        .await?
        .into_inner();
    tenzin
        .co_sign(rpb::CoSignRequest {
            id: filed.id.clone(),
        })
        .await?;
    custodian
        .approve(rpb::ApproveRequest {
            id: filed.id.clone(),
        })
        .await?;

    // The camera loses power for 20 s.
    camera.kill().await?;
    let killed_at = now_ms();
    tokio::time::sleep(Duration::from_secs(20)).await;
    camera.restart().await?;
    let restarted_at = now_ms();
    let after = eventually("recording resumed", Duration::from_secs(60), || async {
        let list = vfedctl_json(&pki, &county, &["recordings", "list", &device])
            .await
            .ok();
        Ok(list.filter(|l| {
            l["spans"].as_array().is_some_and(|s| s.len() >= 2)
                && l["gaps"].as_array().is_some_and(|g| {
                    g.iter()
                        .any(|g| g["end_unix_ms"].as_i64() > Some(restarted_at - 1000))
                })
        }))
    })
    .await?;
    let gaps = after["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "one gap: {after}");
    let gap = &gaps[0];
    let cause = gap["cause"].as_str().unwrap();
    assert!(is_camera_cause(cause), "cause {cause:?}");
    let (start, end) = (
        gap["start_unix_ms"].as_i64().unwrap(),
        gap["end_unix_ms"].as_i64().unwrap(),
    );
    assert!(
        start <= killed_at + 1000 && end >= restarted_at - 1000,
        "the gap covers the 20 s away: {gap} (killed {killed_at}, back {restarted_at})"
    );
    assert!(
        end - start <= 20_000 + 15_000,
        "about 20 s (plus the GOP lost and the reconnect): {gap}"
    );
    let spans = after["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 2, "{after}");
    assert_eq!(spans[0]["end_unix_ms"], gap["start_unix_ms"]);
    assert_eq!(spans[1]["start_unix_ms"], gap["end_unix_ms"]);

    // The next retention sweep (every minute) counts the held files.
    let status = eventually("held files counted", Duration::from_secs(90), || async {
        let s = vfedctl_json(&pki, &county, &["recordings", "status"])
            .await
            .ok();
        Ok(s.filter(|s| s["held_files"].as_u64().unwrap_or(0) >= 1))
    })
    .await?;
    assert!(
        status["streams"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["key"] == format!("{device}/main")),
        "recording again: {status}"
    );
    assert_eq!(
        status["files_deleted"], 0,
        "nothing inside retention is deleted"
    );
    let metrics = http_get(county.http_addr(), "/metrics").await?;
    for name in [
        "vfed_archive_free_bytes",
        "vfed_archive_disk_state",
        "vfed_archive_streams_recording",
        "vfed_archive_held_files",
        "vfed_archive_files_deleted_total",
    ] {
        assert!(
            metrics.contains(&format!("\n{name}{{node=\"{NAIDONG}\"}} ")),
            "{name} on /metrics: {metrics}"
        );
    }
    drop(camera);
    Ok(())
}
