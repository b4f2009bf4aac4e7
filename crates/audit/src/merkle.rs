//! RFC 6962 Merkle tree hashing and proofs (R18.6: the root commits to every entry in order,
//! so no entry can be changed, removed or reordered without the signed root changing).
//!
//! Leaf hash = SHA-256(0x00 || data), node hash = SHA-256(0x01 || left || right), the hash of
//! the empty tree is SHA-256(""). Proof generation follows RFC 6962 §2.1.1 (`PATH`) and
//! §2.1.2 (`SUBPROOF`); verification follows RFC 9162 §2.1.3.2 and §2.1.4.2.
//!
//! [`MerkleTree`] keeps the hash of every complete, aligned subtree (level 0 holds the leaf
//! hashes), about `2n` hashes for `n` leaves. Any root or proof then needs O(log n) look-ups
//! and at most O(log n) hash computations along the tree's right edge; nothing is rehashed.

use sha2::{Digest, Sha256};

use crate::error::{AuditError, Result};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The RFC 6962 leaf hash of `data`.
pub fn hash_leaf(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// The RFC 6962 interior node hash.
pub fn hash_children(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree, SHA-256 of no bytes.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly smaller than `n` (`n >= 2`): RFC 6962's `k`.
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// An in-memory Merkle tree over leaf hashes, append-only.
#[derive(Debug, Clone, Default)]
pub struct MerkleTree {
    /// `levels[h][i]` is the hash of leaves `[i * 2^h, (i + 1) * 2^h)`.
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Appends a leaf given its data; returns its index.
    pub fn push(&mut self, data: &[u8]) -> u64 {
        self.push_leaf_hash(hash_leaf(data))
    }

    /// Appends a leaf given its leaf hash; returns its index. Amortised O(1).
    pub fn push_leaf_hash(&mut self, leaf: Hash) -> u64 {
        let index = self.size();
        let mut node = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(node);
            if row.len() % 2 == 1 {
                break;
            }
            node = hash_children(&row[row.len() - 2], &row[row.len() - 1]);
            level += 1;
        }
        index
    }

    /// The leaf hash at `index`.
    pub fn leaf_hash(&self, index: u64) -> Option<Hash> {
        let i = usize::try_from(index).ok()?;
        self.levels.first()?.get(i).copied()
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        self.subtree_or_empty(self.size())
    }

    /// The root the tree had when it held `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash> {
        if size > self.size() {
            return Err(AuditError::ProofRange(format!(
                "tree size {size} asked, tree holds {}",
                self.size()
            )));
        }
        Ok(self.subtree_or_empty(size))
    }

    fn subtree_or_empty(&self, size: u64) -> Hash {
        if size == 0 {
            empty_root()
        } else {
            self.subtree(0, size)
        }
    }

    /// MTH of leaves `[start, start + n)`, for ranges RFC 6962's recursion visits
    /// (`n >= 1`, `start + n <= size`, `start` a multiple of the enclosing split).
    fn subtree(&self, start: u64, n: u64) -> Hash {
        if n.is_power_of_two() && start.is_multiple_of(n) {
            let level = n.trailing_zeros() as usize;
            let idx = (start >> level) as usize;
            if let Some(h) = self.levels.get(level).and_then(|row| row.get(idx)) {
                return *h;
            }
        }
        // Either not complete, or (defensively) not cached: split as RFC 6962 does.
        if n == 1 {
            // Unreachable for valid ranges: single leaves are always cached.
            return empty_root();
        }
        let k = split(n);
        hash_children(&self.subtree(start, k), &self.subtree(start + k, n - k))
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 6962 §2.1.1).
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>> {
        if size > self.size() || index >= size {
            return Err(AuditError::ProofRange(format!(
                "leaf {index} in tree size {size}, tree holds {}",
                self.size()
            )));
        }
        let mut proof = Vec::new();
        self.path(index, 0, size, &mut proof);
        Ok(proof)
    }

    fn path(&self, m: u64, start: u64, n: u64, out: &mut Vec<Hash>) {
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            self.path(m, start, k, out);
            out.push(self.subtree(start + k, n - k));
        } else {
            self.path(m - k, start + k, n - k, out);
            out.push(self.subtree(start, k));
        }
    }

    /// The consistency proof from tree size `old` to tree size `new` (RFC 6962 §2.1.2).
    /// Empty when `old` is 0 or equals `new`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>> {
        if new > self.size() || old > new {
            return Err(AuditError::ProofRange(format!(
                "consistency {old} -> {new}, tree holds {}",
                self.size()
            )));
        }
        let mut proof = Vec::new();
        if old > 0 && old < new {
            self.subproof(old, 0, new, true, &mut proof);
        }
        Ok(proof)
    }

    fn subproof(&self, m: u64, start: u64, n: u64, complete: bool, out: &mut Vec<Hash>) {
        if m == n {
            if !complete {
                out.push(self.subtree(start, m));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            self.subproof(m, start, k, complete, out);
            out.push(self.subtree(start + k, n - k));
        } else {
            self.subproof(m - k, start + k, n - k, false, out);
            out.push(self.subtree(start, k));
        }
    }
}

/// Verifies that `leaf` is leaf `index` of the tree of `size` leaves with `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<()> {
    let fail = |why: &str| {
        Err(AuditError::BadProof(format!(
            "inclusion of {index} in {size}: {why}"
        )))
    };
    if index >= size {
        return fail("index not below size");
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return fail("proof too long");
        }
        if fnode & 1 == 1 || fnode == snode {
            r = hash_children(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = hash_children(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return fail("proof too short");
    }
    if &r != root {
        return fail("root differs");
    }
    Ok(())
}

/// Verifies that the tree of `new_size` leaves with `new_root` extends the tree of
/// `old_size` leaves with `old_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<()> {
    let fail = |why: &str| {
        Err(AuditError::BadProof(format!(
            "consistency {old_size} -> {new_size}: {why}"
        )))
    };
    if old_size > new_size {
        return fail("old size larger than new size");
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return fail("proof must be empty for equal sizes");
        }
        return if old_root == new_root {
            Ok(())
        } else {
            fail("roots differ")
        };
    }
    if old_size == 0 {
        // Every tree extends the empty tree.
        return if proof.is_empty() {
            Ok(())
        } else {
            fail("proof must be empty from size 0")
        };
    }
    let Some((first, rest)) = proof.split_first() else {
        return fail("empty proof");
    };
    let mut path: Vec<&Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(old_root);
        path.push(first);
    } else {
        path.push(first);
    }
    path.extend(rest.iter());
    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let mut fr = *path[0];
    let mut sr = *path[0];
    for c in &path[1..] {
        if snode == 0 {
            return fail("proof too long");
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = hash_children(c, &fr);
            sr = hash_children(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = hash_children(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return fail("proof too short");
    }
    if &fr != old_root {
        return fail("old root differs");
    }
    if &sr != new_root {
        return fail("new root differs");
    }
    Ok(())
}
