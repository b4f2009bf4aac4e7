//! The embedded backend: one redb file, no server.
//!
//! Tables:
//! - `data`: key -> `{create_rev, mod_rev, value}` (see `codec`),
//! - `log`: revision -> the events of that revision, for watches; trimmed to
//!   the last [`EmbeddedOptions::history`] revisions (which advances the
//!   compacted revision),
//! - `meta`: current revision, compacted revision, store id.
//!
//! Every write goes through one writer thread that commits whole groups of
//! transactions at once (group commit), each commit durable (fsync). Reads
//! run in redb read transactions on tokio's blocking pool.

mod codec;
mod watch;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{mpsc, oneshot};

use crate::{
    ListPage, Result, Revision, Snapshot, Store, StoreError, Txn, TxnResponse, WatchStream,
};
use codec::decode_entry;
use writer::{Counters, Request};

pub(crate) const BACKEND: &str = "embedded";

pub(crate) const DATA: TableDefinition<'static, &'static [u8], &'static [u8]> =
    TableDefinition::new("data");
pub(crate) const LOG: TableDefinition<'static, Revision, &'static [u8]> =
    TableDefinition::new("log");
pub(crate) const META: TableDefinition<'static, &'static str, &'static [u8]> =
    TableDefinition::new("meta");
pub(crate) const META_REVISION: &str = "revision";
pub(crate) const META_COMPACTED: &str = "compacted";
const META_STORE_ID: &str = "store_id";

/// The file name used when [`EmbeddedStore::open`] is given a directory.
pub const DEFAULT_FILE_NAME: &str = "store.redb";

/// Tuning of an [`EmbeddedStore`].
#[derive(Clone, Debug)]
pub struct EmbeddedOptions {
    /// How many revisions of history watches can replay (default 100 000);
    /// older history is compacted automatically.
    pub history: u64,
    /// The largest number of ops (and of compares) one transaction may carry
    /// (default 128, like etcd).
    pub max_txn_ops: usize,
    /// The most requests committed together in one group (default 1024).
    pub max_group: usize,
    /// redb's page cache size in bytes (default 64 MiB).
    pub cache_size: usize,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            history: 100_000,
            max_txn_ops: 128,
            max_group: 1024,
            cache_size: 64 << 20,
        }
    }
}

/// State shared by the store handle, its writer thread and its watches.
pub(crate) struct Shared {
    /// `None` once closed: dropping the `Database` releases the file.
    pub(crate) db: RwLock<Option<Database>>,
    pub(crate) compacted: AtomicI64,
    pub(crate) history: i64,
    pub(crate) max_group: usize,
    closed: AtomicBool,
}

