//! The gateway reports the devices that deliver frames, and stops reporting
//! a device whose camera died; set_streams validates before it changes anything.

mod common;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use vfed_gateway::testing::{CameraOptions, RtspCamera, write_test_h264};
use vfed_gateway::{
    Gateway, GatewayConfig, GatewayError, LivenessSink, Profile, StreamKey, StreamSource,
};

const DYING: &str = "54050200001320000004";
const STEADY: &str = "54050200001320000005";

struct Recorder(mpsc::UnboundedSender<Vec<String>>);

#[async_trait]
impl LivenessSink for Recorder {
    async fn alive(&self, device_ids: &[String]) {
        let _ = self.0.send(device_ids.to_vec());
    }
}

/// Waits for a report satisfying `want`.
async fn report(
    rx: &mut mpsc::UnboundedReceiver<Vec<String>>,
    within: Duration,
    what: &str,
    want: impl Fn(&[String]) -> bool,
) -> anyhow::Result<Vec<String>> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let ids = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .ok()
            .flatten()
            .with_context(|| format!("no report with {what} within {within:?}; saw {seen:?}"))?;
        if want(&ids) {
            return Ok(ids);
        }
        seen.push(ids);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_follows_the_frames() -> anyhow::Result<()> {
    let _camera_slot = common::CAMERA.lock().await;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("cam.h264");
    write_test_h264(&file, 4).await?;
    let mut dying = RtspCamera::start(CameraOptions::default()).await?;
    let mut steady = RtspCamera::start(CameraOptions::default().with_file(&file)).await?;

    let (tx, mut rx) = mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let config = GatewayConfig {
        liveness_period: Duration::from_millis(500),
        ..GatewayConfig::default()
    };
    let gateway = Gateway::new(config, Some(Arc::new(Recorder(tx))), cancel.clone());
    let sources = vec![
        StreamSource::new(DYING, Profile::Main, dying.url("/h264")),
        StreamSource::new(STEADY, Profile::Main, steady.url("/file")),
    ];
    gateway.set_streams(sources.clone())?;

    // Bad input changes nothing.
    let mut twice = sources.clone();
    twice.push(sources[0].clone());
    assert!(matches!(
        gateway.set_streams(twice),
        Err(GatewayError::DuplicateStream { .. })
    ));
    let bad = vec![StreamSource::new(STEADY, Profile::Sub, "http://u:pw@cam/x")];
    let err = gateway
        .set_streams(bad)
        .err()
        .context("http URL accepted")?;
    assert!(!err.to_string().contains("pw@"), "{err}");
    assert_eq!(gateway.streams(), sources);

    let both = |ids: &[String]| ids.iter().any(|i| i == DYING) && ids.iter().any(|i| i == STEADY);
    let ids = report(&mut rx, Duration::from_secs(20), "both devices", both).await?;
    assert_eq!(ids.len(), 2, "{ids:?}");
    let stats = gateway.stats();
    let steady_stats = &stats[&StreamKey::new(STEADY, Profile::Main)];
    assert_eq!((steady_stats.width, steady_stats.height), (640, 360));

    dying.kill().await?;
    let only_steady = |ids: &[String]| ids == [STEADY.to_owned()];
    report(
        &mut rx,
        Duration::from_secs(10),
        "only the steady device",
        only_steady,
    )
    .await?;
    // And it stays that way.
    let next = report(&mut rx, Duration::from_secs(5), "a further report", |_| {
        true
    })
    .await?;
    assert_eq!(next, [STEADY.to_owned()]);

    // Removing a stream stops its puller; the other keeps playing.
    gateway.set_streams(vec![sources[1].clone()])?;
    assert_eq!(gateway.stats().len(), 1);
    assert!(
        gateway
            .subscribe(&StreamKey::new(DYING, Profile::Main))
            .is_none()
    );

    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(10), gateway.stopped())
        .await
        .context("gateway did not stop")?;
    assert!(gateway.stats().is_empty());
    steady.stop().await?;
    Ok(())
}
