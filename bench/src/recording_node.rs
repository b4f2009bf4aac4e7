//! `vfed-bench record-node`: vfed's archive in its own process, so that its
//! CPU time can be read from /proc apart from everything else. It is wired
//! as `vfed serve` wires it: a relay whose local tracks are fed by looping
//! clips (the benchmark's cameras, stamped at ingest), and the archive
//! (`vfed_archive::Archive::run`) recording every local track into `--dir`
//! with fMP4 fragments, SHA-256 per fragment and fdatasync per fragment.
//! No network, gRPC or HLS; audit records are discarded.
//!
//! - Without `--freeze`: prints `READY 0` and records until stdin closes.
//! - With `--freeze MOUNT` (the archive directory's own file system, a loop
//!   device): also reads every stream as a live viewer would (one track
//!   reader each) and measures the hop latency (publish to delivery) for
//!   `--phase` seconds with the disk writable, then with the file system
//!   frozen (`fsfreeze -f`: every archive write blocks), then thaws it and
//!   prints (to stderr, its log) `LATENCY <phase> <p50 µs> <p99 µs> <max µs> <samples>` per phase.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;
use vfed_media::AnnexBFile;
use vfed_relay::{Relay, RelayOptions, Resolver, Route, StreamKey};

use crate::relay_node::{COUNTY, stream_key};
use crate::relay_source::unix_us;

/// Arguments of `vfed-bench record-node`.
#[derive(Clone, Debug, clap::Args)]
pub struct RecordArgs {
    /// Streams to publish and record.
    #[arg(long)]
    pub streams: usize,
    /// Annex-B H.264 clip each stream loops.
    #[arg(long)]
    pub clip: PathBuf,
    /// The archive directory.
    #[arg(long)]
    pub dir: PathBuf,
    /// Measure hop latency, freezing this mount point half way.
    #[arg(long)]
    pub freeze: Option<PathBuf>,
    /// Seconds per latency phase.
    #[arg(long, default_value_t = 6)]
    pub phase: u64,
}

/// Every device is local.
struct Local;

impl Resolver for Local {
    fn resolve<'a>(&'a self, _device_id: &'a str) -> BoxFuture<'a, Route> {
        Box::pin(async { Route::Local })
    }
}

/// Runs the node (see the module docs).
pub async fn run(args: RecordArgs) -> anyhow::Result<()> {
    let _telemetry = vfed_telemetry::init(&vfed_telemetry::TelemetryOptions {
        log: "info".into(),
        service_name: "vfed-bench-record".into(),
        ..Default::default()
    })?;
    let relay = Relay::new(
        COUNTY,
        "bench",
        None,
        Vec::<String>::new(),
        Arc::new(Local),
        RelayOptions::default(),
    );
    let mut options = vfed_archive::ArchiveOptions::new(&args.dir, COUNTY);
    options.seal = false;
    let archive = vfed_archive::Archive::open(options, Arc::new(vfed_auth::DiscardAudit)).await?;
    let (metadata, units) =
        AnnexBFile::read(&args.clip).with_context(|| format!("reading {}", args.clip.display()))?;
    let units = Arc::new(units);
    let mut keys = Vec::new();
    for i in 0..args.streams {
        let key = stream_key(i);
        let track = relay.publish(&StreamKey::parse(&key)?);
        crate::relay_source::spawn(track, metadata.clone(), units.clone(), 1.0);
        keys.push(key);
    }
    let shutdown = CancellationToken::new();
    let recording = tokio::spawn(archive.run(relay.clone(), shutdown.clone()));
    println!("READY 0");
    match &args.freeze {
        None => crate::relay_proc::stdin_closed().await,
        Some(mount) => stall_probe(&relay, &keys, mount, Duration::from_secs(args.phase)).await?,
    }
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), recording).await;
    Ok(())
}

/// Hop latencies (µs) of the current phase.
type Samples = Arc<Mutex<Vec<i64>>>;

async fn stall_probe(
    relay: &Relay,
    keys: &[String],
    mount: &std::path::Path,
    phase: Duration,
) -> anyhow::Result<()> {
    let samples: Samples = Arc::default();
    for key in keys {
        let mut reader = relay.subscribe(key).await?;
        let samples = samples.clone();
        tokio::spawn(async move {
            while let Some(gop) = reader.next_gop().await {
                let mut units = gop.reader();
                while let Some(unit) = units.next().await {
                    let hop = unix_us() - unit.ingest_unix_us;
                    samples
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(hop);
                }
            }
        });
    }
    // Warm up: the archive opens its files, readers join at a keyframe.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let take = |s: &Samples| {
        std::mem::take(&mut *s.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    };
    take(&samples);
    tokio::time::sleep(phase).await;
    report("writable", take(&samples));
    // Off the runtime's threads: freezing flushes dirty pages first.
    let frozen = tokio::process::Command::new("fsfreeze")
        .arg("-f")
        .arg(mount)
        .status()
        .await
        .context("running fsfreeze")?;
    anyhow::ensure!(frozen.success(), "fsfreeze -f {} failed", mount.display());
    tokio::time::sleep(phase).await;
    let stalled = take(&samples);
    let thawed = tokio::process::Command::new("fsfreeze")
        .arg("-u")
        .arg(mount)
        .status()
        .await;
    report("frozen", stalled);
    anyhow::ensure!(
        thawed.is_ok_and(|s| s.success()),
        "fsfreeze -u {} failed",
        mount.display()
    );
    Ok(())
}

fn report(phase: &str, mut hops: Vec<i64>) {
    hops.sort_unstable();
    let at = |q: f64| {
        let rank = ((q * hops.len() as f64).ceil() as usize).clamp(1, hops.len().max(1));
        hops.get(rank - 1).copied().unwrap_or(0)
    };
    eprintln!(
        "LATENCY {phase} {} {} {} {}",
        at(0.5),
        at(0.99),
        hops.last().copied().unwrap_or(0),
        hops.len()
    );
}
