#![allow(clippy::unwrap_used)]

use std::path::Path;

use serde_json::json;
use vfed_audit::{Checkpoint, MerkleTree, SigningKey};

use super::*;
use crate::manifest::{OtherFile, Range, Request, SourceFragment};
use crate::proof::TlogProof;

const NODE: &str = "54050200002000000001";
const PARENT: &str = "54050000002000000001";
const DEVICE: &str = "54050200001320000001";

struct Keys {
    node: SigningKey,
    parent: SigningKey,
}

fn keys() -> Keys {
    Keys {
        node: SigningKey::generate(&format!("vfed/{NODE}")).unwrap(),
        parent: SigningKey::generate(&format!("vfed/{PARENT}")).unwrap(),
    }
}

fn write(dir: &Path, path: &str, bytes: &[u8]) -> String {
    let full = dir.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, bytes).unwrap();
    sha256_hex(bytes)
}

/// A package of two recorded files (3 fragments each, the package holding
/// fragments 1..=2 of the first and all of the second), logged at indexes
/// 2 and 4 of a 6-entry log countersigned by the parent.
fn package(dir: &Path, keys: &Keys) -> Manifest {
    let mut tree = MerkleTree::new();
    let mut entries = Vec::new();
    let mut files = Vec::new();
    let mut media = Vec::new();
    for i in 0..6u64 {
        if i == 2 || i == 4 {
            let start = 1_700_000_000_000 + i as i64 * 1000;
            let source = format!("{DEVICE}/main/{start}.mp4");
            let init = format!("init-{i}").into_bytes();
            let fragments: Vec<Vec<u8>> = (0..3)
                .map(|k| format!("fragment-{i}-{k}-{}", "x".repeat(k * 10)).into_bytes())
                .collect();
            let mut record = AuditRecord::new(
                format!("node/{NODE}"),
                "recording.file.closed",
                format!("{DEVICE}/main"),
            )
            .with_details(json!({
                "file": source,
                "init_sha256": sha256_hex(&init),
                "fragments_sha256": fragments.iter().map(|f| sha256_hex(f)).collect::<Vec<_>>(),
            }));
            record.index = i;
            let bytes = record.to_canonical_bytes().unwrap();
            tree.push(&bytes);
            entries.push((source.clone(), bytes));
            let keep: Vec<usize> = if i == 2 { vec![1, 2] } else { vec![0, 1, 2] };
            let plan = FileEntry::plan(
                &source,
                DEVICE,
                "main",
                (init.len() as u64, &sha256_hex(&init)),
                keep.iter().map(|&k| SourceFragment {
                    index: k,
                    len: fragments[k].len() as u64,
                    start_unix_ms: start + k as i64 * 1000,
                    end_unix_ms: start + k as i64 * 1000 + 1000,
                    sha256: sha256_hex(&fragments[k]),
                }),
                i,
            );
            let mut bytes = init.clone();
            for &k in &keep {
                bytes.extend_from_slice(&fragments[k]);
            }
            files.push(plan);
            media.push(bytes);
        } else {
            let mut record = AuditRecord::new("user/x", "account.login", "x");
            record.index = i;
            tree.push(&record.to_canonical_bytes().unwrap());
        }
    }
    let mut checkpoint =
        Checkpoint::sign(keys.node.name(), tree.size(), tree.root(), &keys.node).unwrap();
    checkpoint.countersign(&keys.parent);
    let mut other_files = Vec::new();
    let mut add = |path: &str, bytes: &[u8]| {
        let sha256 = write(dir, path, bytes);
        other_files.push(OtherFile {
            path: path.to_owned(),
            sha256,
        });
    };
    add(
        layout::NODE_KEY_FILE,
        format!("{}\n", keys.node.public_key()).as_bytes(),
    );
    add(
        layout::PARENT_KEY_FILE,
        format!("{}\n", keys.parent.public_key()).as_bytes(),
    );
    for (file, (source, entry)) in files.iter_mut().zip(&entries) {
        assert_eq!(&file.source, source);
        add(&file.entry, entry);
        let proof = TlogProof {
            index: file.log_index,
            hashes: tree.inclusion_proof(file.log_index, tree.size()).unwrap(),
            checkpoint: checkpoint.clone(),
        };
        add(&file.proof, proof.to_text().as_bytes());
    }
    for (file, bytes) in files.iter_mut().zip(&media) {
        file.sha256 = write(dir, &file.path, bytes);
    }
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        node_id: NODE.to_owned(),
        parent_id: PARENT.to_owned(),
        exported_by: "user/zhuoma".to_owned(),
        exported_unix_ms: 1_700_000_100_000,
        request: Request {
            id: "1700000000000-0000abcd".to_owned(),
            device_ids: vec![DEVICE.to_owned()],
            ..Request::default()
        },
        ranges: vec![Range {
            device_id: DEVICE.to_owned(),
            from_unix_ms: 1_700_000_000_000,
            to_unix_ms: 1_700_000_010_000,
        }],
        files,
        other_files,
    };
    write(dir, MANIFEST_FILE, &manifest.to_bytes().unwrap());
    manifest
}

