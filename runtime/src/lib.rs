//! A vfed node: the services of one platform (site, county, city...) wired
//! together over one store, one gRPC port (mutual TLS) and one HTTP port.
//!
//! This crate is the composition root: it sees each service only through
//! its crate's `run(...)` and the traits it exports, and adapts one
//! service's trait to another's value in this process (`cameras`,
//! `devices`, `routing`, `subscribers`, `audit_sink`). It decides nothing
//! on a service's behalf.
//!
//! `start` is what the `vfed` binary, `vfed demo`, the integration tests
//! and the benchmarks all call, so they exercise the same code.
#![forbid(unsafe_code)]

mod archive;
mod archive_metrics;
mod audit_sink;
mod call_log;
mod cameras;
mod data_dir;
mod devices;
mod error;
mod evidence;
mod fd_limit;
mod gb28181;
mod gb28181_sinks;
mod gb28181_upper;
mod grpc;
mod http;
mod open_store;
mod recorded_source;
mod retrieval_holds;
mod routing;
mod subscribers;
mod tls;
mod violation_sources;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use vfed_config::Config;
use vfed_gbcode::AreaCode;
use vfed_store::SharedStore;

pub use data_dir::{Exposed, check_private_dir};
pub use error::NodeError;
pub use gb28181::SipAddrs;
pub use open_store::{OpenedStore, open_store};

/// The sockets a node serves on (bound by the caller, so that tests and the
/// demo can use port 0 and learn the port before starting).
pub struct Listeners {
    /// gRPC, mutual TLS.
    pub grpc: TcpListener,
    /// HTTP (metrics, health, media egress).
    pub http: TcpListener,
    /// The media relay (QUIC).
    pub relay: std::net::UdpSocket,
}

impl Listeners {
    /// Binds the addresses of `config.listen`.
    pub async fn bind(config: &Config) -> Result<Self, NodeError> {
        let grpc = TcpListener::bind(config.listen.grpc)
            .await
            .map_err(|e| NodeError::Bind {
                field: "listen.grpc",
                addr: config.listen.grpc,
                source: e,
            })?;
        let http = TcpListener::bind(config.listen.http)
            .await
            .map_err(|e| NodeError::Bind {
                field: "listen.http",
                addr: config.listen.http,
                source: e,
            })?;
        let relay =
            std::net::UdpSocket::bind(config.listen.relay).map_err(|e| NodeError::Bind {
                field: "listen.relay",
                addr: config.listen.relay,
                source: e,
            })?;
        Ok(Self { grpc, http, relay })
    }
}

/// A started node.
pub struct RunningNode {
    /// The node's code.
    pub id: String,
    /// Where gRPC is served.
    pub grpc_addr: SocketAddr,
    /// Where HTTP is served.
    pub http_addr: SocketAddr,
    /// Where the relay listens (UDP).
    pub relay_addr: SocketAddr,
    /// The node's media relay.
    pub relay: vfed_relay::Relay,
    /// Where GB/T 28181 devices register (`[gb28181]`), if enabled.
    pub sip: Option<SipAddrs>,
    audit: vfed_auditing::AuditTrail,
    accounts: vfed_auth::Accounts,
    grants: vfed_sharing::GrantBook,
    archive: Option<archive::NodeArchive>,
    store: OpenedStore,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
    grace: Duration,
}

impl RunningNode {
    /// The node's store (tests inspect it).
    pub fn store(&self) -> &SharedStore {
        &self.store.store
    }

    /// The node's audit trail (R14.5, R18.6).
    pub fn audit(&self) -> &vfed_auditing::AuditTrail {
        &self.audit
    }

    /// The node's accounts.
    pub fn accounts(&self) -> &vfed_auth::Accounts {
        &self.accounts
    }

    /// The node's sharing grants: its live-view policy (R13).
    pub fn grants(&self) -> &vfed_sharing::GrantBook {
        &self.grants
    }

    /// The node's archive (recordings, R14.6), unless disabled.
    pub fn archive(&self) -> Option<&vfed_archive::Archive> {
        self.archive.as_ref().map(|a| &a.archive)
    }

    /// A token that stops the node when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until a task ends by itself (a server failure) or shutdown.
    pub async fn wait(&mut self) {
        tokio::select! {
            () = self.shutdown.cancelled() => {}
            _ = self.tasks.join_next() => {}
        }
    }

