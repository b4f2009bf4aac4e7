//! GB/T 28181 cascade in a node (`vfed_gb28181::upper`): one link per
//! `[[gb28181.upper]]`, fed by the registry (the node's devices with the
//! federation's share and acceptance flags, R6.1 and R11; changes from the
//! store's watch) and the relay (one upstream pull however many uppers and
//! viewers watch), with per-upper metrics.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry as Metrics;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use vfed_config::{Config, Gb28181UpperConfig, UpperCharset, UpperTransport};
use vfed_gb28181::upper::{
    BodyCharset, CatalogChange, ChangeEvent, LiveError, LiveItem, LiveSource, SharedCatalog,
    SharedDevice, UpperHandle, UpperOptions, UpperStatus,
};
use vfed_registry::Catalog;
use vfed_registry::domain::{AcceptanceState, CatalogEntry, DeviceStatus};
use vfed_relay::Relay;

use crate::NodeError;

/// Catalog changes kept for a slow upper link before it lags (and re-reads).
const CHANGE_BUFFER: usize = 1024;
/// Items of a live stream buffered for one upper session.
const LIVE_BUFFER: usize = 256;

/// Starts a link to each `[[gb28181.upper]]` on `tasks` (none when the
/// section is off or lists no upper).
pub(crate) fn start(
    config: &Config,
    catalog: &Catalog,
    relay: &Relay,
    metrics: &mut Metrics,
    tasks: &mut JoinSet<()>,
    shutdown: &CancellationToken,
) -> Result<Vec<UpperHandle>, NodeError> {
    let section = &config.gb28181;
    if !section.enabled || section.upper.is_empty() {
        return Ok(Vec::new());
    }
    let options = section
        .upper
        .iter()
        .enumerate()
        .map(|(index, upper)| options_of(config, index, upper))
        .collect::<Result<Vec<_>, _>>()?;
    vfed_gb28181::upper::validate_all(&options).map_err(|e| NodeError::Config(e.to_string()))?;
    let shared = RegistryCatalog::start(catalog.clone(), tasks, shutdown);
    let live: Arc<dyn LiveSource> = Arc::new(RelayLive(relay.clone()));
    let mut handles = Vec::new();
    for options in options {
        let (handle, task) = vfed_gb28181::upper::upper(options, shared.clone(), live.clone())
            .map_err(|e| NodeError::Config(e.to_string()))?;
        let stop = shutdown.clone();
        tasks.spawn(async move { task.run(stop).await });
        handles.push(handle);
    }
    register_metrics(metrics, &handles, tasks, shutdown);
    tracing::info!(
        uppers = handles.len(),
        "gb28181: cascading to upper platforms"
    );
    Ok(handles)
}

/// The service's options for entry `index` (the password read from its file).
fn options_of(
    config: &Config,
    index: usize,
    upper: &Gb28181UpperConfig,
) -> Result<UpperOptions, NodeError> {
    let field = format!("gb28181.upper[{index}].password_file");
    let password = crate::gb28181::read_secret(&field, &upper.password_file)?;
    let address = upper
        .address
        .ok_or_else(|| NodeError::Config(format!("gb28181.upper[{index}].address: must be set")))?;
    let local_id = if upper.local_id.is_empty() {
        config.node.id.as_str()
    } else {
        upper.local_id.as_str()
    };
    let mut options = UpperOptions::new(
        &upper.server_id,
        &upper.domain,
        address,
        local_id,
        &password,
    );
    options.transport = match upper.transport {
        UpperTransport::Udp => vfed_gb28181::Transport::Udp,
        UpperTransport::Tcp => vfed_gb28181::Transport::Tcp,
    };
    options.catalog_group_size = upper.catalog_group_size;
    options.keepalive_interval = upper.keepalive_interval;
    options.keepalive_misses = upper.keepalive_misses;
    options.register_expires = u32::try_from(upper.register_expires.as_secs()).unwrap_or(u32::MAX);
    options.charset = match upper.charset {
        UpperCharset::Gb2312 => BodyCharset::Gb2312,
        UpperCharset::Utf8 => BodyCharset::Utf8,
    };
    options.max_sessions = upper.max_sessions;
    Ok(options)
}

/// A local catalog entry as an upper may see it.
fn shared_device(entry: &CatalogEntry) -> SharedDevice {
    let spec = &entry.spec;
    SharedDevice {
        device_id: spec.id.clone(),
        name: spec.name.clone(),
        manufacturer: String::new(),
        model: String::new(),
        owner: spec.unit.clone(),
        civil_code: spec.id.chars().take(6).collect(),
        address: spec.address.clone(),
        position: spec.longitude.zip(spec.latitude),
        online: entry.status == DeviceStatus::Online,
        // The federation's own rule (CatalogEntry::goes_up): R6.1, R11.
        shared: spec.shared,
        accepted: spec.acceptance.state == AcceptanceState::Accepted,
    }
}

