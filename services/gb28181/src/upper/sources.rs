//! What the upper link needs from the node, as traits the runtime
//! implements: the devices the node may show (over the registry) and their
//! live streams (over the relay: one upstream pull however many uppers
//! watch).

use async_trait::async_trait;
use tokio::sync::{broadcast, mpsc};
use vfed_media::{AccessUnit, StreamMetadata};

/// One device of the node as the catalog shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SharedDevice {
    /// Its 20-digit ID.
    pub device_id: String,
    /// Display name.
    pub name: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// Model.
    pub model: String,
    /// Owner (the system or unit responsible).
    pub owner: String,
    /// Civil (administrative division) code.
    pub civil_code: String,
    /// Installation address.
    pub address: String,
    /// Longitude and latitude, when known.
    pub position: Option<(f64, f64)>,
    /// Whether it is online now.
    pub online: bool,
    /// Whether it is shared to the platform above (R6.1).
    pub shared: bool,
    /// Whether its system is accepted (验收, R11).
    pub accepted: bool,
}

impl SharedDevice {
    /// The rule of vfed's federation: only shared devices of accepted
    /// systems go up (R6.1, R11). An upper sees nothing else, in catalogs,
    /// notifications, info, status or INVITEs.
    pub fn visible(&self) -> bool {
        self.shared && self.accepted
    }
}

/// What changed about a device (GB/T 28181 catalog-change events).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeEvent {
    /// Came online.
    On,
    /// Went offline.
    Off,
    /// Added.
    Add,
    /// Deleted.
    Del,
    /// Its fields changed.
    Update,
}

impl ChangeEvent {
    /// The `<Event>` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::On => "ON",
            Self::Off => "OFF",
            Self::Add => "ADD",
            Self::Del => "DEL",
            Self::Update => "UPDATE",
        }
    }
}

/// One change, with the device as it is now.
#[derive(Clone, Debug, PartialEq)]
pub struct CatalogChange {
    /// What happened.
    pub event: ChangeEvent,
    /// The device after the change (its flags say whether it may go up).
    pub device: SharedDevice,
}

/// The node's devices, as the registry knows them.
#[async_trait]
pub trait SharedCatalog: Send + Sync + 'static {
    /// Every device with its sharing and acceptance flags (the link
    /// applies [`SharedDevice::visible`]).
    async fn devices(&self) -> Vec<SharedDevice>;
    /// The changes from now on.
    fn changes(&self) -> broadcast::Receiver<CatalogChange>;
}

/// One item of a live stream.
#[derive(Clone, Debug)]
pub enum LiveItem {
    /// Codec and parameter sets, before the first unit and on change.
    Metadata(StreamMetadata),
    /// One access unit (length-prefixed NAL units, 90 kHz).
    Unit(AccessUnit),
}

/// Why a live stream cannot be had.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("live source: {0}")]
pub struct LiveError(pub String);

/// The node's live streams, as the relay serves them.
#[async_trait]
pub trait LiveSource: Send + Sync + 'static {
    /// The stream of `device_id`, until the receiver is dropped (which
    /// ends this subscription; the relay keeps one upstream pull).
    async fn subscribe(&self, device_id: &str) -> Result<mpsc::Receiver<LiveItem>, LiveError>;
}
