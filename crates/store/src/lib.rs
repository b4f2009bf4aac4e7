//! The `Store`: vfed's one storage abstraction.
//!
//! A flat, ordered key space with a single monotonically increasing revision
//! (like etcd's): every committed transaction bumps the revision by one and
//! every key remembers the revision that created and last modified it.
//! Transactions are compare-and-swap; watches deliver every change under a
//! prefix from a given revision on, in revision order.
//!
//! Two backends implement it: [`embedded`] (redb, the default, needs nothing
//! installed) and [`etcd`] (for clusters where several replicas share one
//! etcd). Both pass the same conformance suite (`tests/conformance.rs`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod embedded;
mod error;
pub mod etcd;
mod resync;
#[cfg(feature = "testing")]
pub mod testing;
mod types;

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;

pub use error::StoreError;
pub use resync::{WatchItem, watch_with_resync};
pub use types::{
    Compare, KeyValue, ListPage, Op, Revision, Snapshot, Txn, TxnResponse, WatchBatch, WatchEvent,
};

/// A stream of watch batches, in strictly increasing revision order.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchBatch, StoreError>> + Send>>;

/// Result alias for store calls.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The storage contract every backend fulfils.
///
/// Keys and values are opaque bytes; callers namespace their keys with
/// prefixes (`cat/local/`, `links/`...). A backend that is shared (etcd) is
/// given its own root prefix at construction, so callers never see it.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads one key at the latest revision.
    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>>;

    /// Lists keys under `prefix` in key order, starting strictly after
    /// `start_after` when given, at most `limit` entries (`0` = no limit).
    /// Pages are each consistent, but two pages may come from different
    /// revisions; use [`Store::snapshot`] when the whole set must be consistent.
    async fn list(
        &self,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<ListPage>;

    /// Every key under `prefix` as of one revision, returned with it.
    /// Watching from `revision + 1` afterwards misses nothing.
    async fn snapshot(&self, prefix: &[u8]) -> Result<Snapshot>;

    /// Runs a transaction: if every compare holds, applies `ops` atomically
    /// in one new revision; otherwise applies nothing.
    /// A transaction with no ops that succeeds does not bump the revision.
    async fn txn(&self, txn: Txn) -> Result<TxnResponse>;

    /// Streams every change under `prefix` from `start_revision` (inclusive).
    /// Fails with [`StoreError::Compacted`] (immediately, or later as a
    /// stream item) when that history is gone; see [`watch_with_resync`].
    async fn watch(&self, prefix: &[u8], start_revision: Revision) -> Result<WatchStream>;

    /// The latest committed revision.
    async fn current_revision(&self) -> Result<Revision>;

    /// Forgets history up to and including `revision`: watches from a
    /// revision `<= revision` then fail with [`StoreError::Compacted`].
    async fn compact(&self, revision: Revision) -> Result<()>;

    /// The largest number of ops one transaction may carry (etcd's
    /// `--max-txn-ops`, 128 by default). Callers chunk larger work.
    fn max_txn_ops(&self) -> usize;

    /// A stable identity of the underlying data: it changes when the data is
    /// wiped and recreated, so that a peer that remembered a revision of this
    /// store can tell that the revision means nothing anymore.
    fn store_id(&self) -> &str;

    /// A short name of the backend, for logs and metrics.
    fn backend(&self) -> &'static str;
}

/// A store shared by the services of one node.
pub type SharedStore = Arc<dyn Store>;
