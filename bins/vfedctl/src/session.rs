//! The connection to one node: resolves the target (flags, environment or
//! demo.json), connects with mutual TLS once and applies `--timeout`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::OnceCell;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use vfed_pki::{Identity, ServerExpectation, TlsMaterial};
use vfed_proto::federation::v1::node_client::NodeClient;
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_proto::relay::v1::streams_client::StreamsClient;

use crate::cli::GlobalArgs;
use crate::credentials::{Credentials, StoredContext};
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
    /// HTTP (HLS) endpoint, when known (demo.json or a stored login).
    pub http_endpoint: Option<String>,
}

/// Adds the person's token, if any, to every call.
#[derive(Clone, Debug)]
pub struct CallCredentials(Option<MetadataValue<Ascii>>);

impl Interceptor for CallCredentials {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// The channel commands use: mutual TLS plus the person's token.
pub type NodeChannel = InterceptedService<Channel, CallCredentials>;

/// One invocation's connection settings and output format.
#[derive(Debug)]
pub struct Session {
    globals: GlobalArgs,
    channel: OnceCell<(Channel, String)>,
    credentials: std::sync::OnceLock<Credentials>,
}

impl Session {
    /// A session for `globals`; nothing is read or connected yet.
    pub fn new(globals: GlobalArgs) -> Self {
        Session {
            globals,
            channel: OnceCell::new(),
            credentials: std::sync::OnceLock::new(),
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
                http_endpoint: node.http_endpoint.clone().filter(|u| !u.is_empty()),
            });
        }
        let Some(endpoint) = g.endpoint.clone() else {
            if let Some(context) = self.stored().current() {
                return Ok(Target {
                    endpoint: context.endpoint.clone(),
                    ca: context.ca.clone(),
                    cert: context.cert.clone(),
                    key: context.key.clone(),
                    server_id: g.server_id.clone().or_else(|| context.server_id.clone()),
                    http_endpoint: context.http_endpoint.clone(),
                });
            }
            return Err(usage(
                "no node to talk to: pass --endpoint URL (or set VFEDCTL_ENDPOINT) or --demo DATA_DIR, or log in once (vfedctl login)",
            ));
        };
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
                http_endpoint: None,
            }),
            _ => Err(usage(format!(
                "mutual TLS needs {} (or VFEDCTL_CA, VFEDCTL_CERT, VFEDCTL_KEY)",
                missing.join(", ")
            ))),
        }
    }

    /// The stored logins (read once; empty when unreadable, which `login` reports).
    pub fn stored(&self) -> &Credentials {
        self.credentials
            .get_or_init(|| Credentials::load().unwrap_or_default())
    }

    /// The stored login for the target node, if any.
    pub fn stored_login(&self) -> Option<StoredContext> {
        let target = self.target().ok()?;
        self.stored().for_endpoint(&target.endpoint).cloned()
    }

    /// The token to act with: `--token`/`VFEDCTL_TOKEN`, else a fresh stored
    /// login for the target node.
    pub fn token(&self) -> Option<String> {
        if let Some(token) = self.globals.token.clone().filter(|t| !t.is_empty()) {
            return Some(token);
        }
        self.stored_login()
            .filter(StoredContext::is_fresh)
            .map(|c| c.token)
    }

    /// The channel to the node with the person's token on every call.
    pub async fn channel(&self) -> anyhow::Result<NodeChannel> {
        let credentials = match self.token() {
            Some(token) => Some(
                format!("Bearer {token}")
                    .parse()
                    .map_err(|_| usage("--token: not a valid token"))?,
            ),
            None => None,
        };
        Ok(InterceptedService::new(
            self.tls_channel().await?,
            CallCredentials(credentials),
        ))
    }

    /// The mutual-TLS channel to the node, connected on first use.
    pub async fn tls_channel(&self) -> anyhow::Result<Channel> {
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
    pub async fn registry(&self) -> anyhow::Result<RegistryClient<NodeChannel>> {
        Ok(RegistryClient::new(self.channel().await?))
    }

    /// A streams (relay) client on [`Session::channel`].
    pub async fn streams(&self) -> anyhow::Result<StreamsClient<NodeChannel>> {
        Ok(StreamsClient::new(self.channel().await?))
    }

    /// A node client on [`Session::channel`].
    pub async fn node(&self) -> anyhow::Result<NodeClient<NodeChannel>> {
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
