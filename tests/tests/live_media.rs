//! Live media end to end with real peers: a GStreamer RTSP camera at the
//! county, pulled by the county's gateway, relayed over QUIC to the city,
//! watched at the city over HLS by ffprobe.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use vfed_gateway::testing::{CameraOptions, RtspCamera};
use vfed_proto::registry::v1 as pb;
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_tests::{NodeOptions, TestNode, TestPki, eventually};

/// Frames ffprobe decodes from `url` (bounded by packets: a live input never ends).
async fn probe(url: &str) -> anyhow::Result<(String, u32, u32, u32)> {
    let out = tokio::process::Command::new("timeout")
        .args([
            "90",
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-read_intervals",
            "%+#100",
            "-select_streams",
            "v:0",
        ])
        .args([
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
            "-of",
            "csv=p=0",
            url,
        ])
        .output()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "ffprobe not runnable ({e}): install the Debian package ffmpeg (make test does)"
            )
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(line) = text.lines().find(|l| !l.trim().is_empty()) else {
        let playlist = tokio::process::Command::new("curl")
            .args(["-s", "-m", "20", url])
            .output()
            .await?;
        anyhow::bail!(
            "ffprobe printed nothing for {url}: {}; the playlist says: {}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&playlist.stdout)
        );
    };
    let f: Vec<&str> = line.trim().split(',').collect();
    anyhow::ensure!(f.len() == 4, "unexpected ffprobe output {line:?}");
    Ok((f[0].to_owned(), f[1].parse()?, f[2].parse()?, f[3].parse()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn city_viewers_decode_h264_and_h265_county_cameras_and_survive_faults() -> anyhow::Result<()>
{
    let mut camera = RtspCamera::start(CameraOptions::default()).await?;
    let pki = TestPki::new()?;
    let city = TestNode::start(&pki, NodeOptions::new(CITY, "city").children(&[NAIDONG])).await?;
    let county = TestNode::start(
        &pki,
        NodeOptions::new(NAIDONG, "county")
            .under(&city)
            .keepalive(Duration::from_secs(1)),
    )
    .await?;
    let (h264, h265) = (naidong_camera(1), naidong_camera(2));
    let mut registry = RegistryClient::new(county.channel(&pki)?);
    register_camera(&mut registry, &h264, camera.url("/h264")).await?;
    register_camera(&mut registry, &h265, camera.url("/h265")).await?;
    let city_channel = city.channel(&pki)?;
    for id in [&h264, &h265] {
        eventually(
            "camera online at the city",
            Duration::from_secs(30),
            || async {
                Ok(get_device(&city_channel, id)
                    .await?
                    .filter(|d| d.status == i32::from(pb::DeviceStatus::Online)))
            },
        )
        .await?;
    }

    for (id, codec) in [(&h264, "h264"), (&h265, "hevc")] {
        let token = city.admin_token(&pki).await?;
        let url = format!(
            "http://{}/live/{id}/main/index.m3u8?token={token}",
            city.http_addr()
        );
        let (found, width, height, frames) = probe(&url).await?;
        assert_eq!((found.as_str(), width, height), (codec, 1280, 720), "{url}");
        assert!(frames >= 50, "only {frames} frames decoded from {url}");
    }

    // Twenty viewers at the city: one upstream subscription at the county.
    let city_relay = city.relay()?;
    let key = format!("{h264}/main");
    let mut viewers = Vec::new();
    for _ in 0..20 {
        viewers.push(city_relay.subscribe(&key).await?);
    }
    let county_track = county
        .relay()?
        .publish(&vfed_relay::StreamKey::parse(&key)?);
    // Two readers: the city's one upstream pull, and the county's own archive.
    assert_eq!(
        county_track.readers(),
        2,
        "the county serves the city one upstream pull (beside its recorder)"
    );
    let gop = tokio::time::timeout(Duration::from_secs(10), viewers[19].next_gop())
        .await?
        .unwrap();
    assert!(gop.reader().next().await.unwrap().keyframe);

    // Camera killed: offline at the city within 10 s, with an outage record.
    camera.kill().await?;
    eventually(
        "camera offline at the city",
        Duration::from_secs(10),
        || async {
            Ok(get_device(&city_channel, &h264)
                .await?
                .filter(|d| d.status == i32::from(pb::DeviceStatus::Offline)))
        },
    )
    .await?;
    let outages = registry
        .list_outages(pb::ListOutagesRequest {
            device_id: h264.clone(),
            open_only: true,
            limit: 0,
        })
        .await?
        .into_inner()
        .outages;
    assert_eq!(outages.len(), 1);

    // Camera back: the same viewer continues within 10 s, without reconnecting.
    camera.restart().await?;
    let viewer = &mut viewers[0];
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let gop = viewer.next_gop().await.expect("the viewer's track ended");
            if gop.reader().next().await.is_some_and(|u| u.keyframe) {
                return;
            }
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("no media within 10 s of the camera coming back"))?;
    Ok(())
}
