//! `vfed-bench`: runs vfed's benchmarks with real nodes over real mutual TLS
//! on loopback, prints a table and writes it, with the machine it ran on, to
//! `bench/results/<UTC date>-<hostname>.md` (and a `.json` twin).
//!
//! ```text
//! cargo run --release -p vfed-bench -- [--quick] [--out bench/results]
//! ```
#![forbid(unsafe_code)]

mod audit;
mod auth_layer;
mod catalog_sync;
mod machine;
mod propagation;
// recording benchmark (issue 10)
mod recording;
mod recording_export;
mod recording_node;
mod registrations;
mod relay;
mod relay_bulk;
mod relay_clip;
mod relay_env;
mod relay_gst;
mod relay_latency;
mod relay_node;
mod relay_proc;
mod relay_profile;
mod relay_report;
mod relay_rtsp_probe;
mod relay_source;
mod relay_vfed;
mod relay_viewer;
mod report;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use time::format_description::well_known::Rfc3339;
use vfed_tests::TestPki;

use crate::machine::Machine;
use crate::report::Report;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Bench {
    AuthLayer,
    Registrations,
    CatalogSync,
    Propagation,
    /// The audit log: appends/s with fsync, same-commit changes, proof times.
    Audit,
    /// vfed's media relay against a GStreamer RTSP relay (issue 3).
    Relay,
    /// Where the relay's CPU goes (callgrind; full runs, or quick when named in --only).
    RelayProfile,
    /// vfed's archive against ffmpeg recorders; playback TTFB; live latency during a disk stall (issue 10).
    Recording,
    /// The recording section's recorded-hour cases alone: playback TTFB, evidence export and its verification.
    RecordingHour,
}

/// Processes the benchmarks start of this same binary (not for people).
#[derive(Debug, Subcommand)]
enum Internal {
    /// One vfed relay node (the relay benchmark's county or city).
    #[command(hide = true)]
    RelayNode(relay_node::NodeArgs),
    /// A quinn bulk sender (the relay benchmark's reference point).
    #[command(hide = true)]
    QuinnBulk(relay_bulk::SenderArgs),
    /// vfed's archive recording looping streams (the recording benchmark).
    #[command(hide = true)]
    RecordNode(recording_node::RecordArgs),
    /// Verifies an evidence package as `vfedctl evidence verify` does (the
    /// recording benchmark's verification); without DIR, SHA-256 alone.
    #[command(hide = true)]
    VerifyEvidence {
        /// The package.
        dir: Option<PathBuf>,
    },
}

