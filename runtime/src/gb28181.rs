//! GB/T 28181 device access in a node (`vfed_gb28181::serve`): the SIP
//! sockets of `[gb28181]`, the device passwords, and the sinks wired to
//! the registry, the relay and the discovered-channels store
//! (`gb28181_sinks.rs`). The `Discovered` API is served whether or not
//! access is enabled (empty when it is not).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry as Metrics;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Status};
use vfed_config::Config;
use vfed_gb28181::discovered::Discovered;
use vfed_gb28181::discovered::service::{Adopter, DiscoveredService};
use vfed_proto::registry::v1::registry_server::Registry as _;
use vfed_proto::registry::v1::{Device, DeviceSpec, RegisterDeviceRequest};
use vfed_registry::{Catalog, Liveness, RegistryService};
use vfed_relay::Relay;

use crate::NodeError;
use crate::gb28181_sinks::{CatalogRecorder, DeviceLiveness, GbGauges, LiveSources, RelayMedia};

/// Most discovered channels kept.
const MAX_CHANNELS: usize = 100_000;

/// Where a node's GB/T 28181 access point listens.
#[derive(Clone, Copy, Debug)]
pub struct SipAddrs {
    /// SIP over UDP.
    pub udp: Option<SocketAddr>,
    /// SIP over TCP.
    pub tcp: Option<SocketAddr>,
}

/// The access point as the node serves it.
pub(crate) struct Gb28181 {
    pub service: DiscoveredService,
    pub addrs: Option<SipAddrs>,
}

/// What the access point meets in this node.
pub(crate) struct Peers {
    pub catalog: Catalog,
    pub liveness: Liveness,
    pub registry: RegistryService,
    pub relay: Relay,
}

/// Adoption through the registry's own `RegisterDevice` (every rule), then
/// the channel's live source.
struct RegistryAdopter {
    registry: RegistryService,
    catalog: Catalog,
    sources: Option<Arc<LiveSources>>,
}

#[async_trait::async_trait]
impl Adopter for RegistryAdopter {
    async fn adopt(&self, _device_id: &str, spec: DeviceSpec) -> Result<Device, Status> {
        let id = spec.id.clone();
        let device = self
            .registry
            .register_device(Request::new(RegisterDeviceRequest { spec: Some(spec) }))
            .await?
            .into_inner();
        if let Some(sources) = &self.sources {
            sources.ensure(&id);
        }
        Ok(device)
    }

    async fn is_registered(&self, id: &str) -> Result<bool, Status> {
        Ok(self.catalog.get_local(id).await?.is_some())
    }
}

/// Starts the access point of `config.gb28181` (if enabled) on `tasks`.
pub(crate) async fn start(
    config: &Config,
    peers: Peers,
    metrics: &mut Metrics,
    tasks: &mut JoinSet<()>,
    shutdown: &CancellationToken,
) -> Result<Gb28181, NodeError> {
    let discovered = Discovered::new(MAX_CHANNELS);
    let section = &config.gb28181;
    if !section.enabled {
        let adopter = RegistryAdopter {
            registry: peers.registry,
            catalog: peers.catalog,
            sources: None,
        };
        return Ok(Gb28181 {
            service: DiscoveredService::new(discovered, Arc::new(adopter)),
            addrs: None,
        });
    }
    let config_error = |e: vfed_config::ConfigError| NodeError::Config(e.to_string());
    let (udp_addr, tcp_addr) = section.listen().map_err(config_error)?;
    let udp = match udp_addr {
        Some(addr) => {
            Some(
                tokio::net::UdpSocket::bind(addr)
                    .await
                    .map_err(|source| NodeError::Bind {
                        field: "gb28181.listen_udp",
                        addr,
                        source,
                    })?,
            )
        }
        None => None,
    };
    let tcp = match tcp_addr {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| NodeError::Bind {
                    field: "gb28181.listen_tcp",
                    addr,
                    source,
                })?,
        ),
        None => None,
    };
    let addrs = SipAddrs {
        udp: udp
            .as_ref()
            .map(|s| s.local_addr())
            .transpose()
            .map_err(NodeError::Io)?,
        tcp: tcp
            .as_ref()
            .map(|s| s.local_addr())
            .transpose()
            .map_err(NodeError::Io)?,
    };
    let mut options =
        vfed_gb28181::Options::new(config.node.id.clone(), section.domain_for(&config.node.id));
    options.default_password = Some(default_password(
        &section.default_password_file_for(&config.store),
    )?);
    options.passwords = device_passwords(&section.device_passwords_file)?;
    options.keepalive_interval = section.keepalive_interval;
    options.media_ports = section.media_port_range().map_err(config_error)?;
    options.advertise_host =
        (!section.advertise_host.is_empty()).then(|| section.advertise_host.clone());
    options
        .validate()
        .map_err(|e| NodeError::Config(format!("gb28181: {e}")))?;
    let refusals = options.refusals.clone();

    let gauges = register_metrics(metrics, &discovered, refusals, tasks, shutdown);
    let (handle, control) = vfed_gb28181::control();
    let media = Arc::new(RelayMedia::default());
    let sources = Arc::new(LiveSources::new(
        peers.relay,
        handle,
        discovered.clone(),
        media.clone(),
        config.relay.idle_grace,
        shutdown.clone(),
        gauges.clone(),
    ));
    let devices = Arc::new(DeviceLiveness {
        discovered: discovered.clone(),
        catalog: peers.catalog.clone(),
        liveness: peers.liveness,
        registered: Mutex::default(),
        gauges: gauges.clone(),
        order: tokio::sync::Mutex::default(),
    });
    let sinks = vfed_gb28181::Sinks {
        devices: devices.clone(),
        catalog: Arc::new(CatalogRecorder {
            discovered: discovered.clone(),
            catalog: peers.catalog.clone(),
            sources: sources.clone(),
            gauges,
        }),
        media,
    };
    let node_id = config.node.id.clone();
    let stop = shutdown.clone();
    tasks.spawn(async move {
        let sockets = vfed_gb28181::Sockets { udp, tcp };
        if let Err(e) = vfed_gb28181::serve(options, sockets, sinks, stop, control).await {
            tracing::error!(node = %node_id, error = %e, "gb28181: access point failed");
        }
    });
    // Adopted channels of online devices stay online in the registry.
    let period = config.liveness.keepalive_period;
    let stop = shutdown.clone();
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => devices.keep_online().await,
            }
        }
    });
    tracing::info!(udp = ?addrs.udp, tcp = ?addrs.tcp, "gb28181: device access listening");
    let adopter = RegistryAdopter {
        registry: peers.registry,
        catalog: peers.catalog,
        sources: Some(sources),
    };
    Ok(Gb28181 {
        service: DiscoveredService::new(discovered, Arc::new(adopter)),
        addrs: Some(addrs),
    })
}

