//! The demo's nodes, their configuration, credentials and `demo.json`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tonic::transport::Channel;
use vfed_config::{ChildConfig, Config, ParentConfig};
use vfed_pki::{Identity, IssueOptions, ServerExpectation, TlsMaterial};
use vfed_runtime::{Listeners, RunningNode};

/// One node of the demo.
pub struct NodeSpec {
    pub id: &'static str,
    pub name: &'static str,
    pub level: &'static str,
    pub parent: Option<&'static str>,
}

/// The demo's recording file length (see `node_config`).
const DEMO_FILE_DURATION: Duration = Duration::from_secs(10);
/// How often the demo's nodes make checkpoints (see `node_config`).
const DEMO_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(5);

const CITY: &str = "54050000002000000001";
const NAIDONG: &str = "54050200002000000001";
const ZHANANG: &str = "54052100002000000001";

/// The demo city, parents before children.
pub const NODES: &[NodeSpec] = &[
    NodeSpec {
        id: CITY,
        name: "Shannan city sharing platform",
        level: "city",
        parent: None,
    },
    NodeSpec {
        id: NAIDONG,
        name: "Naidong county platform",
        level: "county",
        parent: Some(CITY),
    },
    NodeSpec {
        id: ZHANANG,
        name: "Zhanang county platform",
        level: "county",
        parent: Some(CITY),
    },
];

/// The demo's credential files.
pub struct DemoPki {
    pub ca: PathBuf,
    pub dir: PathBuf,
    pub cli_cert: PathBuf,
    pub cli_key: PathBuf,
    pub site_cert: PathBuf,
    pub site_key: PathBuf,
}

impl DemoPki {
    fn node_files(&self, id: &str) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("node-{id}.pem")),
            self.dir.join(format!("node-{id}.key")),
        )
    }
}

/// Creates the CA and every certificate the demo needs, unless present.
pub fn ensure_pki(data_dir: &Path) -> anyhow::Result<DemoPki> {
    let dir = data_dir.join("pki");
    let ca = dir.join("ca.pem");
    if !ca.exists() {
        vfed_pki::init_ca(&dir, "vfed", false).context("creating the demo CA")?;
    }
    let options = IssueOptions::default();
    let issue = |identity: Identity| -> anyhow::Result<(PathBuf, PathBuf)> {
        let stem = identity.file_stem();
        let (cert, key) = (
            dir.join(format!("{stem}.pem")),
            dir.join(format!("{stem}.key")),
        );
        if !cert.exists() || !key.exists() {
            vfed_pki::issue(&dir, &dir, &identity, &options)
                .with_context(|| format!("issuing {identity}"))?;
        }
        Ok((cert, key))
    };
    for node in NODES {
        issue(Identity::node(node.id)?)?;
    }
    let (cli_cert, cli_key) = issue(Identity::tool("vfedctl")?)?;
    let (site_cert, site_key) = issue(Identity::tool("demo-site")?)?;
    Ok(DemoPki {
        ca,
        dir,
        cli_cert,
        cli_key,
        site_cert,
        site_key,
    })
}

/// Builds one node's configuration and binds its ports (127.0.0.1:0).
pub async fn node_config(
    spec: &NodeSpec,
    data_dir: &Path,
    pki: &DemoPki,
    parent_endpoint: &str,
    parent_relay: &str,
    keepalive: Duration,
) -> anyhow::Result<(Config, Listeners)> {
    let mut config = Config::default();
    config.node.id = spec.id.into();
    config.node.name = spec.name.into();
    config.node.level = spec.level.into();
    config.node.parent = spec.parent.map(|id| ParentConfig {
        id: id.into(),
        endpoint: parent_endpoint.into(),
        relay_endpoint: parent_relay.into(),
    });
    config.node.children = NODES
        .iter()
        .filter(|n| n.parent == Some(spec.id))
        .map(|n| ChildConfig {
            id: n.id.into(),
            name: n.name.into(),
        })
        .collect();
    let (cert, key) = pki.node_files(spec.id);
    config.tls.ca = pki.ca.clone();
    config.tls.cert = cert;
    config.tls.key = key;
    config.store.data_dir = data_dir.join("nodes").join(spec.id);
    config.liveness.keepalive_period = keepalive;
    config.auth.bootstrap_admin = super::accounts::BOOTSTRAP_ADMIN.into();
    // Recording files of 10 s (not 1 min) and checkpoints every 5 s (not
    // 10 s): the README tour exports the video of a request filed moments
    // before, and a file is exported only once it has closed and its
    // manifest is under a checkpoint the parent countersigned, so video
    // 25 s old can be exported (at most 10 s + one GOP + 5 s + the trip).
    config.archive.file_duration = DEMO_FILE_DURATION;
    config.audit.checkpoint_interval = DEMO_CHECKPOINT_INTERVAL;
    config.listen.grpc = "127.0.0.1:0".parse()?;
    config.listen.http = "127.0.0.1:0".parse()?;
    config.listen.relay = "127.0.0.1:0".parse()?;
    if spec.parent.is_some() {
        // Each county takes GB/T 28181 devices on its own SIP port.
        config.gb28181.enabled = true;
        config.gb28181.listen_udp = "127.0.0.1:0".into();
        config.gb28181.listen_tcp = "127.0.0.1:0".into();
        config.gb28181.keepalive_interval = Duration::from_secs(5);
    }
    config.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    let listeners = Listeners::bind(&config).await?;
    Ok((config, listeners))
}