impl Shared {
    /// Runs `f` in a read transaction on the blocking pool.
    pub(crate) async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&ReadTransaction) -> Result<T> + Send + 'static,
    {
        let shared = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let guard = shared.db.read().unwrap_or_else(|e| e.into_inner());
            let db = guard.as_ref().ok_or(StoreError::Closed)?;
            let rtx = db.begin_read().map_err(storage_error)?;
            f(&rtx)
        })
        .await
        .map_err(|e| StoreError::Unavailable {
            backend: BACKEND,
            message: format!("read task failed: {e}"),
        })?
    }

    fn release(&self) -> Option<Database> {
        self.closed.store(true, Ordering::Release);
        self.db.write().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Maps a redb error to [`StoreError::Unavailable`].
pub(crate) fn storage_error(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable {
        backend: BACKEND,
        message: error.to_string(),
    }
}

/// A [`Store`] in a local redb file.
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    requests: mpsc::Sender<Request>,
    revision_rx: tokio::sync::watch::Receiver<Revision>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    store_id: String,
    max_txn_ops: usize,
    path: PathBuf,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .field("store_id", &self.store_id)
            .finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store at `path`: the database file, or,
    /// if `path` is an existing directory, [`DEFAULT_FILE_NAME`] inside it.
    ///
    /// Fails with [`StoreError::Unavailable`] if the file is already open by
    /// another store, in this process or another one. Blocks on file I/O
    /// (call it at startup or from `spawn_blocking`); needs no runtime.
    pub fn open(path: &Path, options: EmbeddedOptions) -> Result<Arc<EmbeddedStore>> {
        let path = if path.is_dir() {
            path.join(DEFAULT_FILE_NAME)
        } else {
            path.to_path_buf()
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            vfed_private_fs::create_dir_all(parent).map_err(|e| StoreError::Unavailable {
                backend: BACKEND,
                message: format!("cannot create {}: {e}", parent.display()),
            })?;
        }
        // The file holds accounts and keys: mode 0600 from the start (and
        // made so if an older version left it wider).
        drop(
            vfed_private_fs::open_or_create(&path).map_err(|e| StoreError::Unavailable {
                backend: BACKEND,
                message: format!("cannot open {}: {e}", path.display()),
            })?,
        );
        let db = redb::Builder::new()
            .set_cache_size(options.cache_size)
            .create(&path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Unavailable {
                    backend: BACKEND,
                    message: format!(
                        "{} is already open by another store (in this or another process)",
                        path.display()
                    ),
                },
                other => StoreError::Unavailable {
                    backend: BACKEND,
                    message: format!("cannot open {}: {other}", path.display()),
                },
            })?;
        let (counters, store_id) = init(&db)?;
        let history = i64::try_from(options.history.max(1)).unwrap_or(i64::MAX);
        let shared = Arc::new(Shared {
            db: RwLock::new(Some(db)),
            compacted: AtomicI64::new(counters.compacted),
            history,
            max_group: options.max_group.max(1),
            closed: AtomicBool::new(false),
        });
        let (requests, requests_rx) = mpsc::channel(options.max_group.max(1) * 4);
        let (revision_tx, revision_rx) = tokio::sync::watch::channel(counters.revision);
        let writer_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("vfed-store-writer".into())
            .spawn(move || writer::run(writer_shared, requests_rx, revision_tx, counters))
            .map_err(|e| StoreError::Unavailable {
                backend: BACKEND,
                message: format!("cannot start writer: {e}"),
            })?;
        tracing::info!(path = %path.display(), revision = counters.revision, %store_id, "embedded store opened");
        Ok(Arc::new(EmbeddedStore {
            shared,
            requests,
            revision_rx,
            writer: Mutex::new(Some(writer)),
            store_id,
            max_txn_ops: options.max_txn_ops.max(1),
            path,
        }))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Commits what was submitted before, stops the writer and releases the
    /// file (it can be reopened right after). Later calls fail with
    /// [`StoreError::Closed`]; open watches end with it. Idempotent.
    pub async fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        let (ack, acked) = oneshot::channel();
        if self
            .requests
            .send(Request::Close { reply: ack })
            .await
            .is_ok()
        {
            let _ = acked.await;
        }
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        let shared = Arc::clone(&self.shared);
        let released = tokio::task::spawn_blocking(move || {
            if let Some(writer) = writer {
                let _ = writer.join();
            }
            if let Some(db) = shared.release()
                && let Err(error) = db.close()
            {
                tracing::warn!(%error, "closing the embedded store");
            }
        })
        .await;
        if let Err(error) = released {
            tracing::warn!(%error, "closing the embedded store");
        }
        tracing::info!(path = %self.path.display(), "embedded store closed");
    }

    fn check_open(&self) -> Result<()> {
        if self.shared.closed.load(Ordering::Acquire) {
            Err(StoreError::Closed)
        } else {
            Ok(())
        }
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // Release the file now, so that it can be reopened at once; the
        // writer thread then refuses what is left and exits.
        drop(self.shared.release());
    }
}

/// Creates the tables if needed and reads the counters and the store id.
fn init(db: &Database) -> Result<(Counters, String)> {
    let wtx = db.begin_write().map_err(storage_error)?;
    let (counters, store_id, created) = {
        wtx.open_table(DATA).map_err(storage_error)?;
        wtx.open_table(LOG).map_err(storage_error)?;
        let mut meta = wtx.open_table(META).map_err(storage_error)?;
        let revision = read_i64(&meta, META_REVISION)?;
        let compacted = read_i64(&meta, META_COMPACTED)?;
        let existing = match meta.get(META_STORE_ID).map_err(storage_error)? {
            Some(guard) => Some(
                String::from_utf8(guard.value().to_vec())
                    .map_err(|_| StoreError::Corrupt("store id is not utf-8".into()))?,
            ),
            None => None,
        };
        match existing {
            Some(id) => (
                Counters {
                    revision,
                    compacted,
                },
                id,
                false,
            ),
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                meta.insert(META_STORE_ID, id.as_bytes())
                    .map_err(storage_error)?;
                (
                    Counters {
                        revision,
                        compacted,
                    },
                    id,
                    true,
                )
            }
        }
    };
    if created {
        wtx.commit().map_err(storage_error)?;
    } else {
        wtx.abort().map_err(storage_error)?;
    }
    Ok((counters, store_id))
}

