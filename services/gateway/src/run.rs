//! The gateway service of a node: pulls every camera registered here
//! ([`crate::selection`]), publishes each stream into the relay
//! ([`crate::publish`]) and reports which devices deliver frames to the
//! registry ([`LivenessSink`], R14.3), until shutdown.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::gateway::{Gateway, GatewayConfig};
use crate::liveness::LivenessSink;
use crate::publish::{Tracks, bridge};
use crate::selection::{CameraDirectory, wanted};
use crate::source::{StreamKey, StreamSource};

/// How often the directory is checked for new, changed or removed streams.
const RESCAN: Duration = Duration::from_secs(1);

/// What the gateway service meets: the other services, as traits.
pub struct Peers {
    /// The devices registered at this node (the registry).
    pub cameras: Arc<dyn CameraDirectory>,
    /// Where streams are published (the relay).
    pub tracks: Arc<dyn Tracks>,
    /// Where liveness is reported (the registry's keepalives).
    pub liveness: Arc<dyn LivenessSink>,
}

/// Runs the gateway service until `shutdown`, then stops every pull.
pub async fn run(config: GatewayConfig, peers: Peers, shutdown: CancellationToken) {
    let Peers {
        cameras,
        tracks,
        liveness,
    } = peers;
    let gateway = Gateway::new(config, Some(liveness), shutdown.child_token());
    let mut bridges: HashMap<StreamKey, JoinHandle<()>> = HashMap::new();
    let mut current: BTreeSet<(String, String)> = BTreeSet::new();
    let mut seen_version: Option<i64> = None;
    let mut tick = tokio::time::interval(RESCAN);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        // Nothing committed since the last look: the stream set is unchanged.
        let version = cameras.version().await;
        if version.is_none() || version != seen_version {
            match cameras.cameras().await {
                Ok(devices) => {
                    seen_version = version;
                    let sources = wanted(&devices);
                    let fingerprint: BTreeSet<(String, String)> = sources
                        .iter()
                        .map(|s| (s.key().to_string(), s.url.clone()))
                        .collect();
                    if fingerprint != current {
                        match gateway.set_streams(sources) {
                            Ok(()) => current = fingerprint,
                            Err(e) => tracing::warn!(error = %e, "cameras: stream set refused"),
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "cameras: cannot read the catalog"),
            }
        }
        let keys: BTreeSet<StreamKey> = gateway.streams().iter().map(StreamSource::key).collect();
        bridges.retain(|key, task| {
            let keep = keys.contains(key) && !task.is_finished();
            if !keep {
                task.abort();
                tracks.unpublish(key);
            }
            keep
        });
        for key in keys {
            if let std::collections::hash_map::Entry::Vacant(slot) = bridges.entry(key.clone()) {
                slot.insert(tokio::spawn(bridge(gateway.clone(), key, tracks.clone())));
            }
        }
    }
    for (_, task) in bridges {
        task.abort();
    }
    gateway.shutdown().await;
}
