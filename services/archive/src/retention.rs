//! Deletion past retention (R14.6, R18.7): the node itself, and nothing
//! else, removes a recording file once its whole range (as its index
//! records it, never the file's mtime) is older than `archive.retention`
//! and no approved retrieval request holds it ([`crate::holds`]). Each
//! deletion is an audit record (device, range, file, fragments, the hash of
//! its manifest) written before the file is unsealed and removed. There is
//! no API, permission or CLI verb that deletes: only this sweep.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use vfed_audit::AuditRecord;

use crate::archive::{Archive, now_unix_ms};
use crate::holds::{Hold, Holds, NoHolds, held_by};
use crate::index::Index;
use crate::layout;
use crate::writer::sha256_hex;

/// The archive's retention bookkeeping.
pub(crate) struct RetentionState {
    holds: Mutex<Arc<dyn Holds>>,
    files_deleted: AtomicU64,
    held_files: AtomicU64,
}

impl Default for RetentionState {
    fn default() -> Self {
        Self {
            holds: Mutex::new(Arc::new(NoHolds)),
            files_deleted: AtomicU64::new(0),
            held_files: AtomicU64::new(0),
        }
    }
}

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Files deleted (past retention, not held).
    pub deleted: Vec<PathBuf>,
    /// Files under a hold now (any age).
    pub held: u64,
    /// Files past retention kept because a request holds them.
    pub kept_for_holds: u64,
}

/// A closed file the sweep looks at.
struct Candidate {
    device_id: String,
    profile: String,
    index_path: PathBuf,
    index: Index,
}

/// Closed files that started before `cutoff` or may fall in a hold, with
/// the number of files a hold covers. Only those indexes are read: a
/// file's start is its name, and it ends before the next one starts.
fn scan(
    root: &Path,
    cutoff: i64,
    holds: &[Hold],
    now: i64,
) -> std::io::Result<(Vec<Candidate>, u64)> {
    let (mut out, mut held) = (Vec::new(), 0);
    for (device_id, profile, dir) in layout::streams(root)? {
        let files = layout::index_files(&dir)?;
        for (i, (start, index_path)) in files.iter().enumerate() {
            let end_bound = files.get(i + 1).map_or(i64::MAX, |(next, _)| *next);
            let past = *start < cutoff;
            let maybe_held = held_by(holds, &device_id, *start, end_bound, now).is_some();
            if !past && !maybe_held {
                continue;
            }
            let index = Index::read(index_path).unwrap_or_default();
            if index.closed.is_none() {
                continue; // being written, or left for recovery
            }
            let end = index.end_unix_ms().unwrap_or(*start);
            if held_by(holds, &device_id, *start, end, now).is_some() {
                held += 1;
            }
            if past {
                out.push(Candidate {
                    device_id: device_id.clone(),
                    profile: profile.clone(),
                    index_path: index_path.clone(),
                    index,
                });
            }
        }
    }
    Ok((out, held))
}

/// Unseals (if sealed) and removes `path`; a missing file is gone already.
fn unseal_and_remove(path: &Path) -> std::io::Result<()> {
    match crate::seal::is_sealed(path) {
        Ok(true) => crate::seal::unseal(path)?,
        Ok(false) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Removes a file and its index (media first: an index left alone by a
/// crash here is past retention too and goes at the next sweep), then
/// makes the removal durable.
fn remove_recording(index_path: &Path) -> std::io::Result<()> {
    unseal_and_remove(&index_path.with_extension("mp4"))?;
    unseal_and_remove(index_path)?;
    if let Some(dir) = index_path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl Archive {
    /// Hands the archive what is held (the node's retrieval requests).
    pub fn set_holds(&self, holds: Arc<dyn Holds>) {
        *self
            .inner
            .retention
            .holds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = holds;
    }

    /// Files deleted past retention since start.
    pub fn files_deleted(&self) -> u64 {
        self.inner.retention.files_deleted.load(Ordering::Relaxed)
    }

    /// Files under a hold at the last sweep.
    pub fn held_files(&self) -> u64 {
        self.inner.retention.held_files.load(Ordering::Relaxed)
    }

    /// One pass: deletes every closed file whose whole range is older than
    /// the retention and that no request holds, each deletion audited
    /// first. If the holds cannot be read, nothing is deleted.
    pub async fn sweep(&self) -> Result<Sweep, crate::ArchiveError> {
        let holds = self
            .inner
            .retention
            .holds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let holds = holds.active().await.map_err(|e| {
            std::io::Error::other(format!("holds unknown ({e}): nothing deleted on this pass"))
        })?;
        let now = now_unix_ms();
        let retention = i64::try_from(self.options().retention.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now.saturating_sub(retention);
        let root = self.dir().to_path_buf();
        let scan_holds = holds.clone();
        let (candidates, held) =
            tokio::task::spawn_blocking(move || scan(&root, cutoff, &scan_holds, now))
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))??;
        self.inner
            .retention
            .held_files
            .store(held, Ordering::Relaxed);
        let mut sweep = Sweep {
            held,
            ..Sweep::default()
        };
        for c in candidates {
            let start = c.index.start_unix_ms().unwrap_or(0);
            let end = c.index.end_unix_ms().unwrap_or(start);
            if end >= cutoff {
                continue;
            }
            if let Some(request) = held_by(&holds, &c.device_id, start, end, now) {
                tracing::debug!(file = %c.index_path.display(), request, "archive: past retention, kept under a hold");
                sweep.kept_for_holds += 1;
                continue;
            }
            self.delete(c, start, end, &mut sweep).await;
        }
        Ok(sweep)
    }

    /// Audits, then removes one file past retention.
    async fn delete(&self, c: Candidate, start: i64, end: i64, sweep: &mut Sweep) {
        let media = c.index_path.with_extension("mp4");
        let file = media
            .strip_prefix(self.dir())
            .unwrap_or(&media)
            .display()
            .to_string();
        let manifest_sha256 = std::fs::read(&c.index_path)
            .map(|b| sha256_hex(&b))
            .unwrap_or_default();
        let record = AuditRecord::new(
            format!("node/{}", self.options().node_id),
            "recording.file.deleted",
            format!("{}/{}", c.device_id, c.profile),
        )
        .with_details(serde_json::json!({
            "file": file,
            "start_unix_ms": start,
            "end_unix_ms": end,
            "fragments": c.index.fragments.len(),
            "bytes": c.index.closed.as_ref().map_or(0, |x| x.len),
            "manifest_sha256": manifest_sha256,
            "retention_seconds": self.options().retention.as_secs(),
            "reason": "past retention (R14.6)",
        }));
        self.inner.audit.record(record).await;
        let index_path = c.index_path.clone();
        let removed = tokio::task::spawn_blocking(move || remove_recording(&index_path)).await;
        match removed {
            Ok(Ok(())) => {
                tracing::info!(%file, start_unix_ms = start, end_unix_ms = end, "archive: deleted past retention");
                self.inner
                    .retention
                    .files_deleted
                    .fetch_add(1, Ordering::Relaxed);
                sweep.deleted.push(media);
            }
            Ok(Err(e)) => {
                tracing::error!(%file, error = %e, "archive: file past retention not deleted; retried at the next sweep");
            }
            Err(e) => tracing::error!(%file, error = %e, "archive: deletion task failed"),
        }
    }
}
