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

    /// Takes every change, in first-seen order, in chunks of at most
    /// `count` changes and `bytes` encoded bytes (see [`chunk_changes`]).
    pub fn drain_chunks(&mut self, count: usize, bytes: usize) -> Chunks {
        let mut latest = std::mem::take(&mut self.latest);
        let changes: Vec<_> = std::mem::take(&mut self.order)
            .into_iter()
            .filter_map(|id| latest.remove(&id))
            .collect();
        chunk_changes(changes, count, bytes)
    }
}

/// Changes cut into batches, and the ones too large for any batch.
#[derive(Debug, Default)]
pub struct Chunks {
    /// Batches in order; never empty batches.
    pub batches: Vec<Vec<fed::CatalogChange>>,
    /// Upserts whose encoding alone exceeds the byte limit: no parent could
    /// take them, so they are reported instead of sent (a node's own rules
    /// keep such entries out; they can only be older than those rules).
    pub too_large: Vec<(String, usize)>,
}

/// Cuts `changes` into batches of at most `count` changes and `bytes`
/// encoded bytes, keeping their order: whatever the entries, no batch can
/// reach the parent's message limit.
pub fn chunk_changes(changes: Vec<fed::CatalogChange>, count: usize, bytes: usize) -> Chunks {
    use prost::Message as _;
    let mut chunks = Chunks::default();
    let mut current = Vec::new();
    let mut current_bytes = 0;
    for change in changes {
        // Field tag and length prefix of the change inside the batch.
        let size = change.encoded_len() + 8;
        if size > bytes {
            let id = match &change.change {
                Some(fed::catalog_change::Change::Upsert(d)) => {
                    d.spec.as_ref().map(|s| s.id.clone()).unwrap_or_default()
                }
                Some(fed::catalog_change::Change::RemoveDeviceId(id)) => id.clone(),
                None => String::new(),
            };
            chunks.too_large.push((id, size));
            continue;
        }
        if !current.is_empty() && (current.len() >= count.max(1) || current_bytes + size > bytes) {
            chunks.batches.push(std::mem::take(&mut current));
            current_bytes = 0;
        }
        current_bytes += size;
        current.push(change);
    }
    if !current.is_empty() {
        chunks.batches.push(current);
    }
    chunks
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

#[cfg(test)]
mod tests {
    use super::*;

    fn upsert(id: &str, name_bytes: usize) -> fed::CatalogChange {
        fed::CatalogChange {
            change: Some(fed::catalog_change::Change::Upsert(
                vfed_proto::registry::v1::Device {
                    spec: Some(vfed_proto::registry::v1::DeviceSpec {
                        id: id.into(),
                        name: "n".repeat(name_bytes),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )),
        }
    }

    #[test]
    fn batches_are_cut_by_bytes_below_the_limit() {
        use prost::Message as _;
        let changes: Vec<_> = (0..50).map(|i| upsert(&format!("{i}"), 100_000)).collect();
        let chunks = chunk_changes(changes, 1000, vfed_proto::bounds::MAX_BATCH_BYTES);
        assert!(chunks.too_large.is_empty());
        assert!(chunks.batches.len() >= 5, "{}", chunks.batches.len());
        for b in &chunks.batches {
            let batch = fed::CatalogBatch {
                changes: b.clone(),
                ..Default::default()
            };
            assert!(batch.encoded_len() <= vfed_proto::bounds::MAX_BATCH_BYTES);
        }
        let total: usize = chunks.batches.iter().map(Vec::len).sum();
        assert_eq!(total, 50);
    }

    #[test]
    fn an_entry_too_large_for_any_batch_is_reported_not_sent() {
        let changes = vec![upsert("a", 10), upsert("big", 2_000_000), upsert("b", 10)];
        let chunks = chunk_changes(changes, 1000, vfed_proto::bounds::MAX_BATCH_BYTES);
        assert_eq!(chunks.batches.len(), 1);
        assert_eq!(chunks.batches[0].len(), 2);
        assert_eq!(chunks.too_large.len(), 1);
        assert_eq!(chunks.too_large[0].0, "big");
    }
}
