//! Plain data types of the store API.

/// A store revision. `0` means "never written".
pub type Revision = i64;

/// One key with its value and revisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    /// The key, without the backend's root prefix.
    pub key: Vec<u8>,
    /// The value bytes.
    pub value: Vec<u8>,
    /// The revision that created this key (since its last deletion).
    pub create_revision: Revision,
    /// The revision that last modified this key.
    pub mod_revision: Revision,
}

/// A page of a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Entries in key order.
    pub kvs: Vec<KeyValue>,
    /// Whether more entries follow the last one.
    pub more: bool,
    /// The revision this page was read at.
    pub revision: Revision,
}

/// Every key under a prefix at one revision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Entries in key order.
    pub kvs: Vec<KeyValue>,
    /// The revision the snapshot was taken at.
    pub revision: Revision,
}

/// A condition of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compare {
    /// The key's mod revision equals the given one; `0` means "the key does not exist".
    ModRevision {
        /// The key compared.
        key: Vec<u8>,
        /// The expected mod revision.
        revision: Revision,
    },
    /// The key exists and its value equals the given bytes.
    Value {
        /// The key compared.
        key: Vec<u8>,
        /// The expected value.
        value: Vec<u8>,
    },
}

impl Compare {
    /// The key must not exist.
    pub fn absent(key: impl Into<Vec<u8>>) -> Self {
        Self::ModRevision {
            key: key.into(),
            revision: 0,
        }
    }

    /// The key must be unchanged since `revision` (`0`: must not exist).
    pub fn mod_revision(key: impl Into<Vec<u8>>, revision: Revision) -> Self {
        Self::ModRevision {
            key: key.into(),
            revision,
        }
    }

    /// The key must hold exactly `value`.
    pub fn value(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Self::Value {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// A write of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Sets a key.
    Put {
        /// The key written.
        key: Vec<u8>,
        /// The new value.
        value: Vec<u8>,
    },
    /// Deletes a key (no-op if absent).
    Delete {
        /// The key deleted.
        key: Vec<u8>,
    },
}

impl Op {
    /// A put.
    pub fn put(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Self::Put {
            key: key.into(),
            value: value.into(),
        }
    }

    /// A delete.
    pub fn delete(key: impl Into<Vec<u8>>) -> Self {
        Self::Delete { key: key.into() }
    }
}

/// A compare-and-swap transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Txn {
    /// Conditions that must all hold.
    pub compares: Vec<Compare>,
    /// Writes applied atomically when they do.
    pub ops: Vec<Op>,
}

impl Txn {
    /// An unconditional transaction.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a condition.
    pub fn when(mut self, compare: Compare) -> Self {
        self.compares.push(compare);
        self
    }

    /// Adds a write.
    pub fn then(mut self, op: Op) -> Self {
        self.ops.push(op);
        self
    }
}

/// The outcome of a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnResponse {
    /// Whether every compare held and the ops were applied.
    pub succeeded: bool,
    /// The store revision after the transaction (the new one if it wrote).
    pub revision: Revision,
}

/// One change seen by a watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchEvent {
    /// A key was created or modified.
    Put(KeyValue),
    /// A key was deleted.
    Delete {
        /// The deleted key.
        key: Vec<u8>,
        /// The revision of the deletion.
        mod_revision: Revision,
    },
}

impl WatchEvent {
    /// The key this event is about.
    pub fn key(&self) -> &[u8] {
        match self {
            Self::Put(kv) => &kv.key,
            Self::Delete { key, .. } => key,
        }
    }

    /// The revision of this event.
    pub fn revision(&self) -> Revision {
        match self {
            Self::Put(kv) => kv.mod_revision,
            Self::Delete { mod_revision, .. } => *mod_revision,
        }
    }
}

/// Events of one or more consecutive revisions, delivered together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchBatch {
    /// The revision of the last event in the batch.
    pub revision: Revision,
    /// The events, in revision order.
    pub events: Vec<WatchEvent>,
}
