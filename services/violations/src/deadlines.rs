//! The police's decisions on violations, in the store: `violations/<id>`
//! -> the rectification deadline (who set it, when, a note) and, once
//! closed, who closed it, when and why. One compare-and-swap per change.

use serde::{Deserialize, Serialize};
use vfed_store::{Compare, Op, Revision, SharedStore, Txn};

const PREFIX: &str = "violations/";

/// Who did it and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed {
    /// Audit actor.
    pub by: String,
    /// Unix ms.
    pub at_ms: i64,
    /// Note.
    pub note: String,
}

/// What the police decided on one violation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The violation's unit when decided (kept once the finding is gone).
    pub unit: String,
    /// Its device, if any.
    pub device_id: String,
    /// Its description when decided.
    pub description: String,
    /// YYYY-MM-DD.
    pub deadline: Option<String>,
    /// Who set the deadline.
    pub deadline_set: Option<Signed>,
    /// Who closed it.
    pub closed: Option<Signed>,
}

/// Why a store operation failed.
#[derive(Debug)]
pub enum BookError {
    /// The store failed.
    Store(vfed_store::StoreError),
    /// A record could not be decoded.
    Corrupt(String),
    /// Changed concurrently.
    Raced,
}

/// The decisions of one node.
#[derive(Clone)]
pub struct Deadlines {
    store: SharedStore,
}

fn key(id: &str) -> String {
    format!("{PREFIX}{id}")
}

impl Deadlines {
    /// Over `store` (the node's audited store).
    pub fn new(store: SharedStore) -> Self {
        Self { store }
    }

    /// Every decision, by violation ID.
    pub async fn all(&self) -> Result<Vec<(String, Decision)>, BookError> {
        let snapshot = self
            .store
            .snapshot(PREFIX.as_bytes())
            .await
            .map_err(BookError::Store)?;
        snapshot
            .kvs
            .iter()
            .map(|kv| {
                let id = String::from_utf8_lossy(&kv.key[PREFIX.len()..]).into_owned();
                let decision = serde_json::from_slice(&kv.value)
                    .map_err(|e| BookError::Corrupt(format!("{id}: {e}")))?;
                Ok((id, decision))
            })
            .collect()
    }

    /// One decision and its revision (0: none yet).
    pub async fn get(&self, id: &str) -> Result<(Decision, Revision), BookError> {
        match self
            .store
            .get(key(id).as_bytes())
            .await
            .map_err(BookError::Store)?
        {
            Some(kv) => Ok((
                serde_json::from_slice(&kv.value)
                    .map_err(|e| BookError::Corrupt(format!("{id}: {e}")))?,
                kv.mod_revision,
            )),
            None => Ok((Decision::default(), 0)),
        }
    }

    /// Stores `decision` if the record is still at `revision` (0: absent).
    pub async fn put(
        &self,
        id: &str,
        decision: &Decision,
        revision: Revision,
    ) -> Result<(), BookError> {
        let compare = if revision == 0 {
            Compare::absent(key(id))
        } else {
            Compare::mod_revision(key(id), revision)
        };
        let value = serde_json::to_vec(decision).map_err(|e| BookError::Corrupt(e.to_string()))?;
        let txn = Txn::new().when(compare).then(Op::put(key(id), value));
        if self
            .store
            .txn(txn)
            .await
            .map_err(BookError::Store)?
            .succeeded
        {
            Ok(())
        } else {
            Err(BookError::Raced)
        }
    }
}
