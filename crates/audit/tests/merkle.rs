//! RFC 6962 Merkle tree: published reference vectors and exhaustive proof properties.
#![allow(clippy::unwrap_used)]

use vfed_audit::merkle::{
    Hash, MerkleTree, empty_root, hash_children, hash_leaf, verify_consistency, verify_inclusion,
};

fn hex(s: &str) -> Hash {
    let bytes: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect();
    bytes.try_into().unwrap()
}

/// The eight leaf inputs of the certificate-transparency / transparency-dev reference tree.
fn reference_leaves() -> Vec<Vec<u8>> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|s| {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    })
    .collect()
}

fn reference_tree() -> MerkleTree {
    let mut tree = MerkleTree::new();
    for leaf in reference_leaves() {
        tree.push(&leaf);
    }
    tree
}

#[test]
fn roots_match_published_vectors() {
    let roots = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let tree = reference_tree();
    assert_eq!(MerkleTree::new().root(), empty_root());
    for (size, root) in roots.iter().enumerate() {
        assert_eq!(
            tree.root_at(size as u64).unwrap(),
            hex(root),
            "root of size {size}"
        );
    }
    assert_eq!(tree.root(), hex(roots[8]));
    assert!(tree.root_at(9).is_err());
}

#[test]
fn inclusion_proofs_match_published_vectors() {
    let tree = reference_tree();
    let cases: &[(u64, u64, &[&str])] = &[
        (0, 1, &[]),
        (
            0,
            2,
            &["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"],
        ),
        (
            1,
            2,
            &["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];
    let leaves = reference_leaves();
    for (index, size, want) in cases {
        let proof = tree.inclusion_proof(*index, *size).unwrap();
        let want: Vec<Hash> = want.iter().map(|h| hex(h)).collect();
        assert_eq!(proof, want, "inclusion {index} in {size}");
        let leaf = hash_leaf(&leaves[*index as usize]);
        verify_inclusion(&leaf, *index, *size, &proof, &tree.root_at(*size).unwrap()).unwrap();
    }
}

#[test]
fn consistency_proofs_match_published_vectors() {
    let tree = reference_tree();
    let cases: &[(u64, u64, &[&str])] = &[
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];
    for (old, new, want) in cases {
        let proof = tree.consistency_proof(*old, *new).unwrap();
        let want: Vec<Hash> = want.iter().map(|h| hex(h)).collect();
        assert_eq!(proof, want, "consistency {old} -> {new}");
        let (r1, r2) = (tree.root_at(*old).unwrap(), tree.root_at(*new).unwrap());
        verify_consistency(*old, *new, &r1, &r2, &proof).unwrap();
    }
}

/// The RFC 6962 definition, recursively over the data: the reference to cross-check against.
fn reference_root(leaves: &[Vec<u8>]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => hash_leaf(&leaves[0]),
        n => {
            let k = (n - 1).next_power_of_two().max(1);
            let k = if k >= n { k / 2 } else { k };
            hash_children(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
        }
    }
}

fn flipped(h: &Hash) -> Hash {
    let mut h = *h;
    h[7] ^= 0x20;
    h
}

#[test]
fn every_inclusion_proof_up_to_64_verifies_and_wrong_ones_do_not() {
    let leaves: Vec<Vec<u8>> = (0..64u32)
        .map(|i| format!("entry {i}").into_bytes())
        .collect();
    let mut tree = MerkleTree::new();
    for leaf in &leaves {
        tree.push(leaf);
    }
    for size in 1..=64u64 {
        let root = tree.root_at(size).unwrap();
        assert_eq!(
            root,
            reference_root(&leaves[..size as usize]),
            "root {size}"
        );
        for index in 0..size {
            let leaf = hash_leaf(&leaves[index as usize]);
            let proof = tree.inclusion_proof(index, size).unwrap();
            verify_inclusion(&leaf, index, size, &proof, &root).unwrap();
            // Wrong leaf, wrong index, wrong size, wrong root, tampered/short/long proof.
            assert!(verify_inclusion(&flipped(&leaf), index, size, &proof, &root).is_err());
            if size > 1 {
                let other = (index + 1) % size;
                assert!(
                    verify_inclusion(&leaf, other, size, &proof, &root).is_err(),
                    "{index}->{other} in {size}"
                );
            }
            if size < 64 {
                // The proof for this size does not prove inclusion in the next tree.
                let next = tree.root_at(size + 1).unwrap();
                assert!(verify_inclusion(&leaf, index, size + 1, &proof, &next).is_err());
            }
            assert!(verify_inclusion(&leaf, index, size, &proof, &flipped(&root)).is_err());
            assert!(verify_inclusion(&leaf, size, size, &proof, &root).is_err());
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i] = flipped(&bad[i]);
                assert!(verify_inclusion(&leaf, index, size, &bad, &root).is_err());
            }
            if !proof.is_empty() {
                assert!(verify_inclusion(&leaf, index, size, &proof[1..], &root).is_err());
            }
            let mut long = proof.clone();
            long.push(root);
            assert!(verify_inclusion(&leaf, index, size, &long, &root).is_err());
        }
    }
}

#[test]
fn every_consistency_proof_up_to_64_verifies_and_wrong_ones_do_not() {
    let mut tree = MerkleTree::new();
    for i in 0..64u32 {
        tree.push(format!("entry {i}").as_bytes());
    }
    for new in 1..=64u64 {
        let r2 = tree.root_at(new).unwrap();
        for old in 0..=new {
            let r1 = tree.root_at(old).unwrap();
            let proof = tree.consistency_proof(old, new).unwrap();
            verify_consistency(old, new, &r1, &r2, &proof).unwrap();
            if old == 0 {
                continue;
            }
            assert!(
                verify_consistency(old, new, &flipped(&r1), &r2, &proof).is_err(),
                "{old}->{new}"
            );
            assert!(
                verify_consistency(old, new, &r1, &flipped(&r2), &proof).is_err(),
                "{old}->{new}"
            );
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i] = flipped(&bad[i]);
                assert!(
                    verify_consistency(old, new, &r1, &r2, &bad).is_err(),
                    "{old}->{new} #{i}"
                );
            }
            if !proof.is_empty() {
                assert!(verify_consistency(old, new, &r1, &r2, &proof[..proof.len() - 1]).is_err());
            }
            let mut long = proof.clone();
            long.push(r2);
            assert!(
                verify_consistency(old, new, &r1, &r2, &long).is_err(),
                "{old}->{new} long"
            );
            if old < new {
                // A proof for other sizes must not pass.
                if new < 64 {
                    let next = tree.root_at(new + 1).unwrap();
                    assert!(verify_consistency(old, new + 1, &r1, &next, &proof).is_err());
                }
                assert!(verify_consistency(new, old, &r2, &r1, &proof).is_err());
            }
        }
    }
}

#[test]
fn a_changed_history_has_no_consistency_proof() {
    let mut honest = MerkleTree::new();
    let mut forged = MerkleTree::new();
    for i in 0..20u32 {
        honest.push(format!("e{i}").as_bytes());
        forged.push(
            if i == 5 {
                b"rewritten".to_vec()
            } else {
                format!("e{i}").into_bytes()
            }
            .as_slice(),
        );
    }
    let old_root = honest.root_at(8).unwrap();
    let proof = forged.consistency_proof(8, 20).unwrap();
    assert!(verify_consistency(8, 20, &old_root, &forged.root(), &proof).is_err());
}
