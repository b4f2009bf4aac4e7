//! The GB/T 28181 access point's sinks in this process: device events to
//! the registry's liveness (R14.3), catalogs to the discovered-channels
//! store, live media into the relay's tracks, and the on-demand play and
//! stop of an adopted channel's stream as the relay's readers come and go.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use prometheus_client::metrics::gauge::Gauge;
use tokio_util::sync::CancellationToken;
use vfed_gb28181::discovered::Discovered;
use vfed_gb28181::manscdp::{DeviceInfo, DeviceStatus};
use vfed_gb28181::{CatalogReport, DeviceEvent, Handle};
use vfed_media::{AccessUnit, StreamMetadata};
use vfed_proto::relay::v1::{SourceState, SourceStatus};
use vfed_registry::{Catalog, Liveness};
use vfed_relay::Relay;
use vfed_relay::track::Track;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The gauges the sinks keep (`vfed_gb28181_*`, docs/operations.md).
#[derive(Clone, Default)]
pub struct GbGauges {
    pub registered: Gauge<i64>,
    pub online: Gauge<i64>,
    pub channels: Gauge<i64>,
    pub sessions: Gauge<i64>,
}

/// Device events into the registry's liveness: a device heard from keeps
/// its adopted channels online; offline or unregistered, they go offline
/// at once with the access point's cause (R14.3).
pub struct DeviceLiveness {
    pub discovered: Discovered,
    pub catalog: Catalog,
    pub liveness: Liveness,
    pub registered: Mutex<HashSet<String>>,
    pub gauges: GbGauges,
    /// Held by the periodic keepalive and by offline events, so that a
    /// keepalive gathered before an offline is not sent after it.
    pub order: tokio::sync::Mutex<()>,
}

impl DeviceLiveness {
    /// The adopted channels of `device_id` (registered at this node).
    async fn adopted(&self, device_id: &str) -> Vec<String> {
        let mut adopted = Vec::new();
        for channel in self.discovered.channels_of(device_id) {
            if matches!(self.catalog.get_local(&channel).await, Ok(Some(_))) {
                adopted.push(channel);
            }
        }
        adopted
    }

    /// Keepalives for the adopted channels of every online device (run
    /// every liveness period, as the RTSP gateway reports its cameras).
    pub async fn keep_online(&self) {
        let _order = self.order.lock().await;
        let devices: Vec<String> = lock(&self.registered).iter().cloned().collect();
        let mut alive = Vec::new();
        for device in devices {
            if self.discovered.is_online(&device) {
                alive.extend(self.adopted(&device).await);
            }
        }
        if !alive.is_empty()
            && let Err(e) = self.liveness.keepalive(&alive).await
        {
            tracing::warn!(error = %e, "gb28181: keepalive failed");
        }
    }

    fn count(&self) {
        self.gauges
            .registered
            .set(gauge(lock(&self.registered).len()));
        self.gauges
            .online
            .set(gauge(self.discovered.online_devices()));
    }
}

#[async_trait::async_trait]
impl vfed_gb28181::DeviceSink for DeviceLiveness {
    async fn device_event(&self, event: DeviceEvent) {
        let device = event.device_id().to_owned();
        match &event {
            DeviceEvent::Registered { .. }
            | DeviceEvent::Keepalive { .. }
            | DeviceEvent::Online { .. } => {
                lock(&self.registered).insert(device.clone());
                let was_online = self.discovered.is_online(&device);
                self.discovered.set_online(&device, true);
                if !was_online {
                    let channels = self.adopted(&device).await;
                    if !channels.is_empty()
                        && let Err(e) = self.liveness.keepalive(&channels).await
                    {
                        tracing::warn!(error = %e, "gb28181: keepalive failed");
                    }
                }
            }
            DeviceEvent::Offline {
                silent_for, cause, ..
            } => {
                self.discovered.set_online(&device, false);
                let gone = self.gone(&device, *silent_for, cause).await;
                self.liveness.offline_now(&gone).await;
            }
            DeviceEvent::Unregistered { cause, .. } => {
                let _order = self.order.lock().await;
                lock(&self.registered).remove(&device);
                self.discovered.set_online(&device, false);
                let gone = self.gone(&device, Duration::ZERO, cause).await;
                self.liveness.offline_now(&gone).await;
            }
        }
        self.count();
    }
}

impl DeviceLiveness {
    async fn gone(
        &self,
        device: &str,
        silent_for: Duration,
        cause: &str,
    ) -> Vec<(String, Duration, String)> {
        let cause = format!("GB/T 28181 device {device}: {cause}");
        self.adopted(device)
            .await
            .into_iter()
            .map(|channel| (channel, silent_for, cause.clone()))
            .collect()
    }
}

/// Catalogs into the discovered-channels store; an adopted channel that
/// reappears gets its live source.
pub struct CatalogRecorder {
    pub discovered: Discovered,
    pub catalog: Catalog,
    pub sources: Arc<LiveSources>,
    pub gauges: GbGauges,
}

#[async_trait::async_trait]
impl vfed_gb28181::CatalogSink for CatalogRecorder {
    async fn catalog(&self, report: CatalogReport) {
        let recorded = self.discovered.record(&report);
        tracing::info!(device = %report.device_id, channels = recorded.len(), outcome = ?report.outcome, "gb28181: catalog");
        for channel in recorded {
            if matches!(self.catalog.get_local(&channel).await, Ok(Some(_))) {
                self.sources.ensure(&channel);
            }
        }
        self.gauges.channels.set(gauge(self.discovered.len()));
    }