    /// Stops at once, as a crash would: every task is aborted without
    /// draining. Only what the store committed survives (all of it).
    pub async fn kill(mut self) {
        self.shutdown.cancel();
        self.tasks.shutdown().await;
        self.close_audit().await;
        self.store.close().await;
        tracing::warn!(node = %self.id, "node killed");
    }

    /// Stops accepting work, lets in-flight work finish within the grace
    /// period, then aborts what is left and closes the store.
    pub async fn stop(mut self) {
        // Recorders close their files first (a kill leaves them as they are).
        if let Some(archive) = &self.archive {
            archive.stop.cancel();
        }
        self.shutdown.cancel();
        let drained = tokio::time::timeout(self.grace, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(node = %self.id, "grace period over; aborting remaining work");
            self.tasks.shutdown().await;
        }
        self.close_audit().await;
        self.store.close().await;
        tracing::info!(node = %self.id, "node stopped");
    }

    /// Closes the audit log (final checkpoint) so that it can be reopened in this process.
    async fn close_audit(&self) {
        if let Err(error) = self.audit.close().await {
            tracing::error!(node = %self.id, %error, "closing the audit log");
        }
    }
}

/// Resolves `host:port` to one socket address.
async fn resolve(endpoint: &str) -> Result<SocketAddr, NodeError> {
    let mut addrs = tokio::net::lookup_host(endpoint)
        .await
        .map_err(|e| NodeError::Config(format!("node.parent.relay_endpoint: {endpoint}: {e}")))?;
    addrs.next().ok_or_else(|| {
        NodeError::Config(format!(
            "node.parent.relay_endpoint: {endpoint} resolves to nothing"
        ))
    })
}

