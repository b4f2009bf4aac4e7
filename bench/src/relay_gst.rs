//! The GStreamer side of the relay benchmark, with the same streams and
//! viewer counts as the vfed side: an RTSP camera serving the clip looped
//! without re-encoding (`tests/peers/rtsp_camera.py`, `/file`), a
//! gst-rtsp-server relay with a shared factory per mount
//! (`bench/peers/rtsp_relay.py`), both run with /usr/bin/python3, and
//! `ffmpeg -rtsp_transport tcp ... -c copy -f null -` viewers, each a process.
//! Egress is read from the kernel (`ss`: bytes acknowledged on the relay's
//! client connections).

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use url::Url;

use crate::relay_env::{Env, Window, measure, settle};
use crate::relay_latency::{Latency, Path};
use crate::relay_proc::Peer;
use crate::relay_vfed::Layout;

/// The Python interpreter that has `gi` (TEST-PEERS: not the first on PATH).
const PYTHON: &str = "/usr/bin/python3";

fn script(relative: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Whether the GStreamer peers can run here; `Err` says what is missing.
pub fn available() -> anyhow::Result<()> {
    let gi = Command::new(PYTHON)
        .args([
            "-c",
            "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer",
        ])
        .output()
        .context("running /usr/bin/python3")?;
    anyhow::ensure!(
        gi.status.success(),
        "{PYTHON} cannot import GstRtspServer (apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)"
    );
    for (tool, flag) in [("ffmpeg", "-version"), ("ss", "-V")] {
        anyhow::ensure!(
            Command::new(tool).arg(flag).output().is_ok(),
            "{tool} not found (apt-get install ffmpeg iproute2)"
        );
    }
    Ok(())
}

/// Starts the RTSP camera serving the clip at `/file`.
pub async fn start_camera(env: &Env) -> anyhow::Result<Peer> {
    let args = vec![
        script("../tests/peers/rtsp_camera.py")
            .display()
            .to_string(),
        "--file".into(),
        env.clip.path.display().to_string(),
    ];
    Peer::start_ready(
        "gst-camera",
        std::path::Path::new(PYTHON),
        &args,
        &env.log("gst-camera"),
        env.start_timeout,
    )
    .await
}

/// Connections established on `port` (server side) and the bytes they
/// delivered (acknowledged by the peer).
fn tcp_delivered(port: u16) -> (usize, u64) {
    let Ok(out) = Command::new("ss")
        .args(["-tinH", "state", "established"])
        .arg(format!("( sport = :{port} )"))
        .output()
    else {
        return (0, 0);
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let acked: Vec<u64> = text
        .split_whitespace()
        .filter_map(|t| t.strip_prefix("bytes_acked:")?.parse().ok())
        .collect();
    (acked.len(), acked.iter().sum())
}

fn ffmpeg_viewer(url: &str) -> anyhow::Result<Peer> {
    let args: Vec<String> = [
        "-nostdin",
        "-loglevel",
        "error",
        "-rtsp_transport",
        "tcp",
        "-i",
        url,
        "-c",
        "copy",
        "-f",
        "null",
        "-",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    Peer::start_quiet("ffmpeg viewer", "ffmpeg", &args)
}

/// Runs one case through a fresh camera and GStreamer relay (fresh as the
/// vfed nodes are: a killed relay's RTP-over-UDP session would otherwise
/// live on at the camera and feed whoever gets its ports next).
pub async fn run(env: &Env, layout: &Layout) -> anyhow::Result<Window> {
    let camera = start_camera(env).await?;
    let upstream = format!("rtsp://127.0.0.1:{}/file", camera.port);
    let args = vec![
        script("peers/rtsp_relay.py").display().to_string(),
        "--mounts".into(),
        layout.streams.to_string(),
        "--upstream".into(),
        upstream.clone(),
    ];
    let relay = Peer::start_ready(
        "gst-relay",
        std::path::Path::new(PYTHON),
        &args,
        &env.log("gst-relay"),
        env.start_timeout,
    )
    .await?;
    let rss_base_kib = relay.rss_kib();
    let mount = |i: usize| format!("rtsp://127.0.0.1:{}/s{i}", relay.port);
    let latency = Arc::new(Latency::default());
    let mut probes = Vec::new();
    if layout.probe {
        let mut counters = Vec::new();
        for (path, url) in [(Path::Direct, upstream.clone()), (Path::Relayed, mount(0))] {
            let frames = Arc::new(AtomicU64::new(0));
            counters.push(frames.clone());
            let url = Url::parse(&url)?;
            probes.push(env.probes.handle().spawn(crate::relay_rtsp_probe::run(
                url,
                latency.clone(),
                path,
                frames,
            )));
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while counters.iter().any(|c| c.load(Ordering::Relaxed) == 0) {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "RTSP probes got no picture within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let mut viewers: Vec<Peer> = Vec::new();
    for (stream, n) in layout.viewers.iter().enumerate() {
        let skip = usize::from(layout.probe && stream == 0);
        for _ in 0..n.saturating_sub(skip) {
            viewers.push(ffmpeg_viewer(&mount(stream))?);
            // Ten at a time: a hundred ffmpeg starting at once starve the relay
            // and leave it a backlog to work off.
            if viewers.len().is_multiple_of(10) {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
    let expected: usize = layout.viewers.iter().sum();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (connections, _) = tcp_delivered(relay.port);
        if connections >= expected {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "only {connections} of {expected} RTSP viewers connected to the GStreamer relay within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(env.warmup).await;
    let port = relay.port;
    let expected = env.clip.mbps * 1e6 / 8.0 * expected as f64;
    let settled = settle(|| tcp_delivered(port).1, expected, Duration::from_secs(45)).await;
    let mut window = measure(
        env,
        &relay,
        &camera,
        || tcp_delivered(port).1,
        layout.probe.then_some(&latency),
    )
    .await;
    window.rss_base_kib = rss_base_kib;
    window.settled = settled;
    window.viewers_alive =
        viewers.iter_mut().map(Peer::running).filter(|r| *r).count() + probes.len() / 2;
    for probe in probes {
        probe.abort();
    }
    drop(viewers);
    drop(relay);
    Ok(window)
}
