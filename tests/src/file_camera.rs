//! A camera that loops a pre-encoded MP4 over RTSP without re-encoding,
//! with its real PTS/DTS (B-frames included): `tests/peers/rtsp_file_camera.py`
//! (GStreamer's RTSP server) run by `/usr/bin/python3`. Cheap on CPU, so a
//! test or a benchmark can run many; and the MP4s it plays, made by ffmpeg.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The interpreter with python3-gi (the `python3` first on PATH may lack it).
const PYTHON: &str = "/usr/bin/python3";

/// The codec of a camera's MP4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileCodec {
    /// H.264 (libx264).
    H264,
    /// H.265 (libx265).
    H265,
}

impl FileCodec {
    fn name(self) -> &'static str {
        match self {
            Self::H264 => "h264",
            Self::H265 => "h265",
        }
    }
}

/// What the MP4 holds.
#[derive(Clone, Debug)]
pub struct ClipSpec {
    /// The codec.
    pub codec: FileCodec,
    /// Picture size.
    pub width: u32,
    /// Picture size.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Frames per GOP.
    pub gop: u32,
    /// B-frames between references (`-bf`; 0: none).
    pub b_frames: u32,
    /// Target bitrate, kbit/s.
    pub kbps: u32,
    /// Length, seconds.
    pub seconds: u32,
}

/// Encodes a test pattern as `spec` says into `path` with ffmpeg.
pub async fn make_clip(path: &Path, spec: &ClipSpec) -> anyhow::Result<()> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!(
            "testsrc2=size={}x{}:rate={}",
            spec.width, spec.height, spec.fps
        ))
        .args(["-t", &spec.seconds.to_string(), "-pix_fmt", "yuv420p"]);
    let rate = format!("{}k", spec.kbps);
    match spec.codec {
        FileCodec::H264 => {
            cmd.args(["-c:v", "libx264", "-preset", "veryfast"])
                .args(["-g", &spec.gop.to_string()])
                .args(["-keyint_min", &spec.gop.to_string(), "-sc_threshold", "0"])
                .args(["-bf", &spec.b_frames.to_string()]);
        }
        FileCodec::H265 => {
            cmd.args(["-c:v", "libx265", "-preset", "ultrafast", "-tag:v", "hvc1"])
                .args([
                    "-x265-params",
                    &format!(
                        "log-level=error:keyint={0}:min-keyint={0}:scenecut=0:open-gop=0:bframes={1}",
                        spec.gop, spec.b_frames
                    ),
                ]);
        }
    }
    cmd.args(["-b:v", &rate, "-maxrate", &rate, "-bufsize", &rate])
        .arg(path)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = cmd
        .output()
        .await
        .context("running ffmpeg (install ffmpeg; make test does)")?;
    if !output.status.success() {
        bail!(
            "ffmpeg failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// The camera script, found from this crate's manifest directory.
pub fn file_camera_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/rtsp_file_camera.py")
}

/// A running file camera, killed when dropped.
#[derive(Debug)]
pub struct FileCamera {
    port: u16,
    mount: String,
    child: Child,
}

impl FileCamera {
    /// Serves `mp4` (of `codec`) at `rtsp://127.0.0.1:<free port>/<mount>`.
    pub async fn start(mp4: &Path, codec: FileCodec, mount: &str) -> anyhow::Result<Self> {
        // A free port: bound, read and released (the camera takes it at once).
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mount = format!("/{}", mount.trim_start_matches('/'));
        let mut child = Command::new(PYTHON)
            .arg(file_camera_script())
            .arg(port.to_string())
            .arg(&mount)
            .arg(mp4)
            .arg(codec.name())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {PYTHON} (install python3-gi gir1.2-gst-rtsp-server-1.0; make test does)"
                )
            })?;
        let stdout = child.stdout.take().context("camera stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if line.starts_with("serving ") {
                    return Ok::<_, anyhow::Error>(true);
                }
            }
            Ok(false)
        })
        .await;
        if !matches!(ready, Ok(Ok(true))) {
            let _ = child.kill().await;
            bail!("the file camera for {} did not start", mp4.display());
        }
        // Keep reading stdout so that the camera never blocks on it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { port, mount, child })
    }

    /// The camera's RTSP URL.
    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}{}", self.port, self.mount)
    }

    /// The camera's process ID (for CPU accounting).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}
