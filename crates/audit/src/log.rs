//! The append-only audit log file with group commit and signed checkpoints (R14.5, R18.6).
//!
//! A node keeps two files in its audit directory: [`LOG_FILE`] (header, then one frame per
//! record) and [`CHECKPOINTS_FILE`] (header, then one signed checkpoint note per group); see
//! [`crate::format`]. Many tasks call [`AuditLog::append`] at once; one writer thread takes
//! everything pending as a group, assigns indices, writes the frames, fsyncs the log once,
//! answers the group, then signs a checkpoint over the new tree size and appends it before
//! taking the next group. A receipt means: durable; the checkpoint of its `tree_size` is
//! signed right after (before any later group is written), so [`AuditLog::checkpoint`] may
//! lag a receipt by that one step.
//!
//! The checkpoints file is fsynced at [`AuditLog::sync`] and [`AuditLog::close`], and at
//! most [`CHECKPOINT_SYNC_EVERY`] after a checkpoint was appended, not once per group: one
//! fsync per group is what bounds the append rate. A crash may lose checkpoints appended
//! since the last such fsync, never the entries they covered (those were fsynced first), and
//! `open` signs a fresh checkpoint over them. Truncating the unsynced tail on purpose is no
//! easier than truncating synced checkpoints: what protects a log against its own node's
//! administrator is the checkpoint its parent countersigned.
//!
//! # Crash or tampering: the rule applied on [`AuditLog::open`]
//!
//! Checkpoints are written only after the entries they cover are on disk, so a crash can
//! never lose an entry a checkpoint covers. Hence, on open:
//! - a partial frame at the end, with at least as many complete entries as the largest signed
//!   size, is a crash: the partial frame is cut off (complete entries after the last
//!   checkpoint are kept, and a fresh checkpoint covering them is signed);
//! - fewer complete entries than the largest signed size is truncation, i.e. tampering:
//!   open refuses with [`AuditError::Tampered`] naming the first missing index;
//! - any changed, deleted or reordered entry also makes open refuse (see [`crate::verify`]).
//!
//! A partial frame at the end of the checkpoints file is likewise a crash and is cut off.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::{mpsc, oneshot};

use crate::checkpoint::Checkpoint;
use crate::error::{AuditError, Result};
use crate::format::{self, CHECKPOINTS_MAGIC, LOG_MAGIC};
use crate::keys::{PublicKey, SigningKey};
use crate::merkle::{Hash, MerkleTree, hash_leaf};
use crate::record::AuditRecord;
use crate::verify::{self, RecordCheck};

/// File name of the log inside the audit directory.
pub const LOG_FILE: &str = "audit.log";
/// File name of the checkpoints sidecar inside the audit directory.
pub const CHECKPOINTS_FILE: &str = "checkpoints";
/// Most records committed in one group.
const MAX_GROUP: usize = 4096;
/// Appends waiting for the writer before `append` applies back-pressure.
const QUEUE: usize = 8192;
/// Longest wait for the rest of a group (see `Writer::gather`); small against an fsync.
const GATHER_WAIT: std::time::Duration = std::time::Duration::from_micros(400);
/// Longest time an appended checkpoint waits for its fsync (absent a `sync` or `close`).
pub const CHECKPOINT_SYNC_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// What a successful append returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendReceipt {
    /// The record's index in the log.
    pub index: u64,
    /// The tree size after its group: the size of the checkpoint signed right after it.
    pub tree_size: u64,
}

enum Command {
    Append(Box<AuditRecord>, oneshot::Sender<Result<AppendReceipt>>),
    Close(oneshot::Sender<()>),
    Sync(oneshot::Sender<Checkpoint>),
}

/// State the writer publishes for readers (proofs, checkpoints).
struct Shared {
    tree: RwLock<MerkleTree>,
    checkpoint: RwLock<Checkpoint>,
    failure: Mutex<Option<String>>,
}

/// A handle to an open audit log; clones share the same log and writer.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    public_key: PublicKey,
    dir: PathBuf,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("dir", &self.dir)
            .field("size", &self.size())
            .finish()
    }
}

