//! The catalog in the store: reads and compare-and-swap writes of entries.

use vfed_gbcode::AreaCode;
use vfed_store::{Compare, KeyValue, Op, Revision, SharedStore, Txn};

use crate::RegistryError;
use crate::codec::{decode, encode};
use crate::domain::{CatalogEntry, DeviceSpec, DeviceStatus};
use crate::keys;

/// How many CAS attempts a read-modify-write makes before giving up.
const CAS_ATTEMPTS: usize = 16;

/// An entry with the revision it was read at.
#[derive(Clone, Debug)]
pub struct Versioned {
    /// The entry.
    pub entry: CatalogEntry,
    /// Its mod revision.
    pub revision: Revision,
}

/// The catalog of one node.
#[derive(Clone)]
pub struct Catalog {
    store: SharedStore,
    node_id: String,
    area: AreaCode,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

impl Catalog {
    /// A catalog over `store` for node `node_id` governing `area`.
    pub fn new(store: SharedStore, node_id: String, area: AreaCode) -> Self {
        Self {
            store,
            node_id,
            area,
        }
    }

    /// The store.
    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    /// This node's ID.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// This node's area.
    pub fn area(&self) -> &AreaCode {
        &self.area
    }

    fn decode_kv(kv: &KeyValue) -> Result<Versioned, RegistryError> {
        Ok(Versioned {
            entry: decode(&kv.key, &kv.value)?,
            revision: kv.mod_revision,
        })
    }

    /// A local device.
    pub async fn get_local(&self, id: &str) -> Result<Option<Versioned>, RegistryError> {
        self.store
            .get(keys::local(id).as_bytes())
            .await?
            .as_ref()
            .map(Self::decode_kv)
            .transpose()
    }

    /// A device, local or remote.
    pub async fn get(&self, id: &str) -> Result<Option<Versioned>, RegistryError> {
        if let Some(v) = self.get_local(id).await? {
            return Ok(Some(v));
        }
        self.store
            .get(keys::remote(id).as_bytes())
            .await?
            .as_ref()
            .map(Self::decode_kv)
            .transpose()
    }

    /// Stores a new local device; refuses an ID already known here.
    pub async fn register(&self, spec: DeviceSpec) -> Result<Versioned, RegistryError> {
        let now = now_ms();
        let id = spec.id.clone();
        let entry = CatalogEntry {
            spec,
            status: DeviceStatus::Unknown,
            status_since_ms: now,
            registered_ms: now,
            origin_node_id: self.node_id.clone(),
            via_child: None,
            open_outage_start_ms: None,
            open_outage_cause: None,
        };
        let txn = Txn::new()
            .when(Compare::absent(keys::local(&id)))
            .when(Compare::absent(keys::remote(&id)))
            .then(Op::put(keys::local(&id), encode(&entry)));
        let response = self.store.txn(txn).await?;
        if !response.succeeded {
            return Err(RegistryError::AlreadyExists(id));
        }
        Ok(Versioned {
            entry,
            revision: response.revision,
        })
    }

    /// Replaces the spec of a local device, optionally only at `expected` revision.
    pub async fn update(
        &self,
        spec: DeviceSpec,
        expected: Option<Revision>,
    ) -> Result<Versioned, RegistryError> {
        let id = spec.id.clone();
        self.modify(&id, expected, move |entry| {
            let mut spec = spec.clone();
            spec.streams.keep_credentials_from(&entry.spec.streams);
            entry.spec = spec;
            Ok(true)
        })
        .await?
        .ok_or(RegistryError::NotFound(id))
    }

    /// Read-modify-write of a local device with compare-and-swap retries.
    /// `change` returns whether it changed anything. Returns `None` when the
    /// device does not exist.
    pub async fn modify(
        &self,
        id: &str,
        expected: Option<Revision>,
        mut change: impl FnMut(&mut CatalogEntry) -> Result<bool, RegistryError>,
    ) -> Result<Option<Versioned>, RegistryError> {
        self.modify_with(id, expected, |entry| Ok(change(entry)?.then(Vec::new)))
            .await
    }

    /// Like [`Catalog::modify`], but `change` returns `None` for "no change"
    /// or the extra ops to commit in the same transaction as the entry.
    pub async fn modify_with(
        &self,
        id: &str,
        expected: Option<Revision>,
        mut change: impl FnMut(&mut CatalogEntry) -> Result<Option<Vec<Op>>, RegistryError>,
    ) -> Result<Option<Versioned>, RegistryError> {
        let key = keys::local(id);
        for _ in 0..CAS_ATTEMPTS {
            let Some(current) = self.get_local(id).await? else {
                return Ok(None);
            };
            if let Some(expected) = expected.filter(|e| *e != current.revision) {
                return Err(RegistryError::Conflict {
                    id: id.to_owned(),
                    expected,
                    actual: current.revision,
                });
            }
            let mut entry = current.entry.clone();
            let Some(extra) = change(&mut entry)? else {
                return Ok(Some(current));
            };
            let mut txn = Txn::new()
                .when(Compare::mod_revision(key.clone(), current.revision))
                .then(Op::put(key.clone(), encode(&entry)));
            txn.ops.extend(extra);
            let response = self.store.txn(txn).await?;
            if response.succeeded {
                return Ok(Some(Versioned {
                    entry,
                    revision: response.revision,
                }));
            }
            if expected.is_some() {
                let actual = self.get_local(id).await?.map_or(0, |v| v.revision);
                return Err(RegistryError::Conflict {
                    id: id.to_owned(),
                    expected: current.revision,
                    actual,
                });
            }
        }
        Err(RegistryError::FailedPrecondition(format!(
            "device {id} is changing too fast; retry"
        )))
    }

    /// Lists entries under `prefix` starting after `start_after`, decoded, at
    /// most `limit` (0: all). Returns the entries and whether more follow.
    pub async fn page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Versioned>, bool), RegistryError> {
        let page = self
            .store
            .list(prefix.as_bytes(), start_after.map(str::as_bytes), limit)
            .await?;
        let entries = page
            .kvs
            .iter()
            .map(Self::decode_kv)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((entries, page.more))
    }

    /// Every device registered at this node (with its stored stream URLs,
    /// credentials included: for the gateway, never for the API).
    pub async fn local_devices(&self) -> Result<Vec<Versioned>, RegistryError> {
        self.all(keys::LOCAL).await
    }

    /// Every entry under `prefix` at one revision.
    pub async fn all(&self, prefix: &str) -> Result<Vec<Versioned>, RegistryError> {
        let snapshot = self.store.snapshot(prefix.as_bytes()).await?;
        snapshot.kvs.iter().map(Self::decode_kv).collect()
    }
}
