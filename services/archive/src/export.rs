//! What an evidence export needs from the rest of the node, and the plan
//! of a package: which recorded files and fragments cover a request's
//! devices and period, their logged manifests, and the inclusion proofs of
//! those against the latest checkpoint the parent countersigned.
//!
//! The archive asks the retrieval workflow and the audit trail through the
//! two traits here; the node implements them over those services.

use std::collections::HashMap;
use std::path::Path;

use tonic::Status;
use vfed_audit::merkle::Hash;
use vfed_audit::{Checkpoint, PublicKey};
use vfed_authz::Principal;
use vfed_evidence::manifest::{FileEntry, SourceFragment};
use vfed_evidence::proof::TlogProof;

use crate::index::Index;
use crate::layout;

/// The retrieval workflow, as the export sees it.
#[tonic::async_trait]
pub trait ApprovedRequests: Send + Sync + 'static {
    /// Request `id` if `caller` may export its video now: one of the two
    /// officers who signed it, approved, not expired. Otherwise the refusal,
    /// naming R16/R17 (the auth layer logs it, R17).
    async fn exportable(
        &self,
        id: &str,
        caller: &Principal,
    ) -> Result<vfed_evidence::Request, Status>;
}

/// A closed file's manifest as logged.
#[derive(Clone, Debug)]
pub struct LoggedManifest {
    /// Its index in the node's audit log.
    pub index: u64,
    /// Its canonical bytes (the Merkle leaf data).
    pub entry: Vec<u8>,
}

/// The latest checkpoint the parent countersigned, and the keys.
#[derive(Clone, Debug)]
pub struct Countersigned {
    /// The checkpoint, with the node's signature and the parent's.
    pub checkpoint: Checkpoint,
    /// The node's checkpoint key.
    pub node_key: PublicKey,
    /// The parent node.
    pub parent_id: String,
    /// The parent's checkpoint key.
    pub parent_key: PublicKey,
}

/// The node's audit log, as the export sees it.
#[tonic::async_trait]
pub trait ManifestLog: Send + Sync + 'static {
    /// The logged manifests (`recording.file.closed`/`recovered`) of
    /// `files` (paths relative to the archive), looked for among entries
    /// logged from about `since_unix_ms` on. Files not found are left out.
    async fn find(
        &self,
        files: &[String],
        since_unix_ms: i64,
    ) -> Result<HashMap<String, LoggedManifest>, Status>;
    /// The latest checkpoint countersigned by the parent.
    async fn countersigned(&self) -> Result<Countersigned, Status>;
    /// The inclusion proof of entry `index` in the tree of `size` entries.
    async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, Status>;
}

/// One recorded file of a package.
#[derive(Clone, Debug)]
pub struct PlannedFile {
    /// The recorded file on disk.
    pub media: std::path::PathBuf,
    /// Its manifest entry (offsets in the package file; sha256 still empty).
    pub entry: FileEntry,
    /// Where each fragment is in the recorded file: (offset, len), in order.
    pub source_ranges: Vec<(u64, u64)>,
    /// Its end, Unix ms (when its manifest was logged, at the earliest).
    pub end_unix_ms: i64,
}

/// The recorded files of `device_ids` overlapping `[from, to)` (Unix ms)
/// under `root`, each cut to the init segment and the fragments that
/// overlap. A file that overlaps and is still being recorded is refused
/// (retry once it has closed). Blocking.
pub fn plan_files(
    root: &Path,
    device_ids: &[String],
    from_unix_ms: i64,
    to_unix_ms: i64,
) -> Result<Vec<PlannedFile>, Status> {
    let io = |e: std::io::Error| Status::unavailable(format!("archive storage: {e}"));
    let mut out = Vec::new();
    for (device, profile, dir) in layout::streams(root).map_err(io)? {
        if !device_ids.contains(&device) {
            continue;
        }
        let files = layout::media_files(&dir).map_err(io)?;
        // Files of a stream do not overlap: the one covering `from` is the
        // last starting at or before it.
        let first = files
            .iter()
            .rposition(|(start, _)| *start <= from_unix_ms)
            .unwrap_or(0);
        for (start, media) in files.into_iter().skip(first) {
            if start >= to_unix_ms {
                break;
            }
            let index = Index::read(&layout::index_path(&media)).map_err(io)?;
            let Some(header) = &index.header else {
                continue;
            };
            // From the keyframe the first overlapping fragment needs.
            let range = index.overlapping(from_unix_ms, to_unix_ms);
            let overlapping: Vec<(usize, &crate::index::FragmentEntry)> =
                range.clone().zip(&index.fragments[range]).collect();
            if overlapping.is_empty() {
                continue;
            }
            if index.closed.is_none() {
                return Err(Status::failed_precondition(format!(
                    "{device}/{profile}/{start}.mp4 covers the request's period and is still being recorded; retry once it has closed (archive.file_duration after it started)"
                )));
            }
            let source = format!("{device}/{profile}/{start}.mp4");
            let entry = FileEntry::plan(
                &source,
                &device,
                &profile,
                (header.init_len, &header.init_sha256),
                overlapping.iter().map(|(i, f)| SourceFragment {
                    index: *i,
                    len: f.len,
                    start_unix_ms: f.start_unix_ms,
                    end_unix_ms: f.end_unix_ms(),
                    sha256: f.sha256.clone(),
                }),
                0,
            );
            out.push(PlannedFile {
                source_ranges: overlapping.iter().map(|(_, f)| (f.offset, f.len)).collect(),
                end_unix_ms: index.end_unix_ms().unwrap_or(start),
                media,
                entry,
            });
        }
    }
    Ok(out)
}

/// The package's proofs: each planned file's log index filled in, and its
/// tlog-proof against the latest countersigned checkpoint. Refused (retry
/// later) when a file's manifest is not logged yet or not yet covered by a
/// countersigned checkpoint.
pub async fn prove(
    log: &dyn ManifestLog,
    files: &mut [PlannedFile],
) -> Result<(Countersigned, Vec<(LoggedManifest, TlogProof)>), Status> {
    let sources: Vec<String> = files.iter().map(|f| f.entry.source.clone()).collect();
    let since = files.iter().map(|f| f.end_unix_ms).min().unwrap_or(0);
    let logged = log.find(&sources, since).await?;
    let countersigned = log.countersigned().await?;
    let size = countersigned.checkpoint.size;
    let mut proofs = Vec::with_capacity(files.len());
    for file in files.iter_mut() {
        let source = &file.entry.source;
        let manifest = logged.get(source).ok_or_else(|| {
            vfed_authz::refused(
                tonic::Code::FailedPrecondition,
                "",
                &format!("{source}: its manifest is not in the audit log yet"),
                "R18.6",
                format!(
                    "{source}: its manifest is not in the audit log yet (R18.6); retry in a few seconds"
                ),
            )
        })?;
        if manifest.index >= size {
            return Err(Status::failed_precondition(format!(
                "{source}: its manifest (audit log entry {}) is not yet covered by a checkpoint the parent countersigned (latest: {size} entries); retry after the next checkpoint is shipped (audit.checkpoint_interval)",
                manifest.index
            )));
        }
        file.entry.log_index = manifest.index;
        let hashes = log.inclusion_proof(manifest.index, size).await?;
        proofs.push((
            manifest.clone(),
            TlogProof {
                index: manifest.index,
                hashes,
                checkpoint: countersigned.checkpoint.clone(),
            },
        ));
    }
    Ok((countersigned, proofs))
}
