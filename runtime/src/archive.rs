//! The node's archive: records the cameras this node originates (R14.6),
//! logs each closed file's manifest to the node's audit trail, and serves
//! its gRPC API (its HTTP playback: `recorded_source.rs`). Kept apart from
//! `lib.rs` so the wiring is one call there.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use vfed_archive::{Archive, ArchiveOptions, ArchiveService};
use vfed_config::Config;

use crate::NodeError;

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
