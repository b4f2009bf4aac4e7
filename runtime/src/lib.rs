//! A vfed node: the services of one platform (site, county, city...) wired
//! together over one store, one gRPC port (mutual TLS) and one HTTP port.
//!
//! `start` is what the `vfed` binary, `vfed demo`, the integration tests
//! and the benchmarks all call, so they exercise the same code.
#![forbid(unsafe_code)]

mod archive;
mod audit_sink;
mod call_log;
mod cameras;
mod data_dir;
mod error;
mod evidence;
mod fd_limit;
mod grpc;
mod http;
mod open_store;
mod routing;
mod stream_metrics;
mod subscribers;
mod tls;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use vfed_config::Config;
use vfed_gbcode::AreaCode;
use vfed_registry::federation::{
    ChildNode, FederationService, LinkRole, LinkTable, Uplink, UplinkOptions,
};
use vfed_registry::{
    Catalog, Liveness, LivenessOptions, NodeFacts, NodeService, RegistryMetrics, RegistryService,
};
use vfed_store::SharedStore;

pub use data_dir::{Exposed, check_private_dir};
pub use error::NodeError;
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

/// Starts a node from a validated `config` on `listeners`.
pub async fn start(config: &Config, listeners: Listeners) -> Result<RunningNode, NodeError> {
    let node = &config.node;
    fd_limit::raise();
    data_dir::check_node(config)?;
    let material = tls::load(config)?;
    let opened = open_store(config).await?;
    let shutdown = CancellationToken::new();
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
    let accounts = open_accounts(config, store.clone(), shutdown.clone()).await?;
    let grants = vfed_sharing::GrantBook::start(store.clone(), shutdown.clone());
    let area = AreaCode::parse(node.area_code())
        .ok_or_else(|| NodeError::Config("node.area_code: must be 6 digits".into()))?;
    let mut metrics_registry = prometheus_client::registry::Registry::with_labels(
        [(
            std::borrow::Cow::Borrowed("node"),
            std::borrow::Cow::Owned(node.id.clone()),
        )]
        .into_iter(),
    );
    let metrics = RegistryMetrics::register(&mut metrics_registry);
    let audit_metrics = vfed_auditing::AuditMetrics::register(&mut metrics_registry);
    let catalog = Catalog::new(store.clone(), node.id.clone(), area);
    let liveness = Liveness::new(
        catalog.clone(),
        LivenessOptions {
            period: config.liveness.keepalive_period,
            missed_periods: config.liveness.missed_periods,
        },
        metrics.clone(),
    );
    let peers = node
        .parent
        .iter()
        .map(|p| (LinkRole::Parent, p.id.clone(), String::new()))
        .chain(
            node.children
                .iter()
                .map(|c| (LinkRole::Child, c.id.clone(), c.name.clone())),
        );
    let links = LinkTable::new(peers, metrics.clone());
    let facts = NodeFacts {
        id: node.id.clone(),
        name: node.name.clone(),
        level: node.level.clone(),
        area_code: node.area_code().to_owned(),
        parent_id: node
            .parent
            .as_ref()
            .map(|p| p.id.clone())
            .unwrap_or_default(),
        store_backend: store.backend().to_owned(),
    };
    let children = node
        .children
        .iter()
        .map(|c| ChildNode {
            id: c.id.clone(),
            name: c.name.clone(),
        })
        .collect();
    let relay = vfed_relay::Relay::new(
        &node.id,
        material.trust_domain(),
        node.parent.as_ref().map(|p| p.id.clone()),
        node.children.iter().map(|c| c.id.clone()),
        std::sync::Arc::new(routing::CatalogResolver::new(catalog.clone())),
        vfed_relay::RelayOptions {
            idle_grace: config.relay.idle_grace,
            max_connections: config.connections.relay.max_connections,
            node_name: node.name.clone(),
        },
    );
    let archive = archive::open(config, &audit).await?;
    relay.set_subscriber_policy(std::sync::Arc::new(subscribers::Viewers::new(
        accounts.clone(),
        grants.clone(),
        audit.clone(),
        shutdown.clone(),
    )));
    let services = grpc::Services {
        streams: vfed_relay::StreamsService::new(relay.clone()),
        archive: archive.as_ref().map(|a| a.service.clone()),
        evidence: archive
            .as_ref()
            .map(|a| evidence::service(&a.archive, config, &store, &catalog, &audit)),
        audit: vfed_auditing::AuditService::new(
            audit.clone(),
            node.children.iter().map(|c| c.id.clone()),
            audit_metrics.clone(),
        )
        .with_shutdown(shutdown.clone()),
        accounts: vfed_auth::AccountsService::new(accounts.clone()),
        sharing: vfed_sharing::SharingService::new(
            vfed_sharing::Records::new(store.clone()),
            catalog.area().clone(),
        ),
        retrieval: vfed_retrieval::RetrievalService::new(
            store.clone(),
            catalog.clone(),
            vfed_retrieval::RetrievalOptions {
                default_expiry: config.retrieval.default_expiry,
                max_expiry: config.retrieval.max_expiry,
            },
        ),
        registry: RegistryService::new(catalog.clone(), liveness.clone(), metrics.clone())
            .with_children(node.children.iter().map(|c| c.id.clone())),
        node: NodeService::new(facts, links.clone()),
        federation: FederationService::new(
            catalog.clone(),
            node.name.clone(),
            children,
            links.clone(),
            metrics.clone(),
        ),
    };

    let grpc_addr = listeners.grpc.local_addr().map_err(NodeError::Io)?;
    let http_addr = listeners.http.local_addr().map_err(NodeError::Io)?;
    let mut tasks = JoinSet::new();
    let server_config =
        vfed_pki::server_config(&material, vfed_pki::GRPC_ALPN).map_err(NodeError::Tls)?;
    let gate = vfed_auth::Gate::new(
        accounts.clone(),
        std::sync::Arc::new(audit_sink::TrailSink(audit.clone())),
        std::sync::Arc::new(grants.clone()),
    )
    .map_err(NodeError::Config)?;
    let http_guard = vfed_auth::HttpGuard::new(gate.clone(), config.auth.view_idle);
    tasks.spawn(http_guard.clone().run(shutdown.clone()));
    {
        let audit = audit.clone();
        let shutdown = shutdown.clone();
        tasks.spawn(audit.run(config.audit.checkpoint_interval, shutdown));
    }
    tasks.spawn(grpc::serve(
        services,
        vfed_auth::AuthLayer::new(gate),
        listeners.grpc,
        server_config,
        config.connections.grpc.clone(),
        shutdown.clone(),
        node.id.clone(),
    ));
    tasks.spawn(stream_metrics::register(
        &mut metrics_registry,
        relay.clone(),
        shutdown.clone(),
    ));
    let hls = vfed_relay::egress::HlsEgress::new(
        relay.clone(),
        vfed_relay::egress::HlsOptions::default(),
    );
    let mut media_routes = hls.router();
    if let Some(archive) = &archive {
        media_routes = media_routes.merge(archive.routes.clone());
        tasks.spawn(
            archive
                .archive
                .clone()
                .run(relay.clone(), archive.stop.clone()),
        );
    }
    tasks.spawn(http::serve(
        listeners.http,
        metrics_registry,
        media_routes,
        http_guard,
        config.connections.http.clone(),
        shutdown.clone(),
        node.id.clone(),
    ));
    tasks.spawn(cameras::run(
        catalog.clone(),
        relay.clone(),
        liveness.clone(),
        config.liveness.keepalive_period,
        shutdown.clone(),
    ));
    tasks.spawn(liveness.run(shutdown.clone()));
    let relay_addr = listeners.relay.local_addr().map_err(NodeError::Io)?;
    let relay_limits = &config.connections.relay;
    let relay_endpoint = vfed_relay::endpoint::server_on_with(
        &material,
        listeners.relay,
        relay_limits.idle_timeout,
        relay_limits.max_connections,
    )
    .map_err(|e| NodeError::Config(format!("listen.relay: {e}")))?;
    tasks.spawn(
        relay
            .clone()
            .accept(relay_endpoint.clone(), shutdown.clone()),
    );
    if let Some(parent) = node
        .parent
        .as_ref()
        .filter(|p| !p.relay_endpoint.is_empty())
    {
        let addr = resolve(&parent.relay_endpoint).await?;
        let identity = vfed_pki::Identity::node(parent.id.clone()).map_err(NodeError::Tls)?;
        let client = vfed_relay::endpoint::client_config(
            &material,
            vfed_pki::ServerExpectation::Exactly(identity),
        )
        .map_err(|e| NodeError::Config(format!("node.parent.relay_endpoint: {e}")))?;
        tasks.spawn(
            relay
                .clone()
                .uplink(relay_endpoint, client, addr, shutdown.clone()),
        );
    }
    if let Some(parent) = &node.parent {
        let identity = vfed_pki::Identity::node(parent.id.clone()).map_err(NodeError::Tls)?;
        let client_config = vfed_pki::client_config(
            &material,
            vfed_pki::ServerExpectation::Exactly(identity),
            vfed_pki::GRPC_ALPN,
        )
        .map_err(NodeError::Tls)?;
        let channel = vfed_pki::channel(&parent.endpoint, client_config).map_err(NodeError::Tls)?;
        // R18.6: the parent countersigns this node's audit checkpoints.
        tasks.spawn(
            vfed_auditing::CheckpointShipper::new(
                audit.clone(),
                channel.clone(),
                parent.id.clone(),
                config.audit.checkpoint_interval,
                audit_metrics.clone(),
            )
            .run(shutdown.clone()),
        );
        let uplink = Uplink::new(
            catalog,
            channel,
            UplinkOptions {
                name: node.name.clone(),
                level: node.level.clone(),
                parent_id: parent.id.clone(),
                batch_size: config.federation.batch_size,
                heartbeat: config.federation.heartbeat,
                max_backoff: config.federation.max_backoff,
            },
            links,
        );
        tasks.spawn(uplink.run(shutdown.clone()));
    }
    tracing::info!(node = %node.id, name = %node.name, level = %node.level, %grpc_addr, %http_addr, store = store.backend(), "node started");
    Ok(RunningNode {
        id: node.id.clone(),
        grpc_addr,
        http_addr,
        relay_addr,
        relay,
        audit,
        accounts,
        grants,
        archive,
        store: opened,
        shutdown,
        tasks,
        grace: config.shutdown.grace,
    })
}

