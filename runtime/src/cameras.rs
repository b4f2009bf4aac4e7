//! The node's cameras: every local device with a stream URL is pulled by the
//! gateway and published into the relay, and the devices that deliver
//! frames are reported alive to the registry (R14.3).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use vfed_gateway::{
    Gateway, GatewayConfig, LivenessReport, LivenessSink, Profile, PullEvent, StatsSnapshot,
    StreamKey, StreamSource, StreamState,
};
use vfed_proto::relay::v1::{SourceState, SourceStatus};
use vfed_registry::{Catalog, Liveness};
use vfed_relay::Relay;

/// How often the catalog is checked for new, changed or removed streams.
const RESCAN: Duration = Duration::from_secs(1);

/// Keepalives straight into this node's registry (no network hop).
struct LocalKeepalive(Liveness);

#[async_trait::async_trait]
impl LivenessSink for LocalKeepalive {
    async fn alive(&self, device_ids: &[String]) {
        if let Err(e) = self.0.keepalive(device_ids).await {
            tracing::warn!(error = %e, "cameras: keepalive failed");
        }
    }

    async fn report(&self, report: &LivenessReport) {
        let silent: Vec<(String, Duration, String)> = report
            .silent
            .iter()
            .map(|d| (d.device_id.clone(), d.silent_for, d.cause.clone()))
            .collect();
        self.0.silent(&silent);
        if !report.alive.is_empty() {
            self.alive(&report.alive).await;
        }
    }
}

/// How often a bridge refreshes its track's source status from the
/// gateway's statistics (also done at once on every session change).
const STATUS_REFRESH: Duration = Duration::from_millis(250);

/// The gateway's view of a stream as the relay reports it: state, last
/// error and its cause in words, failed attempts and when the next starts.
fn source_status(stats: &StatsSnapshot) -> (SourceStatus, Option<std::time::Instant>) {
    let failing = stats.cause.is_some();
    let (state, retry_at) = match stats.state {
        StreamState::Playing => (SourceState::Playing, None),
        StreamState::Backoff { retry_in } => (
            SourceState::Retrying,
            std::time::Instant::now().checked_add(retry_in),
        ),
        StreamState::Connecting | StreamState::Stopped => (SourceState::Connecting, None),
    };
    let status = SourceStatus {
        state: state.into(),
        last_error: if failing {
            stats.last_error.clone().unwrap_or_default()
        } else {
            String::new()
        },
        cause: stats
            .cause
            .map(|c| c.words().to_owned())
            .unwrap_or_default(),
        attempts: u32::try_from(stats.failed_attempts).unwrap_or(u32::MAX),
        next_retry_ms: 0,
        flags: Vec::new(),
        reason: String::new(),
        retiming: stats.retiming.clone().unwrap_or_default(),
    };
    (status, retry_at)
}

/// Copies the gateway's current view of `key` onto its relay track.
fn refresh_status(gateway: &Gateway, key: &StreamKey, track: &vfed_relay::track::Track) {
    if let Some(stats) = gateway.stream_stats(key) {
        let (status, retry_at) = source_status(&stats);
        track.set_status(status, retry_at);
    }
}

/// Runs the gateway for the local catalog until `shutdown`.
pub async fn run(
    catalog: Catalog,
    relay: Relay,
    liveness: Liveness,
    period: Duration,
    shutdown: CancellationToken,
) {
    let config = GatewayConfig {
        liveness_period: period,
        ..GatewayConfig::default()
    };
    let gateway = Gateway::new(
        config,
        Some(Arc::new(LocalKeepalive(liveness))),
        shutdown.child_token(),
    );
    let mut bridges: HashMap<StreamKey, JoinHandle<()>> = HashMap::new();
    let mut current: BTreeSet<(String, String)> = BTreeSet::new();
    let mut seen_revision: Option<i64> = None;
    let mut tick = tokio::time::interval(RESCAN);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        // Nothing committed since the last look: the stream set is unchanged.
        let revision = catalog.store().current_revision().await.ok();
        if revision.is_none() || revision != seen_revision {
            match wanted(&catalog).await {
                Ok(sources) => {
                    seen_revision = revision;
                    let fingerprint: BTreeSet<(String, String)> = sources
                        .iter()
                        .map(|s| (s.key().to_string(), s.url.clone()))
                        .collect();
                    if fingerprint != current {
                        match gateway.set_streams(sources) {
                            Ok(()) => current = fingerprint,
                            Err(e) => tracing::warn!(error = %e, "cameras: stream set refused"),
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cameras: cannot read the catalog"),
            }
        }
        let keys: BTreeSet<StreamKey> = gateway.streams().iter().map(StreamSource::key).collect();
        bridges.retain(|key, task| {
            let keep = keys.contains(key) && !task.is_finished();
            if !keep {
                task.abort();
                if let Ok(k) = vfed_relay::StreamKey::new(&key.device_id, &key.profile.to_string())
                {
                    relay.unpublish(&k);
                }
            }
            keep
        });
        for key in keys {
            if let std::collections::hash_map::Entry::Vacant(slot) = bridges.entry(key.clone()) {
                slot.insert(tokio::spawn(bridge(gateway.clone(), key, relay.clone())));
            }
        }
    }
    for (_, task) in bridges {
        task.abort();
    }
    gateway.shutdown().await;
}

async fn wanted(catalog: &Catalog) -> Result<Vec<StreamSource>, vfed_registry::RegistryError> {
    let mut sources = Vec::new();
    for device in catalog.local_devices().await? {
        let streams = &device.entry.spec.streams;
        for (profile, url) in [
            (Profile::Main, &streams.main_url),
            (Profile::Sub, &streams.sub_url),
        ] {
            if let Some(url) = url {
                sources.push(StreamSource::new(
                    device.entry.spec.id.clone(),
                    profile,
                    url.clone(),
                ));
            }
        }
    }
    Ok(sources)
}

/// Copies one gateway stream into its relay track.
async fn bridge(gateway: Gateway, key: StreamKey, relay: Relay) {
    let Ok(relay_key) = vfed_relay::StreamKey::new(&key.device_id, &key.profile.to_string()) else {
        return;
    };
    while let Some(mut subscription) = gateway.subscribe(&key) {
        let track = relay.publish(&relay_key);
        if let Some(metadata) = subscription.metadata.take() {
            track.set_metadata(metadata);
        }
        let mut refresh = tokio::time::interval(STATUS_REFRESH);
        loop {
            let event = tokio::select! {
                event = subscription.events.recv() => event,
                _ = refresh.tick() => {
                    refresh_status(&gateway, &key, &track);
                    continue;
                }
            };
            if !matches!(event, Ok(PullEvent::AccessUnit(_))) {
                // A session began or ended: say so at once.
                refresh_status(&gateway, &key, &track);
            }
            match event {
                Ok(PullEvent::Metadata { metadata, .. }) => track.set_metadata(metadata),
                Ok(PullEvent::AccessUnit(unit)) => track.publish(unit),
                Ok(PullEvent::Disconnected { reason }) => {
                    tracing::debug!(stream = %key, %reason, "camera disconnected");
                    track.close_gop();
                }
                // Lost events mid-GOP: drop the rest of it, resume at a keyframe.
                Err(RecvError::Lagged(_)) => track.close_gop(),
                Err(RecvError::Closed) => break,
            }
        }
        // The stream was restarted with new settings, or removed.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
