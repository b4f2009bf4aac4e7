//! The parent side of the checkpoint exchange (R18.6): what a parent remembers of each
//! child's log, how it judges a new checkpoint, and the flag it raises when the child's log
//! was rewritten, forked or rolled back.
//!
//! Store key `audit/children/<child id>`: [`ChildRecord`] as JSON.

use serde::{Deserialize, Serialize};
use vfed_audit::{AuditError, AuditRecord, Checkpoint, Hash, PublicKey, Witness};
use vfed_store::{Compare, Op, Txn};

use crate::metrics::AuditMetrics;
use crate::{AuditTrail, AuditingError, ScopeOutcome, origin_of};

/// Prefix of the children's records.
pub const CHILDREN_PREFIX: &[u8] = b"audit/children/";

/// The store key of `child`'s record.
pub fn child_key(child: &str) -> Vec<u8> {
    let mut key = CHILDREN_PREFIX.to_vec();
    key.extend_from_slice(child.as_bytes());
    key
}

/// What the parent remembers of one child's log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildRecord {
    /// The child's node code.
    pub child_id: String,
    /// The child's checkpoint key, pinned on first use (vkey text).
    pub verifier_key: String,
    /// The last accepted checkpoint with this node's countersignature; empty before one.
    pub note: String,
    /// Its tree size.
    pub size: u64,
    /// When it was accepted, ms since the epoch.
    pub received_unix_ms: i64,
    /// Set once the child's log was found rewritten; stays set.
    pub flag: Option<ChildFlag>,
}

/// Why and when a child was flagged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildFlag {
    /// What was detected, e.g. `equivocation: ...`.
    pub reason: String,
    /// When, ms since the epoch.
    pub flagged_unix_ms: i64,
    /// The checkpoint note that was refused.
    pub note: String,
}

impl ChildRecord {
    /// The last accepted checkpoint, if any.
    pub fn accepted(&self) -> Result<Option<Checkpoint>, AuditingError> {
        if self.note.is_empty() {
            return Ok(None);
        }
        Checkpoint::parse(&self.note)
            .map(Some)
            .map_err(|e| AuditingError::Corrupt(format!("child {} note: {e}", self.child_id)))
    }
}

/// A checkpoint a child sent, parsed and size-checked.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The size the child's proof starts from.
    pub previous_size: u64,
    /// The consistency proof from `previous_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The key the child says signs its checkpoints.
    pub key: PublicKey,
}