/// Starts a node from a validated `config` on `listeners`: opens what the
/// services share (TLS material, the store, the audit trail, the metrics
/// registry), starts each service through its `run`, giving it the others
/// it meets as traits or API clients, and serves their gRPC services on one
/// port and their HTTP routes on another.
pub async fn start(config: &Config, listeners: Listeners) -> Result<RunningNode, NodeError> {
    let node = &config.node;
    fd_limit::raise();
    data_dir::check_node(config)?;
    let material = tls::load(config)?;
    let opened = open_store(config).await?;
    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let audit = vfed_auditing::AuditTrail::open_with(
        vfed_auditing::TrailOptions {
            dir: config.audit.dir_for(&config.store),
            key_path: Some(config.audit.key_for(&config.store)),
            node_id: node.id.clone(),
        },
        opened.store.clone(),
    )
    .await
    .map_err(NodeError::Audit)?;
    // Every change made through this store inside a call's audit scope
    // commits its audit record in the same transaction.
    let store = audit.store();
    let area = AreaCode::parse(node.area_code())
        .ok_or_else(|| NodeError::Config("node.area_code: must be 6 digits".into()))?;
    let mut metrics = prometheus_client::registry::Registry::with_labels(
        [(
            std::borrow::Cow::Borrowed("node"),
            std::borrow::Cow::Owned(node.id.clone()),
        )]
        .into_iter(),
    );
    let parent_api = parent_channel(config, &material)?;
    let archive = archive::open(config, &audit).await?;

    let sharing = vfed_sharing::run(store.clone(), area.clone(), &shutdown);
    let auth = vfed_auth::run(
        auth_options(config),
        store.clone(),
        vfed_auth::AuthPeers {
            audit: Arc::new(audit_sink::TrailSink(audit.clone())),
            views: Arc::new(sharing.grants.clone()),
        },
        &mut tasks,
        &shutdown,
    )
    .await
    .map_err(|e| match e {
        vfed_auth::AuthStartError::Accounts(e) => NodeError::Auth(e),
        other => NodeError::Config(other.to_string()),
    })?;
    let registry = vfed_registry::run(
        registry_options(config, area, store.backend()),
        store.clone(),
        parent_api.as_ref().map(|(_, channel)| channel.clone()),
        &mut metrics,
        &mut tasks,
        &shutdown,
    );
    let auditing = vfed_auditing::run(
        &audit,
        vfed_auditing::AuditingOptions {
            checkpoint_interval: config.audit.checkpoint_interval,
            children: node.children.iter().map(|c| c.id.clone()).collect(),
        },
        parent_api.map(|(id, channel)| vfed_auditing::ParentAudit { id, channel }),
        &mut metrics,
        &mut tasks,
        &shutdown,
    );
    let relay = vfed_relay::run(
        relay_options(config).await?,
        &material,
        listeners.relay,
        vfed_relay::RelayPeers {
            routes: Arc::new(vfed_relay::RouteByOrigin::new(routing::CatalogOrigins(
                registry.catalog.clone(),
            ))),
            viewers: Arc::new(subscribers::Viewers(auth.live_views.clone())),
        },
        &mut metrics,
        &mut tasks,
        &shutdown,
    )
    .map_err(|e| match e {
        vfed_relay::RelayStartError::Listen(e) => NodeError::Config(format!("listen.relay: {e}")),
        vfed_relay::RelayStartError::Parent(e) => {
            NodeError::Config(format!("node.parent.relay_endpoint: {e}"))
        }
    })?;
    let gb28181 = gb28181::start(
        config,
        gb28181::Peers {
            catalog: registry.catalog.clone(),
            liveness: registry.liveness.clone(),
            registry: registry.registry.clone(),
            relay: relay.relay.clone(),
        },
        &mut metrics,
        &mut tasks,
        &shutdown,
    )
    .await?;
    // Cascade: this node as a GB/T 28181 lower platform of each upper.
    gb28181_upper::start(
        config,
        &registry.catalog,
        &relay.relay,
        &mut metrics,
        &mut tasks,
        &shutdown,
    )?;
    tasks.spawn(vfed_gateway::run(
        vfed_gateway::GatewayConfig {
            liveness_period: config.liveness.keepalive_period,
            ..vfed_gateway::GatewayConfig::default()
        },
        vfed_gateway::Peers {
            cameras: Arc::new(cameras::LocalCameras(registry.catalog.clone())),
            tracks: Arc::new(cameras::RelayTracks(relay.relay.clone())),
            liveness: Arc::new(cameras::LocalKeepalive(registry.liveness.clone())),
        },
        shutdown.clone(),
    ));
    let retrieval = vfed_retrieval::run(
        store.clone(),
        devices::CatalogDevices(registry.catalog.clone()),
        vfed_retrieval::RetrievalOptions {
            default_expiry: config.retrieval.default_expiry,
            max_expiry: config.retrieval.max_expiry,
        },
    );

    if let Some(archive) = &archive {
        archive.hold_for(retrieval.clone());
        // On the node's task set, so that a stop or a kill ends it too.
        tasks.spawn(archive::check_at_start(
            archive.archive.clone(),
            audit.clone(),
            shutdown.clone(),
        ));
    }
    // Playback and spans here, and for the parent over the relay link: from
    // this archive or, for a child's device, from the child.
    let recordings: Option<Arc<dyn vfed_relay::recorded::RecordedSource>> =
        archive.as_ref().map(|a| {
            let source = Arc::new(recorded_source::NodeRecordings::new(
                a.archive.clone(),
                relay.relay.clone(),
                vfed_relay::RouteByOrigin::new(routing::CatalogOrigins(registry.catalog.clone())),
            ));
            relay.relay.set_recorded_source(source.clone());
            source as Arc<dyn vfed_relay::recorded::RecordedSource>
        });
    let grpc_addr = listeners.grpc.local_addr().map_err(NodeError::Io)?;
    let http_addr = listeners.http.local_addr().map_err(NodeError::Io)?;
    let server_config =
        vfed_pki::server_config(&material, vfed_pki::GRPC_ALPN).map_err(NodeError::Tls)?;
    let violations = vfed_violations::run(
        violation_sources::RegistryRecords(registry.registry.clone()),
        violation_sources::AuditRefusals(audit.clone()),
        store.clone(),
    );
    let services = grpc::Services {
        violations,
        streams: relay.streams,
        archive: archive
            .as_ref()
            .zip(recordings.clone())
            .map(|(a, source)| a.service.clone().with_source(source)),
        evidence: archive
            .as_ref()
            .map(|a| evidence::service(&a.archive, config, retrieval.clone(), &audit)),
        audit: auditing,
        accounts: auth.service,
        sharing: sharing.service,
        retrieval,
        registry: registry.registry,
        removals: registry.removals,
        node: registry.node,
        federation: registry.federation,
        discovered: gb28181.service,
    };
    tasks.spawn(grpc::serve(
        services,
        auth.layer,
        listeners.grpc,
        server_config,
        config.connections.grpc.clone(),
        shutdown.clone(),
        node.id.clone(),
    ));
    let mut media_routes = relay.hls;
    if let Some(archive) = &archive {
        media_routes = media_routes.merge(vfed_archive::playback::router(
            archive.archive.clone(),
            recordings.clone(),
        ));
        tasks.spawn(archive_metrics::register(
            &mut metrics,
            archive.archive.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(
            archive
                .archive
                .clone()
                .run(relay.relay.clone(), archive.stop.clone()),
        );
    }
    tasks.spawn(http::serve(
        listeners.http,
        metrics,
        media_routes,
        auth.http_guard,
        config.connections.http.clone(),
        shutdown.clone(),
        node.id.clone(),
    ));
    tracing::info!(node = %node.id, name = %node.name, level = %node.level, %grpc_addr, %http_addr, store = store.backend(), "node started");
    Ok(RunningNode {
        id: node.id.clone(),
        grpc_addr,
        http_addr,
        relay_addr: relay.addr,
        relay: relay.relay,
        sip: gb28181.addrs,
        audit,
        accounts: auth.accounts,
        grants: sharing.grants,
        archive,
        store: opened,
        shutdown,
        tasks,
        grace: config.shutdown.grace,
    })
}

/// The parent's gRPC API (mutual TLS, its identity pinned), if this node has one.
fn parent_channel(
    config: &Config,
    material: &vfed_pki::TlsMaterial,
) -> Result<Option<(String, tonic::transport::Channel)>, NodeError> {
    let Some(parent) = &config.node.parent else {
        return Ok(None);
    };
    let identity = vfed_pki::Identity::node(parent.id.clone()).map_err(NodeError::Tls)?;
    let client_config = vfed_pki::client_config(
        material,
        vfed_pki::ServerExpectation::Exactly(identity),
        vfed_pki::GRPC_ALPN,
    )
    .map_err(NodeError::Tls)?;
    let channel = vfed_pki::channel(&parent.endpoint, client_config).map_err(NodeError::Tls)?;
    Ok(Some((parent.id.clone(), channel)))
}

fn auth_options(config: &Config) -> vfed_auth::AuthOptions {
    let auth = &config.auth;
    vfed_auth::AuthOptions {
        node_id: config.node.id.clone(),
        token_key: auth.token_key_for(&config.store),
        accounts: vfed_auth::AccountOptions {
            token_ttl: auth.token_ttl,
            max_token_ttl: auth.max_token_ttl,
        },
        bootstrap_admin: auth.bootstrap_admin.clone(),
        bootstrap_password_file: auth.bootstrap_password_file.clone(),
        view_idle: auth.view_idle,
    }
}

fn registry_options(
    config: &Config,
    area: AreaCode,
    store_backend: &str,
) -> vfed_registry::RegistryOptions {
    let node = &config.node;
    vfed_registry::RegistryOptions {
        facts: vfed_registry::NodeFacts {
            id: node.id.clone(),
            name: node.name.clone(),
            level: node.level.clone(),
            area_code: node.area_code().to_owned(),
            parent_id: node
                .parent
                .as_ref()
                .map(|p| p.id.clone())
                .unwrap_or_default(),
            store_backend: store_backend.to_owned(),
        },
        area,
        children: node
            .children
            .iter()
            .map(|c| vfed_registry::federation::ChildNode {
                id: c.id.clone(),
                name: c.name.clone(),
            })
            .collect(),
        liveness: vfed_registry::LivenessOptions {
            period: config.liveness.keepalive_period,
            missed_periods: config.liveness.missed_periods,
        },
        federation: vfed_registry::FederationOptions {
            batch_size: config.federation.batch_size,
            heartbeat: config.federation.heartbeat,
            max_backoff: config.federation.max_backoff,
        },
    }
}

async fn relay_options(config: &Config) -> Result<vfed_relay::RelayServiceOptions, NodeError> {
    let node = &config.node;
    let parent = match &node.parent {
        Some(p) => Some(vfed_relay::ParentRelay {
            id: p.id.clone(),
            addr: if p.relay_endpoint.is_empty() {
                None
            } else {
                Some(resolve(&p.relay_endpoint).await?)
            },
        }),
        None => None,
    };
    Ok(vfed_relay::RelayServiceOptions {
        node_id: node.id.clone(),
        parent,
        children: node.children.iter().map(|c| c.id.clone()).collect(),
        relay: vfed_relay::RelayOptions {
            idle_grace: config.relay.idle_grace,
            max_connections: config.connections.relay.max_connections,
            node_name: node.name.clone(),
        },
        idle_timeout: config.connections.relay.idle_timeout,
    })
}
