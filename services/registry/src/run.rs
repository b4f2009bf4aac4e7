//! The registry service of a node: its catalog over the node's store, the
//! liveness sweeper (R14.3), the federation links (the downlink for its
//! children, the uplink to its parent, R6.1) and its gRPC services
//! (`Registry`, `Node`, `Federation`), until shutdown.

use prometheus_client::registry::Registry;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use vfed_gbcode::AreaCode;
use vfed_store::SharedStore;

use crate::catalog::Catalog;
use crate::federation::{ChildNode, FederationService, LinkRole, LinkTable, Uplink, UplinkOptions};
use crate::liveness::{Liveness, LivenessOptions};
use crate::metrics::RegistryMetrics;
use crate::node_service::{NodeFacts, NodeService};
use crate::removal::RemovalService;
use crate::service::RegistryService;

/// What the registry of a node is.
#[derive(Clone, Debug)]
pub struct RegistryOptions {
    /// Who this node is (served by `Node.GetInfo`); its `parent_id` is
    /// empty at the top of the tree.
    pub facts: NodeFacts,
    /// The node's area: devices registered here must lie in it (R4, R6.1).
    pub area: AreaCode,
    /// The child nodes whose catalogs come up to this one.
    pub children: Vec<ChildNode>,
    /// When a silent device goes offline.
    pub liveness: LivenessOptions,
    /// The uplink's batches, heartbeat and reconnect backoff (with a parent).
    pub federation: FederationOptions,
}

/// The uplink's settings (`[federation]`).
#[derive(Clone, Copy, Debug)]
pub struct FederationOptions {
    /// Changes per batch.
    pub batch_size: usize,
    /// Idle heartbeat period.
    pub heartbeat: std::time::Duration,
    /// Longest reconnect wait.
    pub max_backoff: std::time::Duration,
}

/// A running registry: its catalog and liveness (for the node's other
/// services in this process) and its gRPC services.
pub struct RunningRegistry {
    /// The catalog.
    pub catalog: Catalog,
    /// Device liveness (keepalives).
    pub liveness: Liveness,
    /// The `Registry` gRPC service.
    pub registry: RegistryService,
    /// The `Removals` gRPC service (R18.11).
    pub removals: RemovalService,
    /// The `Node` gRPC service.
    pub node: NodeService,
    /// The `Federation` gRPC service (the downlink).
    pub federation: FederationService,
}

/// Starts the registry over `store`: the liveness sweeper and, with a
/// `parent` (its API over mutual TLS), the uplink run on `tasks` until
/// `shutdown`. Its metrics join `metrics`.
pub fn run(
    options: RegistryOptions,
    store: SharedStore,
    parent: Option<Channel>,
    metrics: &mut Registry,
    tasks: &mut JoinSet<()>,
    shutdown: &CancellationToken,
) -> RunningRegistry {
    let RegistryOptions {
        facts,
        area,
        children,
        liveness,
        federation,
    } = options;
    let metrics = RegistryMetrics::register(metrics);
    let catalog = Catalog::new(store, facts.id.clone(), area);
    let liveness = Liveness::new(catalog.clone(), liveness, metrics.clone());
    let parent_id = facts.parent_id.clone();
    let peers = (!parent_id.is_empty())
        .then(|| (LinkRole::Parent, parent_id.clone(), String::new()))
        .into_iter()
        .chain(
            children
                .iter()
                .map(|c| (LinkRole::Child, c.id.clone(), c.name.clone())),
        );
    let links = LinkTable::new(peers, metrics.clone());
    let metrics_for_removals = metrics.clone();
    let registry = RegistryService::new(catalog.clone(), liveness.clone(), metrics.clone())
        .with_children(children.iter().map(|c| c.id.clone()));
    let federation_service = FederationService::new(
        catalog.clone(),
        facts.name.clone(),
        children,
        links.clone(),
        metrics,
    );
    tasks.spawn(liveness.clone().run(shutdown.clone()));
    if let Some(channel) = parent {
        let uplink = Uplink::new(
            catalog.clone(),
            channel,
            UplinkOptions {
                name: facts.name.clone(),
                level: facts.level.clone(),
                parent_id,
                batch_size: federation.batch_size,
                heartbeat: federation.heartbeat,
                max_backoff: federation.max_backoff,
            },
            links.clone(),
        );
        tasks.spawn(uplink.run(shutdown.clone()));
    }
    RunningRegistry {
        removals: RemovalService::new(catalog.clone(), metrics_for_removals),
        catalog,
        liveness,
        registry,
        node: NodeService::new(facts, links),
        federation: federation_service,
    }
}
