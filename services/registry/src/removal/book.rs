//! Removal and relocation requests in the store: one compare-and-swap
//! transaction per step. Filing a request also writes the device's open
//! marker (at most one open request per device); completing it deletes the
//! marker and, in the same transaction, removes the device from the live
//! catalog (keeping a decommission record, and ending an open outage at the
//! removal) or moves it. Outage records stay; recordings are never touched.

use vfed_store::{Compare, Op, Revision, Txn};

use crate::catalog::{Catalog, Versioned};
use crate::codec::{decode, encode};
use crate::domain::{CatalogEntry, DecommissionRecord, OutageRecord};
use crate::{RegistryError, keys};

use super::record::{RemovalKind, RemovalRecord, parse_id};

/// The most requests a listing returns (newest first).
pub const MAX_LISTED: usize = 1000;

/// The requests of one node.
#[derive(Clone)]
pub struct Book {
    catalog: Catalog,
}

fn request_key(record: &RemovalRecord) -> String {
    keys::removal_request(&record.device_id, record.requested.at_ms)
}

impl Book {
    /// Over `catalog`'s store.
    pub fn new(catalog: Catalog) -> Self {
        Self { catalog }
    }

    /// A request and its revision.
    pub async fn get(&self, id: &str) -> Result<Option<(RemovalRecord, Revision)>, RegistryError> {
        let Some((device, ms)) = parse_id(id) else {
            return Ok(None);
        };
        let key = keys::removal_request(device, ms);
        let Some(kv) = self.catalog.store().get(key.as_bytes()).await? else {
            return Ok(None);
        };
        Ok(Some((decode(&kv.key, &kv.value)?, kv.mod_revision)))
    }

    /// The ID of the device's open request, if any.
    pub async fn open_of(&self, device_id: &str) -> Result<Option<String>, RegistryError> {
        let key = keys::removal_open(device_id);
        let Some(kv) = self.catalog.store().get(key.as_bytes()).await? else {
            return Ok(None);
        };
        Ok(Some(decode::<String>(&kv.key, &kv.value)?))
    }

    /// Files `record` for a device last read at `device`: refused while the
    /// device has an open request or changed since it was read.
    pub async fn file(
        &self,
        record: &RemovalRecord,
        device: &Versioned,
    ) -> Result<(), RegistryError> {
        let open = keys::removal_open(&record.device_id);
        let txn = Txn::new()
            .when(Compare::absent(open.clone()))
            .when(Compare::absent(request_key(record)))
            .when(Compare::mod_revision(
                keys::local(&record.device_id),
                device.revision,
            ))
            .then(Op::put(request_key(record), encode(record)))
            .then(Op::put(open, encode(&record.id())));
        if self.catalog.store().txn(txn).await?.succeeded {
            return Ok(());
        }
        match self.open_of(&record.device_id).await? {
            Some(id) => Err(RegistryError::precondition(
                "device_id",
                format!(
                    "device {} has an open request {id}; it must take effect first",
                    record.device_id
                ),
                "R18.11",
            )),
            None => Err(changed(record)),
        }
    }

    /// Stores a step of a request read at `revision`.
    pub async fn save(
        &self,
        record: &RemovalRecord,
        revision: Revision,
    ) -> Result<(), RegistryError> {
        let key = request_key(record);
        let txn = Txn::new()
            .when(Compare::mod_revision(key.clone(), revision))
            .then(Op::put(key, encode(record)));
        if self.catalog.store().txn(txn).await?.succeeded {
            Ok(())
        } else {
            Err(changed(record))
        }
    }

    /// Stores the completed `record` (read at `revision`) and, in the same
    /// transaction, removes or moves the device read as `device`; `moved`
    /// is the device's new entry for a relocation.
    pub async fn complete(
        &self,
        record: &RemovalRecord,
        revision: Revision,
        device: &Versioned,
        moved: Option<CatalogEntry>,
        at_ms: i64,
    ) -> Result<(), RegistryError> {
        let id = &record.device_id;
        let mut txn = Txn::new()
            .when(Compare::mod_revision(request_key(record), revision))
            .when(Compare::mod_revision(keys::local(id), device.revision))
            .then(Op::put(request_key(record), encode(record)))
            .then(Op::delete(keys::removal_open(id)));
        txn = match (record.kind, moved) {
            (RemovalKind::Relocate, Some(entry)) => {
                txn.then(Op::put(keys::local(id), encode(&entry)))
            }
            _ => {
                let kept = DecommissionRecord {
                    entry: device.entry.clone(),
                    reason: record.reason.clone(),
                    decommissioned_ms: at_ms,
                    removal_request: Some(record.id()),
                };
                let txn = txn
                    .then(Op::delete(keys::local(id)))
                    .then(Op::put(keys::decommissioned(id, at_ms), encode(&kept)));
                // A device removed while offline: its open outage ends with it (R14.3).
                match device.entry.open_outage_start_ms {
                    Some(start_ms) => txn.then(Op::put(
                        keys::outage(id, start_ms),
                        encode(&OutageRecord {
                            device_id: id.clone(),
                            start_ms,
                            end_ms: Some(at_ms),
                            cause: device.entry.open_outage_cause.clone(),
                        }),
                    )),
                    None => txn,
                }
            }
        };
        if self.catalog.store().txn(txn).await?.succeeded {
            Ok(())
        } else {
            Err(changed(record))
        }
    }

    /// Requests, newest first, at most [`MAX_LISTED`].
    pub async fn list(
        &self,
        device_id: Option<&str>,
        open_only: bool,
    ) -> Result<Vec<RemovalRecord>, RegistryError> {
        let prefix = match device_id {
            Some(id) => format!("{}{id}/", keys::REMOVAL_REQUESTS),
            None => keys::REMOVAL_REQUESTS.to_owned(),
        };
        let snapshot = self.catalog.store().snapshot(prefix.as_bytes()).await?;
        let mut records = snapshot
            .kvs
            .iter()
            .map(|kv| decode::<RemovalRecord>(&kv.key, &kv.value))
            .collect::<Result<Vec<_>, _>>()?;
        records.retain(|r| !open_only || r.completed.is_none());
        records.sort_by_key(|r| std::cmp::Reverse(r.requested.at_ms));
        records.truncate(MAX_LISTED);
        Ok(records)
    }
}

/// The request or its device changed between the read and the write (a
/// keepalive's status change, a concurrent step): the caller re-reads and retries.
fn changed(record: &RemovalRecord) -> RegistryError {
    RegistryError::Raced(format!(
        "id: request {} or its device changed while this step ran; re-read and retry; nothing was changed",
        record.id()
    ))
}
