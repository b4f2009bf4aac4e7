//! What every relay case shares (the clip, the PKI, the probe thread, the
//! timings) and what one measured window yields.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use vfed_pki::TlsMaterial;

use crate::machine::{CpuMark, CpuUse};
use crate::relay_clip::Clip;
use crate::relay_latency::{Latency, ProbeThread, Samples};
use crate::relay_proc::{Peer, ProcTimes};

/// The scratch directory: a fresh temporary one, or `$VFED_BENCH_WORK`
/// (kept afterwards, with the peers' logs and profiles, for debugging).
pub enum Scratch {
    /// Removed when dropped.
    Temp(tempfile::TempDir),
    /// Kept.
    Kept(PathBuf),
}

impl Scratch {
    /// Makes one.
    pub fn new(name: &str) -> anyhow::Result<Self> {
        match std::env::var_os("VFED_BENCH_WORK") {
            Some(dir) => {
                let dir = PathBuf::from(dir).join(name);
                std::fs::create_dir_all(&dir)?;
                Ok(Self::Kept(dir))
            }
            None => Ok(Self::Temp(tempfile::tempdir()?)),
        }
    }

    /// Its path.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Self::Temp(t) => t.path(),
            Self::Kept(p) => p,
        }
    }
}

/// Shared by the cases of a run.
pub struct Env {
    /// This binary (it runs the relay nodes as `vfed-bench relay-node`).
    pub exe: PathBuf,
    /// Scratch directory: clip, certificates, peer logs.
    pub work: PathBuf,
    /// Directory of the CA and certificates.
    pub pki: PathBuf,
    /// The viewers' credentials (`tool/bench-viewer`).
    pub viewer: TlsMaterial,
    /// The looped clip.
    pub clip: Clip,
    /// Where the latency probes run.
    pub probes: ProbeThread,
    /// Settling time before a window (after every viewer plays).
    pub warmup: Duration,
    /// Length of a measured window.
    pub window: Duration,
    /// How long peers get to start.
    pub start_timeout: Duration,
}

impl Env {
    /// A log file for a peer.
    pub fn log(&self, name: &str) -> PathBuf {
        self.work.join(format!("{name}.log"))
    }
}

/// What one window of one case measured.
#[derive(Clone, Debug, Default)]
pub struct Window {
    /// Its length, seconds.
    pub seconds: f64,
    /// CPU time of the relay under test in the window.
    pub relay: ProcTimes,
    /// Its resident memory at the end of the window, KiB.
    pub rss_kib: u64,
    /// Its resident memory before any viewer, KiB.
    pub rss_base_kib: u64,
    /// CPU time of the source (county node or RTSP camera) in the window.
    pub source: ProcTimes,
    /// Bytes delivered to viewers in the window.
    pub egress_bytes: u64,
    /// This process (viewers) and the whole machine.
    pub bench: CpuUse,
    /// Latency samples, if probed.
    pub latency: Option<Samples>,
    /// GOPs the relay cut short for viewers (vfed) in the window.
    pub gops_cut: u64,
    /// Viewers that were still playing at the end.
    pub viewers_alive: usize,
    /// Whether egress had settled at the expected rate before the window.
    pub settled: bool,
}

impl Window {
    /// Cores the relay kept busy.
    pub fn relay_cores(&self) -> f64 {
        self.relay.total() / self.seconds
    }

    /// Delivered egress, Mbit/s.
    pub fn egress_mbps(&self) -> f64 {
        self.egress_bytes as f64 * 8.0 / self.seconds / 1e6
    }

    /// Egress Gbit/s per core of relay CPU.
    pub fn gbps_per_core(&self) -> f64 {
        self.egress_mbps() / 1000.0 / self.relay_cores()
    }

    /// Share of the relay's CPU time spent in the kernel.
    pub fn system_share(&self) -> f64 {
        self.relay.system / self.relay.total().max(f64::MIN_POSITIVE)
    }
}

/// Waits (up to `timeout`) until `egress()` grows at `expected` bytes/s
/// within 10% for two seconds in a row: viewers that are still starting
/// (an ffmpeg probing its input) or catching up on a backlog would make a
/// window measure their transient. Returns whether it settled.
pub async fn settle(egress: impl Fn() -> u64, expected: f64, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut good = 0;
    let mut last = egress();
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = egress();
        let rate = now.saturating_sub(last) as f64;
        last = now;
        good = if (rate / expected - 1.0).abs() <= 0.1 {
            good + 1
        } else {
            0
        };
        if good >= 2 {
            return true;
        }
    }
    false
}

/// Measures one window: the relay's and the source's CPU, this process's
/// and the machine's, `egress()` before and after, and the probes.
pub async fn measure(
    env: &Env,
    relay: &Peer,
    source: &Peer,
    egress: impl Fn() -> u64,
    latency: Option<&Arc<Latency>>,
) -> Window {
    let relay_before = relay.times();
    let source_before = source.times();
    let bytes_before = egress();
    let mark = CpuMark::now();
    let started = std::time::Instant::now();
    if let Some(l) = latency {
        l.start();
    }
    tokio::time::sleep(env.window).await;
    let samples = latency.map(|l| l.stop());
    let seconds = started.elapsed().as_secs_f64();
    let bench = mark.used();
    Window {
        seconds,
        relay: relay.times().since(relay_before),
        rss_kib: relay.rss_kib(),
        source: source.times().since(source_before),
        egress_bytes: egress().saturating_sub(bytes_before),
        bench,
        latency: samples,
        ..Window::default()
    }
}
