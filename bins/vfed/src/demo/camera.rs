//! The demo's cameras: a small H.264 clip shipped with the project, looped
//! at real-time pace as the live source of one device per county (no real
//! camera needed).

use tokio_util::sync::CancellationToken;
use vfed_media::{AnnexBFile, Codec};
use vfed_relay::StreamKey;

/// 10 s of 1280x720 at 25 fps, GOP 2 s (see crates/media/assets/README.md).
pub const CLIP: &[u8] = include_bytes!("../../../../crates/media/assets/demo-720p25.h264");

/// The device of each county that shows the clip.
pub const CAMERAS: &[(&str, &str)] = &[
    ("54050200002000000001", "54050200001320000001"),
    ("54052100002000000001", "54052100001320000001"),
];

/// Starts the looping source of `device` in `relay` until `stop`.
pub fn start(
    relay: &vfed_relay::Relay,
    device: &str,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let (metadata, units) = AnnexBFile::parse(CLIP, Codec::H264, 25_000)?;
    let track = relay.publish(&StreamKey::new(device, "main")?);
    vfed_relay::source::spawn_looping(track, metadata, units, stop);
    Ok(())
}
