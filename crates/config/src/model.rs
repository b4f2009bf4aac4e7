//! The configuration model. Every field has a default that runs a lone
//! county-less node on loopback, so a file only says what differs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The whole configuration of one node.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Who this node is and where it sits in the tree.
    pub node: NodeConfig,
    /// Addresses to listen on.
    pub listen: ListenConfig,
    /// Timeouts and connection limits of the listeners.
    pub connections: crate::ConnectionsConfig,
    /// Certificates for mutual TLS (R18.4).
    pub tls: TlsConfig,
    /// Where state lives.
    pub store: StoreConfig,
    /// The audit log (R14.5, R18.6).
    pub audit: crate::AuditConfig,
    /// Device liveness (R14.3).
    pub liveness: LivenessConfig,
    /// The link to the parent (R6.1).
    pub federation: FederationConfig,
    /// Logs, traces and metrics.
    pub telemetry: TelemetryConfig,
    /// Graceful stop.
    pub shutdown: ShutdownConfig,
    /// The media relay.
    pub relay: RelayConfig,
    /// Accounts, tokens and viewing (R15.1).
    pub auth: AuthConfig,
    /// Release of recorded video under the two-officer rule (R16).
    pub retrieval: RetrievalConfig,
    /// Continuous recording (R14.6, R18.7).
    pub archive: crate::ArchiveConfig,
    /// GB/T 28181 device access (site NVRs and cameras).
    pub gb28181: crate::Gb28181Config,
}

/// Identity and place in the tree.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// GB/T 28181 platform code (type 200) of this node.
    pub id: String,
    /// Human name, e.g. "Naidong county platform".
    pub name: String,
    /// Level label: site, county, city, province... (any depth is allowed).
    pub level: String,
    /// 6-digit area code this node governs; empty: the first 6 digits of `id`.
    pub area_code: String,
    /// The node above, if any.
    pub parent: Option<ParentConfig>,
    /// Nodes allowed to link to this one as children.
    pub children: Vec<ChildConfig>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            id: String::new(),
            name: String::new(),
            level: "county".into(),
            area_code: String::new(),
            parent: None,
            children: Vec::new(),
        }
    }
}

impl NodeConfig {
    /// The effective area code.
    pub fn area_code(&self) -> &str {
        if self.area_code.is_empty() {
            self.id.get(..6).unwrap_or("")
        } else {
            &self.area_code
        }
    }
}

/// The parent node.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ParentConfig {
    /// The parent's node code; its certificate must name it.
    pub id: String,
    /// The parent's gRPC endpoint, `host:port` or `https://host:port`.
    pub endpoint: String,
    /// The parent's relay (QUIC, UDP) address `host:port`; empty: no media uplink.
    pub relay_endpoint: String,
}

/// A child node.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ChildConfig {
    /// The child's node code; its certificate must name it.
    pub id: String,
    /// Human name.
    pub name: String,
}

/// Listening addresses.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ListenConfig {
    /// gRPC (mutual TLS).
    pub grpc: SocketAddr,
    /// HTTP: `/metrics`, `/healthz` and media egress for viewers.
    pub http: SocketAddr,
    /// The media relay, QUIC over UDP (mutual TLS).
    pub relay: SocketAddr,
}

impl Default for ListenConfig {
    fn default() -> Self {
        Self {
            grpc: SocketAddr::from(([127, 0, 0, 1], 7100)),
            http: SocketAddr::from(([127, 0, 0, 1], 7180)),
            relay: SocketAddr::from(([127, 0, 0, 1], 7190)),
        }
    }
}

/// PEM files of this node's credentials.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// The CA certificate every peer must chain to.
    pub ca: PathBuf,
    /// This node's certificate (its URI SAN names the node).
    pub cert: PathBuf,
    /// This node's private key.
    pub key: PathBuf,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            ca: PathBuf::from("pki/ca.pem"),
            cert: PathBuf::from("pki/node.pem"),
            key: PathBuf::from("pki/node.key"),
        }
    }
}

/// Which store backend.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// redb file in `data_dir` (one machine).
    #[default]
    Embedded,
    /// A shared etcd cluster.
    Etcd,
}