/// What the parent makes of a submission.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Consistent with everything accepted before: countersigned.
    Accepted(Checkpoint),
    /// The child's log was rewritten, forked or rolled back (or its key replaced).
    Flagged(String),
    /// The proof starts from another size than the one accepted: resend from that one.
    Stale {
        /// The size last accepted.
        accepted_size: u64,
    },
    /// The submission itself is malformed.
    Invalid {
        /// The request field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Judges `submission` from `child` against what was accepted before (`record`).
pub fn judge(
    witness: &Witness,
    child: &str,
    record: Option<&ChildRecord>,
    submission: &Submission,
) -> Result<Verdict, AuditingError> {
    let cp = &submission.checkpoint;
    let origin = origin_of(child);
    if cp.origin != origin {
        return Ok(invalid(
            "note",
            format!(
                "origin {:?} is not node/{child}'s log ({origin:?})",
                cp.origin
            ),
        ));
    }
    if submission.key.name() != origin {
        return Ok(invalid(
            "verifier_key",
            format!(
                "key name {:?} must be the log origin {origin:?}",
                submission.key.name()
            ),
        ));
    }
    let pinned = match record.filter(|r| !r.verifier_key.is_empty()) {
        Some(r) => {
            let pinned: PublicKey = r
                .verifier_key
                .parse()
                .map_err(|e| AuditingError::Corrupt(format!("child {child} pinned key: {e}")))?;
            if pinned != submission.key {
                return Ok(Verdict::Flagged(format!(
                    "key replaced: checkpoints are now signed by {}, the pinned key is {} (log recreated?)",
                    submission.key, pinned
                )));
            }
            pinned
        }
        None => submission.key.clone(),
    };
    let previous = match record {
        Some(r) => r.accepted()?,
        None => None,
    };
    if let Some(prev) = &previous
        && cp.size > prev.size
        && submission.previous_size != prev.size
    {
        return Ok(Verdict::Stale {
            accepted_size: prev.size,
        });
    }
    Ok(
        match witness.countersign(previous.as_ref(), cp, &submission.proof, &pinned) {
            Ok(signed) => Verdict::Accepted(signed),
            Err(e @ (AuditError::Rollback { .. } | AuditError::Equivocation { .. })) => {
                Verdict::Flagged(e.to_string())
            }
            Err(AuditError::BadProof(why)) => Verdict::Flagged(format!(
                "inconsistent: the log of size {} does not extend the one of size {} accepted before ({why})",
                cp.size,
                previous.as_ref().map_or(0, |p| p.size)
            )),
            Err(e) => invalid("note", e.to_string()),
        },
    )
}

fn invalid(field: &'static str, reason: String) -> Verdict {
    Verdict::Invalid { field, reason }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The parent's book of its children's logs.
#[derive(Clone, Debug)]
pub struct ChildLedger {
    trail: AuditTrail,
    witness: Witness,
    metrics: AuditMetrics,
}

impl ChildLedger {
    /// A ledger countersigning with the trail's own key.
    pub fn new(trail: AuditTrail, metrics: AuditMetrics) -> Self {
        let witness = Witness::new(trail.signing_key().clone());
        ChildLedger {
            trail,
            witness,
            metrics,
        }
    }

    /// The stored record of `child`, with its mod revision (0 when absent).
    pub async fn get(&self, child: &str) -> Result<(Option<ChildRecord>, i64), AuditingError> {
        match self.trail.raw_store().get(&child_key(child)).await? {
            Some(kv) => {
                let record = serde_json::from_slice(&kv.value)
                    .map_err(|e| AuditingError::Corrupt(format!("audit/children/{child}: {e}")))?;
                Ok((Some(record), kv.mod_revision))
            }
            None => Ok((None, 0)),
        }
    }

    /// Every stored child record, in key order.
    pub async fn list(&self) -> Result<Vec<ChildRecord>, AuditingError> {
        let snapshot = self.trail.raw_store().snapshot(CHILDREN_PREFIX).await?;
        snapshot
            .kvs
            .iter()
            .map(|kv| {
                serde_json::from_slice(&kv.value).map_err(|e| {
                    AuditingError::Corrupt(format!("{}: {e}", String::from_utf8_lossy(&kv.key)))
                })
            })
            .collect()
    }

    /// Judges and records `submission` from `child`. Accepted: the record moves on (the
    /// key is pinned on first use). Flagged: the flag is stored (the first reason stays) in
    /// the same commit as an audit record of it. Returns the verdict.
    pub async fn submit(
        &self,
        child: &str,
        submission: &Submission,
    ) -> Result<Verdict, AuditingError> {
        let (record, revision) = self.get(child).await?;
        let verdict = judge(&self.witness, child, record.as_ref(), submission)?;
        let labels = AuditMetrics::child(child);
        match &verdict {
            Verdict::Accepted(signed) => {
                let mut next = record.unwrap_or_default();
                next.child_id = child.to_owned();
                if next.verifier_key.is_empty() {
                    next.verifier_key = submission.key.to_string();
                }
                next.note = signed.to_note();
                next.size = signed.size;
                next.received_unix_ms = now_ms();
                self.write(child, &next, revision).await?;
                self.metrics.child_checkpoints.get_or_create(&labels).inc();
            }
            Verdict::Flagged(reason) => {
                tracing::error!(child, %reason, "child audit log flagged (R18.6)");
                self.metrics.child_flagged.get_or_create(&labels).set(1);
                let mut next = record.unwrap_or_default();
                next.child_id = child.to_owned();
                if next.verifier_key.is_empty() {
                    next.verifier_key = submission.key.to_string();
                }
                next.flag.get_or_insert_with(|| ChildFlag {
                    reason: reason.clone(),
                    flagged_unix_ms: now_ms(),
                    note: submission.checkpoint.to_note(),
                });
                let audit = AuditRecord::new(
                    format!("node/{child}"),
                    "audit.child.flagged",
                    format!("node/{child}"),
                )
                .refused(reason.clone(), "R18.6")
                .with_details(serde_json::json!({
                    "note": submission.checkpoint.to_note(),
                    "previous_size": submission.previous_size,
                }));
                let (written, outcome) = self
                    .trail
                    .in_change_scope(audit, self.write_audited(child, &next, revision))
                    .await;
                if let ScopeOutcome::NotCommitted(audit) = outcome {
                    self.trail.record(audit).await?;
                }
                written?;
            }
            Verdict::Stale { .. } | Verdict::Invalid { .. } => {}
        }
        Ok(verdict)
    }

    async fn write(
        &self,
        child: &str,
        next: &ChildRecord,
        revision: i64,
    ) -> Result<(), AuditingError> {
        let txn = self.txn(child, next, revision)?;
        let response = self.trail.raw_store().txn(txn).await?;
        Self::check(child, response.succeeded)
    }

    async fn write_audited(
        &self,
        child: &str,
        next: &ChildRecord,
        revision: i64,
    ) -> Result<(), AuditingError> {
        let txn = self.txn(child, next, revision)?;
        let response = self.trail.store().txn(txn).await?;
        Self::check(child, response.succeeded)
    }

    fn txn(&self, child: &str, next: &ChildRecord, revision: i64) -> Result<Txn, AuditingError> {
        let value = serde_json::to_vec(next)
            .map_err(|e| AuditingError::Corrupt(format!("encoding child record: {e}")))?;
        let key = child_key(child);
        Ok(Txn::new()
            .when(Compare::mod_revision(key.clone(), revision))
            .then(Op::put(key, value)))
    }

    fn check(child: &str, succeeded: bool) -> Result<(), AuditingError> {
        if succeeded {
            Ok(())
        } else {
            Err(AuditingError::Conflict(format!(
                "audit/children/{child} changed meanwhile (two submissions at once); retry"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use vfed_audit::{MerkleTree, SigningKey};

    const CHILD: &str = "54050200002000000001";

    fn tree(n: u64, fork_at: Option<u64>) -> MerkleTree {
        let mut t = MerkleTree::new();
        for i in 0..n {
            if Some(i) == fork_at {
                t.push(b"rewritten");
            } else {
                t.push(&i.to_be_bytes());
            }
        }
        t
    }

    fn submission(key: &SigningKey, t: &MerkleTree, size: u64, from: u64) -> Submission {
        Submission {
            checkpoint: Checkpoint::sign(key.name(), size, t.root_at(size).unwrap(), key).unwrap(),
            previous_size: from,
            proof: t.consistency_proof(from, size).unwrap(),
            key: key.public_key(),
        }
    }

    fn accepted(verdict: Verdict, witness: &Witness) -> ChildRecord {
        let Verdict::Accepted(cp) = verdict else {
            panic!("not accepted: {verdict:?}")
        };
        cp.verify(&witness.public_key()).unwrap();
        ChildRecord {
            child_id: CHILD.into(),
            verifier_key: String::new(),
            note: cp.to_note(),
            size: cp.size,
            received_unix_ms: 1,
            flag: None,
        }
    }

    #[test]
    fn growth_is_countersigned_and_rewrites_are_flagged() {
        let witness = Witness::new(SigningKey::generate("vfed/54050000002000000001").unwrap());
        let key = SigningKey::generate(&origin_of(CHILD)).unwrap();
        let honest = tree(20, None);
        let first = judge(&witness, CHILD, None, &submission(&key, &honest, 10, 0)).unwrap();
        let mut record = accepted(first, &witness);
        record.verifier_key = key.public_key().to_string();

        // Growth with a proof from 10.
        let v = judge(
            &witness,
            CHILD,
            Some(&record),
            &submission(&key, &honest, 20, 10),
        )
        .unwrap();
        assert!(matches!(v, Verdict::Accepted(_)), "{v:?}");
        // Same checkpoint again: fine.
        let v = judge(
            &witness,
            CHILD,
            Some(&record),
            &submission(&key, &honest, 10, 10),
        )
        .unwrap();
        assert!(matches!(v, Verdict::Accepted(_)), "{v:?}");
        // Proof from another size: resend.
        let v = judge(
            &witness,
            CHILD,
            Some(&record),
            &submission(&key, &honest, 20, 5),
        )
        .unwrap();
        assert_eq!(v, Verdict::Stale { accepted_size: 10 });

        // Equivocation, rollback, fork, replaced key.
        let forked = tree(20, Some(3));
        let v = judge(
            &witness,
            CHILD,
            Some(&record),
            &submission(&key, &forked, 10, 10),
        )
        .unwrap();
        assert!(
            matches!(&v, Verdict::Flagged(r) if r.starts_with("equivocation")),
            "{v:?}"
        );
        let v = judge(
            &witness,
            CHILD,
            Some(&record),
            &submission(&key, &honest, 9, 9),
        )
        .unwrap();
        assert!(
            matches!(&v, Verdict::Flagged(r) if r.starts_with("rollback")),
            "{v:?}"
        );
        let v = judge(
            &witness,
            CHILD,
            Some(&record),
            &submission(&key, &forked, 20, 10),
        )
        .unwrap();
        assert!(
            matches!(&v, Verdict::Flagged(r) if r.starts_with("inconsistent")),
            "{v:?}"
        );
        let other = SigningKey::generate(&origin_of(CHILD)).unwrap();
        let v = judge(
            &witness,
            CHILD,
            Some(&record),
            &submission(&other, &honest, 20, 10),
        )
        .unwrap();
        assert!(
            matches!(&v, Verdict::Flagged(r) if r.starts_with("key replaced")),
            "{v:?}"
        );

        // Another node's log, or a key named otherwise: invalid, not flagged.
        let stranger = SigningKey::generate("vfed/54052100002000000001").unwrap();
        let v = judge(
            &witness,
            CHILD,
            Some(&record),
            &submission(&stranger, &honest, 20, 10),
        )
        .unwrap();
        assert!(matches!(v, Verdict::Invalid { field: "note", .. }), "{v:?}");
        let mut s = submission(&key, &honest, 20, 10);
        s.key = stranger.public_key();
        let v = judge(&witness, CHILD, Some(&record), &s).unwrap();
        assert!(
            matches!(
                v,
                Verdict::Invalid {
                    field: "verifier_key",
                    ..
                }
            ),
            "{v:?}"
        );
        // Signed by someone else under the right name: invalid signature.
        let mut s = submission(&other, &honest, 20, 10);
        s.key = key.public_key();
        let v = judge(&witness, CHILD, Some(&record), &s).unwrap();
        assert!(matches!(v, Verdict::Invalid { field: "note", .. }), "{v:?}");
    }
}
