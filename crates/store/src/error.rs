//! The store's error type.

use crate::Revision;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The history a watch asked for is gone; re-list, then watch from the
    /// snapshot's revision + 1 (see `watch_with_resync`).
    #[error("revision {requested} is compacted (history kept from {compact_revision} on)")]
    Compacted {
        /// The revision the caller asked for.
        requested: Revision,
        /// The revision up to which history was removed.
        compact_revision: Revision,
    },
    /// A transaction carried more ops than the backend accepts.
    #[error("transaction has {ops} ops, the backend accepts at most {max}")]
    TooManyOps {
        /// Ops in the transaction.
        ops: usize,
        /// The backend's limit.
        max: usize,
    },
    /// The backend is unreachable or failed; the call may succeed later.
    #[error("store backend {backend} unavailable: {message}")]
    Unavailable {
        /// The backend's name.
        backend: &'static str,
        /// What went wrong.
        message: String,
    },
    /// Stored bytes could not be decoded, or a file is not a vfed store.
    #[error("store data corrupt: {0}")]
    Corrupt(String),
    /// The store was closed (node shutting down).
    #[error("store closed")]
    Closed,
}

impl StoreError {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}
