//! Pulling the test camera's live H.264 and H.265 streams.

mod common;

use std::time::Duration;

use common::{metadata_and_units, nal_types};
use tokio_util::sync::CancellationToken;
use vfed_gateway::testing::{CameraOptions, RtspCamera};
use vfed_gateway::{Profile, PullConfig, Puller, StreamSource, StreamState};
use vfed_media::Codec;

const DEVICE: &str = "54050200001320000001";

async fn pull(mount: &str, codec: Codec) -> anyhow::Result<()> {
    let _camera_slot = common::CAMERA.lock().await;
    let mut camera = RtspCamera::start(CameraOptions::default()).await?;
    let cancel = CancellationToken::new();
    let source = StreamSource::new(DEVICE, Profile::Main, camera.url(mount));
    let puller = Puller::spawn(source, PullConfig::default(), &cancel)?;
    let mut sub = puller.subscribe();

    let (metadata, units) = metadata_and_units(&mut sub, 50, Duration::from_secs(30)).await?;
    assert_eq!(metadata.codec, codec);
    assert_eq!((metadata.width, metadata.height), (1280, 720));
    assert_eq!(metadata.sps.len(), 1);
    assert_eq!(metadata.pps.len(), 1);
    assert_eq!(metadata.vps.len(), usize::from(codec == Codec::H265));
    // The encoders' timing info (VUI), not an assumed rate; no B-frames (zerolatency).
    assert_eq!(metadata.signalled_fps_milli(), Some(25_000));
    assert_eq!(metadata.fps_milli, 25_000);
    assert_eq!(metadata.reorder_frames(), Some(0));
    assert!(units[0].keyframe, "first access unit is not a keyframe");
    for pair in units.windows(2) {
        assert!(
            pair[1].dts > pair[0].dts,
            "dts {} then {}",
            pair[0].dts,
            pair[1].dts
        );
        assert_eq!(pair[1].pts, pair[1].dts);
    }
    // 50 frames at 25 fps span about 2 s of the 90 kHz clock.
    let span = units[49].dts - units[0].dts;
    assert!(
        (160_000..=200_000).contains(&span),
        "50 frames span {span} ticks"
    );
    for au in &units {
        nal_types(&au.data, codec == Codec::H265)?;
        assert!(au.ingest_unix_us > 1_700_000_000_000_000);
    }
    let keyframes = units.iter().filter(|u| u.keyframe).count();
    assert!(
        (1..=2).contains(&keyframes),
        "{keyframes} keyframes in 50 frames with GOP 50"
    );

    let stats = puller.stats();
    assert_eq!(stats.state, StreamState::Playing);
    assert_eq!(
        (stats.codec, stats.width, stats.height),
        (Some(codec), 1280, 720)
    );
    assert!(stats.frames >= 50 && stats.bitrate_bps > 0, "{stats:?}");
    // Arrival rate, so it depends on the encoder keeping up on a busy machine.
    assert!(stats.fps > 5.0 && stats.fps < 50.0, "fps {}", stats.fps);
    eprintln!("{mount}: {metadata:?}\n{stats:?}");

    puller.stop().await;
    camera.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_live_h264() -> anyhow::Result<()> {
    pull("/h264", Codec::H264).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_live_h265() -> anyhow::Result<()> {
    pull("/h265", Codec::H265).await
}
