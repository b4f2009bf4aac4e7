//! Real nodes in-process on loopback, restartable on the same port and data.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tonic::transport::Channel;
use vfed_config::{ChildConfig, Config, ConnectionsConfig, ParentConfig, StoreBackend};
use vfed_pki::Identity;
use vfed_runtime::{Listeners, RunningNode};

use crate::TestPki;

/// Which store a test node uses.
#[derive(Clone, Debug)]
pub enum Backend {
    /// redb in the node's temp dir.
    Embedded,
    /// A real etcd at this client URL, under the node's own prefix.
    Etcd(String),
}

/// What a test node is.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// Node code.
    pub id: String,
    /// Level label.
    pub level: String,
    /// Parent code and gRPC address.
    pub parent: Option<(String, SocketAddr)>,
    /// The parent's relay address (UDP), for the media uplink.
    pub parent_relay: Option<SocketAddr>,
    /// Children codes.
    pub children: Vec<String>,
    /// Store backend.
    pub backend: Backend,
    /// Keepalive period.
    pub keepalive: Duration,
    /// Listener timeouts and limits (hostile-peer tests shorten them).
    pub connections: ConnectionsConfig,
    /// Federation heartbeat period.
    pub heartbeat: Duration,
    /// GB/T 28181 device access (`[gb28181]`), if any.
    pub gb28181: Option<vfed_config::Gb28181Config>,
}

impl NodeOptions {
    /// A node `id` at `level` with defaults (embedded store, 10 s keepalive).
    pub fn new(id: &str, level: &str) -> Self {
        Self {
            id: id.into(),
            level: level.into(),
            parent: None,
            parent_relay: None,
            children: Vec::new(),
            backend: Backend::Embedded,
            keepalive: Duration::from_secs(10),
            connections: ConnectionsConfig::default(),
            heartbeat: Duration::from_millis(200),
            gb28181: None,
        }
    }

    /// With a parent.
    pub fn parent(mut self, id: &str, addr: SocketAddr) -> Self {
        self.parent = Some((id.into(), addr));
        self
    }

    /// Under `parent`: its gRPC and relay addresses.
    pub fn under(mut self, parent: &TestNode) -> Self {
        self.parent = Some((parent.options.id.clone(), parent.grpc_addr));
        self.parent_relay = Some(parent.relay_addr());
        self
    }

