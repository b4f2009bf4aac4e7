//! Simulated site systems: each county's seeded devices report keepalives,
//! as a gateway would for live cameras (R14.3).

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use vfed_proto::registry::v1::KeepaliveRequest;
use vfed_proto::registry::v1::registry_client::RegistryClient;

use super::layout::{NODES, ToolChannels};
use super::seed::devices_of;

/// Sends keepalives for every seeded device until `stop`.
pub async fn run(channels: ToolChannels, period: Duration, stop: CancellationToken) {
    let mut interval = tokio::time::interval(period);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = interval.tick() => {}
        }
        for node in NODES.iter().filter(|n| n.parent.is_some()) {
            let device_ids = devices_of(node.id);
            let Ok(channel) = channels.get(node.id) else {
                continue;
            };
            let mut client = RegistryClient::new(channel);
            if let Err(status) = client
                .keepalive(KeepaliveRequest {
                    device_ids,
                    ..Default::default()
                })
                .await
            {
                tracing::warn!(node = node.id, error = %status.message(), "demo site: keepalive failed");
            }
        }
    }
}
