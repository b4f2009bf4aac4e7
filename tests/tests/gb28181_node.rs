//! GB/T 28181 device access in a real node, end to end: a gb28181-rs
//! camera (real x264 frames) registers at Naidong with digest, its
//! channels are discovered, an adoption refused by R7 leaves nothing, a
//! valid one files the device, ffprobe at the city decodes its HLS (pulled
//! over the relay from the channel's PS/RTP), and the camera silenced goes
//! offline within 3 keepalive intervals + 1 s with an outage.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use gb28181_rs::mock::MockFrameHub;
use gb28181_rs::{AccessUnit as DeviceUnit, CatalogChannel, Gb28181Config, Gb28181Server};
use vfed_gb28181::device_sim::h264_access_units;
use vfed_proto::registry::v1 as pb;
use vfed_tests::{NodeOptions, TestNode, TestPki, eventually};

const CAMERA: &str = "54050200001320000091";
/// The camera's configured channel (gb28181-rs lists the camera itself in
/// its catalog, as IPCs do, and its extra channels).
const OWN_CHANNEL: &str = "54050200001310000091";
/// The channel adopted.
const CHANNEL: &str = "54050200001310000092";
const KEEPALIVE: Duration = Duration::from_secs(1);

/// 2 s of 320x240 H.264 at 25 fps, a keyframe every second, as a camera's
/// encoder hands gb28181-rs its access units.
fn encoded_frames() -> Vec<DeviceUnit> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("camera.h264");
    let status = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-f", "lavfi"])
        .args(["-i", "testsrc2=size=320x240:rate=25", "-t", "2"])
        .args(["-c:v", "libx264", "-g", "25", "-bf", "0"])
        .args(["-x264-params", "slices=1", "-f", "h264"])
        .arg(&path)
        .status()
        .expect("ffmpeg runs (scripts/install-deps.sh)");
    assert!(status.success());
    h264_access_units(&std::fs::read(&path).unwrap()).unwrap()
}

async fn discovered(pki: &TestPki, node: &TestNode) -> anyhow::Result<Vec<serde_json::Value>> {
    let list = vfedctl_json(pki, node, &["discovered", "list"]).await?;
    Ok(list["channels"].as_array().cloned().unwrap_or_default())
}

