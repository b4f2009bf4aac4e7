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
use crate::credentials::{Credentials, StoredContext, StoredLogin};
use crate::demo_file::DemoFile;
use crate::exit::{ConnectError, LoginExpired, usage};
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
    /// Where the settings came from, to name it when a file is unreadable.
    pub origin: String,
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
                origin: format!("{}", dir.join("demo.json").display()),
            });
        }
        if let Some(endpoint) = &g.endpoint {
            check_endpoint(endpoint)?;
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
                    origin: format!("stored login {}", context.name),
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
                origin: "flags".to_owned(),
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

    /// The token to act with: `--token`/`VFEDCTL_TOKEN`; none with
    /// `--as-certificate`; else the stored login for the target node. An
    /// expired stored login is refused ([`LoginExpired`], exit 5) rather
    /// than silently replaced by the client certificate's account.
    pub fn token(&self) -> anyhow::Result<Option<String>> {
        if let Some(token) = self.globals.token.clone().filter(|t| !t.is_empty()) {
            crate::redact::remember(&token);
            return Ok(Some(token));
        }
        if self.globals.as_certificate {
            return Ok(None);
        }
        let target = self.target()?;
        match self.stored().login_for(&target.endpoint) {
            StoredLogin::Fresh(context) => {
                crate::redact::remember(&context.token);
                Ok(Some(context.token.clone()))
            }
            StoredLogin::Expired(context) => Err(LoginExpired {
                user: context.user.clone(),
                context: context.name.clone(),
                expired_unix: context.expires_unix,
            }
            .into()),
            StoredLogin::None => Ok(None),
        }
    }

    /// The channel to the node with the person's token on every call.
    pub async fn channel(&self) -> anyhow::Result<NodeChannel> {
        let credentials = match self.token()? {
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

    /// The channel to the node as the client certificate's account, whatever
    /// login is stored (`login` itself: a person logs in over it).
    pub async fn certificate_channel(&self) -> anyhow::Result<NodeChannel> {
        Ok(InterceptedService::new(
            self.tls_channel().await?,
            CallCredentials(None),
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
    for (flag, path) in [
        ("--ca", &target.ca),
        ("--cert", &target.cert),
        ("--key", &target.key),
    ] {
        if let Err(e) = std::fs::File::open(path) {
            return Err(usage(format!(
                "{flag} {} (from {}): cannot read: {e}",
                path.display(),
                target.origin
            )));
        }
    }
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
        Ok(Err(e)) if answered_in_plain_http(&e) => Err(ConnectError(format!(
            "{e}\nhint: {} answers in plain HTTP: it looks like the node's HTTP port \
             (listen.http, default 7180: /live, /metrics). --endpoint takes the gRPC \
             port (listen.grpc, default 7100), e.g. https://127.0.0.1:7100",
            target.endpoint
        ))
        .into()),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(ConnectError(format!(
            "cannot connect to {}: no TLS session within {}",
            target.endpoint,
            humantime::format_duration(timeout)
        ))
        .into()),
    }
}

/// Refuses `http://` endpoints with a hint: vfedctl speaks gRPC over mutual
/// TLS, and `http://` usually means the node's HTTP port was copied.
fn check_endpoint(endpoint: &str) -> anyhow::Result<()> {
    if endpoint.trim().to_ascii_lowercase().starts_with("http://") {
        return Err(usage(format!(
            "--endpoint {endpoint}: vfedctl talks gRPC over mutual TLS, so the endpoint is \
             https://HOST:PORT of the node's gRPC listener (listen.grpc, default 7100), \
             e.g. https://127.0.0.1:7100; http:// is the node's HTTP port (listen.http, \
             default 7180), which only `watch --http` uses"
        )));
    }
    Ok(())
}

/// Whether a TLS handshake failed because the peer answered in plain HTTP
/// (rustls reads an HTTP response as a record of an invalid content type).
fn answered_in_plain_http(error: &vfed_pki::PkiError) -> bool {
    matches!(error, vfed_pki::PkiError::Connect { reason, .. } if reason.contains("InvalidContentType"))
}