/// Registers `vfed_gb28181_*` and samples what the sinks do not set.
fn register_metrics(
    metrics: &mut Metrics,
    discovered: &Discovered,
    refusals: Arc<std::sync::atomic::AtomicU64>,
    tasks: &mut JoinSet<()>,
    shutdown: &CancellationToken,
) -> GbGauges {
    let gauges = GbGauges::default();
    metrics.register(
        "vfed_gb28181_devices_registered",
        "GB/T 28181 devices registered at this node",
        gauges.registered.clone(),
    );
    metrics.register(
        "vfed_gb28181_devices_online",
        "GB/T 28181 devices whose keepalives arrive (R14.3)",
        gauges.online.clone(),
    );
    metrics.register(
        "vfed_gb28181_catalog_channels",
        "Channels the devices reported in their catalogs (discovered)",
        gauges.channels.clone(),
    );
    metrics.register(
        "vfed_gb28181_live_sessions",
        "Live-view sessions (INVITE) open to devices",
        gauges.sessions.clone(),
    );
    let refused = Counter::<u64>::default();
    metrics.register(
        "vfed_gb28181_refusals",
        "SIP requests refused (4xx: bad digest, unknown device, malformed, oversize)",
        refused.clone(),
    );
    let discovered = discovered.clone();
    let channels = gauges.channels.clone();
    let stop = shutdown.clone();
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let total = refusals.load(std::sync::atomic::Ordering::Relaxed);
            refused.inc_by(total.saturating_sub(refused.get()));
            channels.set(i64::try_from(discovered.len()).unwrap_or(i64::MAX));
        }
    });
    gauges
}

/// The default device password: the file's first line, or a new random
/// one written there (mode 0600) when the file is missing.
fn default_password(path: &std::path::Path) -> Result<String, NodeError> {
    let field = "gb28181.default_password_file";
    let shown = path.display();
    match read_secret(field, path) {
        Err(NodeError::Config(_)) if !path.exists() => {
            use rand::Rng as _;
            let password: String = rand::rng()
                .sample_iter(rand::distr::Alphanumeric)
                .take(16)
                .map(char::from)
                .collect();
            vfed_private_fs::write_atomic(path, format!("{password}\n").as_bytes())
                .map_err(|e| NodeError::Config(format!("{field}: {shown}: {e}")))?;
            tracing::info!(file = %shown, "gb28181: default device password generated");
            Ok(password)
        }
        other => other,
    }
}

/// A password file's first line (1-128 bytes), refused when group or
/// others may read the file (`field` names the setting).
pub(crate) fn read_secret(field: &str, path: &std::path::Path) -> Result<String, NodeError> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| NodeError::Config(format!("{field}: {shown}: {e}")))?;
    refuse_exposed(field, path)?;
    let password = text.lines().next().unwrap_or_default().trim().to_owned();
    if password.is_empty() || password.len() > 128 {
        return Err(NodeError::Config(format!(
            "{field}: {shown}: the first line must hold a password of 1-128 bytes"
        )));
    }
    Ok(password)
}

/// Per-device passwords from a TOML file of `"<device id>" = "<password>"`.
fn device_passwords(path: &std::path::Path) -> Result<HashMap<String, String>, NodeError> {
    if path.as_os_str().is_empty() {
        return Ok(HashMap::new());
    }
    let field = "gb28181.device_passwords_file";
    let shown = path.display();
    refuse_exposed(field, path)?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| NodeError::Config(format!("{field}: {shown}: {e}")))?;
    toml::from_str::<HashMap<String, String>>(&text).map_err(|e| {
        NodeError::Config(format!(
            "{field}: {shown}: not a table of \"<device id>\" = \"<password>\": {e}"
        ))
    })
}

/// Refuses a secret file that group or others may read (`field` names the setting).
fn refuse_exposed(field: &str, path: &std::path::Path) -> Result<(), NodeError> {
    match vfed_private_fs::exposed_bits(path) {
        Ok(Some(bits)) if bits != 0 => Err(NodeError::Config(format!(
            "{field}: {} is readable by group or others (mode bits {bits:o}); chmod 600 it",
            path.display()
        ))),
        _ => Ok(()),
    }
}