const FIELDS: &[&str] = &[
    "--category",
    "public-area-road",
    "--unit",
    "Naidong traffic police",
    "--responsible",
    "Naidong public security bureau",
    "--signage",
    "--acceptance",
    "accepted",
    "--accepted-on",
    "2024-05-01",
    "--shared",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gb28181_camera_registers_is_adopted_and_watched_at_the_city() -> anyhow::Result<()> {
    let frames = encoded_frames();
    let pki = TestPki::new()?;
    let city = TestNode::start(&pki, NodeOptions::new(CITY, "city").children(&[NAIDONG])).await?;
    let section = vfed_config::Gb28181Config {
        enabled: true,
        listen_udp: "127.0.0.1:0".into(),
        listen_tcp: "127.0.0.1:0".into(),
        keepalive_interval: KEEPALIVE,
        ..vfed_config::Gb28181Config::default()
    };
    let county = TestNode::start(
        &pki,
        NodeOptions::new(NAIDONG, "county")
            .under(&city)
            .keepalive(Duration::from_secs(1))
            .gb28181(section),
    )
    .await?;
    let sip = county.running.as_ref().unwrap().sip.unwrap();
    // The default device password was generated in the data dir, mode 0600.
    let password_file = county.config.store.data_dir.join("gb28181-password");
    assert_eq!(vfed_private_fs::mode_of(&password_file)? & 0o777, 0o600);
    let password = std::fs::read_to_string(&password_file)?.trim().to_owned();
    let password_before = password.clone();

    let hub = Arc::new(MockFrameHub::new());
    let mut camera = Gb28181Server::start(
        Gb28181Config {
            platform_sip_address: "127.0.0.1".to_owned(),
            platform_sip_port: sip.udp.unwrap().port(),
            device_id: CAMERA.to_owned(),
            channel_id: OWN_CHANNEL.to_owned(),
            sip_domain: "5405020000".to_owned(),
            password,
            local_sip_port: free_port(),
            heartbeat_interval_secs: 1,
            register_interval_secs: 3600,
            extra_channels: vec![CatalogChannel {
                device_id: CHANNEL.to_owned(),
                name: "Second".to_owned(),
                manufacturer: "gb28181-rs".to_owned(),
                model: "IPC".to_owned(),
                status: String::new(),
                ptz_type: None,
                photoelectric_imaging_type: None,
            }],
            ..Gb28181Config::default()
        },
        hub.clone(),
        None,
    )
    .await
    .map_err(|e| anyhow::anyhow!("gb28181-rs starts: {e}"))?;

    // Its channels are discovered, not devices.
    let channels = eventually("channels discovered", Duration::from_secs(20), || async {
        let channels = discovered(&pki, &county).await?;
        Ok((channels.len() >= 2).then_some(channels))
    })
    .await?;
    let ids: Vec<&str> = channels
        .iter()
        .filter_map(|c| c["channel_id"].as_str())
        .collect();
    assert_eq!(ids, [CHANNEL, CAMERA]);
    assert!(
        channels
            .iter()
            .all(|c| c["device_id"] == CAMERA && c["adopted"] == false)
    );
    let county_channel = county.channel(&pki)?;
    assert!(get_device(&county_channel, CHANNEL).await?.is_none());

    // An R7 refusal adopts nothing.
    let mut refused: Vec<&str> = vec![
        "discovered",
        "adopt",
        CHANNEL,
        "--location-type",
        "hotel-room",
    ];
    refused.extend_from_slice(FIELDS);
    let error = vfedctl(&pki, &county, &refused)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("R7"), "{error}");
    assert!(get_device(&county_channel, CHANNEL).await?.is_none());
    assert!(
        discovered(&pki, &county)
            .await?
            .iter()
            .all(|c| c["adopted"] == false)
    );

    // A valid adoption files the device with the catalog's ID.
    let mut adopt: Vec<&str> = vec![
        "discovered",
        "adopt",
        CHANNEL,
        "--location-type",
        "junction",
    ];
    adopt.extend_from_slice(FIELDS);
    vfedctl(&pki, &county, &adopt).await?;
    let adopted = discovered(&pki, &county).await?;
    let entry = adopted.iter().find(|c| c["channel_id"] == CHANNEL).unwrap();
    assert_eq!(entry["adopted"], true);

    // The camera's encoder, in real time, looping its 2 s.
    let feeder_hub = hub.clone();
    let feeder = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(40));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for unit in frames.iter().cycle() {
            tick.tick().await;
            let mut unit = unit.clone();
            unit.timestamp = Instant::now();
            feeder_hub.write(unit);
        }
    });

    // Online at the city (shared, accepted: R6.1, R11), and watched there.
    let city_channel = city.channel(&pki)?;
    eventually(
        "adopted channel online at the city",
        Duration::from_secs(30),
        || async {
            Ok(get_device(&city_channel, CHANNEL)
                .await?
                .filter(|d| d.status == i32::from(pb::DeviceStatus::Online)))
        },
    )
    .await?;
    let token = city.admin_token(&pki).await?;
    let url = format!(
        "http://{}/live/{CHANNEL}/main/index.m3u8?token={token}",
        city.http_addr()
    );
    // Bounded by packets: a live input never ends.
    let ((codec, width, height, decoded), _) = probe_warnings(&url, Some(100)).await?;
    assert_eq!((codec.as_str(), width, height), ("h264", 320, 240), "{url}");
    assert!(decoded >= 25, "only {decoded} frames decoded from {url}");
    let metrics = http_get(county.http_addr(), "/metrics").await?;
    for line in [
        "vfed_gb28181_devices_registered{node=\"54050200002000000001\"} 1",
        "vfed_gb28181_devices_online{node=\"54050200002000000001\"} 1",
        "vfed_gb28181_catalog_channels{node=\"54050200002000000001\"} 2",
        "vfed_gb28181_live_sessions{node=\"54050200002000000001\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }

    // Silenced: offline within 3 intervals + 1 s, with an outage naming it.
    feeder.abort();
    let silenced = Instant::now();
    camera
        .shutdown()
        .await
        .map_err(|e| anyhow::anyhow!("gb28181-rs stops: {e}"))?;
    eventually(
        "adopted channel offline",
        KEEPALIVE * 3 + Duration::from_secs(1),
        || async {
            Ok(get_device(&county_channel, CHANNEL)
                .await?
                .filter(|d| d.status == i32::from(pb::DeviceStatus::Offline)))
        },
    )
    .await?;
    let took = silenced.elapsed();
    eprintln!("adopted channel offline {took:?} after the camera stopped");
    assert!(
        took <= KEEPALIVE * 3 + Duration::from_secs(1),
        "offline after {took:?}"
    );
    let outages = vfedctl_json(&pki, &county, &["outages", "list", "--device", CHANNEL]).await?;
    let cause = outages["outages"][0]["cause"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(cause.contains(CAMERA), "{outages}");

    // A restart reads the same default password (the file is kept, 0600).
    let mut county = county;
    county.restart().await?;
    assert_eq!(
        std::fs::read_to_string(&password_file)?.trim(),
        password_before
    );
    Ok(())
}
