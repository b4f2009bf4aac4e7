//! Liveness: telling the registry which devices deliver frames (R14.3).

use std::time::Duration;

use async_trait::async_trait;
use tonic::transport::Channel;
use tracing::{debug, warn};
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_proto::registry::v1::{KeepaliveRequest, SilentDevice as SilentDeviceProto};

/// A device none of whose streams delivered a frame within the period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SilentDevice {
    /// The device.
    pub device_id: String,
    /// Since the last frame of any of its streams, or since the gateway
    /// started pulling them if none ever came.
    pub silent_for: Duration,
    /// Why, in words (its main stream's, else the first failing one's
    /// last error cause); "no frames yet" while still connecting.
    pub cause: String,
}

/// What the gateway says every liveness period.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LivenessReport {
    /// Devices that delivered frames within the period (sorted, unique).
    pub alive: Vec<String>,
    /// Devices that did not, with why (sorted by device).
    pub silent: Vec<SilentDevice>,
}

/// Receives, every liveness period, the devices whose stream delivered a
/// frame within that period, and those whose streams did not with why; the
/// registry decides when silence becomes an outage.
#[async_trait]
pub trait LivenessSink: Send + Sync + 'static {
    /// `device_ids` delivered frames within the last period (sorted, unique,
    /// never empty).
    async fn alive(&self, device_ids: &[String]);

    /// The whole report (never empty). By default only the alive devices
    /// are passed on, to [`LivenessSink::alive`].
    async fn report(&self, report: &LivenessReport) {
        if !report.alive.is_empty() {
            self.alive(&report.alive).await;
        }
    }
}

/// A [`LivenessSink`] calling the registry's `Keepalive` RPC.
///
/// Failures are logged and not retried: the next period sends a fresh list.
#[derive(Clone, Debug)]
pub struct RegistryKeepalive {
    client: RegistryClient<Channel>,
}

impl RegistryKeepalive {
    /// Keepalives over `channel` (in production a mutual-TLS channel from
    /// `vfed_pki::channel`).
    pub fn new(channel: Channel) -> Self {
        Self {
            client: RegistryClient::new(channel),
        }
    }
}

#[async_trait]
impl LivenessSink for RegistryKeepalive {
    async fn alive(&self, device_ids: &[String]) {
        self.report(&LivenessReport {
            alive: device_ids.to_vec(),
            silent: Vec::new(),
        })
        .await;
    }

    async fn report(&self, report: &LivenessReport) {
        let device_ids = &report.alive;
        let request = KeepaliveRequest {
            device_ids: device_ids.clone(),
            silent: report
                .silent
                .iter()
                .map(|d| SilentDeviceProto {
                    device_id: d.device_id.clone(),
                    silent_ms: u64::try_from(d.silent_for.as_millis()).unwrap_or(u64::MAX),
                    cause: d.cause.clone(),
                })
                .collect(),
        };
        match self.client.clone().keepalive(request).await {
            Ok(response) => {
                let response = response.into_inner();
                if !response.unknown_ids.is_empty() {
                    warn!(unknown = ?response.unknown_ids, "registry does not know these devices as local");
                }
                debug!(
                    devices = device_ids.len(),
                    period_ms = response.period_ms,
                    "keepalive sent"
                );
            }
            Err(status) => {
                warn!(code = ?status.code(), message = status.message(), devices = device_ids.len(), "keepalive failed");
            }
        }
    }
}
