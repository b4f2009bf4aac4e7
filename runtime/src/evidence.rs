//! The evidence export's view of the node (R16, R17, R18.6): the archive
//! asks the retrieval workflow whether a caller may export a request, and
//! the audit trail for the logged manifests of recorded files and their
//! inclusion proofs against the checkpoint the parent countersigned. The
//! glue between those services lives here, not in any of them.

use std::collections::HashMap;
use std::sync::Arc;

use tonic::Status;
use vfed_archive::export::{ApprovedRequests, Countersigned, LoggedManifest, ManifestLog};
use vfed_audit::AuditRecord;
use vfed_audit::merkle::Hash;
use vfed_auditing::AuditTrail;
use vfed_authz::Principal;
use vfed_config::Config;
use vfed_evidence::manifest::{LegalDocument, Request, Signer};
use vfed_evidence::verify::MANIFEST_ACTIONS;
use vfed_retrieval::{RetrievalService, Signature};

/// Manifests are looked for from this long before the oldest file's end
/// (records carry the time they were made; the log orders them by commit).
const SEARCH_MARGIN_MS: i64 = 10 * 60 * 1000;

/// The evidence service over `archive`, asking `retrieval` who may export.
pub fn service(
    archive: &vfed_archive::Archive,
    config: &Config,
    retrieval: RetrievalService,
    audit: &AuditTrail,
) -> vfed_archive::EvidenceService {
    vfed_archive::EvidenceService::new(
        archive.clone(),
        Arc::new(Requests(retrieval)),
        Arc::new(Manifests {
            trail: audit.clone(),
            parent_id: config.node.parent.as_ref().map(|p| p.id.clone()),
        }),
    )
}

struct Requests(RetrievalService);

fn signer(s: Option<&Signature>) -> Signer {
    s.map(|s| Signer {
        user: s.user.clone(),
        role: s.role.clone(),
        unit: s.unit.clone(),
        signed_unix: s.signed_unix,
    })
    .unwrap_or_default()
}

#[tonic::async_trait]
impl ApprovedRequests for Requests {
    async fn exportable(&self, id: &str, caller: &Principal) -> Result<Request, Status> {
        let r = self.0.exportable(id, caller).await?;
        Ok(Request {
            id: r.id,
            legal_document: LegalDocument {
                kind: r.legal_document.kind,
                number: r.legal_document.number,
                issuing_authority: r.legal_document.issuing_authority,
                sha256: r.legal_document.sha256,
            },
            purpose: r.purpose,
            requesting_agency: r.requesting_agency,
            device_ids: r.device_ids,
            from_unix: r.from_unix,
            to_unix: r.to_unix,
            expires_unix: r.expires_unix,
            filed_by: signer(Some(&r.filed_by)),
            cosigned_by: signer(r.cosigned_by.as_ref()),
            approved_by: signer(r.decided_by.as_ref()),
        })
    }
}

struct Manifests {
    trail: AuditTrail,
    parent_id: Option<String>,
}

fn failed(e: impl std::fmt::Display) -> Status {
    Status::unavailable(format!("audit log: {e}"))
}

impl Manifests {
    /// The time of entry `index`.
    async fn time_of(&self, index: u64) -> Result<i64, Status> {
        let entries = self.trail.read(index, 1).await.map_err(failed)?;
        let entry = entries
            .first()
            .ok_or_else(|| failed(format!("entry {index} missing")))?;
        Ok(AuditRecord::from_bytes(&entry.record)
            .map_err(failed)?
            .time_unix_ms)
    }

    /// The first entry made at or after `time` (about: times are nearly sorted).
    async fn first_since(&self, time: i64) -> Result<u64, Status> {
        let (mut lo, mut hi) = (0, self.trail.size());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.time_of(mid).await? < time {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }
}

#[tonic::async_trait]
impl ManifestLog for Manifests {
    async fn find(
        &self,
        files: &[String],
        since_unix_ms: i64,
    ) -> Result<HashMap<String, LoggedManifest>, Status> {
        let mut found = HashMap::new();
        let mut next = self
            .first_since(since_unix_ms.saturating_sub(SEARCH_MARGIN_MS))
            .await?;
        while found.len() < files.len() {
            let entries = self
                .trail
                .read(next, vfed_auditing::MAX_READ)
                .await
                .map_err(failed)?;
            let Some(last) = entries.last() else { break };
            next = last.index + 1;
            for entry in entries {
                let Ok(record) = AuditRecord::from_bytes(&entry.record) else {
                    continue;
                };
                let file = record.details.get("file").and_then(|f| f.as_str());
                if let Some(file) = file.filter(|f| files.iter().any(|w| w == f))
                    && MANIFEST_ACTIONS.contains(&record.action.as_str())
                {
                    found.entry(file.to_owned()).or_insert(LoggedManifest {
                        index: entry.index,
                        entry: entry.record,
                    });
                }
            }
        }
        Ok(found)
    }

    async fn countersigned(&self) -> Result<Countersigned, Status> {
        let Some(parent_id) = &self.parent_id else {
            return Err(vfed_authz::refused(
                tonic::Code::FailedPrecondition,
                "",
                "this node has no parent to countersign its audit log",
                "R18.6",
                "this node has no parent to countersign its audit log, so its recordings cannot be proven to an outside verifier (R18.6); nothing was released",
            ));
        };
        let dir = self.trail.dir();
        let checkpoint = vfed_auditing::read_countersigned(dir)
            .map_err(failed)?
            .ok_or_else(|| {
                vfed_authz::refused(
                    tonic::Code::FailedPrecondition,
                    "",
                    "no checkpoint of this node's audit log is countersigned by its parent yet",
                    "R18.6",
                    format!(
                        "no checkpoint of this node's audit log is countersigned by its parent {parent_id} yet (R18.6); retry after the next shipment (audit.checkpoint_interval)"
                    ),
                )
            })?;
        let parent_key = vfed_auditing::read_parent_key(dir)
            .map_err(failed)?
            .ok_or_else(|| {
                Status::failed_precondition(format!(
                    "the key of parent {parent_id} is not known yet: it comes with the next countersigned checkpoint (audit.checkpoint_interval)"
                ))
            })?;
        if self.trail.log().root_at(checkpoint.size).ok() != Some(checkpoint.root) {
            return Err(Status::internal(format!(
                "this node's audit log does not match the checkpoint of {} entries its parent countersigned: it was rewritten (R18.6)",
                checkpoint.size
            )));
        }
        Ok(Countersigned {
            checkpoint,
            node_key: self.trail.public_key(),
            parent_id: parent_id.clone(),
            parent_key,
        })
    }

    async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, Status> {
        self.trail
            .log()
            .inclusion_proof(index, size)
            .map_err(failed)
    }
}