/// Benchmarks of vfed: registrations/s, catalog sync time, status propagation latency,
/// media relay fan-out, CPU and latency against GStreamer.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    internal: Option<Internal>,
    /// One run per measurement with smaller sizes (a smoke test, not numbers to quote).
    #[arg(long)]
    quick: bool,
    /// Where the results go.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
    out: PathBuf,
    /// Runs per measurement (default 5, quick 1).
    #[arg(long)]
    runs: Option<usize>,
    /// Only these benchmarks (comma-separated; default all).
    #[arg(long, value_delimiter = ',')]
    only: Vec<Bench>,
    /// Print the results without writing files.
    #[arg(long)]
    no_write: bool,
    /// Relay benchmark: the vfed side only, without the GStreamer comparison.
    #[arg(long)]
    no_gstreamer: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.internal {
        Some(Internal::RelayNode(node)) => return relay_node::run(node).await,
        Some(Internal::QuinnBulk(sender)) => return relay_bulk::send(sender).await,
        Some(Internal::RecordNode(node)) => return recording_node::run(node).await,
        Some(Internal::VerifyEvidence { dir }) => {
            return recording_export::verify_main(dir.as_deref());
        }
        None => {}
    }
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 5 }).max(1);
    let wanted = |b: Bench| args.only.is_empty() || args.only.contains(&b);
    let started = Instant::now();
    let started_utc = time::OffsetDateTime::now_utc().format(&Rfc3339)?;
    let machine = Machine::detect();
    eprintln!(
        "vfed-bench: {} ({} CPUs, {}), {} run(s) per measurement{}",
        machine.hostname,
        machine.nproc,
        machine.cpu_model,
        runs,
        if args.quick { ", quick sizes" } else { "" }
    );
    let pki = TestPki::new()?;
    let mut sections = Vec::new();
    if wanted(Bench::Registrations) {
        let sizes = if args.quick {
            registrations::Sizes {
                n: 2_000,
                concurrency: 64,
                n_serial: 200,
                runs,
            }
        } else {
            registrations::Sizes {
                n: 20_000,
                concurrency: 64,
                n_serial: 2_000,
                runs,
            }
        };
        eprintln!("== registrations: {sizes:?}");
        sections.push(registrations::run(&pki, sizes).await?);
    }
    if wanted(Bench::CatalogSync) {
        let sizes = if args.quick {
            catalog_sync::Sizes {
                n: 10_000,
                runs,
                etcd_runs: 1,
            }
        } else {
            catalog_sync::Sizes {
                n: 100_000,
                runs,
                etcd_runs: runs.min(3),
            }
        };
        eprintln!("== catalog sync: {sizes:?}");
        sections.push(catalog_sync::run(&pki, sizes).await?);
    }
    if wanted(Bench::Propagation) {
        let sizes = propagation::Sizes {
            samples: if args.quick { 30 } else { 200 },
            runs,
        };
        eprintln!("== propagation: {sizes:?}");
        sections.push(propagation::run(&pki, sizes).await?);
    }
    if wanted(Bench::Audit) {
        let sizes = if args.quick {
            audit::Sizes {
                appends: 20_000,
                serial_appends: 200,
                changes: 5_000,
                proof_entries: 100_000,
                proofs: 2_000,
                runs,
            }
        } else {
            audit::Sizes {
                appends: 200_000,
                serial_appends: 2_000,
                changes: 50_000,
                proof_entries: 1_000_000,
                proofs: 10_000,
                runs,
            }
        };
        eprintln!("== audit: {sizes:?}");
        sections.push(audit::run(sizes).await?);
    }
    if wanted(Bench::Relay) {
        let sizes = if args.quick {
            relay::Sizes {
                viewers: vec![1, 10],
                streams: 4,
                max_viewers: 10,
                max_speed: 10.0,
                runs: 1,
                warmup: Duration::from_secs(1),
                window: Duration::from_secs(2),
                clip_seconds: 4,
                gstreamer: !args.no_gstreamer,
            }
        } else {
            relay::Sizes {
                viewers: vec![1, 10, 50, 100],
                streams: 20,
                max_viewers: 50,
                max_speed: 20.0,
                runs: runs.min(3),
                warmup: Duration::from_secs(2),
                window: Duration::from_secs(6),
                clip_seconds: 10,
                gstreamer: !args.no_gstreamer,
            }
        };
        eprintln!("== relay: {sizes:?}");
        sections.push(relay::run(sizes).await?);
    }
    let profile = args.only.contains(&Bench::RelayProfile) || (args.only.is_empty() && !args.quick);
    if profile {
        let sizes = relay_profile::Sizes {
            viewers: 10,
            streams: 5,
            warmup: Duration::from_secs(2),
            window: Duration::from_secs(if args.quick { 4 } else { 12 }),
        };
        eprintln!("== relay profile: {sizes:?}");
        match relay_profile::run(sizes).await {
            Ok(section) => sections.push(section),
            Err(e) => eprintln!("relay profile skipped: {e:#}"),
        }
    }
    if wanted(Bench::Recording) || wanted(Bench::RecordingHour) {
        let hour_only = !wanted(Bench::Recording);
        let sizes = if args.quick {
            recording::Sizes {
                streams: vec![10],
                warmup: Duration::from_secs(3),
                window: Duration::from_secs(5),
                requests: 20,
                stall_streams: 5,
                stall_phase: 3,
                exports: 1,
                hour_only,
            }
        } else {
            recording::Sizes {
                streams: vec![50, 200],
                warmup: Duration::from_secs(8),
                window: Duration::from_secs(15),
                requests: 200,
                stall_streams: 20,
                stall_phase: 6,
                exports: runs.min(3),
                hour_only,
            }
        };
        eprintln!("== recording: {sizes:?}");
        sections.push(recording::run(sizes).await?);
    }
    if wanted(Bench::AuthLayer) {
        let sizes = auth_layer::Sizes {
            calls: if args.quick { 20_000 } else { 200_000 },
            runs,
        };
        eprintln!("== auth layer: {sizes:?}");
        sections.push(auth_layer::run(sizes).await?);
    }
    let command = std::iter::once("vfed-bench".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let report = Report {
        machine,
        started_utc,
        wall_seconds: started.elapsed().as_secs_f64(),
        quick: args.quick,
        runs,
        command,
        sections,
    };
    println!("{}", report.table());
    if !args.no_write {
        let path = report.write(&args.out)?;
        eprintln!("vfed-bench: wrote {}", path.display());
    }
    Ok(())
}
