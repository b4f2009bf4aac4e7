//! Liveness: telling the registry which devices deliver frames (R14.3).

use async_trait::async_trait;
use tonic::transport::Channel;
use tracing::{debug, warn};
use vfed_proto::registry::v1::KeepaliveRequest;
use vfed_proto::registry::v1::registry_client::RegistryClient;

/// Receives, every liveness period, the devices whose stream delivered a
/// frame within that period. Devices without frames are simply not listed;
/// the registry decides when silence becomes an outage.
#[async_trait]
pub trait LivenessSink: Send + Sync + 'static {
    /// `device_ids` delivered frames within the last period (sorted, unique,
    /// never empty).
    async fn alive(&self, device_ids: &[String]);
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
        let request = KeepaliveRequest {
            device_ids: device_ids.to_vec(),
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