/// The node's local devices, their changes derived from the store's watch
/// of the catalog (one watcher, however many uppers).
struct RegistryCatalog {
    catalog: Catalog,
    changes: broadcast::Sender<CatalogChange>,
}

impl RegistryCatalog {
    fn start(
        catalog: Catalog,
        tasks: &mut JoinSet<()>,
        shutdown: &CancellationToken,
    ) -> Arc<dyn SharedCatalog> {
        let (changes, _) = broadcast::channel(CHANGE_BUFFER);
        let this = Arc::new(Self { catalog, changes });
        let watcher = this.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = watcher.follow() => {}
            }
        });
        this
    }

    async fn read(&self) -> Option<HashMap<String, SharedDevice>> {
        match self.catalog.local_devices().await {
            Ok(devices) => Some(
                devices
                    .iter()
                    .map(|d| (d.entry.spec.id.clone(), shared_device(&d.entry)))
                    .collect(),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "gb28181 upper: reading the catalog failed");
                None
            }
        }
    }

    /// On every batch of the watch of local entries, re-reads them and
    /// sends what changed.
    async fn follow(&self) {
        let prefix = vfed_registry::LOCAL_PREFIX.as_bytes().to_vec();
        let watch = vfed_store::watch_with_resync(self.catalog.store().clone(), prefix, 0);
        let mut watch = Box::pin(watch.ready_chunks(256));
        let mut known: Option<HashMap<String, SharedDevice>> = None;
        while watch.next().await.is_some() {
            let Some(now) = self.read().await else {
                continue;
            };
            if let Some(before) = &known {
                for change in diff(before, &now) {
                    // No receiver (no link listening yet) is not an error.
                    let _ = self.changes.send(change);
                }
            }
            known = Some(now);
        }
    }
}

/// What changed from `before` to `now`, in device ID order.
fn diff(
    before: &HashMap<String, SharedDevice>,
    now: &HashMap<String, SharedDevice>,
) -> Vec<CatalogChange> {
    let mut changes = Vec::new();
    for (id, device) in now {
        let event = match before.get(id) {
            None => Some(ChangeEvent::Add),
            Some(old) if old == device => None,
            Some(old) if old.visible() != device.visible() => Some(if device.visible() {
                ChangeEvent::Add
            } else {
                ChangeEvent::Del
            }),
            Some(old) => {
                let mut same_but_online = old.clone();
                same_but_online.online = device.online;
                Some(match (same_but_online == *device, device.online) {
                    (true, true) => ChangeEvent::On,
                    (true, false) => ChangeEvent::Off,
                    (false, _) => ChangeEvent::Update,
                })
            }
        };
        if let Some(event) = event {
            changes.push(CatalogChange {
                event,
                device: device.clone(),
            });
        }
    }
    for (id, device) in before {
        if !now.contains_key(id) {
            changes.push(CatalogChange {
                event: ChangeEvent::Del,
                device: device.clone(),
            });
        }
    }
    changes.sort_by(|a, b| a.device.device_id.cmp(&b.device.device_id));
    changes
}

#[async_trait::async_trait]
impl SharedCatalog for RegistryCatalog {
    async fn devices(&self) -> Vec<SharedDevice> {
        let mut devices: Vec<SharedDevice> = self
            .read()
            .await
            .unwrap_or_default()
            .into_values()
            .collect();
        devices.sort_by(|a, b| a.device_id.cmp(&b.device_id));
        devices
    }

    fn changes(&self) -> broadcast::Receiver<CatalogChange> {
        self.changes.subscribe()
    }
}

/// Live streams from the relay: an upper's session is one more reader of
/// the device's main track (the relay keeps one upstream pull).
struct RelayLive(Relay);