fn read_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl AuditLog {
    /// Opens (or creates) the audit log in `dir`, signing checkpoints with `key`, whose name
    /// is the log's origin (the node id). Recovers from a crash as the module docs describe;
    /// refuses a tampered log. Blocking; call it before serving or via `spawn_blocking`.
    pub fn open(dir: &Path, key: SigningKey) -> Result<Self> {
        vfed_private_fs::create_dir_all(dir).map_err(|e| AuditError::io("creating", dir, e))?;
        let log_path = dir.join(LOG_FILE);
        let checkpoints_path = dir.join(CHECKPOINTS_FILE);
        let origin = key.name().to_owned();
        let public_key = key.public_key();

        // The checkpoints file is created first, so a log without one was not a crash.
        if !checkpoints_path.exists() {
            if log_path.exists() {
                return Err(AuditError::Header {
                    path: checkpoints_path,
                    reason: "missing while the log exists (deleted?)".into(),
                });
            }
            create_with_header(&checkpoints_path, CHECKPOINTS_MAGIC, &origin, dir)?;
        }
        let checkpoints = format::read_checkpoints(&checkpoints_path)?;
        if checkpoints.origin != origin {
            return Err(AuditError::Header {
                path: checkpoints_path,
                reason: format!("origin {:?}, the key is for {origin:?}", checkpoints.origin),
            });
        }
        verify::check_checkpoints(&checkpoints.checkpoints, &origin, &public_key)
            .map_err(|e| AuditError::Tampered(Box::new(e)))?;
        if checkpoints.torn {
            tracing::warn!(path = %checkpoints_path.display(), "cutting a partial checkpoint left by a crash");
            truncate(&checkpoints_path, checkpoints.good_len)?;
        }
        if !log_path.exists() {
            create_with_header(&log_path, LOG_MAGIC, &origin, dir)?;
        }
        let scan = verify::scan_log(
            &log_path,
            &origin,
            &checkpoints.checkpoints,
            RecordCheck::IndexOnly,
        )
        .map_err(|e| match e {
            AuditError::Entry { .. } => AuditError::Tampered(Box::new(e)),
            other => other,
        })?;
        if scan.torn {
            tracing::warn!(
                path = %log_path.display(),
                entries = scan.tree.size(),
                "cutting a partial entry left by a crash after the last checkpoint"
            );
            truncate(&log_path, scan.good_len)?;
        }

        let log_file = append_handle(&log_path)?;
        let mut checkpoints_file = append_handle(&checkpoints_path)?;
        let tree = scan.tree;
        let checkpoint = match checkpoints.checkpoints.last() {
            Some(cp) if cp.size == tree.size() => cp.clone(),
            // Sign what was recovered (or the empty tree of a new log).
            _ => write_checkpoint(&mut checkpoints_file, &checkpoints_path, &key, &tree, true)?,
        };

        let shared = Arc::new(Shared {
            tree: RwLock::new(tree),
            checkpoint: RwLock::new(checkpoint),
            failure: Mutex::new(None),
        });
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer = Writer {
            rx,
            shared: Arc::clone(&shared),
            key,
            log_file,
            log_path,
            checkpoints_file,
            checkpoints_path,
            unsynced_since: None,
        };
        std::thread::Builder::new()
            .name("vfed-audit-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| AuditError::io("starting writer for", dir, e))?;
        Ok(AuditLog {
            tx,
            shared,
            public_key,
            dir: dir.to_owned(),
        })
    }

    /// Appends `record` (its `index` is assigned here) and waits until it is durable (its
    /// group fsynced); the checkpoint covering it is signed right after.
    pub async fn append(&self, record: AuditRecord) -> Result<AppendReceipt> {
        let (reply, receipt) = oneshot::channel();
        self.tx
            .send(Command::Append(Box::new(record), reply))
            .await
            .map_err(|_| self.closed())?;
        receipt.await.map_err(|_| self.closed())?
    }

    /// Commits everything pending, then stops the writer; later appends fail with
    /// [`AuditError::Closed`].
    pub async fn close(&self) -> Result<()> {
        let (reply, done) = oneshot::channel();
        if self.tx.send(Command::Close(reply)).await.is_err() {
            return Err(self.closed());
        }
        done.await.map_err(|_| self.closed())
    }

    /// Waits until everything appended before this call is covered by a signed, synced
    /// checkpoint, and returns that checkpoint.
    pub async fn sync(&self) -> Result<Checkpoint> {
        let (reply, done) = oneshot::channel();
        self.tx
            .send(Command::Sync(reply))
            .await
            .map_err(|_| self.closed())?;
        done.await.map_err(|_| self.closed())
    }

    fn closed(&self) -> AuditError {
        let reason = self
            .shared
            .failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        AuditError::Closed { reason }
    }

    /// Number of committed entries.
    pub fn size(&self) -> u64 {
        read_lock(&self.shared.tree).size()
    }

    /// The latest signed checkpoint.
    pub fn checkpoint(&self) -> Checkpoint {
        read_lock(&self.shared.checkpoint).clone()
    }

    /// The key that verifies this log's checkpoints.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// Path of the log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    /// Path of the checkpoints file.
    pub fn checkpoints_path(&self) -> PathBuf {
        self.dir.join(CHECKPOINTS_FILE)
    }

    /// The leaf hash of entry `index`.
    pub fn leaf_hash(&self, index: u64) -> Option<Hash> {
        read_lock(&self.shared.tree).leaf_hash(index)
    }

    /// The root of the tree when it held `size` entries.
    pub fn root_at(&self, size: u64) -> Result<Hash> {
        read_lock(&self.shared.tree).root_at(size)
    }

    /// Proof that entry `index` is in the tree of `tree_size` entries.
    pub fn inclusion_proof(&self, index: u64, tree_size: u64) -> Result<Vec<Hash>> {
        read_lock(&self.shared.tree).inclusion_proof(index, tree_size)
    }

    /// Proof that the tree of `new_size` entries extends the one of `old_size` entries.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>> {
        read_lock(&self.shared.tree).consistency_proof(old_size, new_size)
    }
}

