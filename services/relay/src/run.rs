//! The relay service of a node: its relay on the node's QUIC socket
//! (accepting children, viewers and the parent's pulls), the link up to
//! its parent, the `Streams` gRPC service, HLS egress routes and the
//! per-stream metrics, until shutdown. The node gives it where devices
//! come from ([`Resolver`], over the registry) and who may watch
//! ([`SubscriberPolicy`], the live-view tracker).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use vfed_pki::{Identity, ServerExpectation, TlsMaterial};

use crate::egress::{HlsEgress, HlsOptions};
use crate::policy::SubscriberPolicy;
use crate::relay::{Relay, RelayOptions};
use crate::routing::Resolver;
use crate::service::StreamsService;
use crate::{RelayError, endpoint};

/// What the relay of a node is.
#[derive(Clone, Debug)]
pub struct RelayServiceOptions {
    /// The node's code (its identity is `node/<id>`).
    pub node_id: String,
    /// The parent node's relay, if this node has one.
    pub parent: Option<ParentRelay>,
    /// The child nodes, admitted by identity.
    pub children: Vec<String>,
    /// Pull grace, connection bound and the node's name.
    pub relay: RelayOptions,
    /// An incoming connection with nothing to say for this long is closed.
    pub idle_timeout: Duration,
}

/// The parent node's relay.
#[derive(Clone, Debug)]
pub struct ParentRelay {
    /// The parent's node code (its certificate must name it).
    pub id: String,
    /// Where its relay listens (resolved); `None` when not configured: the
    /// parent is admitted, and this relay does not link up to it.
    pub addr: Option<SocketAddr>,
}

/// What the relay meets of the node's other services.
pub struct RelayPeers {
    /// Where devices come from (the registry's catalog).
    pub routes: Arc<dyn Resolver>,
    /// Which persons may watch what (the live-view tracker).
    pub viewers: Arc<dyn SubscriberPolicy>,
}

/// Why the relay could not start.
#[derive(Debug, thiserror::Error)]
pub enum RelayStartError {
    /// The QUIC socket could not be served.
    #[error("{0}")]
    Listen(RelayError),
    /// The link to the parent could not be set up.
    #[error("{0}")]
    Parent(RelayError),
}

/// A running relay service.
pub struct RunningRelay {
    /// The relay (for the node's other services in this process).
    pub relay: Relay,
    /// The `Streams` gRPC service.
    pub streams: StreamsService,
    /// The HLS egress routes (`/live/...`), for the node's HTTP port.
    pub hls: axum::Router,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// Starts the relay service on `socket` with the node's TLS `material`;
/// its tasks run on `tasks` until `shutdown`. Its metrics join `metrics`.
pub fn run(
    options: RelayServiceOptions,
    material: &TlsMaterial,
    socket: std::net::UdpSocket,
    peers: RelayPeers,
    metrics: &mut Registry,
    tasks: &mut JoinSet<()>,
    shutdown: &CancellationToken,
) -> Result<RunningRelay, RelayStartError> {
    let max_connections = options.relay.max_connections;
    let relay = Relay::new(
        &options.node_id,
        material.trust_domain(),
        options.parent.as_ref().map(|p| p.id.clone()),
        options.children,
        peers.routes,
        options.relay,
    );
    relay.set_subscriber_policy(peers.viewers);
    tasks.spawn(crate::metrics::register(
        metrics,
        relay.clone(),
        shutdown.clone(),
    ));
    let addr = socket
        .local_addr()
        .map_err(|e| RelayStartError::Listen(RelayError::Transport(e.to_string())))?;
    let endpoint =
        endpoint::server_on_with(material, socket, options.idle_timeout, max_connections)
            .map_err(RelayStartError::Listen)?;
    tasks.spawn(relay.clone().accept(endpoint.clone(), shutdown.clone()));
    if let Some((id, addr)) = options.parent.and_then(|p| p.addr.map(|addr| (p.id, addr))) {
        let identity = Identity::node(id)
            .map_err(|e| RelayStartError::Parent(RelayError::Transport(e.to_string())))?;
        let client = endpoint::client_config(material, ServerExpectation::Exactly(identity))
            .map_err(RelayStartError::Parent)?;
        tasks.spawn(
            relay
                .clone()
                .uplink(endpoint, client, addr, shutdown.clone()),
        );
    }
    Ok(RunningRelay {
        streams: StreamsService::new(relay.clone()),
        hls: HlsEgress::new(relay.clone(), HlsOptions::default()).router(),
        relay,
        addr,
    })
}