#[async_trait::async_trait]
impl LiveSource for RelayLive {
    async fn subscribe(&self, device_id: &str) -> Result<mpsc::Receiver<LiveItem>, LiveError> {
        let key =
            vfed_relay::StreamKey::new(device_id, "main").map_err(|e| LiveError(e.to_string()))?;
        let mut reader = self
            .0
            .subscribe_for(&key.to_string(), "gb28181-upper")
            .await
            .map_err(|e| LiveError(e.to_string()))?;
        let (sender, receiver) = mpsc::channel(LIVE_BUFFER);
        tokio::spawn(async move {
            let track = reader.track().clone();
            let mut metadata = track.watch_metadata();
            let mut sent = None;
            while let Some(gop) = reader.next_gop().await {
                let current = metadata.borrow_and_update().clone();
                if current.is_some() && current != sent {
                    if let Some(m) = current.clone()
                        && sender.send(LiveItem::Metadata(m)).await.is_err()
                    {
                        return;
                    }
                    sent = current;
                }
                let mut units = gop.reader();
                while let Some(unit) = units.next().await {
                    if sender.send(LiveItem::Unit(unit)).await.is_err() {
                        return;
                    }
                    if reader.newer_than(gop.seq) {
                        break;
                    }
                }
            }
        });
        Ok(receiver)
    }
}

/// Per-upper series, labelled by the upper's server ID.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpperLabel {
    upper: String,
}

/// Registers `vfed_gb28181_upper_*` and samples each link's state every second.
fn register_metrics(
    metrics: &mut Metrics,
    handles: &[UpperHandle],
    tasks: &mut JoinSet<()>,
    shutdown: &CancellationToken,
) {
    let registered = Family::<UpperLabel, Gauge>::default();
    let registrations = Family::<UpperLabel, Counter>::default();
    let keepalives = Family::<UpperLabel, Counter>::default();
    let sessions = Family::<UpperLabel, Gauge>::default();
    metrics.register(
        "vfed_gb28181_upper_registered",
        "1 while this node is registered at the upper platform, 0 while registering or offline",
        registered.clone(),
    );
    metrics.register(
        "vfed_gb28181_upper_registrations",
        "Successful registrations at the upper platform (first and refreshes)",
        registrations.clone(),
    );
    metrics.register(
        "vfed_gb28181_upper_keepalives_answered",
        "Keepalives sent to the upper platform and answered",
        keepalives.clone(),
    );
    metrics.register(
        "vfed_gb28181_upper_sessions",
        "Live sessions the upper platform holds now",
        sessions.clone(),
    );
    let handles = handles.to_vec();
    let stop = shutdown.clone();
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut logged: Vec<Option<UpperStatus>> = vec![None; handles.len()];
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            for (handle, logged) in handles.iter().zip(logged.iter_mut()) {
                let state = handle.state();
                if *logged != Some(state.status) {
                    // Each change of a link's status once in the log, with the cause.
                    tracing::info!(
                        upper = %state.server_id,
                        status = state.status.as_str(),
                        last_error = state.last_error.as_deref().unwrap_or(""),
                        "gb28181: upper platform link",
                    );
                    *logged = Some(state.status);
                }
                let label = UpperLabel {
                    upper: state.server_id.clone(),
                };
                registered
                    .get_or_create(&label)
                    .set(i64::from(state.status == UpperStatus::Registered));
                let counter = registrations.get_or_create(&label);
                counter.inc_by(state.registrations.saturating_sub(counter.get()));
                let counter = keepalives.get_or_create(&label);
                counter.inc_by(state.keepalives_answered.saturating_sub(counter.get()));
                sessions
                    .get_or_create(&label)
                    .set(i64::try_from(state.sessions).unwrap_or(i64::MAX));
            }
        }
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn device(id: &str, online: bool, shared: bool) -> SharedDevice {
        SharedDevice {
            device_id: id.into(),
            online,
            shared,
            accepted: true,
            ..SharedDevice::default()
        }
    }

    fn map(devices: &[SharedDevice]) -> HashMap<String, SharedDevice> {
        devices
            .iter()
            .map(|d| (d.device_id.clone(), d.clone()))
            .collect()
    }

    #[test]
    fn changes_name_what_happened() {
        let before = map(&[
            device("1", false, true),
            device("2", true, true),
            device("3", true, true),
            device("5", true, true),
        ]);
        let mut renamed = device("3", true, true);
        renamed.name = "new".into();
        let now = map(&[
            device("1", true, true),
            device("2", true, false),
            renamed,
            device("4", true, true),
        ]);
        let events: Vec<(String, ChangeEvent)> = diff(&before, &now)
            .into_iter()
            .map(|c| (c.device.device_id, c.event))
            .collect();
        assert_eq!(
            events,
            [
                ("1".to_owned(), ChangeEvent::On),
                ("2".to_owned(), ChangeEvent::Del),
                ("3".to_owned(), ChangeEvent::Update),
                ("4".to_owned(), ChangeEvent::Add),
                ("5".to_owned(), ChangeEvent::Del),
            ]
        );
    }
}