pub(crate) fn read_i64<T: ReadableTable<&'static str, &'static [u8]>>(
    meta: &T,
    key: &str,
) -> Result<i64> {
    match meta.get(key).map_err(storage_error)? {
        None => Ok(0),
        Some(guard) => {
            let bytes: [u8; 8] = guard
                .value()
                .try_into()
                .map_err(|_| StoreError::Corrupt(format!("meta {key} is not an i64")))?;
            Ok(i64::from_be_bytes(bytes))
        }
    }
}

/// Lists `prefix` after `start_after`, at most `limit` entries (0: all), in one read transaction.
fn list_in(
    rtx: &ReadTransaction,
    prefix: &[u8],
    start_after: Option<&[u8]>,
    limit: usize,
) -> Result<ListPage> {
    use std::ops::Bound;
    let meta = rtx.open_table(META).map_err(storage_error)?;
    let revision = read_i64(&meta, META_REVISION)?;
    let data = rtx.open_table(DATA).map_err(storage_error)?;
    let lower = match start_after {
        Some(after) if after >= prefix => Bound::Excluded(after),
        _ => Bound::Included(prefix),
    };
    let mut kvs = Vec::new();
    let mut more = false;
    for item in data
        .range::<&[u8]>((lower, Bound::Unbounded))
        .map_err(storage_error)?
    {
        let (key, value) = item.map_err(storage_error)?;
        let key = key.value();
        if !key.starts_with(prefix) {
            break;
        }
        if limit > 0 && kvs.len() == limit {
            more = true;
            break;
        }
        kvs.push(decode_entry(value.value())?.into_kv(key.to_vec()));
    }
    Ok(ListPage {
        kvs,
        more,
        revision,
    })
}

#[async_trait::async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, key: &[u8]) -> Result<Option<crate::KeyValue>> {
        self.check_open()?;
        let key = key.to_vec();
        self.shared
            .read(move |rtx| {
                let data = rtx.open_table(DATA).map_err(storage_error)?;
                let found = data.get(key.as_slice()).map_err(storage_error)?;
                match found {
                    Some(guard) => Ok(Some(decode_entry(guard.value())?.into_kv(key.clone()))),
                    None => Ok(None),
                }
            })
            .await
    }

    async fn list(
        &self,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<ListPage> {
        self.check_open()?;
        let prefix = prefix.to_vec();
        let start_after = start_after.map(<[u8]>::to_vec);
        self.shared
            .read(move |rtx| list_in(rtx, &prefix, start_after.as_deref(), limit))
            .await
    }

    async fn snapshot(&self, prefix: &[u8]) -> Result<Snapshot> {
        self.check_open()?;
        let prefix = prefix.to_vec();
        let page = self
            .shared
            .read(move |rtx| list_in(rtx, &prefix, None, 0))
            .await?;
        Ok(Snapshot {
            kvs: page.kvs,
            revision: page.revision,
        })
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        self.check_open()?;
        let ops = txn.ops.len().max(txn.compares.len());
        if ops > self.max_txn_ops {
            return Err(StoreError::TooManyOps {
                ops,
                max: self.max_txn_ops,
            });
        }
        let (reply, response) = oneshot::channel();
        self.requests
            .send(Request::Txn { txn, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        response.await.map_err(|_| StoreError::Closed)?
    }

    async fn watch(&self, prefix: &[u8], start_revision: Revision) -> Result<WatchStream> {
        self.check_open()?;
        let current = *self.revision_rx.borrow();
        let start = if start_revision <= 0 {
            current + 1
        } else {
            start_revision
        };
        let compacted = self.shared.compacted.load(Ordering::Acquire);
        if start <= compacted {
            return Err(StoreError::Compacted {
                requested: start,
                compact_revision: compacted,
            });
        }
        Ok(watch::stream(
            Arc::clone(&self.shared),
            self.revision_rx.clone(),
            prefix.to_vec(),
            start,
        ))
    }

    async fn current_revision(&self) -> Result<Revision> {
        self.check_open()?;
        Ok(*self.revision_rx.borrow())
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.check_open()?;
        let (reply, response) = oneshot::channel();
        self.requests
            .send(Request::Compact { revision, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        response.await.map_err(|_| StoreError::Closed)?
    }

    fn max_txn_ops(&self) -> usize {
        self.max_txn_ops
    }

    fn store_id(&self) -> &str {
        &self.store_id
    }

    fn backend(&self) -> &'static str {
        BACKEND
    }
}
