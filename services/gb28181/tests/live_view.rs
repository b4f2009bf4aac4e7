//! Live view over UDP, TCP passive and TCP active: the node INVITEs a gb28181-rs camera's channel, the
//! camera streams PS over RTP made from real x264 output (ffmpeg), and the
//! media sink gets the stream's metadata and keyframe-flagged access units
//! with 90 kHz timestamps; BYE stops it.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gb28181_rs::mock::MockFrameHub;
use gb28181_rs::{AccessUnit as DeviceUnit, Gb28181Config, Gb28181Server};
use support::{DOMAIN, Node, free_port};
use vfed_gb28181::device_sim::h264_access_units;
use vfed_gb28181::{DeviceEvent, MediaTransport, PlayError};
use vfed_media::Codec;

const CAMERA: &str = "34020000001320000007";
const CHANNEL: &str = "34020000001310000007";
const PASSWORD: &str = "camera-secret";

/// 2 s of 320x240 H.264 at 25 fps, a keyframe every 25 frames, no B-frames,
/// as the access units a camera's encoder hands gb28181-rs.
fn encoded_frames() -> Vec<DeviceUnit> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("camera.h264");
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
        ])
        .args([
            "-t",
            "2",
            "-c:v",
            "libx264",
            "-g",
            "25",
            "-bf",
            "0",
            "-x264-params",
            "slices=1",
        ])
        .args(["-f", "h264"])
        .arg(&path)
        .status()
        .expect("ffmpeg runs (scripts/install-deps.sh)");
    assert!(status.success());
    let units = h264_access_units(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(units.len(), 50);
    units
}

#[tokio::test]
async fn udp_live_view_from_a_gb28181_rs_camera() {
    live_view(MediaTransport::Udp).await;
}

/// TCP passive: vfed listens, the camera connects and frames RTP with `$`.
#[tokio::test]
async fn tcp_passive_live_view_from_a_gb28181_rs_camera() {
    live_view(MediaTransport::TcpPassive).await;
}

/// TCP active: the camera listens where its answer says, the node connects.
#[tokio::test]
async fn tcp_active_live_view_from_a_gb28181_rs_camera() {
    live_view(MediaTransport::TcpActive).await;
}

async fn live_view(transport: MediaTransport) {
    let frames = encoded_frames();
    let node = Node::start(|options| {
        options.default_password = Some(PASSWORD.to_owned());
    })
    .await;
    let hub = Arc::new(MockFrameHub::new());
    let config = Gb28181Config {
        platform_sip_address: "127.0.0.1".to_owned(),
        platform_sip_port: node.udp.port(),
        device_id: CAMERA.to_owned(),
        channel_id: CHANNEL.to_owned(),
        sip_domain: DOMAIN.to_owned(),
        password: PASSWORD.to_owned(),
        local_sip_port: free_port(),
        heartbeat_interval_secs: 1,
        ..Gb28181Config::default()
    };
    let mut camera = Gb28181Server::start(config, hub.clone(), None)
        .await
        .unwrap();
    node.recorder
        .wait("registration", Duration::from_secs(10), |r| {
            r.events()
                .iter()
                .any(|e| matches!(e, DeviceEvent::Registered { .. }))
        })
        .await;
    assert_eq!(
        node.handle.play("34020000001320000099", CHANNEL).await,
        Err(PlayError::NotRegistered("34020000001320000099".into()))
    );
    let started = node
        .handle
        .play_over(CAMERA, CHANNEL, transport)
        .await
        .unwrap();
    assert_eq!(started.offered_ssrc.len(), 10);
    assert!(started.offered_ssrc.starts_with('0'), "{started:?}");
    // A second viewer joins the same session.
    assert_eq!(node.handle.play(CAMERA, CHANNEL).await.unwrap(), started);

    // The camera's encoder, in real time, looping its 2 s.
    let feeder_hub = hub.clone();
    let feeder = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(40));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for unit in frames.iter().cycle().take(250) {
            tick.tick().await;
            let mut unit = unit.clone();
            unit.timestamp = Instant::now();
            feeder_hub.write(unit);
        }
    });
    node.recorder
        .wait("30 access units", Duration::from_secs(10), |r| {
            r.units.lock().unwrap().len() >= 30
        })
        .await;
    let metadata = node.recorder.metadata.lock().unwrap().clone();
    assert_eq!(metadata[0].0, CHANNEL);
    let stream = &metadata[0].1;
    assert_eq!(
        (stream.codec, stream.width, stream.height),
        (Codec::H264, 320, 240)
    );
    let units = node.recorder.units.lock().unwrap().clone();
    assert!(
        units[0].1.keyframe,
        "the first unit delivered is a keyframe"
    );
    let keyframes = units.iter().filter(|(_, u)| u.keyframe).count();
    assert!(
        (1..=3).contains(&keyframes),
        "{keyframes} keyframes in {} units",
        units.len()
    );
    // 90 kHz timestamps, increasing, 25 fps on average (the camera stamps
    // by capture time, so single steps jitter with the feeder).
    assert!(
        units.windows(2).all(|p| p[1].1.pts > p[0].1.pts),
        "pts not increasing"
    );
    let span = units[units.len() - 1].1.pts - units[0].1.pts;
    let mean = span / (units.len() as i64 - 1);
    assert!((2700..=4500).contains(&mean), "mean pts step {mean}");
    node.handle.stop(CHANNEL).await.unwrap();
    assert_eq!(
        node.handle.stop(CHANNEL).await,
        Err(PlayError::NotPlaying(CHANNEL.into()))
    );
    let count = node.recorder.units.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        node.recorder.units.lock().unwrap().len(),
        count,
        "units after BYE"
    );
    feeder.abort();
    camera.shutdown().await.unwrap();
    node.stop().await;
}
