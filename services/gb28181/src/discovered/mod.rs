//! Discovered channels: what the devices registered here reported in their
//! catalogs, kept until an operator adopts a channel as a device of the
//! sharing platform (the `Discovered` gRPC service, [`service`]).
//!
//! The store is in memory: a device re-reports its catalog whenever it
//! registers (the node queries it), and adoption itself lives in the
//! registry (an adopted channel is the device of the same ID).

pub mod service;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use vfed_gbcode::GbCode;

use crate::catalog::{CatalogOutcome, CatalogReport};
use crate::manscdp::CatalogItem;

/// One discovered channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    /// The GB/T 28181 device (camera or NVR) that reported it.
    pub device_id: String,
    /// Its catalog entry.
    pub item: CatalogItem,
    /// When its catalog arrived.
    pub reported: SystemTime,
}

#[derive(Default)]
struct State {
    channels: BTreeMap<String, Channel>,
    online: HashSet<String>,
}

/// The discovered channels of this node (cheap to clone).
#[derive(Clone)]
pub struct Discovered {
    state: Arc<Mutex<State>>,
    max_channels: usize,
}

impl Discovered {
    /// An empty store keeping at most `max_channels` channels.
    pub fn new(max_channels: usize) -> Self {
        Self {
            state: Arc::default(),
            max_channels,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a catalog: its video channels (IDs of type 111-199; the
    /// device's own entry only for a camera, 131/132) become the device's
    /// channels. A complete catalog replaces the device's
    /// earlier list; an incomplete one only adds and refreshes. Returns the
    /// IDs recorded.
    pub fn record(&self, report: &CatalogReport) -> Vec<String> {
        let now = SystemTime::now();
        let mut state = self.state();
        if report.outcome == CatalogOutcome::Complete {
            state
                .channels
                .retain(|_, channel| channel.device_id != report.device_id);
        }
        let mut recorded = Vec::new();
        for item in &report.items {
            let Ok(code) = GbCode::parse_device(&item.device_id) else {
                // Groups, organisations, platforms are not channels.
                continue;
            };
            if item.device_id == report.device_id && !matches!(code.type_code(), 131 | 132) {
                // An NVR listing itself; a camera (131, 132) is its own channel.
                continue;
            }
            let known = state.channels.contains_key(&item.device_id);
            if !known && state.channels.len() >= self.max_channels {
                tracing::warn!(device = %report.device_id, channel = %item.device_id, max = self.max_channels, "gb28181: discovered channels full; channel not kept");
                continue;
            }
            state.channels.insert(
                item.device_id.clone(),
                Channel {
                    device_id: report.device_id.clone(),
                    item: item.clone(),
                    reported: now,
                },
            );
            recorded.push(item.device_id.clone());
        }
        recorded
    }

    /// Whether the device is online (its keepalives arrive).
    pub fn set_online(&self, device_id: &str, online: bool) {
        let mut state = self.state();
        if online {
            state.online.insert(device_id.to_owned());
        } else {
            state.online.remove(device_id);
        }
    }

    /// Whether the device is online.
    pub fn is_online(&self, device_id: &str) -> bool {
        self.state().online.contains(device_id)
    }

    /// Devices online now.
    pub fn online_devices(&self) -> usize {
        self.state().online.len()
    }

    /// One channel.
    pub fn channel(&self, channel_id: &str) -> Option<Channel> {
        self.state().channels.get(channel_id).cloned()
    }

    /// The channels `device_id` reported.
    pub fn channels_of(&self, device_id: &str) -> Vec<String> {
        self.state()
            .channels
            .iter()
            .filter(|(_, c)| c.device_id == device_id)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Every channel, by ID.
    pub fn list(&self) -> Vec<(String, Channel)> {
        self.state()
            .channels
            .iter()
            .map(|(id, c)| (id.clone(), c.clone()))
            .collect()
    }

    /// How many channels are known.
    pub fn len(&self) -> usize {
        self.state().channels.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn report(device: &str, ids: &[&str], outcome: CatalogOutcome) -> CatalogReport {
        CatalogReport {
            device_id: device.into(),
            sn: 1,
            sum_num: None,
            pages: 1,
            items: ids
                .iter()
                .map(|id| CatalogItem {
                    device_id: (*id).into(),
                    ..CatalogItem::default()
                })
                .collect(),
            outcome,
        }
    }

    const NVR: &str = "54050200001180000001";

    #[test]
    fn a_catalog_keeps_video_channels_and_a_complete_one_replaces_the_list() {
        let store = Discovered::new(10);
        let recorded = store.record(&report(
            NVR,
            &[
                NVR,
                "54050200002150000001",
                "54050200001310000001",
                "54050200001310000002",
            ],
            CatalogOutcome::Complete,
        ));
        assert_eq!(recorded, ["54050200001310000001", "54050200001310000002"]);
        let partial = CatalogOutcome::Incomplete {
            missing: Some(1),
            reason: "no page".into(),
        };
        store.record(&report(NVR, &["54050200001310000003"], partial));
        assert_eq!(store.channels_of(NVR).len(), 3);
        store.record(&report(
            NVR,
            &["54050200001310000001"],
            CatalogOutcome::Complete,
        ));
        assert_eq!(store.channels_of(NVR), ["54050200001310000001"]);
        assert_eq!(
            store.channel("54050200001310000001").unwrap().device_id,
            NVR
        );
    }

    #[test]
    fn a_camera_is_its_own_channel() {
        let store = Discovered::new(10);
        let ipc = "54050200001320000001";
        store.record(&report(ipc, &[ipc], CatalogOutcome::Complete));
        assert_eq!(store.channels_of(ipc), [ipc]);
    }

    #[test]
    fn the_store_is_bounded() {
        let store = Discovered::new(1);
        store.record(&report(
            NVR,
            &["54050200001310000001", "54050200001310000002"],
            CatalogOutcome::Complete,
        ));
        assert_eq!(store.len(), 1);
    }
}
