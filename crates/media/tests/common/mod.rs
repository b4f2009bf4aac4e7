//! Shared by the media tests: ffmpeg as the encoder, ffprobe/ffmpeg as the
//! viewer, and writing an HLS presentation to disk.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use vfed_media::{AccessUnit, SegmentWindow, StreamMetadata};

/// Fails (never skips) when a viewer tool is missing.
pub fn require(tool: &str) {
    let found = Command::new(tool)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{tool}` not found: the media tests need ffmpeg and ffprobe as the viewer. \
         Install the Debian package `ffmpeg` (`make deps` / `make test` does)."
    );
}

/// A directory removed when dropped, unless `VFED_MEDIA_KEEP_TEST_DIRS` is
/// set (to look at the segments with other players).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("vfed-media-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("VFED_MEDIA_KEEP_TEST_DIRS").is_some() {
            eprintln!("kept {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a command, panicking with its stderr if it fails; returns stdout and stderr.
pub fn run(cmd: &mut Command) -> (String, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{cmd:?} failed: {stderr}");
    (stdout, stderr)
}

/// Encodes `frames` frames of testsrc2 at `size` and 25 fps into an Annex-B
/// file `name` with `encoder_args` (codec, GOP, no B-frames...).
pub fn encode(dir: &Path, name: &str, size: &str, frames: u32, encoder_args: &[&str]) -> PathBuf {
    require("ffmpeg");
    let path = dir.join(name);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={size}:rate=25"))
        .args(["-frames:v", &frames.to_string(), "-pix_fmt", "yuv420p"])
        .args(encoder_args)
        .arg(&path);
    run(&mut cmd);
    path
}

/// Muxes `units` into `init.mp4`, `segment-N.m4s` files and `playlist.m3u8`
/// (ended, VOD-style) in `dir`; returns the playlist path.
pub fn write_hls(dir: &Path, metadata: &StreamMetadata, units: Vec<AccessUnit>) -> PathBuf {
    let mut window = SegmentWindow::new(metadata)
        .unwrap()
        .with_capacity(usize::MAX);
    for unit in units {
        window.push(unit).unwrap();
    }
    window.finish().unwrap();
    std::fs::write(dir.join("init.mp4"), window.init_segment()).unwrap();
    for segment in window.segments() {
        std::fs::write(dir.join(segment.uri()), &segment.data).unwrap();
    }
    let playlist = dir.join("playlist.m3u8");
    std::fs::write(&playlist, window.playlist().render()).unwrap();
    playlist
}

/// `codec_name,width,height,nb_read_frames` as ffprobe reports them after decoding every frame.
pub fn ffprobe_stream(path: &Path) -> String {
    require("ffprobe");
    let (out, _) = run(Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=nb_read_frames,codec_name,width,height",
        ])
        .args(["-of", "csv=p=0"])
        .arg(path));
    out.trim().to_owned()
}

/// What `ffmpeg -v error` prints while decoding the whole input (empty when clean).
pub fn ffmpeg_decode_errors(path: &Path) -> String {
    require("ffmpeg");
    let (_, err) = run(Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"]));
    err.trim().to_owned()
}