    /// With children.
    pub fn children(mut self, ids: &[&str]) -> Self {
        self.children = ids.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// With a store backend.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// With listener timeouts and limits.
    pub fn connections(mut self, connections: ConnectionsConfig) -> Self {
        self.connections = connections;
        self
    }

    /// With a federation heartbeat period (default 200 ms).
    pub fn heartbeat(mut self, period: Duration) -> Self {
        self.heartbeat = period;
        self
    }

    /// With GB/T 28181 device access (`[gb28181]`).
    pub fn gb28181(mut self, section: vfed_config::Gb28181Config) -> Self {
        self.gb28181 = Some(section);
        self
    }

    /// With a keepalive period.
    pub fn keepalive(mut self, period: Duration) -> Self {
        self.keepalive = period;
        self
    }
}

/// A node under test; `stop` and `restart` keep its ports and data.
pub struct TestNode {
    /// Its options.
    pub options: NodeOptions,
    /// Its config.
    pub config: Config,
    /// gRPC address.
    pub grpc_addr: SocketAddr,
    /// The running node (None while stopped).
    pub running: Option<RunningNode>,
    _data: tempfile::TempDir,
}

impl TestNode {
    /// Starts a node with certificates from `pki`.
    pub async fn start(pki: &TestPki, options: NodeOptions) -> anyhow::Result<Self> {
        let data = tempfile::tempdir()?;
        // A node refuses a data directory others can read (as vfed creates them: 0700).
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o700))?;
        }
        let (cert, key) = pki.files(&Identity::node(options.id.clone())?)?;
        let mut config = Config::default();
        config.node.id = options.id.clone();
        config.node.name = format!("{} node {}", options.level, options.id);
        config.node.level = options.level.clone();
        config.node.parent = options.parent.as_ref().map(|(id, addr)| ParentConfig {
            id: id.clone(),
            endpoint: format!("https://{addr}"),
            relay_endpoint: options
                .parent_relay
                .map(|a| a.to_string())
                .unwrap_or_default(),
        });
        config.node.children = options
            .children
            .iter()
            .map(|id| ChildConfig {
                id: id.clone(),
                name: format!("child {id}"),
            })
            .collect();
        config.tls.ca = pki.ca();
        config.tls.cert = cert;
        config.tls.key = key;
        config.store.data_dir = PathBuf::from(data.path());
        if let Backend::Etcd(url) = &options.backend {
            config.store.backend = StoreBackend::Etcd;
            config.store.etcd_endpoints = vec![url.clone()];
            config.store.etcd_prefix = format!("/vfed-test/{}/{}/", options.id, unique());
        }
        config.liveness.keepalive_period = options.keepalive;
        config.federation.heartbeat = options.heartbeat;
        config.federation.max_backoff = Duration::from_millis(500);
        config.shutdown.grace = Duration::from_secs(2);
        config.listen.grpc = "127.0.0.1:0".parse()?;
        config.listen.http = "127.0.0.1:0".parse()?;
        config.listen.relay = "127.0.0.1:0".parse()?;
        config.relay.idle_grace = Duration::from_millis(500);
        config.connections = options.connections.clone();
        // Short recording files; no sealing (a sealed file in a temp dir
        // could not be cleaned up: tests that seal unseal themselves).
        config.archive.file_duration = Duration::from_secs(10);
        config.archive.seal = false;
        // The harness's tool certificate is the node's admin.
        config.auth.bootstrap_admin = crate::auth::TEST_ADMIN.into();
        if let Some(section) = &options.gb28181 {
            config.gb28181 = section.clone();
        }
        config.validate()?;
        let listeners = Listeners::bind(&config).await?;
        let grpc_addr = listeners.grpc.local_addr()?;
        // Restarts reuse the ports the first start got.
        config.listen.grpc = grpc_addr;
        config.listen.http = listeners.http.local_addr()?;
        config.listen.relay = listeners.relay.local_addr()?;
        let running = vfed_runtime::start(&config, listeners).await?;
        Ok(Self {
            options,
            config,
            grpc_addr,
            running: Some(running),
            _data: data,
        })
    }

    /// The node's code.
    pub fn id(&self) -> &str {
        &self.options.id
    }

    /// A tool channel to this node.
    pub fn channel(&self, pki: &TestPki) -> anyhow::Result<Channel> {
        pki.tool_channel(&self.options.id, self.grpc_addr)
    }

    /// The running node's store.
    pub fn store(&self) -> anyhow::Result<vfed_store::SharedStore> {
        self.running
            .as_ref()
            .map(|r| r.store().clone())
            .ok_or_else(|| anyhow::anyhow!("node is stopped"))
    }

    /// The relay's UDP address.
    pub fn relay_addr(&self) -> SocketAddr {
        self.config.listen.relay
    }

    /// The running node's relay.
    pub fn relay(&self) -> anyhow::Result<vfed_relay::Relay> {
        self.running
            .as_ref()
            .map(|r| r.relay.clone())
            .ok_or_else(|| anyhow::anyhow!("node is stopped"))
    }

    /// The HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.config.listen.http
    }

    /// Stops the node (drains, closes its store).
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }

    /// Kills the node (no drain), as a crash would.
    pub async fn kill(&mut self) {
        if let Some(running) = self.running.take() {
            running.kill().await;
        }
    }

    /// Starts it again on the same ports and data.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await;
        let mut attempts = 0;
        let listeners = loop {
            match Listeners::bind(&self.config).await {
                Ok(l) => break l,
                Err(_) if attempts < 50 => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        self.running = Some(vfed_runtime::start(&self.config, listeners).await?);
        Ok(())
    }
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}
