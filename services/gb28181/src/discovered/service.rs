//! The `Discovered` gRPC service: list the discovered channels, and adopt
//! one as a device of this node through the registry's own registration
//! (every rule: R6.2, R7, R8, R9, R11, R12), given as an [`Adopter`].

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use tonic::{Request, Response, Status};
use vfed_gbcode::GbCode;
use vfed_proto::gb28181::v1 as pb;
use vfed_proto::gb28181::v1::discovered_server::Discovered as DiscoveredApi;
use vfed_proto::registry::v1::{Device, DeviceSpec};

use super::{Channel, Discovered};

/// How an adopted channel becomes a device: the registry, in this process
/// or over its API.
#[async_trait::async_trait]
pub trait Adopter: Send + Sync + 'static {
    /// Registers `spec` at this node by every registry rule (as
    /// `Registry.RegisterDevice`); on success the device's live view comes
    /// from `device_id`'s channel `spec.id`.
    async fn adopt(&self, device_id: &str, spec: DeviceSpec) -> Result<Device, Status>;
    /// Whether a device of this ID is registered at this node.
    async fn is_registered(&self, id: &str) -> Result<bool, Status>;
}

/// The `Discovered` service over a store and an [`Adopter`].
#[derive(Clone)]
pub struct DiscoveredService {
    store: Discovered,
    adopter: Arc<dyn Adopter>,
}

impl DiscoveredService {
    /// The service.
    pub fn new(store: Discovered, adopter: Arc<dyn Adopter>) -> Self {
        Self { store, adopter }
    }

    fn wire(&self, id: String, channel: Channel, adopted: bool) -> pb::DiscoveredChannel {
        let item = channel.item;
        let text = |v: Option<String>| v.unwrap_or_default();
        pb::DiscoveredChannel {
            channel_id: id,
            device_online: self.store.is_online(&channel.device_id),
            device_id: channel.device_id,
            name: text(item.name),
            manufacturer: text(item.manufacturer),
            model: text(item.model),
            civil_code: text(item.civil_code),
            address: text(item.address),
            status: text(item.status),
            adopted,
            reported_unix_ms: channel
                .reported
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        }
    }
}

/// The spec an adoption registers: `spec` completed from the channel.
fn adoption_spec(
    channel_id: &str,
    channel: &Channel,
    spec: Option<DeviceSpec>,
) -> Result<DeviceSpec, Status> {
    let mut spec = spec.ok_or_else(|| Status::invalid_argument("spec: is required"))?;
    if spec.id.is_empty() {
        spec.id = channel_id.to_owned();
    } else if spec.id != channel_id {
        return Err(Status::invalid_argument(format!(
            "spec.id: {} is not the channel ID {channel_id} (leave it empty)",
            spec.id
        )));
    }
    if spec.name.is_empty() {
        spec.name = channel.item.name.clone().unwrap_or_default();
    }
    if spec
        .streams
        .as_ref()
        .is_some_and(|s| !s.main_url.is_empty() || !s.sub_url.is_empty())
    {
        return Err(Status::invalid_argument(
            "spec.streams: must be empty (the GB/T 28181 channel is the stream source)",
        ));
    }
    Ok(spec)
}

#[tonic::async_trait]
impl DiscoveredApi for DiscoveredService {
    async fn list_discovered(
        &self,
        _request: Request<pb::ListDiscoveredRequest>,
    ) -> Result<Response<pb::ListDiscoveredResponse>, Status> {
        let mut channels = Vec::new();
        for (id, channel) in self.store.list() {
            let adopted = self.adopter.is_registered(&id).await?;
            channels.push(self.wire(id, channel, adopted));
        }
        Ok(Response::new(pb::ListDiscoveredResponse { channels }))
    }

    async fn adopt_channel(
        &self,
        request: Request<pb::AdoptChannelRequest>,
    ) -> Result<Response<Device>, Status> {
        let request = request.into_inner();
        let channel_id = request.channel_id;
        if channel_id.is_empty() {
            return Err(Status::invalid_argument("channel_id: is required"));
        }
        GbCode::parse(&channel_id)
            .map_err(|e| Status::invalid_argument(format!("channel_id: {e}")))?;
        let channel = self.store.channel(&channel_id).ok_or_else(|| {
            Status::not_found(format!(
                "channel_id: {channel_id} is not a discovered channel (see vfedctl discovered list)"
            ))
        })?;
        let spec = adoption_spec(&channel_id, &channel, request.spec)?;
        let device = self.adopter.adopt(&channel.device_id, spec).await?;
        tracing::info!(channel = %channel_id, device = %channel.device_id, "gb28181: channel adopted");
        Ok(Response::new(device))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::manscdp::CatalogItem;

    fn channel() -> Channel {
        Channel {
            device_id: "54050200001180000001".into(),
            item: CatalogItem {
                device_id: "54050200001310000001".into(),
                name: Some("Gate".into()),
                ..CatalogItem::default()
            },
            reported: UNIX_EPOCH,
        }
    }

    #[test]
    fn the_spec_takes_the_channel_id_and_name_and_refuses_stream_urls() {
        let id = "54050200001310000001";
        let spec = adoption_spec(id, &channel(), Some(DeviceSpec::default())).unwrap();
        assert_eq!((spec.id.as_str(), spec.name.as_str()), (id, "Gate"));
        let other = DeviceSpec {
            id: "54050200001310000002".into(),
            ..DeviceSpec::default()
        };
        let e = adoption_spec(id, &channel(), Some(other)).unwrap_err();
        assert!(e.message().starts_with("spec.id:"), "{e}");
        let urls = DeviceSpec {
            streams: Some(vfed_proto::registry::v1::StreamSources {
                main_url: "rtsp://127.0.0.1/a".into(),
                sub_url: String::new(),
            }),
            ..DeviceSpec::default()
        };
        let e = adoption_spec(id, &channel(), Some(urls)).unwrap_err();
        assert!(e.message().starts_with("spec.streams:"), "{e}");
        let e = adoption_spec(id, &channel(), None).unwrap_err();
        assert_eq!(e.message(), "spec: is required");
    }
}
