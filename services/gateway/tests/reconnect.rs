//! The camera dies and comes back on the same port: the same puller notices,
//! backs off, reconnects and keeps one increasing timeline.

mod common;

use std::time::Duration;

use common::{metadata_and_units, wait_for};
use tokio_util::sync::CancellationToken;
use vfed_gateway::testing::{CameraOptions, RtspCamera};
use vfed_gateway::{Profile, PullConfig, PullEvent, Puller, StreamSource, StreamState};

const DEVICE: &str = "54050200001320000003";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn camera_killed_then_back_on_the_same_port() -> anyhow::Result<()> {
    let _camera_slot = common::CAMERA.lock().await;
    let mut camera = RtspCamera::start(CameraOptions::default()).await?;
    let cancel = CancellationToken::new();
    let source = StreamSource::new(DEVICE, Profile::Main, camera.url("/h264"));
    let puller = Puller::spawn(source, PullConfig::default(), &cancel)?;
    let mut sub = puller.subscribe();
    let (_, before) = metadata_and_units(&mut sub, 10, Duration::from_secs(20)).await?;

    camera.kill().await?;
    let (reason, _) = wait_for(
        &mut sub,
        Duration::from_secs(15),
        "Disconnected",
        |e| match e {
            PullEvent::Disconnected { reason } => Some(reason.clone()),
            _ => None,
        },
    )
    .await?;
    eprintln!("after kill: {reason}");
    let stats = puller.stats();
    assert!(
        matches!(
            stats.state,
            StreamState::Backoff { .. } | StreamState::Connecting
        ),
        "{stats:?}"
    );

    // While the camera is down, every attempt fails and says why.
    let (refused, _) = wait_for(
        &mut sub,
        Duration::from_secs(5),
        "a failed attempt",
        |e| match e {
            PullEvent::Disconnected { reason } => Some(reason.clone()),
            _ => None,
        },
    )
    .await?;
    eprintln!("attempt while down: {refused}");
    assert!(refused.contains("DESCRIBE"), "{refused}");

    let port = camera.port();
    camera.restart().await?;
    assert_eq!(camera.port(), port);
    let back = tokio::time::Instant::now();
    let ((metadata, new_session), skipped) = wait_for(
        &mut sub,
        Duration::from_secs(10),
        "metadata of a new session",
        |e| match e {
            PullEvent::Metadata {
                metadata,
                new_session,
            } => Some((metadata.clone(), *new_session)),
            _ => None,
        },
    )
    .await?;
    assert!(new_session);
    eprintln!(
        "new session {:?} after the restart; meanwhile {}",
        back.elapsed(),
        common::summary(&skipped)
    );
    sub.metadata = Some(metadata);
    let (metadata, after) = metadata_and_units(&mut sub, 5, Duration::from_secs(10)).await?;
    assert_eq!((metadata.width, metadata.height), (1280, 720));
    assert!(
        after[0].keyframe,
        "first access unit after the reconnect is not a keyframe"
    );
    let last_before = before.last().map_or(0, |u| u.dts);
    assert!(
        after[0].dts > last_before,
        "timeline went back: {} after {last_before}",
        after[0].dts
    );

    let stats = puller.stats();
    assert_eq!(stats.state, StreamState::Playing);
    assert_eq!(stats.sessions, 2);
    assert!(stats.reconnects >= 1, "{stats:?}");
    eprintln!("{stats:?}");
    puller.stop().await;
    camera.stop().await
}