/// Store settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// The backend.
    pub backend: StoreBackend,
    /// Directory of the embedded store.
    pub data_dir: PathBuf,
    /// etcd client URLs.
    pub etcd_endpoints: Vec<String>,
    /// Root prefix of this node's keys in etcd; empty: `/vfed/<node id>/`.
    pub etcd_prefix: String,
    /// Revisions of history kept for watches (embedded backend).
    pub history: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: StoreBackend::Embedded,
            data_dir: PathBuf::from("vfed-data"),
            etcd_endpoints: vec!["http://127.0.0.1:2379".into()],
            etcd_prefix: String::new(),
            history: 100_000,
        }
    }
}

/// Liveness settings (R14.3).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LivenessConfig {
    /// Expected keepalive period of each device.
    #[serde(with = "humantime_serde")]
    pub keepalive_period: Duration,
    /// Missed periods after which a device is offline.
    pub missed_periods: u32,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        Self {
            keepalive_period: Duration::from_secs(10),
            missed_periods: 3,
        }
    }
}

/// Federation link settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FederationConfig {
    /// Catalog changes per batch sent to the parent.
    pub batch_size: usize,
    /// How often an idle link reports its head revision.
    #[serde(with = "humantime_serde")]
    pub heartbeat: Duration,
    /// Longest wait between reconnect attempts.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            heartbeat: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Log format.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Telemetry settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// `tracing` filter, e.g. `info,vfed_registry=debug`.
    pub log: String,
    /// Log line format.
    pub log_format: LogFormat,
    /// OTLP/gRPC endpoint for traces, e.g. `http://127.0.0.1:4317`; empty: off.
    pub otlp_endpoint: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log: "info".into(),
            log_format: LogFormat::Text,
            otlp_endpoint: String::new(),
        }
    }
}

/// Graceful stop.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownConfig {
    /// How long in-flight work may take to finish after SIGINT/SIGTERM.
    #[serde(with = "humantime_serde")]
    pub grace: Duration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(10),
        }
    }
}

/// Media relay settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RelayConfig {
    /// How long an upstream pull stays open after its last viewer left.
    #[serde(with = "humantime_serde")]
    pub idle_grace: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            idle_grace: Duration::from_secs(10),
        }
    }
}

/// Accounts, tokens and viewing.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Lifetime of a login token when the login asks for none.
    #[serde(with = "humantime_serde")]
    pub token_ttl: Duration,
    /// The longest token lifetime a login may ask for.
    #[serde(with = "humantime_serde")]
    pub max_token_ttl: Duration,
    /// An admin account created on start if it does not exist (first start).
    /// Empty: none.
    pub bootstrap_admin: String,
    /// A file holding the bootstrap admin's password (first line). Absent:
    /// the account signs in only with a client certificate of its name.
    pub bootstrap_password_file: Option<PathBuf>,
    /// A live view with no request for this long has stopped (audit log).
    #[serde(with = "humantime_serde")]
    pub view_idle: Duration,
    /// The file holding the key that signs login tokens (mode 0600, created on
    /// first start); empty: `<store.data_dir>/token.key`. Kept out of the
    /// store on purpose (docs/security.md); replicas of one node on one etcd
    /// must be given the same file.
    pub token_key: PathBuf,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token_ttl: Duration::from_secs(3600),
            max_token_ttl: Duration::from_secs(12 * 3600),
            bootstrap_admin: String::new(),
            bootstrap_password_file: None,
            view_idle: Duration::from_secs(15),
            token_key: PathBuf::new(),
        }
    }
}

impl AuthConfig {
    /// The effective token key file.
    pub fn token_key_for(&self, store: &StoreConfig) -> PathBuf {
        if self.token_key.as_os_str().is_empty() {
            store.data_dir.join("token.key")
        } else {
            self.token_key.clone()
        }
    }
}

/// Release of recorded video (R16).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RetrievalConfig {
    /// Lifetime of a retrieval request filed without an expiry: it must be
    /// co-signed, approved and used within it.
    #[serde(with = "humantime_serde")]
    pub default_expiry: Duration,
    /// The longest lifetime a filer may ask for.
    #[serde(with = "humantime_serde")]
    pub max_expiry: Duration,
}

impl Default for RetrievalConfig {
    fn default() -> Self {
        Self {
            default_expiry: Duration::from_secs(72 * 3600),
            max_expiry: Duration::from_secs(7 * 24 * 3600),
        }
    }
}