/// Opens the node's accounts and creates the bootstrap admin on first start.
async fn open_accounts(
    config: &Config,
    store: SharedStore,
    shutdown: CancellationToken,
) -> Result<vfed_auth::Accounts, NodeError> {
    let auth = &config.auth;
    let key = vfed_auth::load_or_create_token_key(&auth.token_key_for(&config.store))
        .map_err(|e| NodeError::Config(e.to_string()))?;
    let accounts = vfed_auth::Accounts::open(
        store,
        config.node.id.clone(),
        key,
        vfed_auth::AccountOptions {
            token_ttl: auth.token_ttl,
            max_token_ttl: auth.max_token_ttl,
        },
        shutdown,
    )
    .await
    .map_err(NodeError::Auth)?;
    if !auth.bootstrap_admin.is_empty() {
        let password = match &auth.bootstrap_password_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    NodeError::Config(format!(
                        "auth.bootstrap_password_file: {}: {e}",
                        path.display()
                    ))
                })?;
                Some(text.lines().next().unwrap_or("").to_owned())
            }
            None => None,
        };
        let created = accounts
            .bootstrap_admin(&auth.bootstrap_admin, password.as_deref())
            .await
            .map_err(NodeError::Auth)?;
        if created {
            tracing::info!(account = %auth.bootstrap_admin, "bootstrap admin account created");
        }
    }
    Ok(accounts)
}
