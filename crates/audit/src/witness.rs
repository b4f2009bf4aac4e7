//! What the parent level checks on a child's checkpoints before countersigning them
//! (R18.6: a node's own administrator cannot rewrite its log without the parent noticing).
//!
//! Storage-agnostic: the caller keeps the last checkpoint it accepted per child and passes
//! it back in.

use crate::checkpoint::Checkpoint;
use crate::error::{AuditError, Result, WitnessError};
use crate::keys::{PublicKey, SigningKey};
use crate::merkle::{Hash, verify_consistency};

/// A parent node acting as witness for its children's logs.
#[derive(Debug, Clone)]
pub struct Witness {
    key: SigningKey,
}

impl Witness {
    /// A witness that countersigns with `key` (named after the parent node).
    pub fn new(key: SigningKey) -> Self {
        Witness { key }
    }

    /// The key that verifies this witness's countersignatures.
    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// Accepts `new` from a child whose last accepted checkpoint is `previous`, if:
    /// the child signed it; it names the same log; the tree did not shrink (rollback); the
    /// same size carries the same root (else equivocation: a forked log); and a larger tree
    /// comes with a valid consistency proof from `previous` (nothing earlier was changed).
    pub fn observe(
        &self,
        previous: Option<&Checkpoint>,
        new: &Checkpoint,
        consistency_proof: &[Hash],
        child_public_key: &PublicKey,
    ) -> Result<(), WitnessError> {
        new.verify(child_public_key)?;
        let Some(previous) = previous else {
            return Ok(());
        };
        if previous.origin != new.origin {
            return Err(AuditError::OriginMismatch {
                expected: previous.origin.clone(),
                found: new.origin.clone(),
            });
        }
        if new.size < previous.size {
            return Err(AuditError::Rollback {
                previous: previous.size,
                new: new.size,
            });
        }
        if new.size == previous.size && new.root != previous.root {
            return Err(AuditError::Equivocation { size: new.size });
        }
        verify_consistency(
            previous.size,
            new.size,
            &previous.root,
            &new.root,
            consistency_proof,
        )
    }

    /// Observes `new` as [`Witness::observe`] does and, if it is acceptable, returns it with
    /// this witness's signature line added.
    pub fn countersign(
        &self,
        previous: Option<&Checkpoint>,
        new: &Checkpoint,
        consistency_proof: &[Hash],
        child_public_key: &PublicKey,
    ) -> Result<Checkpoint, WitnessError> {
        self.observe(previous, new, consistency_proof, child_public_key)?;
        let mut signed = new.clone();
        signed.countersign(&self.key);
        Ok(signed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::merkle::MerkleTree;

    fn tree(n: u8) -> MerkleTree {
        let mut t = MerkleTree::new();
        for i in 0..n {
            t.push(&[i]);
        }
        t
    }

    #[test]
    fn witness_accepts_growth_and_refuses_rollback_and_forks() {
        let child = SigningKey::generate("city-1").unwrap();
        let witness = Witness::new(SigningKey::generate("county").unwrap());
        let t = tree(10);
        let cp =
            |size: u64| Checkpoint::sign("city-1", size, t.root_at(size).unwrap(), &child).unwrap();
        let (c3, c10) = (cp(3), cp(10));

        witness
            .observe(None, &c3, &[], &child.public_key())
            .unwrap();
        let proof = t.consistency_proof(3, 10).unwrap();
        let signed = witness
            .countersign(Some(&c3), &c10, &proof, &child.public_key())
            .unwrap();
        signed.verify(&witness.public_key()).unwrap();
        signed.verify(&child.public_key()).unwrap();
        witness
            .observe(Some(&c10), &c10, &[], &child.public_key())
            .unwrap();

        // Rollback.
        let err = witness
            .observe(Some(&c10), &c3, &[], &child.public_key())
            .unwrap_err();
        assert!(
            matches!(
                err,
                AuditError::Rollback {
                    previous: 10,
                    new: 3
                }
            ),
            "{err}"
        );

        // Equivocation: another log of the same size.
        let mut forked = tree(9);
        forked.push(b"rewritten");
        let other = Checkpoint::sign("city-1", 10, forked.root(), &child).unwrap();
        let err = witness
            .observe(Some(&c10), &other, &[], &child.public_key())
            .unwrap_err();
        assert!(
            matches!(err, AuditError::Equivocation { size: 10 }),
            "{err}"
        );

        // A fork that grew: the consistency proof from the old root fails.
        let mut grown = tree(2);
        grown.push(b"changed");
        for i in 3..12u8 {
            grown.push(&[i]);
        }
        let c12 = Checkpoint::sign("city-1", 12, grown.root(), &child).unwrap();
        let bad = grown.consistency_proof(3, 12).unwrap();
        assert!(matches!(
            witness.observe(Some(&c3), &c12, &bad, &child.public_key()),
            Err(AuditError::BadProof(_))
        ));

        // Not signed by the child.
        let stranger = SigningKey::generate("city-1").unwrap();
        let forged = Checkpoint::sign("city-1", 10, t.root(), &stranger).unwrap();
        assert!(matches!(
            witness.observe(Some(&c3), &forged, &proof, &child.public_key()),
            Err(AuditError::BadSignature { .. })
        ));
    }
}