fn create_with_header(path: &Path, magic: &[u8; 8], origin: &str, dir: &Path) -> Result<()> {
    let header = format::encode_header(magic, origin)?;
    let mut file =
        vfed_private_fs::create_new(path).map_err(|e| AuditError::io("creating", path, e))?;
    std::io::Write::write_all(&mut file, &header)
        .and_then(|()| file.sync_all())
        .map_err(|e| AuditError::io("writing header of", path, e))?;
    // Make the new directory entry durable too.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| AuditError::io("syncing directory", dir, e))
}

fn truncate(path: &Path, len: u64) -> Result<()> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(len).and_then(|()| f.sync_all()))
        .map_err(|e| AuditError::io("cutting the partial tail of", path, e))
}

fn append_handle(path: &Path) -> Result<File> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| AuditError::io("opening for append", path, e))
}

/// Signs a checkpoint over `tree` and appends it; fsyncs it too when `durable`.
fn write_checkpoint(
    file: &mut File,
    path: &Path,
    key: &SigningKey,
    tree: &MerkleTree,
    durable: bool,
) -> Result<Checkpoint> {
    let checkpoint = Checkpoint::sign(key.name(), tree.size(), tree.root(), key)?;
    let mut frame = Vec::with_capacity(256);
    format::encode_note_frame(&checkpoint.to_note(), &mut frame);
    let written = if durable {
        format::append_durably(file, &frame)
    } else {
        std::io::Write::write_all(file, &frame)
    };
    written.map_err(|e| AuditError::io("appending checkpoint to", path, e))?;
    Ok(checkpoint)
}

/// The single writer: owns both files.
struct Writer {
    rx: mpsc::Receiver<Command>,
    shared: Arc<Shared>,
    key: SigningKey,
    log_file: File,
    log_path: PathBuf,
    checkpoints_file: File,
    checkpoints_path: PathBuf,
    /// When the oldest checkpoint not yet fsynced was appended.
    unsynced_since: Option<std::time::Instant>,
}

impl Writer {
    /// Makes every appended checkpoint durable.
    fn sync_checkpoints(&mut self) -> Result<()> {
        if self.unsynced_since.take().is_some() {
            self.checkpoints_file
                .sync_data()
                .map_err(|e| AuditError::io("syncing", &self.checkpoints_path, e))?;
        }
        Ok(())
    }

    /// The next command: at once if one is queued; otherwise, the writer being idle, the
    /// checkpoints are made durable first, then it waits. `None` once every handle is gone.
    fn next_command(&mut self) -> Option<Result<Command>> {
        match self.rx.try_recv() {
            Ok(cmd) => Some(Ok(cmd)),
            Err(mpsc::error::TryRecvError::Disconnected) => {
                if let Err(e) = self.sync_checkpoints() {
                    tracing::error!(error = %e, "audit checkpoints not synced at the end");
                }
                None
            }
            Err(mpsc::error::TryRecvError::Empty) => match self.sync_checkpoints() {
                Err(e) => Some(Err(e)),
                Ok(()) => self.rx.blocking_recv().map(Ok),
            },
        }
    }

    fn run(mut self) {
        let mut group = Vec::with_capacity(MAX_GROUP);
        let mut buf = Vec::with_capacity(1 << 20);
        let mut previous = 1;
        while let Some(first) = self.next_command() {
            let first = match first {
                Ok(cmd) => cmd,
                Err(e) => {
                    self.fail(&e);
                    return;
                }
            };
            group.push(first);
            self.gather(&mut group, previous);
            previous = group.len();
            let closing = match self.commit(&mut group, &mut buf) {
                Ok(closing) => closing,
                Err(e) => {
                    self.fail(&e);
                    let reason = Some(e.to_string());
                    for cmd in group.drain(..) {
                        match cmd {
                            Command::Append(_, reply) => {
                                let _ = reply.send(Err(AuditError::Closed {
                                    reason: reason.clone(),
                                }));
                            }
                            Command::Close(reply) => {
                                let _ = reply.send(());
                            }
                            // Dropping the sender reports Closed to the waiter.
                            Command::Sync(_) => {}
                        }
                    }
                    return;
                }
            };
            if closing {
                return;
            }
        }
    }

