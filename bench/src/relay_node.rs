//! `vfed-bench relay-node`: one real vfed relay node in its own process, so
//! that its CPU time and memory can be read from /proc apart from everything
//! else. It is wired as `vfed serve` wires its relay (`runtime`): the
//! same `Relay`, `endpoint::server_on` (the same QUIC transport settings and
//! mutual TLS), `accept` and, at the county, `uplink` to the city; routing is
//! fixed instead of read from a catalog (the city pulls everything from the
//! county, the county has everything locally) and every viewer is admitted
//! (`AdmitAll`: no accounts, no grants). No store, gRPC or HLS.
//!
//! - `--role county`: publishes `--streams` copies of `--clip` (looped at
//!   `--speed` times real time, stamped at ingest) and links up to `--city`.
//! - `--role city`: accepts the county as its child and viewers as tools.
//!
//! Prints `READY <port>` (its UDP port) and runs until its stdin closes, then
//! exits cleanly (so that a profiler sees a normal exit).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;
use vfed_media::AnnexBFile;
use vfed_pki::{Identity, ServerExpectation, TlsMaterial};
use vfed_relay::{Relay, RelayOptions, Resolver, Route, StreamKey, endpoint};

/// The city node.
pub const CITY: &str = "54050000002000000001";
/// The county node, origin of every benchmark stream.
pub const COUNTY: &str = "54050200002000000001";

/// The stream key of benchmark stream `i` (a camera of the county).
pub fn stream_key(i: usize) -> String {
    format!("5405020000132{:07}/main", i + 1)
}

/// Which node to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// The origin: looped clips as local cameras, linked up to the city.
    County,
    /// The relay under test: pulls from the county, serves viewers.
    City,
}

/// Arguments of `vfed-bench relay-node`.
#[derive(Clone, Debug, clap::Args)]
pub struct NodeArgs {
    /// Which node.
    #[arg(long, value_enum)]
    pub role: Role,
    /// Directory with `ca.pem` and the node's certificate and key.
    #[arg(long)]
    pub pki: PathBuf,
    /// The city's relay address (county only).
    #[arg(long)]
    pub city: Option<SocketAddr>,
    /// Streams to publish (county only).
    #[arg(long, default_value_t = 1)]
    pub streams: usize,
    /// Annex-B H.264 clip to loop (county only).
    #[arg(long)]
    pub clip: Option<PathBuf>,
    /// Times real time (county only).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
}

/// Routes every device one way.
struct Fixed(Route);

impl Resolver for Fixed {
    fn resolve<'a>(&'a self, _device_id: &'a str) -> BoxFuture<'a, Route> {
        Box::pin(async move { self.0.clone() })
    }
}

/// Credentials of `identity` issued into `dir` (by [`issue`]).
pub fn material(dir: &Path, identity: &Identity) -> anyhow::Result<TlsMaterial> {
    let stem = identity.file_stem();
    Ok(TlsMaterial::load(
        &dir.join("ca.pem"),
        &dir.join(format!("{stem}.pem")),
        &dir.join(format!("{stem}.key")),
    )?)
}

/// Issues certificates for `identities` into `dir` (a CA made by `init_ca`).
pub fn issue(dir: &Path, identities: &[Identity]) -> anyhow::Result<()> {
    for identity in identities {
        vfed_pki::issue(dir, dir, identity, &vfed_pki::IssueOptions::default())?;
    }
    Ok(())
}

/// Runs the node until stdin closes.
pub async fn run(args: NodeArgs) -> anyhow::Result<()> {
    // Logs at info to stderr, as `vfed serve` installs them (no OTLP export):
    // with no subscriber, tracing's `log` fallback would cost what a node never pays.
    let _telemetry = vfed_telemetry::init(&vfed_telemetry::TelemetryOptions {
        log: "info".into(),
        service_name: "vfed-bench-relay".into(),
        ..Default::default()
    })?;
    let (id, resolver, parent, children) = match args.role {
        Role::City => (
            CITY,
            Fixed(Route::Peer(COUNTY.into())),
            None,
            vec![COUNTY.to_owned()],
        ),
        Role::County => (COUNTY, Fixed(Route::Local), Some(CITY.to_owned()), vec![]),
    };
    let material = material(&args.pki, &Identity::node(id)?)?;
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let port = socket.local_addr()?.port();
    let endpoint = endpoint::server_on(&material, socket)?;
    let relay = Relay::new(
        id,
        material.trust_domain(),
        parent,
        children,
        Arc::new(resolver),
        RelayOptions::default(),
    );
    // No accounts here: every admitted viewer may watch. A node's own policy
    // (runtime, grants) is a lock and a lookup per subscription and per
    // second of it; this one answers at once.
    relay.set_subscriber_policy(Arc::new(vfed_relay::policy::AdmitAll));
    let shutdown = CancellationToken::new();
    tokio::spawn(relay.clone().accept(endpoint.clone(), shutdown.clone()));
    if args.role == Role::County {
        let clip = args
            .clip
            .as_ref()
            .context("--clip is required at the county")?;
        let (metadata, units) =
            AnnexBFile::read(clip).with_context(|| format!("reading {}", clip.display()))?;
        let units = Arc::new(units);
        for i in 0..args.streams {
            let track = relay.publish(&StreamKey::parse(&stream_key(i))?);
            crate::relay_source::spawn(track, metadata.clone(), units.clone(), args.speed);
        }
        let city = args.city.context("--city is required at the county")?;
        let config =
            endpoint::client_config(&material, ServerExpectation::Exactly(Identity::node(CITY)?))?;
        tokio::spawn(
            relay
                .clone()
                .uplink(endpoint.clone(), config, city, shutdown.clone()),
        );
    }
    println!("READY {port}");
    crate::relay_proc::stdin_closed().await;
    shutdown.cancel();
    endpoint.close(quinn::VarInt::from_u32(0), b"benchmark over");
    Ok(())
}
