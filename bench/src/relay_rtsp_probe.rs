//! The RTSP latency probe for the GStreamer side: a retina client (TCP
//! interleaved, as the gateway pulls cameras) that reports each picture's
//! arrival, identified by a hash of its last NAL unit (the slice data, which
//! a relay that does not re-encode passes on byte for byte).

use std::hash::{Hash as _, Hasher as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use retina::client::{PlayOptions, Session, SessionOptions, SetupOptions, Transport};
use retina::codec::{CodecItem, FrameFormat};
use url::Url;

use crate::relay_latency::{Latency, Path};
use crate::relay_source::unix_us;

/// An id for a picture in MP4 form (4-byte length-prefixed NAL units): its
/// last NAL unit's length and first and last 256 bytes.
pub fn picture_id(data: &[u8]) -> u64 {
    let mut last: &[u8] = &[];
    let mut rest = data;
    while rest.len() >= 4 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let Some(nal) = rest.get(4..4 + len) else {
            break;
        };
        last = nal;
        rest = &rest[4 + len..];
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    last.len().hash(&mut h);
    last[..last.len().min(256)].hash(&mut h);
    last[last.len().saturating_sub(256)..].hash(&mut h);
    h.finish()
}

/// Plays `url` and reports frames to `latency` as `path`, reconnecting on
/// errors, until the task is dropped. `frames` counts pictures received.
pub async fn run(url: Url, latency: Arc<Latency>, path: Path, frames: Arc<AtomicU64>) {
    loop {
        if let Err(e) = play(&url, &latency, path, &frames).await {
            eprintln!("  rtsp probe {url}: {e}; retrying");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn play(url: &Url, latency: &Latency, path: Path, frames: &AtomicU64) -> anyhow::Result<()> {
    let options = SessionOptions::default().user_agent("vfed-bench latency probe".into());
    let mut described = Session::describe(url.clone(), options).await?;
    let video = described
        .streams()
        .iter()
        .position(|s| s.media() == "video")
        .ok_or_else(|| anyhow::anyhow!("no video stream"))?;
    described
        .setup(
            video,
            SetupOptions::default()
                .transport(Transport::Tcp(Default::default()))
                .frame_format(FrameFormat::MP4),
        )
        .await?;
    let mut demuxed = described.play(PlayOptions::default()).await?.demuxed()?;
    while let Some(item) = demuxed.next().await {
        if let CodecItem::VideoFrame(frame) = item? {
            let arrived = unix_us();
            frames.fetch_add(1, Ordering::Relaxed);
            latency.frame(path, picture_id(frame.data()), arrived, None);
        }
    }
    anyhow::bail!("session ended")
}