fn flip(path: &Path, at: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at as usize] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_whole_package_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys();
    package(dir.path(), &keys);
    let report = verify(dir.path(), &Pins::default()).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!(
        (
            report.files,
            report.fragments,
            report.proofs,
            report.checkpoint_size
        ),
        (2, 5, 2, 6)
    );
    let manifest = std::fs::read(dir.path().join(MANIFEST_FILE)).unwrap();
    assert_eq!(report.package_sha256, sha256_hex(&manifest));
    // Pinning the right keys changes nothing.
    let pins = Pins {
        node_key: Some(keys.node.public_key()),
        parent_key: Some(keys.parent.public_key()),
    };
    assert!(verify(dir.path(), &pins).unwrap().is_clean());
}

#[test]
fn a_flipped_byte_names_the_file_and_the_fragment_time() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = package(dir.path(), &keys());
    let file = &manifest.files[1];
    let fragment = &file.fragments[2];
    flip(&dir.path().join(&file.path), fragment.offset + 3);
    let report = verify(dir.path(), &Pins::default()).unwrap();
    let first = &report.findings[0];
    assert_eq!(first.file, file.path);
    assert_eq!(first.time_unix_ms, Some(fragment.start_unix_ms));
    assert!(first.problem.contains("fragment 2"), "{first}");
    assert!(
        first.to_string().contains(&rfc3339(fragment.start_unix_ms)),
        "{first}"
    );
}

#[test]
fn a_missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = package(dir.path(), &keys());
    let file = &manifest.files[0];
    std::fs::remove_file(dir.path().join(&file.path)).unwrap();
    let report = verify(dir.path(), &Pins::default()).unwrap();
    assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
    assert_eq!(report.findings[0].file, file.path);
    assert!(report.findings[0].problem.contains("missing"));
    assert_eq!(
        report.findings[0].time_unix_ms,
        Some(file.fragments[0].start_unix_ms)
    );
}

#[test]
fn a_consistent_rewrite_of_media_and_manifest_contradicts_the_log() {
    // Someone re-hashes a changed fragment into the manifest: the logged
    // manifest (under the countersigned checkpoint) still has the old hash.
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = package(dir.path(), &keys());
    let file = manifest.files[1].clone();
    let fragment = &file.fragments[0];
    let path = dir.path().join(&file.path);
    flip(&path, fragment.offset);
    let bytes = std::fs::read(&path).unwrap();
    let range = fragment.offset as usize..(fragment.offset + fragment.len) as usize;
    manifest.files[1].fragments[0].sha256 = sha256_hex(&bytes[range]);
    manifest.files[1].sha256 = sha256_hex(&bytes);
    std::fs::write(dir.path().join(MANIFEST_FILE), manifest.to_bytes().unwrap()).unwrap();
    let report = verify(dir.path(), &Pins::default()).unwrap();
    assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
    assert_eq!(report.findings[0].file, file.path);
    assert!(
        report.findings[0].problem.contains("not the one logged"),
        "{}",
        report.findings[0]
    );
}

#[test]
fn a_changed_log_entry_fails_its_proof() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = package(dir.path(), &keys());
    let file = &manifest.files[0];
    let path = dir.path().join(&file.entry);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("node/", "nodE/");
    std::fs::write(&path, text).unwrap();
    let report = verify(dir.path(), &Pins::default()).unwrap();
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.file == file.proof && f.problem.contains("not in the checkpoint")),
        "{:?}",
        report.findings
    );
}

#[test]
fn keys_must_be_the_trusted_ones_and_sign_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    package(dir.path(), &keys());
    // A verifier who trusts another parent key.
    let other = SigningKey::generate(&format!("vfed/{PARENT}")).unwrap();
    let pins = Pins {
        parent_key: Some(other.public_key()),
        ..Pins::default()
    };
    let report = verify(dir.path(), &pins).unwrap();
    assert_eq!(report.findings[0].file, layout::PARENT_KEY_FILE);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.problem.contains("not countersigned by the parent"))
    );
    // The package's own parent key replaced by a stranger's: the
    // countersignature does not verify (and the key file's hash differs).
    let dir = tempfile::tempdir().unwrap();
    package(dir.path(), &keys());
    std::fs::write(
        dir.path().join(layout::PARENT_KEY_FILE),
        format!("{}\n", other.public_key()),
    )
    .unwrap();
    let report = verify(dir.path(), &Pins::default()).unwrap();
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.problem.contains("not countersigned by the parent")),
        "{:?}",
        report.findings
    );
}

#[test]
fn no_manifest_is_not_a_package_and_paths_stay_inside() {
    let dir = tempfile::tempdir().unwrap();
    let report = verify(dir.path(), &Pins::default()).unwrap();
    assert_eq!(report.findings[0].file, MANIFEST_FILE);
    assert!(verify(&dir.path().join("nope"), &Pins::default()).is_err());
    let mut manifest = package(dir.path(), &keys());
    manifest.files[0].path = "../../etc/passwd".to_owned();
    std::fs::write(dir.path().join(MANIFEST_FILE), manifest.to_bytes().unwrap()).unwrap();
    let report = verify(dir.path(), &Pins::default()).unwrap();
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.problem.contains("not a package path")),
        "{:?}",
        report.findings
    );
}
