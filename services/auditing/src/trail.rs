//! [`AuditTrail`]: a node's audit log handle (R14.5, R18.6).
//!
//! Files in the audit directory:
//!
//! | File | What |
//! |---|---|
//! | `audit.log`, `checkpoints` | the Merkle log and its signed checkpoints ([`vfed_audit::log`]) |
//! | `signing.key` | the node's ed25519 checkpoint key (mode 0600), unless another path is configured |
//! | `verifier.key` | its public half (text), for `vfedctl audit verify` on a copy |
//! | `countersigned.note` | the latest checkpoint the parent countersigned (child nodes) |
//! | `parent-verifier.key` | the key that verifies the parent's countersignature on it (child nodes) |

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use vfed_audit::{
    AppendReceipt, AuditError, AuditLog, AuditRecord, Checkpoint, EntryProblem, LogReader,
    PublicKey, SigningKey, StoredEntry,
};
use vfed_store::SharedStore;

use crate::AuditingError;
use crate::audited_store::AuditedStore;
use crate::pending::PendingKeys;
use crate::scope::{self, ScopeOutcome};

/// File name of the default signing key inside the audit directory.
pub const SIGNING_KEY_FILE: &str = "signing.key";
/// File name of the public (verifier) key written next to the log.
pub const VERIFIER_KEY_FILE: &str = "verifier.key";
/// File name of the latest countersigned checkpoint (child nodes).
pub const COUNTERSIGNED_FILE: &str = "countersigned.note";
/// File name of the parent's checkpoint verifier key (child nodes).
pub const PARENT_KEY_FILE: &str = "parent-verifier.key";
/// Most entries one read returns.
pub const MAX_READ: usize = 1000;

/// Where and as whom to open a trail.
#[derive(Debug, Clone)]
pub struct TrailOptions {
    /// The audit directory.
    pub dir: PathBuf,
    /// The signing key file; `None`: `<dir>/signing.key`.
    pub key_path: Option<PathBuf>,
    /// The node's code; the log's origin is `vfed/<node id>`.
    pub node_id: String,
}

/// The log origin (and checkpoint key name) of node `node_id`.
pub fn origin_of(node_id: &str) -> String {
    format!("vfed/{node_id}")
}

/// A node's audit trail; clones share one log.
#[derive(Clone)]
pub struct AuditTrail {
    inner: Arc<Inner>,
}

struct Inner {
    id: u64,
    node_id: String,
    dir: PathBuf,
    log: AuditLog,
    key: SigningKey,
    raw: SharedStore,
    audited: SharedStore,
    size: watch::Sender<u64>,
    reader: Mutex<Option<LogReader>>,
}

impl std::fmt::Debug for AuditTrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditTrail")
            .field("node_id", &self.inner.node_id)
            .field("dir", &self.inner.dir)
            .field("size", &self.inner.log.size())
            .finish()
    }
}

impl AuditTrail {
    /// Opens (or creates) the audit log in `dir` with the key `<dir>/signing.key` (created
    /// on first use), for node `node_id`, whose changes go to `store`.
    pub async fn open(
        dir: &Path,
        node_id: &str,
        store: SharedStore,
    ) -> Result<AuditTrail, AuditingError> {
        Self::open_with(
            TrailOptions {
                dir: dir.to_owned(),
                key_path: None,
                node_id: node_id.to_owned(),
            },
            store,
        )
        .await
    }

