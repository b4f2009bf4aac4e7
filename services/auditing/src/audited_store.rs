//! A [`Store`] that adds the open change scope's audit record to the first write transaction
//! that commits inside the scope, so that the change and its record commit atomically
//! (R14.5 "every change", R18.6 "no silent loss").
//!
//! Everything else is passed through unchanged. [`Store::max_txn_ops`] is one less than the
//! backend's, so callers that chunk their work leave room for the record.

use std::sync::Arc;

use vfed_store::{
    ListPage, Op, Result, Revision, SharedStore, Snapshot, Store, Txn, TxnResponse, WatchStream,
};

use crate::pending::PendingKeys;
use crate::scope::ChangeScope;

/// The wrapping store (see the module docs).
pub struct AuditedStore {
    inner: SharedStore,
    trail_id: u64,
    keys: Arc<PendingKeys>,
}

impl AuditedStore {
    /// Wraps `inner` for the trail `trail_id`, naming pending records with `keys`.
    pub(crate) fn new(inner: SharedStore, trail_id: u64, keys: Arc<PendingKeys>) -> Self {
        AuditedStore {
            inner,
            trail_id,
            keys,
        }
    }
}

#[async_trait::async_trait]
impl Store for AuditedStore {
    async fn get(&self, key: &[u8]) -> Result<Option<vfed_store::KeyValue>> {
        self.inner.get(key).await
    }

    async fn list(
        &self,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<ListPage> {
        self.inner.list(prefix, start_after, limit).await
    }

    async fn snapshot(&self, prefix: &[u8]) -> Result<Snapshot> {
        self.inner.snapshot(prefix).await
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        if txn.ops.is_empty() {
            return self.inner.txn(txn).await;
        }
        let Some(scope) = ChangeScope::current(self.trail_id) else {
            return self.inner.txn(txn).await;
        };
        let mut committed = scope.committed().lock().await;
        if committed.is_some() {
            // The record already rode an earlier write of this scope.
            drop(committed);
            return self.inner.txn(txn).await;
        }
        let key = self.keys.next();
        let mut carrying = txn;
        carrying
            .ops
            .push(Op::put(key.clone(), scope.value().to_vec()));
        // Only a transaction whose compares held carries the record; a failed CAS (or an
        // error) leaves the slot free for the caller's retry.
        let response = self.inner.txn(carrying).await?;
        if response.succeeded {
            *committed = Some((
                String::from_utf8_lossy(&key).into_owned(),
                response.revision,
            ));
        }
        Ok(response)
    }

    async fn watch(&self, prefix: &[u8], start_revision: Revision) -> Result<WatchStream> {
        self.inner.watch(prefix, start_revision).await
    }

    async fn current_revision(&self) -> Result<Revision> {
        self.inner.current_revision().await
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.inner.compact(revision).await
    }

    fn max_txn_ops(&self) -> usize {
        // One op is kept for the audit record.
        self.inner.max_txn_ops().saturating_sub(1).max(1)
    }

    fn store_id(&self) -> &str {
        self.inner.store_id()
    }

    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
}
