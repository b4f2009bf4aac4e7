//! The node's archive: records the cameras this node originates (R14.6),
//! logs each closed file's manifest to the node's audit trail, and serves
//! its gRPC API (its HTTP playback: `recorded_source.rs`), and checks the
//! recordings at start. Kept apart from `lib.rs` so the wiring is one call
//! there.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use vfed_archive::logged::Cursor;
use vfed_archive::writer::hex;
use vfed_archive::{Archive, ArchiveOptions, ArchiveService, Finding};
use vfed_audit::AuditRecord;
use vfed_auditing::AuditTrail;
use vfed_config::Config;

use crate::NodeError;

/// Files closed this long before the previous start-up check may have had
/// their manifests logged after it read the log (a warning if none is found).
const UNLOGGED_MARGIN_MS: i64 = 60_000;

/// An opened archive and what the node serves from it.
pub struct NodeArchive {
    /// The archive.
    pub archive: Archive,
    /// Its gRPC service.
    pub service: ArchiveService,
    /// Stops recording cleanly (files closed). A killed node never
    /// cancels it: its recorders are aborted where they stand.
    pub stop: CancellationToken,
}

/// Opens the archive of `config` (`None` when `archive.enabled` is off).
pub async fn open(
    config: &Config,
    audit: &vfed_auditing::AuditTrail,
) -> Result<Option<NodeArchive>, NodeError> {
    let section = &config.archive;
    if !section.enabled {
        tracing::warn!(node = %config.node.id, "archive disabled (archive.enabled = false): nothing is recorded (R14.6)");
        return Ok(None);
    }
    let mut options = ArchiveOptions::new(section.dir_for(&config.store), config.node.id.clone());
    options.retention = section.retention;
    options.file_duration = section.file_duration;
    options.seal = section.seal;
    options.profiles = section.profiles.clone();
    options.disk_warn = section.disk_warn;
    options.disk_critical = section.disk_critical;
    let archive = Archive::open(
        options,
        Arc::new(crate::audit_sink::TrailSink(audit.clone())),
    )
    .await
    .map_err(|e| NodeError::Config(format!("archive.dir: {e}")))?;
    Ok(Some(NodeArchive {
        service: ArchiveService::new(archive.clone()),
        archive,
        stop: CancellationToken::new(),
    }))
}

impl NodeArchive {
    /// Keeps what `retrieval`'s approved requests hold past retention.
    pub fn hold_for(&self, retrieval: vfed_retrieval::RetrievalService) {
        self.archive
            .set_holds(Arc::new(crate::retrieval_holds::RetrievalHolds(retrieval)));
    }
}

/// At start, in the background: every closed recording checked against
/// its manifest in the audit log (read from where the previous start
/// stopped), then every closed recording's media re-hashed against its
/// index at a bounded rate until done or `shutdown`. Findings are audited
/// (`recording.tampered`), logged, counted and raise an alarm.
pub async fn check_at_start(archive: Archive, trail: AuditTrail, shutdown: CancellationToken) {
    let flagged = check_logged(&archive, &trail).await;
    archive.scrub(&flagged, &shutdown).await;
}

/// The manifests logged since the cursor, checked; returns the files found.
async fn check_logged(archive: &Archive, trail: &AuditTrail) -> HashSet<PathBuf> {
    let root = archive.dir().to_path_buf();
    let cursor = match Cursor::read(&root) {
        Ok(cursor) => cursor,
        Err(e) => {
            tracing::warn!(error = %e, "archive: the audit log cursor cannot be read; the whole log is read");
            None
        }
    };
    let root_at = |size: u64| trail.log().root_at(size).ok().map(|h| hex(&h));
    let mut flagged = HashSet::new();
    let (mut next, unlogged_since) = match &cursor {
        Some(c) if root_at(c.next_index).as_deref() == Some(c.root.as_str()) => {
            // Files closing around the last check may have been logged after it.
            (
                c.next_index,
                c.checked_unix_ms.saturating_sub(UNLOGGED_MARGIN_MS),
            )
        }
        Some(c) => {
            let finding = Finding {
                file: trail.log().log_path(),
                time_unix_ms: c.checked_unix_ms,
                problem: format!(
                    "the audit log's first {} entries are not those the archive checked (the log was rewritten, R18.6); the whole log is read again",
                    c.next_index
                ),
            };
            archive.report_tampered(&finding).await;
            (0, i64::MIN)
        }
        None => (0, i64::MIN),
    };
    let mut logged = HashMap::new();
    loop {
        let entries = match trail.read(next, vfed_auditing::MAX_READ).await {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "archive: recordings not checked against the audit log");
                return flagged;
            }
        };
        let Some(last) = entries.last() else { break };
        next = last.index + 1;
        for entry in entries {
            if let Some((file, manifest)) = AuditRecord::from_bytes(&entry.record)
                .ok()
                .as_ref()
                .and_then(vfed_archive::logged::manifest_of)
            {
                logged.insert(file, manifest);
            }
        }
    }
    let checked_unix_ms = now_unix_ms();
    for finding in archive.check_logged(logged, unlogged_since).await {
        flagged.insert(finding.file);
    }
    if let Some(root_hash) = root_at(next) {
        let saved = Cursor {
            next_index: next,
            root: root_hash,
            checked_unix_ms,
        };
        let write = tokio::task::spawn_blocking(move || saved.write(&root)).await;
        if let Err(e) = write
            .map_err(std::io::Error::other)
            .and_then(|written| written)
        {
            tracing::warn!(error = %e, "archive: the audit log cursor was not saved; the next start reads the whole log");
        }
    }
    flagged
}

/// Now, Unix ms.
fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
