//! The clip every relay benchmark stream loops: 1080p25 H.264 at about
//! 4 Mbit/s, made once per run with ffmpeg (as docs/TEST-PEERS describes the
//! load-test camera): `testsrc2`, GOP 50 without scene cuts, no B-frames
//! (vfed's Annex-B reader numbers frames in decode order).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;
use vfed_media::AnnexBFile;

/// The clip and what it measures.
#[derive(Clone, Debug)]
pub struct Clip {
    /// The Annex-B file.
    pub path: PathBuf,
    /// Width x height.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Frames in the file.
    pub frames: usize,
    /// Its duration, seconds.
    pub seconds: f64,
    /// Mean bitrate, Mbit/s (payload bytes x 8 / duration).
    pub mbps: f64,
}

/// Encodes `seconds` of 1080p25 at 4 Mbit/s into `dir/cam.h264`.
pub fn make(dir: &Path, seconds: u32) -> anyhow::Result<Clip> {
    let path = dir.join("cam.h264");
    let output = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
        ])
        .args(["-i", "testsrc2=size=1920x1080:rate=25"])
        .args(["-t", &seconds.to_string()])
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        ])
        .args(["-b:v", "4M", "-maxrate", "4M", "-bufsize", "4M"])
        .args([
            "-g",
            "50",
            "-keyint_min",
            "50",
            "-sc_threshold",
            "0",
            "-bf",
            "0",
        ])
        .args(["-f", "h264"])
        .arg(&path)
        .output()
        .context("running ffmpeg (apt-get install ffmpeg)")?;
    anyhow::ensure!(
        output.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (metadata, units) =
        AnnexBFile::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let fps = f64::from(metadata.fps_milli.max(1)) / 1000.0;
    let clip_seconds = units.len() as f64 / fps;
    let bytes: usize = units.iter().map(|u| u.data.len()).sum();
    Ok(Clip {
        path,
        width: metadata.width,
        height: metadata.height,
        frames: units.len(),
        seconds: clip_seconds,
        mbps: bytes as f64 * 8.0 / clip_seconds / 1e6,
    })
}
