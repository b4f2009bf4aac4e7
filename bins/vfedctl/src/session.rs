//! The connection to one node: resolves the target (flags, environment or
//! demo.json), connects with mutual TLS once and applies `--timeout`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::OnceCell;
use tonic::transport::Channel;
use vfed_pki::{Identity, ServerExpectation, TlsMaterial};
use vfed_proto::federation::v1::node_client::NodeClient;
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_proto::relay::v1::streams_client::StreamsClient;

use crate::cli::GlobalArgs;
use crate::demo_file::DemoFile;
use crate::exit::{ConnectError, usage};
use crate::output::{Format, OutputArg};

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Target {
    /// `https://host:port`.
    pub endpoint: String,
    /// CA certificate (PEM).
    pub ca: PathBuf,
    /// Client certificate chain (PEM).
    pub cert: PathBuf,
    /// Client private key (PEM).
    pub key: PathBuf,
    /// Node ID the server must present, if pinned.
    pub server_id: Option<String>,
}

/// One invocation's connection settings and output format.
#[derive(Debug)]
pub struct Session {
    globals: GlobalArgs,
    channel: OnceCell<(Channel, String)>,
}

impl Session {
    /// A session for `globals`; nothing is read or connected yet.
    pub fn new(globals: GlobalArgs) -> Self {
        Session {
            globals,
            channel: OnceCell::new(),
        }
    }

    /// The output format (`table` unless `-o json`).
    pub fn format(&self) -> Format {
        match self.globals.output {
            Some(OutputArg::Format(format)) => format,
            _ => Format::Table,
        }
    }

    /// The raw `-o/--output` value, if given.
    pub fn output_arg(&self) -> Option<&OutputArg> {
        self.globals.output.as_ref()
    }

    /// The node's HTTP base URL (HLS egress) from `--demo` and the selected
    /// node's `http_endpoint`; `None` without `--demo`.
    pub fn demo_http_endpoint(&self) -> anyhow::Result<Option<String>> {
        let g = &self.globals;
        let Some(dir) = &g.demo else {
            return Ok(None);
        };
        let demo = DemoFile::load(dir)?;
        let node = demo.select(g.node.as_deref())?;
        match &node.http_endpoint {
            Some(url) if !url.is_empty() => Ok(Some(url.clone())),
            _ => Err(usage(format!(
                "demo node {} ({}) has no http_endpoint in demo.json; pass --http URL",
                node.id, node.name
            ))),
        }
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> Duration {
        self.globals.timeout
    }

    /// Resolves the target from `--demo [--node]` or from
    /// `--endpoint/--ca/--cert/--key` (flags or `VFEDCTL_*`). With `--demo`,
    /// demo.json supplies endpoint, CA, certificate and key, and the node's
    /// identity is pinned unless `--server-id` says otherwise.
    pub fn target(&self) -> anyhow::Result<Target> {
        let g = &self.globals;
        if let Some(dir) = &g.demo {
            let demo = DemoFile::load(dir)?;
            let node = demo.select(g.node.as_deref())?;
            return Ok(Target {
                endpoint: node.grpc_endpoint.clone(),
                ca: demo.ca.clone(),
                cert: demo.client.cert.clone(),
                key: demo.client.key.clone(),
                server_id: Some(g.server_id.clone().unwrap_or_else(|| node.id.clone())),
            });
        }
        let endpoint = g.endpoint.clone().ok_or_else(|| {
            usage("no node to talk to: pass --endpoint URL (or set VFEDCTL_ENDPOINT), or --demo DATA_DIR")
        })?;
        let missing: Vec<&str> = [("--ca", &g.ca), ("--cert", &g.cert), ("--key", &g.key)]
            .into_iter()
            .filter(|(_, v)| v.is_none())
            .map(|(flag, _)| flag)
            .collect();
        match (&g.ca, &g.cert, &g.key) {
            (Some(ca), Some(cert), Some(key)) => Ok(Target {
                endpoint,
                ca: ca.clone(),
                cert: cert.clone(),
                key: key.clone(),
                server_id: g.server_id.clone(),
            }),
            _ => Err(usage(format!(
                "mutual TLS needs {} (or VFEDCTL_CA, VFEDCTL_CERT, VFEDCTL_KEY)",
                missing.join(", ")
            ))),
        }
    }

    /// The channel to the node, connected on first use.
    pub async fn channel(&self) -> anyhow::Result<Channel> {
        let (channel, _) = self
            .channel
            .get_or_try_init(|| async {
                let target = self.target()?;
                let channel = connect(&target, self.timeout()).await?;
                Ok::<_, anyhow::Error>((channel, target.endpoint))
            })
            .await?;
        Ok(channel.clone())
    }

    /// A registry client on [`Session::channel`].
    pub async fn registry(&self) -> anyhow::Result<RegistryClient<Channel>> {
        Ok(RegistryClient::new(self.channel().await?))
    }

    /// A streams (relay) client on [`Session::channel`].
    pub async fn streams(&self) -> anyhow::Result<StreamsClient<Channel>> {
        Ok(StreamsClient::new(self.channel().await?))
    }

    /// A node client on [`Session::channel`].
    pub async fn node(&self) -> anyhow::Result<NodeClient<Channel>> {
        Ok(NodeClient::new(self.channel().await?))
    }

    /// Awaits one RPC within the timeout. A refusal stays a
    /// [`tonic::Status`] (printed verbatim, exit 1).
    pub async fn call<T, F>(&self, rpc: F) -> anyhow::Result<T>
    where
        F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        match tokio::time::timeout(self.timeout(), rpc).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(status.into()),
            Err(_) => {
                let endpoint = self.channel.get().map_or("the node", |(_, e)| e.as_str());
                Err(ConnectError(format!(
                    "no answer from {endpoint} within {} (see --timeout)",
                    humantime::format_duration(self.timeout())
                ))
                .into())
            }
        }
    }
}

/// Loads the TLS material and connects eagerly, so TLS problems are
/// reported with their reason.
async fn connect(target: &Target, timeout: Duration) -> anyhow::Result<Channel> {
    let material = TlsMaterial::load(&target.ca, &target.cert, &target.key)
        .map_err(|e| ConnectError(format!("cannot load TLS material: {e}")))?;
    let expect = match &target.server_id {
        Some(id) => ServerExpectation::Exactly(
            Identity::node(id.as_str()).with_context(|| format!("--server-id {id}"))?,
        ),
        None => ServerExpectation::AnyNode,
    };
    let config = vfed_pki::client_config(&material, expect, vfed_pki::GRPC_ALPN)
        .map_err(|e| ConnectError(format!("cannot build the TLS client configuration: {e}")))?;
    match tokio::time::timeout(timeout, vfed_pki::connect(&target.endpoint, config)).await {
        Ok(Ok(channel)) => Ok(channel),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(ConnectError(format!(
            "cannot connect to {}: no TLS session within {}",
            target.endpoint,
            humantime::format_duration(timeout)
        ))
        .into()),
    }
}