    async fn device_info(&self, info: DeviceInfo) {
        tracing::info!(device = %info.device_id, manufacturer = ?info.manufacturer, model = ?info.model, channels = ?info.channels, "gb28181: device info");
    }

    async fn device_status(&self, status: DeviceStatus) {
        tracing::debug!(device = %status.device_id, online = ?status.online, "gb28181: device status");
    }
}

/// Live media into the relay: each channel's frames go to its track.
#[derive(Default)]
pub struct RelayMedia {
    tracks: Mutex<HashMap<String, Arc<Track>>>,
}

#[async_trait::async_trait]
impl vfed_gb28181::MediaSink for RelayMedia {
    async fn metadata(&self, channel_id: &str, metadata: StreamMetadata) {
        if let Some(track) = lock(&self.tracks).get(channel_id) {
            track.set_metadata(metadata);
            track.set_status(
                SourceStatus {
                    state: SourceState::Playing.into(),
                    ..SourceStatus::default()
                },
                None,
            );
        }
    }

    async fn access_unit(&self, channel_id: &str, unit: AccessUnit) {
        if let Some(track) = lock(&self.tracks).get(channel_id) {
            track.publish(unit);
        }
    }
}

/// The live sources of adopted channels: each one's relay track, played
/// from the device while the relay has readers and stopped after the
/// relay's idle grace without any (one session per channel, however many
/// viewers).
pub struct LiveSources {
    pub relay: Relay,
    pub handle: Handle,
    pub discovered: Discovered,
    pub media: Arc<RelayMedia>,
    pub idle_grace: Duration,
    pub shutdown: CancellationToken,
    pub gauges: GbGauges,
    pub playing: Arc<Mutex<HashSet<String>>>,
    started: Mutex<HashSet<String>>,
}

impl LiveSources {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        relay: Relay,
        handle: Handle,
        discovered: Discovered,
        media: Arc<RelayMedia>,
        idle_grace: Duration,
        shutdown: CancellationToken,
        gauges: GbGauges,
    ) -> Self {
        Self {
            relay,
            handle,
            discovered,
            media,
            idle_grace,
            shutdown,
            gauges,
            playing: Arc::default(),
            started: Mutex::default(),
        }
    }

    /// Publishes `channel_id`'s track (main profile) and drives it, once.
    pub fn ensure(self: &Arc<Self>, channel_id: &str) {
        if !lock(&self.started).insert(channel_id.to_owned()) {
            return;
        }
        let Ok(key) = vfed_relay::StreamKey::new(channel_id, "main") else {
            return;
        };
        let track = self.relay.publish(&key);
        lock(&self.media.tracks).insert(channel_id.to_owned(), track.clone());
        let sources = self.clone();
        let channel = channel_id.to_owned();
        tokio::spawn(async move { sources.drive(channel, track).await });
    }

    fn set_playing(&self, channel: &str, playing: bool) {
        let mut set = lock(&self.playing);
        if playing {
            set.insert(channel.to_owned());
        } else {
            set.remove(channel);
        }
        self.gauges.sessions.set(gauge(set.len()));
    }

    fn failed(track: &Track, cause: String) {
        track.set_status(
            SourceStatus {
                state: SourceState::Retrying.into(),
                cause,
                ..SourceStatus::default()
            },
            Some(Instant::now() + Duration::from_secs(2)),
        );
    }

    /// Plays while readers are there, stops after the idle grace.
    async fn drive(self: Arc<Self>, channel: String, track: Arc<Track>) {
        let mut readers = track.watch_readers();
        loop {
            // Wait for a reader.
            tokio::select! {
                () = self.shutdown.cancelled() => return,
                r = readers.wait_for(|n| *n > 0) => if r.is_err() { return },
            }
            let Some(device) = self.discovered.channel(&channel).map(|c| c.device_id) else {
                Self::failed(
                    &track,
                    "not in any device's catalog (device not registered)".into(),
                );
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            };
            track.set_status(
                SourceStatus {
                    state: SourceState::Connecting.into(),
                    ..SourceStatus::default()
                },
                None,
            );
            if let Err(e) = self.handle.play(&device, &channel).await {
                tracing::warn!(%channel, %device, error = %e, "gb28181: live view failed");
                Self::failed(&track, e.to_string());
                tokio::select! {
                    () = self.shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(2)) => continue,
                }
            }
            self.set_playing(&channel, true);
            tracing::info!(%channel, %device, "gb28181: live view started");
            // Play until no reader for the idle grace.
            loop {
                tokio::select! {
                    () = self.shutdown.cancelled() => return,
                    r = readers.wait_for(|n| *n == 0) => if r.is_err() { return },
                }
                tokio::select! {
                    () = self.shutdown.cancelled() => return,
                    () = tokio::time::sleep(self.idle_grace) => {}
                    _ = readers.wait_for(|n| *n > 0) => continue,
                }
                if *readers.borrow() == 0 {
                    break;
                }
            }
            if let Err(e) = self.handle.stop(&channel).await {
                tracing::debug!(%channel, error = %e, "gb28181: stop");
            }
            track.close_gop();
            self.set_playing(&channel, false);
            tracing::info!(%channel, "gb28181: live view stopped (no viewer for the idle grace)");
        }
    }
}
