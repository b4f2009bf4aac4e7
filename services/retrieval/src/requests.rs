//! Retrieval requests in the node's store: create, read, list, and one
//! compare-and-swap transaction per state change.
//!
//! The store handed to the service is the node's audited store: the auth
//! layer adds the audit record of the call to the same transaction, so a
//! change and its record commit together or not at all (R14.5). A refused
//! step returns before any transaction: nothing is written.

use vfed_store::{Compare, KeyValue, Op, Revision, SharedStore, Txn};

use crate::error::RetrievalError;
use crate::keys;
use crate::record::Record;

/// How many compare-and-swap attempts a state change makes.
const CAS_ATTEMPTS: usize = 16;

/// A record with the mod revision it was read or written at.
#[derive(Clone, Debug)]
pub struct Versioned {
    /// The record.
    pub record: Record,
    /// Its key's mod revision.
    pub revision: Revision,
}

/// The retrieval requests of one node.
#[derive(Clone)]
pub struct Requests {
    store: SharedStore,
}

fn decode(kv: &KeyValue) -> Result<Versioned, RetrievalError> {
    let record = serde_json::from_slice(&kv.value).map_err(|e| RetrievalError::Corrupt {
        key: String::from_utf8_lossy(&kv.key).into_owned(),
        message: e.to_string(),
    })?;
    Ok(Versioned {
        record,
        revision: kv.mod_revision,
    })
}

fn encode(record: &Record) -> Result<Vec<u8>, RetrievalError> {
    serde_json::to_vec(record).map_err(|e| RetrievalError::Corrupt {
        key: keys::request(&record.id),
        message: e.to_string(),
    })
}

impl Requests {
    /// Requests in `store`.
    pub fn new(store: SharedStore) -> Self {
        Self { store }
    }

    /// One request, if it exists.
    pub async fn get(&self, id: &str) -> Result<Option<Versioned>, RetrievalError> {
        self.store
            .get(keys::request(id).as_bytes())
            .await?
            .as_ref()
            .map(decode)
            .transpose()
    }

    /// One request, or [`RetrievalError::NotFound`].
    pub async fn must_get(&self, id: &str) -> Result<Versioned, RetrievalError> {
        self.get(id)
            .await?
            .ok_or_else(|| RetrievalError::NotFound(id.to_owned()))
    }

    /// Stores a new request; `None` when its ID is taken (retry with another).
    pub async fn create(&self, record: &Record) -> Result<Option<Versioned>, RetrievalError> {
        let key = keys::request(&record.id);
        let txn = Txn::new()
            .when(Compare::absent(key.clone()))
            .then(Op::put(key, encode(record)?));
        let response = self.store.txn(txn).await?;
        Ok(response.succeeded.then(|| Versioned {
            record: record.clone(),
            revision: response.revision,
        }))
    }

    /// Reads request `id`, asks `step` for its next version and writes it
    /// only if the record is unchanged since it was read; re-reads and asks
    /// again when it changed. A refusal from `step` writes nothing.
    pub async fn change(
        &self,
        id: &str,
        mut step: impl FnMut(&Record) -> Result<Record, RetrievalError>,
    ) -> Result<Versioned, RetrievalError> {
        let key = keys::request(id);
        for _ in 0..CAS_ATTEMPTS {
            let current = self.must_get(id).await?;
            let next = step(&current.record)?;
            let txn = Txn::new()
                .when(Compare::mod_revision(key.clone(), current.revision))
                .then(Op::put(key.clone(), encode(&next)?));
            let response = self.store.txn(txn).await?;
            if response.succeeded {
                return Ok(Versioned {
                    record: next,
                    revision: response.revision,
                });
            }
        }
        Err(RetrievalError::Busy(id.to_owned()))
    }

    /// Every request, in filing order.
    pub async fn all(&self) -> Result<Vec<Versioned>, RetrievalError> {
        let snapshot = self.store.snapshot(keys::REQUESTS.as_bytes()).await?;
        snapshot.kvs.iter().map(decode).collect()
    }
}