/// A node as `demo.json` lists it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DemoNode {
    pub id: String,
    pub name: String,
    pub level: String,
    pub parent: Option<String>,
    pub grpc_endpoint: String,
    pub http_endpoint: String,
    pub relay_endpoint: String,
    /// Where GB/T 28181 devices register (counties).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip: Option<DemoSip>,
}

/// A county's GB/T 28181 access point, as devices are configured with it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DemoSip {
    /// SIP over UDP, `ip:port`.
    pub udp: String,
    /// SIP over TCP, `ip:port`.
    pub tcp: String,
    /// The SIP server ID (the node's code).
    pub server_id: String,
    /// The SIP domain (digest realm).
    pub domain: String,
    /// The default device password's file (mode 0600).
    pub password_file: PathBuf,
}

impl DemoNode {
    pub fn new(spec: &NodeSpec, node: &RunningNode, config: &Config) -> Self {
        let text = |a: Option<std::net::SocketAddr>| a.map(|a| a.to_string()).unwrap_or_default();
        Self {
            id: spec.id.into(),
            name: spec.name.into(),
            level: spec.level.into(),
            parent: spec.parent.map(str::to_owned),
            grpc_endpoint: format!("https://{}", node.grpc_addr),
            http_endpoint: format!("http://{}", node.http_addr),
            relay_endpoint: node.relay_addr.to_string(),
            sip: node.sip.map(|sip| DemoSip {
                udp: text(sip.udp),
                tcp: text(sip.tcp),
                server_id: spec.id.into(),
                domain: config.gb28181.domain_for(spec.id),
                password_file: config.gb28181.default_password_file_for(&config.store),
            }),
        }
    }
}

/// Client credential paths in `demo.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClientFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `<data-dir>/demo.json`: how scripts and users connect to the demo.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DemoFile {
    pub ca: PathBuf,
    pub client: ClientFiles,
    pub nodes: Vec<DemoNode>,
}

impl DemoFile {
    pub fn new(pki: &DemoPki, nodes: Vec<DemoNode>) -> Self {
        Self {
            ca: pki.ca.clone(),
            client: ClientFiles {
                cert: pki.cli_cert.clone(),
                key: pki.cli_key.clone(),
            },
            nodes,
        }
    }

    /// Writes the file atomically (temp file + rename), mode 0600.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        vfed_private_fs::write_atomic(path, &serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing {}", path.display()))
    }
}

/// gRPC channels to every demo node as the `demo-site` tool.
#[derive(Clone)]
pub struct ToolChannels {
    channels: HashMap<String, Channel>,
}

impl ToolChannels {
    pub fn new(pki: &DemoPki, demo: &DemoFile) -> anyhow::Result<Self> {
        let material = TlsMaterial::load(&pki.ca, &pki.site_cert, &pki.site_key)?;
        let mut channels = HashMap::new();
        for node in &demo.nodes {
            let expect = ServerExpectation::Exactly(Identity::node(node.id.clone())?);
            let config = vfed_pki::client_config(&material, expect, vfed_pki::GRPC_ALPN)?;
            channels.insert(
                node.id.clone(),
                vfed_pki::channel(&node.grpc_endpoint, config)?,
            );
        }
        Ok(Self { channels })
    }

    pub fn get(&self, node_id: &str) -> anyhow::Result<Channel> {
        self.channels
            .get(node_id)
            .cloned()
            .with_context(|| format!("no channel to {node_id}"))
    }
}
