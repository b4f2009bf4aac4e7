//! The gateway's peers in this process: the registry's local catalog as
//! its [`CameraDirectory`], the relay as its [`Tracks`], and the registry's
//! liveness as its [`LivenessSink`] (no network hop). The gateway decides
//! which cameras to pull and what to publish (`vfed_gateway::run`).

use std::sync::Arc;
use std::time::Duration;

use vfed_gateway::{
    Camera, CameraDirectory, LivenessReport, LivenessSink, PublishedTrack, StreamKey, Tracks,
};
use vfed_registry::{Catalog, Liveness};
use vfed_relay::Relay;

/// Keepalives straight into this node's registry.
pub struct LocalKeepalive(pub Liveness);

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

/// The devices registered at this node, from its catalog.
pub struct LocalCameras(pub Catalog);

#[async_trait::async_trait]
impl CameraDirectory for LocalCameras {
    async fn version(&self) -> Option<i64> {
        self.0.store().current_revision().await.ok()
    }

    async fn cameras(&self) -> Result<Vec<Camera>, String> {
        let devices = self.0.local_devices().await.map_err(|e| e.to_string())?;
        Ok(devices
            .into_iter()
            .map(|device| {
                let spec = device.entry.spec;
                Camera {
                    device_id: spec.id,
                    main_url: spec.streams.main_url,
                    sub_url: spec.streams.sub_url,
                }
            })
            .collect())
    }
}

/// This node's relay, where the gateway publishes.
pub struct RelayTracks(pub Relay);

fn relay_key(key: &StreamKey) -> Option<vfed_relay::StreamKey> {
    vfed_relay::StreamKey::new(&key.device_id, &key.profile.to_string()).ok()
}

/// A relay track as the gateway publishes into it.
struct Published(Arc<vfed_relay::track::Track>);

impl PublishedTrack for Published {
    fn set_metadata(&self, metadata: vfed_media::StreamMetadata) {
        self.0.set_metadata(metadata);
    }

    fn publish(&self, unit: vfed_media::AccessUnit) {
        self.0.publish(unit);
    }

    fn close_gop(&self) {
        self.0.close_gop();
    }

    fn set_status(
        &self,
        status: vfed_proto::relay::v1::SourceStatus,
        retry_at: Option<std::time::Instant>,
    ) {
        self.0.set_status(status, retry_at);
    }
}

impl Tracks for RelayTracks {
    fn publish(&self, key: &StreamKey) -> Option<Arc<dyn PublishedTrack>> {
        let key = relay_key(key)?;
        Some(Arc::new(Published(self.0.publish(&key))))
    }

    fn unpublish(&self, key: &StreamKey) {
        if let Some(key) = relay_key(key) {
            self.0.unpublish(&key);
        }
    }
}