    /// Opens (or creates) a trail as `options` say. A tampered log is refused, naming the
    /// first bad entry (R18.6).
    pub async fn open_with(
        options: TrailOptions,
        store: SharedStore,
    ) -> Result<AuditTrail, AuditingError> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let origin = origin_of(&options.node_id);
        let dir = options.dir.clone();
        let key_path = options
            .key_path
            .clone()
            .unwrap_or_else(|| dir.join(SIGNING_KEY_FILE));
        let (log, key) = tokio::task::spawn_blocking(move || {
            vfed_private_fs::create_dir_all(&dir)
                .map_err(|e| AuditError::io("creating", &dir, e))?;
            let key = SigningKey::load_or_generate(&key_path, &origin)?;
            write_verifier_key(&dir, &key.public_key())?;
            let log = AuditLog::open(&dir, key.clone())?;
            Ok::<_, AuditError>((log, key))
        })
        .await
        .map_err(|e| AuditingError::Corrupt(format!("opening the audit log: {e}")))??;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let audited: SharedStore = Arc::new(AuditedStore::new(
            store.clone(),
            id,
            Arc::new(PendingKeys::new()),
        ));
        let (size, _) = watch::channel(log.size());
        tracing::info!(dir = %options.dir.display(), entries = log.size(), key = %key.public_key(), "audit log open");
        Ok(AuditTrail {
            inner: Arc::new(Inner {
                id,
                node_id: options.node_id,
                dir: options.dir,
                log,
                key,
                raw: store,
                audited,
                size,
                reader: Mutex::new(None),
            }),
        })
    }

    /// Appends `record` to the log now and waits until it is durable (fsynced with its
    /// group). For what changes nothing in the store: views, reads R14.5 asks to log,
    /// refusals, and changes whose scope did not commit.
    pub async fn record(&self, record: AuditRecord) -> Result<AppendReceipt, AuditingError> {
        let receipt = self.inner.log.append(record).await?;
        self.inner.size.send_if_modified(|size| {
            let grew = receipt.tree_size > *size;
            *size = (*size).max(receipt.tree_size);
            grew
        });
        Ok(receipt)
    }

    /// The store the node's services write through: a write transaction committed inside
    /// [`AuditTrail::in_change_scope`] carries the scope's audit record.
    pub fn store(&self) -> SharedStore {
        self.inner.audited.clone()
    }

    /// Runs `fut` in a change scope carrying `record`: the first write transaction that
    /// commits through [`AuditTrail::store`] inside it (in this task) also writes the record,
    /// atomically. The outcome says whether that happened; if not, the record comes back to
    /// be logged directly.
    pub async fn in_change_scope<F: Future>(
        &self,
        record: AuditRecord,
        fut: F,
    ) -> (F::Output, ScopeOutcome) {
        scope::run(self.inner.id, record, fut).await
    }

    /// The log (proofs, checkpoints, size).
    pub fn log(&self) -> &AuditLog {
        &self.inner.log
    }

    /// The latest signed checkpoint.
    pub fn checkpoint(&self) -> Checkpoint {
        self.inner.log.checkpoint()
    }

    /// Committed entries.
    pub fn size(&self) -> u64 {
        self.inner.log.size()
    }

    /// The key that verifies this node's checkpoints.
    pub fn public_key(&self) -> PublicKey {
        self.inner.key.public_key()
    }

    /// The node's code.
    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// The audit directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The node's signing key (countersigning children's checkpoints).
    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.inner.key
    }

    /// The store without the audit wrapper (the trail's own bookkeeping).
    pub(crate) fn raw_store(&self) -> &SharedStore {
        &self.inner.raw
    }

    /// The committed size, updated after every append through this trail.
    pub fn watch_size(&self) -> watch::Receiver<u64> {
        self.inner.size.subscribe()
    }

    /// Reads up to `max` (at most [`MAX_READ`]) committed entries from `from`. Each entry is
    /// checked against the leaf hash the log committed to in memory: an entry changed on
    /// disk since it was written is an error naming it (R18.6).
    pub async fn read(&self, from: u64, max: usize) -> Result<Vec<StoredEntry>, AuditingError> {
        let trail = self.clone();
        let end = self.size();
        let max = max.min(MAX_READ);
        tokio::task::spawn_blocking(move || {
            let mut slot = trail
                .inner
                .reader
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let reader = match slot.as_mut() {
                Some(reader) => reader,
                None => slot.insert(LogReader::open(&trail.inner.log.log_path())?),
            };
            let entries = reader.read(from, max, end)?;
            for entry in &entries {
                if trail.inner.log.leaf_hash(entry.index) != Some(entry.leaf_hash) {
                    return Err(AuditError::Entry {
                        index: entry.index,
                        problem: EntryProblem::LeafHashMismatch,
                    }
                    .into());
                }
            }
            Ok(entries)
        })
        .await
        .map_err(|e| AuditingError::Corrupt(format!("reading the audit log: {e}")))?
    }

    /// Runs the trail's background work until `shutdown`: the pump (pending records into the
    /// log) and a signed checkpoint covering everything every `checkpoint_interval` and at
    /// shutdown.
    pub async fn run(self, checkpoint_interval: Duration, shutdown: CancellationToken) {
        tokio::join!(
            self.run_pump(shutdown.clone()),
            self.run_checkpoints(checkpoint_interval, shutdown)
        );
    }

    /// Makes sure a signed checkpoint covers every entry every `interval`, and once more at
    /// `shutdown`.
    pub async fn run_checkpoints(&self, interval: Duration, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let stopping = tokio::select! {
                () = shutdown.cancelled() => true,
                _ = ticker.tick() => false,
            };
            match self.inner.log.sync().await {
                Ok(checkpoint) => {
                    tracing::debug!(size = checkpoint.size, "audit checkpoint");
                }
                Err(error) => tracing::error!(%error, "audit log cannot sign a checkpoint"),
            }
            if stopping {
                return;
            }
        }
    }

    /// Commits what is queued, signs a final checkpoint and closes the log; later appends
    /// fail. Call once the node's tasks have ended.
    pub async fn close(&self) -> Result<(), AuditingError> {
        match self.inner.log.close().await {
            Ok(()) | Err(AuditError::Closed { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Writes `<dir>/verifier.key` unless it already holds `key`.
fn write_verifier_key(dir: &Path, key: &PublicKey) -> Result<(), AuditError> {
    let path = dir.join(VERIFIER_KEY_FILE);
    let text = format!("{key}\n");
    if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    vfed_private_fs::write_atomic(&path, text.as_bytes())
        .map_err(|e| AuditError::io("writing", &path, e))
}
