//! The test camera: GStreamer's RTSP server (`tests/peers/rtsp_camera.py`)
//! run by `/usr/bin/python3`, for this crate's and other crates' tests.
//!
//! Mount points: `/h264` and `/h265` (live 1280x720@25 test pattern, GOP 50)
//! and `/file` (an Annex-B H.264 file looped without re-encoding).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// The interpreter with python3-gi (the `python3` first on PATH may lack it).
pub const PYTHON: &str = "/usr/bin/python3";

/// Lines of the camera's stderr kept for error messages.
const STDERR_TAIL: usize = 30;

/// How to start the test camera.
#[derive(Clone, Debug)]
pub struct CameraOptions {
    /// TCP port on 127.0.0.1; 0 picks a free one (kept across restarts).
    pub port: u16,
    /// Annex-B H.264 file served at `/file`.
    pub file: Option<PathBuf>,
    /// Basic-auth user name and password required on every mount point.
    pub credentials: Option<(String, String)>,
    /// How long to wait for the camera to listen.
    pub ready_timeout: Duration,
}

impl Default for CameraOptions {
    fn default() -> Self {
        Self {
            port: 0,
            file: None,
            credentials: None,
            ready_timeout: Duration::from_secs(20),
        }
    }
}

impl CameraOptions {
    /// The same options, requiring `user` and `password`.
    pub fn with_credentials(mut self, user: &str, password: &str) -> Self {
        self.credentials = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// The same options, serving `file` at `/file`.
    pub fn with_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.file = Some(file.into());
        self
    }
}

/// A running test camera. Killed when dropped.
#[derive(Debug)]
pub struct RtspCamera {
    options: CameraOptions,
    child: Option<Child>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    readers: Vec<JoinHandle<()>>,
}

/// The camera script, found from this crate's manifest directory.
pub fn script_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/rtsp_camera.py")
}

impl RtspCamera {
    /// Starts the camera and waits until it listens.
    pub async fn start(options: CameraOptions) -> anyhow::Result<Self> {
        let mut camera = Self {
            options,
            child: None,
            stderr: Arc::default(),
            readers: Vec::new(),
        };
        camera.spawn().await?;
        Ok(camera)
    }

    /// The port the camera listens on.
    pub fn port(&self) -> u16 {
        self.options.port
    }

    /// `rtsp://127.0.0.1:<port>/<mount>` (`mount` with or without the slash).
    pub fn url(&self, mount: &str) -> String {
        format!(
            "rtsp://127.0.0.1:{}/{}",
            self.options.port,
            mount.trim_start_matches('/')
        )
    }

    /// [`RtspCamera::url`] with `user:password@` in it.
    pub fn url_with_credentials(&self, mount: &str, user: &str, password: &str) -> String {
        format!(
            "rtsp://{user}:{password}@127.0.0.1:{}/{}",
            self.options.port,
            mount.trim_start_matches('/')
        )
    }

    /// Whether the camera process is running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Stops the camera with SIGTERM (SIGKILL after 5 s).
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Some(pid) = child.id() {
            // No libc here: the kill(1) utility sends the signal.
            let status = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
            if status.is_ok_and(|s| s.success())
                && tokio::time::timeout(Duration::from_secs(5), child.wait())
                    .await
                    .is_ok()
            {
                return Ok(());
            }
        }
        child.kill().await.context("killing the camera")?;
        Ok(())
    }

    /// Kills the camera at once (SIGKILL): a camera losing power.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await.context("killing the camera")?;
        }
        Ok(())
    }

    /// Starts the camera again on the same port (stopping it first if running).
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await?;
        self.spawn().await
    }

    fn stderr_tail(&self) -> String {
        let lines = self.stderr.lock().unwrap_or_else(PoisonError::into_inner);
        lines.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        let script = script_path();
        if !Path::new(PYTHON).exists() {
            bail!(
                "{PYTHON} not found: install python3 python3-gi gir1.2-gst-rtsp-server-1.0 (make test does)"
            );
        }
        let mut cmd = Command::new(PYTHON);
        cmd.arg(&script)
            .arg("--port")
            .arg(self.options.port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(file) = &self.options.file {
            cmd.arg("--file").arg(file);
        }
        if let Some((user, password)) = &self.options.credentials {
            cmd.arg("--user").arg(user).arg("--password").arg(password);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {PYTHON} {}", script.display()))?;
        let stdout = child.stdout.take().context("camera stdout")?;
        let stderr = child.stderr.take().context("camera stderr")?;
        self.stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        let tail = Arc::clone(&self.stderr);
        let stderr_reader = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
                if tail.len() == STDERR_TAIL {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(self.options.ready_timeout, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(port) = line.strip_prefix("READY ") {
                    return Ok::<_, anyhow::Error>(Some(port.trim().parse::<u16>()?));
                }
            }
            Ok(None)
        })
        .await;
        match ready {
            Ok(Ok(Some(port))) => {
                self.options.port = port;
                self.child = Some(child);
                // Keep reading stdout so that the camera never blocks on it.
                let stdout_reader =
                    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
                self.readers.retain(|r| !r.is_finished());
                self.readers.extend([stderr_reader, stdout_reader]);
                Ok(())
            }
            outcome => {
                let _ = child.kill().await;
                // The process is gone: its stderr ends soon.
                let _ = tokio::time::timeout(Duration::from_secs(2), stderr_reader).await;
                let tail = self.stderr_tail();
                if tail.contains("MISSING-GI") {
                    bail!(
                        "{PYTHON} cannot load GStreamer's RTSP server through gi: \
                         install python3-gi gir1.2-gst-rtsp-server-1.0 (make test does)\n{tail}"
                    );
                }
                let why = match outcome {
                    Ok(Ok(_)) => "exited before READY".to_owned(),
                    Ok(Err(e)) => format!("failed: {e:#}"),
                    Err(_) => format!("not ready after {:?}", self.options.ready_timeout),
                };
                bail!(
                    "test camera ({}) {why}; stderr tail:\n{tail}",
                    script.display()
                )
            }
        }
    }
}

impl Drop for RtspCamera {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        for reader in &self.readers {
            reader.abort();
        }
    }
}

/// Writes a small Annex-B H.264 file for `/file` (640x360, 25 fps, a
/// keyframe every second, no B-frames) with ffmpeg.
pub async fn write_test_h264(path: &Path, seconds: u32) -> anyhow::Result<()> {
    let output = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=640x360:rate=25")
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-bf",
            "0",
            "-t",
        ])
        .arg(seconds.to_string())
        .args(["-f", "h264"])
        .arg(path)
        .stdin(Stdio::null())
        .kill_on_drop(true)
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
