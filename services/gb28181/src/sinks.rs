//! Where the access point's findings go. The runtime wires each to the
//! services that use it: device events to liveness (the registry's
//! outages, R14.3), catalogs to discovered channels, frames to the relay.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use vfed_media::{AccessUnit, StreamMetadata};

use crate::catalog::CatalogReport;
use crate::manscdp::{DeviceInfo, DeviceStatus};

/// How a device reaches the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// SIP over UDP.
    Udp,
    /// SIP over TCP.
    Tcp,
}

/// Why a REGISTER was accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterKind {
    /// The device was not registered.
    New,
    /// A refresh from the same address.
    Renewed,
    /// The device registered from another address or transport.
    Moved {
        /// Where it was.
        from: SocketAddr,
    },
}

/// What happened to a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceEvent {
    /// A REGISTER with a valid digest was accepted (the device is online).
    Registered {
        /// The device.
        device_id: String,
        /// Where it sent from.
        address: SocketAddr,
        /// Over what.
        transport: Transport,
        /// Lifetime granted, seconds.
        expires: u32,
        /// New, renewed or moved.
        kind: RegisterKind,
    },
    /// A keepalive MESSAGE arrived.
    Keepalive {
        /// The device.
        device_id: String,
    },
    /// An offline device was heard from again.
    Online {
        /// The device.
        device_id: String,
    },
    /// The device was silent for its keepalive interval x misses.
    Offline {
        /// The device.
        device_id: String,
        /// Since it was last heard.
        silent_for: Duration,
        /// Why, in words.
        cause: String,
    },
    /// The registration ended: `Expires: 0`, or it ran out.
    Unregistered {
        /// The device.
        device_id: String,
        /// Why, in words.
        cause: String,
    },
}

impl DeviceEvent {
    /// The device concerned.
    pub fn device_id(&self) -> &str {
        match self {
            Self::Registered { device_id, .. }
            | Self::Keepalive { device_id }
            | Self::Online { device_id }
            | Self::Offline { device_id, .. }
            | Self::Unregistered { device_id, .. } => device_id,
        }
    }
}

/// Receives device events (liveness).
#[async_trait]
pub trait DeviceSink: Send + Sync + 'static {
    /// One event; called in order per device.
    async fn device_event(&self, event: DeviceEvent);
}

/// Receives what devices say about themselves and their channels.
#[async_trait]
pub trait CatalogSink: Send + Sync + 'static {
    /// A catalog, complete or timed out (see [`CatalogReport::outcome`]).
    async fn catalog(&self, report: CatalogReport);
    /// A DeviceInfo response.
    async fn device_info(&self, info: DeviceInfo);
    /// A DeviceStatus response.
    async fn device_status(&self, status: DeviceStatus);
}

/// Receives the access units of a channel's live stream, as the RTSP
/// gateway's subscribers do, while a live session started by
/// [`crate::Handle::play`] runs (docs/gb28181.md).
#[async_trait]
pub trait MediaSink: Send + Sync + 'static {
    /// The stream's codec and parameter sets, before its first unit and on change.
    async fn metadata(&self, channel_id: &str, metadata: StreamMetadata);
    /// One access unit (90 kHz timestamps, keyframe flag).
    async fn access_unit(&self, channel_id: &str, unit: AccessUnit);
}

/// The three sinks [`crate::run`] feeds.
#[derive(Clone)]
pub struct Sinks {
    /// Device events.
    pub devices: Arc<dyn DeviceSink>,
    /// Catalogs, device info and status.
    pub catalog: Arc<dyn CatalogSink>,
    /// Live media (sessions started by [`crate::Handle::play`]).
    pub media: Arc<dyn MediaSink>,
}
