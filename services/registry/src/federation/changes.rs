//! Turning store changes into catalog changes for the parent.

use std::collections::HashMap;

use vfed_proto::federation::v1 as fed;
use vfed_store::{KeyValue, WatchEvent};

use crate::codec::decode;
use crate::convert::device_to_wire;
use crate::domain::CatalogEntry;
use crate::keys;

/// Catalog changes keyed by device; a later change of the same device
/// replaces an earlier one (the parent only needs the latest state, and a
/// transaction may not touch one key twice).
#[derive(Default)]
pub struct PendingChanges {
    order: Vec<String>,
    latest: HashMap<String, fed::CatalogChange>,
}

impl PendingChanges {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }

    /// Adds the change a store event implies, if it concerns the catalog.
    pub fn add_event(&mut self, event: &WatchEvent) {
        let Some((id, _)) = keys::parse_catalog(event.key()) else {
            return;
        };
        let change = match event {
            WatchEvent::Put(kv) => change_for(id, kv),
            WatchEvent::Delete { .. } => remove(id),
        };
        self.push(id.to_owned(), change);
    }

    fn push(&mut self, id: String, change: fed::CatalogChange) {
        if self.latest.insert(id.clone(), change).is_none() {
            self.order.push(id);
        }
    }

    /// Takes every change, in first-seen order, in chunks of `chunk`.
    pub fn drain_chunks(&mut self, chunk: usize) -> Vec<Vec<fed::CatalogChange>> {
        let mut latest = std::mem::take(&mut self.latest);
        let changes: Vec<_> = std::mem::take(&mut self.order)
            .into_iter()
            .filter_map(|id| latest.remove(&id))
            .collect();
        changes.chunks(chunk.max(1)).map(<[_]>::to_vec).collect()
    }
}

fn remove(id: &str) -> fed::CatalogChange {
    fed::CatalogChange {
        change: Some(fed::catalog_change::Change::RemoveDeviceId(id.to_owned())),
    }
}

/// What a stored entry means for the parent: an upsert if it goes up
/// (R6.1, R11), a removal otherwise (it may have gone up before).
pub fn change_for(id: &str, kv: &KeyValue) -> fed::CatalogChange {
    match decode::<CatalogEntry>(&kv.key, &kv.value) {
        Ok(entry) if entry.goes_up() => fed::CatalogChange {
            change: Some(fed::catalog_change::Change::Upsert(device_to_wire(
                &entry,
                kv.mod_revision,
            ))),
        },
        Ok(_) => remove(id),
        Err(e) => {
            tracing::error!(error = %e, "uplink: skipping an undecodable catalog entry");
            remove(id)
        }
    }
}
