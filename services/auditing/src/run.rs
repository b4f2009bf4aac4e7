//! The auditing service of a node, once its trail is open (the trail comes
//! first: every other service's changes go through its store): the pump
//! and the periodic checkpoints, the `Audit` gRPC service for tools and
//! child nodes, and with a parent the checkpoint shipper (R14.5, R18.6).

use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::metrics::AuditMetrics;
use crate::service::AuditService;
use crate::shipper::CheckpointShipper;
use crate::trail::AuditTrail;

/// What the auditing service of a node does.
#[derive(Clone, Debug)]
pub struct AuditingOptions {
    /// A signed checkpoint covers every entry this often (and is shipped
    /// to the parent as often).
    pub checkpoint_interval: Duration,
    /// The child nodes whose checkpoints this node countersigns.
    pub children: Vec<String>,
}

/// The parent node's `Audit` API, which countersigns this node's checkpoints.
pub struct ParentAudit {
    /// The parent's node code.
    pub id: String,
    /// Its gRPC channel (mutual TLS, its identity pinned).
    pub channel: Channel,
}

/// Runs the auditing service over `trail` on `tasks` until `shutdown`;
/// returns its gRPC service. Its metrics join `metrics`.
pub fn run(
    trail: &AuditTrail,
    options: AuditingOptions,
    parent: Option<ParentAudit>,
    metrics: &mut Registry,
    tasks: &mut JoinSet<()>,
    shutdown: &CancellationToken,
) -> AuditService {
    let metrics = AuditMetrics::register(metrics);
    tasks.spawn(
        trail
            .clone()
            .run(options.checkpoint_interval, shutdown.clone()),
    );
    if let Some(parent) = parent {
        tasks.spawn(
            CheckpointShipper::new(
                trail.clone(),
                parent.channel,
                parent.id,
                options.checkpoint_interval,
                metrics.clone(),
            )
            .run(shutdown.clone()),
        );
    }
    AuditService::new(trail.clone(), options.children, metrics).with_shutdown(shutdown.clone())
}