    /// Takes every queued command into `group`. While it holds fewer than the previous
    /// group did (appenders answered a moment ago are still sending their next records), it
    /// waits a little for them, at most [`GATHER_WAIT`]: a group of 64 behind one fsync
    /// instead of 10 and 54 behind two. A lone appender never waits.
    fn gather(&mut self, group: &mut Vec<Command>, previous: usize) {
        let target = previous.min(MAX_GROUP);
        let started = std::time::Instant::now();
        loop {
            while group.len() < MAX_GROUP {
                match self.rx.try_recv() {
                    Ok(cmd) => group.push(cmd),
                    Err(_) => break,
                }
            }
            if group.len() >= target || started.elapsed() >= GATHER_WAIT {
                return;
            }
            std::thread::sleep(GATHER_WAIT / 8);
        }
    }

    /// Records why the writer stops.
    fn fail(&self, e: &AuditError) {
        tracing::error!(error = %e, "audit log writer stopped");
        *self
            .shared
            .failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e.to_string());
    }

    /// Commits one group; returns whether a close was requested. On a log write error
    /// nothing in the group has been answered; on a checkpoint write error it has been (its
    /// records are durable) and the writer stops.
    fn commit(&mut self, group: &mut Vec<Command>, buf: &mut Vec<u8>) -> Result<bool> {
        buf.clear();
        let start = read_lock(&self.shared.tree).size();
        let mut next = start;
        let mut leaves = Vec::with_capacity(group.len());
        // Appends that were encoded: (index, reply); others are answered at once.
        let mut accepted = Vec::with_capacity(group.len());
        let mut close = None;
        let mut syncs = Vec::new();
        for cmd in group.drain(..) {
            match cmd {
                Command::Sync(reply) => syncs.push(reply),
                Command::Close(reply) if close.is_none() => close = Some(reply),
                Command::Close(reply) => {
                    let _ = reply.send(());
                }
                Command::Append(_, reply) if close.is_some() => {
                    let _ = reply.send(Err(AuditError::Closed { reason: None }));
                }
                Command::Append(mut record, reply) => {
                    record.index = next;
                    match record.to_canonical_bytes() {
                        Ok(bytes) => {
                            let leaf = hash_leaf(&bytes);
                            format::encode_log_frame(&bytes, &leaf, buf);
                            leaves.push(leaf);
                            accepted.push((next, reply));
                            next += 1;
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e));
                        }
                    }
                }
            }
        }
        if !leaves.is_empty() {
            // One fsync for the whole group.
            format::append_durably(&mut self.log_file, buf)
                .map_err(|e| AuditError::io("appending to", &self.log_path, e))?;
            let size = {
                let mut tree = write_lock(&self.shared.tree);
                for leaf in leaves {
                    tree.push_leaf_hash(leaf);
                }
                tree.size()
            };
            // The group is durable: answer now, so appenders queue their next records while
            // the checkpoint is signed (that wait forms the next, larger group). The
            // checkpoint still never covers anything not yet on disk (R18.6).
            for (index, reply) in accepted {
                let _ = reply.send(Ok(AppendReceipt {
                    index,
                    tree_size: size,
                }));
            }
            let checkpoint = {
                let tree = read_lock(&self.shared.tree);
                write_checkpoint(
                    &mut self.checkpoints_file,
                    &self.checkpoints_path,
                    &self.key,
                    &tree,
                    false,
                )?
            };
            *write_lock(&self.shared.checkpoint) = checkpoint;
            let since = *self
                .unsynced_since
                .get_or_insert_with(std::time::Instant::now);
            if since.elapsed() >= CHECKPOINT_SYNC_EVERY {
                self.sync_checkpoints()?;
            }
        }
        if !syncs.is_empty() || close.is_some() {
            self.sync_checkpoints()?;
        }
        // Every earlier group's checkpoint was written before this group was taken.
        if !syncs.is_empty() {
            let checkpoint = read_lock(&self.shared.checkpoint).clone();
            for reply in syncs {
                let _ = reply.send(checkpoint.clone());
            }
        }
        match close {
            Some(reply) => {
                let _ = reply.send(());
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
