//! Wire types <-> domain types of the Audit service; a bad value names its field.

use vfed_audit::format::MAX_NOTE_LEN;
use vfed_audit::{Checkpoint, Hash, PublicKey, StoredEntry};
use vfed_proto::audit::v1 as pb;

use crate::AuditingError;
use crate::children::{ChildRecord, Submission};

/// Longest consistency proof accepted (a tree of 2^64 leaves needs at most 2 * 64).
pub const MAX_PROOF_HASHES: usize = 128;

/// A log entry on the wire.
pub fn entry(e: StoredEntry) -> pb::Entry {
    pb::Entry {
        index: e.index,
        record: e.record,
        leaf_hash: e.leaf_hash.to_vec(),
    }
}

/// A checkpoint on the wire.
pub fn checkpoint(cp: &Checkpoint) -> pb::Checkpoint {
    pb::Checkpoint {
        note: cp.to_note(),
        size: cp.size,
        root: cp.root.to_vec(),
    }
}

/// Hashes on the wire.
pub fn hashes(proof: &[Hash]) -> Vec<Vec<u8>> {
    proof.iter().map(|h| h.to_vec()).collect()
}

/// A submission from the wire, every field checked.
pub fn submission(req: pb::SubmitCheckpointRequest) -> Result<Submission, AuditingError> {
    if req.note.len() > MAX_NOTE_LEN {
        return Err(AuditingError::invalid(
            "note",
            format!("{} bytes, at most {MAX_NOTE_LEN}", req.note.len()),
        ));
    }
    let checkpoint =
        Checkpoint::parse(&req.note).map_err(|e| AuditingError::invalid("note", e.to_string()))?;
    let key: PublicKey = req
        .verifier_key
        .parse()
        .map_err(|e: vfed_audit::AuditError| {
            AuditingError::invalid("verifier_key", e.to_string())
        })?;
    if req.consistency_proof.len() > MAX_PROOF_HASHES {
        return Err(AuditingError::invalid(
            "consistency_proof",
            format!(
                "{} hashes, at most {MAX_PROOF_HASHES}",
                req.consistency_proof.len()
            ),
        ));
    }
    let proof = req
        .consistency_proof
        .iter()
        .enumerate()
        .map(|(i, h)| {
            Hash::try_from(h.as_slice()).map_err(|_| {
                AuditingError::invalid(
                    "consistency_proof",
                    format!("hash {i} has {} bytes, SHA-256 hashes have 32", h.len()),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if req.previous_size > checkpoint.size {
        return Err(AuditingError::invalid(
            "previous_size",
            format!(
                "{} is larger than the checkpoint's size {}",
                req.previous_size, checkpoint.size
            ),
        ));
    }
    Ok(Submission {
        checkpoint,
        previous_size: req.previous_size,
        proof,
        key,
    })
}

/// A child's record on the wire.
pub fn child(record: &ChildRecord, configured: bool) -> Result<pb::ChildCheckpoint, AuditingError> {
    let root = record
        .accepted()?
        .map(|cp| cp.root.to_vec())
        .unwrap_or_default();
    let (flag, flagged_unix_ms) = record.flag.as_ref().map_or((String::new(), 0), |f| {
        (f.reason.clone(), f.flagged_unix_ms)
    });
    Ok(pb::ChildCheckpoint {
        child_id: record.child_id.clone(),
        size: record.size,
        root,
        received_unix_ms: record.received_unix_ms,
        flag,
        flagged_unix_ms,
        note: record.note.clone(),
        verifier_key: record.verifier_key.clone(),
        configured,
    })
}
