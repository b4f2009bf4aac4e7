//! A camera that asks for credentials: right ones play, wrong or missing ones
//! fail clearly, and no error or event ever shows the password.

mod common;

use std::time::Duration;

use common::{metadata_and_units, wait_for};
use tokio_util::sync::CancellationToken;
use vfed_gateway::testing::{CameraOptions, RtspCamera};
use vfed_gateway::{Credentials, Profile, PullConfig, PullEvent, Puller, StreamSource};
use vfed_media::Codec;

const DEVICE: &str = "54050200001320000002";
const USER: &str = "operator";
const PASSWORD: &str = "Correct-Horse-42";
const WRONG: &str = "Wrong-Battery-17";

async fn first_disconnect(
    source: StreamSource,
    cancel: &CancellationToken,
) -> anyhow::Result<String> {
    let puller = Puller::spawn(source, PullConfig::default(), cancel)?;
    let mut sub = puller.subscribe();
    let (reason, skipped) = wait_for(
        &mut sub,
        Duration::from_secs(20),
        "Disconnected",
        |e| match e {
            PullEvent::Disconnected { reason } => Some(reason.clone()),
            _ => None,
        },
    )
    .await?;
    assert!(skipped.is_empty(), "{}", common::summary(&skipped));
    let stats = puller.stats();
    assert_eq!(stats.last_error.as_deref(), Some(reason.as_str()));
    assert_eq!(stats.sessions, 0);
    puller.stop().await;
    Ok(reason)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_the_url_or_apart_work_and_wrong_ones_fail_clearly() -> anyhow::Result<()> {
    let _camera_slot = common::CAMERA.lock().await;
    let mut camera =
        RtspCamera::start(CameraOptions::default().with_credentials(USER, PASSWORD)).await?;
    let cancel = CancellationToken::new();

    // Right credentials in the URL.
    let source = StreamSource::new(
        DEVICE,
        Profile::Main,
        camera.url_with_credentials("/h264", USER, PASSWORD),
    );
    assert!(!format!("{source:?} {source}").contains(PASSWORD));
    let puller = Puller::spawn(source, PullConfig::default(), &cancel)?;
    let mut sub = puller.subscribe();
    let (metadata, units) = metadata_and_units(&mut sub, 10, Duration::from_secs(20)).await?;
    assert_eq!(
        (metadata.codec, metadata.width, metadata.height),
        (Codec::H264, 1280, 720)
    );
    assert!(units[0].keyframe);
    puller.stop().await;

    // Right credentials apart from the URL.
    let source = StreamSource::new(DEVICE, Profile::Sub, camera.url("/h264"))
        .with_credentials(Credentials::new(USER, PASSWORD));
    let puller = Puller::spawn(source, PullConfig::default(), &cancel)?;
    let mut sub = puller.subscribe();
    metadata_and_units(&mut sub, 10, Duration::from_secs(20)).await?;
    puller.stop().await;

    // Wrong password in the URL.
    let reason = first_disconnect(
        StreamSource::new(
            DEVICE,
            Profile::Main,
            camera.url_with_credentials("/h264", USER, WRONG),
        ),
        &cancel,
    )
    .await?;
    eprintln!("wrong password: {reason}");
    assert!(reason.contains("credentials rejected"), "{reason}");
    assert!(
        reason.contains("DESCRIBE") && reason.contains(&camera.url("/h264")),
        "{reason}"
    );
    assert!(
        !reason.contains(WRONG) && !reason.contains(PASSWORD),
        "{reason}"
    );

    // No credentials at all.
    let reason = first_disconnect(
        StreamSource::new(DEVICE, Profile::Main, camera.url("/h264")),
        &cancel,
    )
    .await?;
    eprintln!("no credentials: {reason}");
    assert!(reason.contains("credentials rejected"), "{reason}");

    camera.stop().await
}
