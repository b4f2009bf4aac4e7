//! R18.6: every kind of tampering with a closed log is named by its first bad index, both by
//! the offline verifier and by `open`, and an untouched copy verifies.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::OnceLock;

use vfed_audit::merkle::hash_leaf;
use vfed_audit::{AuditError, AuditLog, EntryProblem, SigningKey, VerifyError, verify_file};

use support::{copy_dir, frames, paths, write_log};

const ENTRIES: u64 = 10_000;
const K: usize = 4711;

/// One log of 10,000 entries, written concurrently through `append`, shared by every test
/// (each tampers with its own copy).
fn fixture() -> &'static (tempfile::TempDir, SigningKey) {
    static LOG: OnceLock<(tempfile::TempDir, SigningKey)> = OnceLock::new();
    LOG.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let key = write_log(dir.path(), ENTRIES);
        (dir, key)
    })
}

/// Copies the fixture, lets `tamper` rewrite the log bytes, and returns the verifier's error.
fn tampered(tamper: impl FnOnce(&mut Vec<u8>)) -> (tempfile::TempDir, VerifyError) {
    let (dir, key) = fixture();
    let copy = copy_dir(dir.path());
    let (log, checkpoints) = paths(copy.path());
    let mut bytes = std::fs::read(&log).unwrap();
    tamper(&mut bytes);
    std::fs::write(&log, &bytes).unwrap();
    let err = verify_file(&log, &checkpoints, &key.public_key()).unwrap_err();
    // The node itself refuses to append on top of it, naming the same entry.
    let refused = AuditLog::open(copy.path(), key.clone()).unwrap_err();
    assert!(
        matches!(refused, AuditError::Tampered(_)),
        "open must refuse: {refused}"
    );
    assert_eq!(
        refused.first_bad_index(),
        err.first_bad_index(),
        "open: {refused}"
    );
    (copy, err)
}

#[test]
fn untouched_copy_verifies() {
    let (dir, key) = fixture();
    let copy = copy_dir(dir.path());
    let (log, checkpoints) = paths(copy.path());
    let report = verify_file(&log, &checkpoints, &key.public_key()).unwrap();
    assert_eq!(report.entries, ENTRIES);
    assert_eq!(report.last_checkpoint_size, ENTRIES);
    assert!(report.checkpoints >= 2);
    assert!(!report.torn_tail);
}

#[test]
fn flipped_byte_in_a_record_is_named() {
    for offset_in_frame in [4usize, 20, 60] {
        let (_copy, err) = tampered(|b| {
            let (start, _) = frames(b)[K];
            b[start + offset_in_frame] ^= 0x01;
        });
        assert_eq!(err.first_bad_index(), Some(K as u64), "{err}");
        assert_eq!(
            err.to_string(),
            format!("entry {K}: leaf hash does not match the log (byte changed)")
        );
    }
}

#[test]
fn flipped_byte_in_a_stored_leaf_hash_or_length_is_named() {
    let (_copy, err) = tampered(|b| {
        let (_, end) = frames(b)[K];
        b[end - 5] ^= 0x80;
    });
    assert_eq!(err.first_bad_index(), Some(K as u64), "{err}");
    for byte in 0..4 {
        let (_copy, err) = tampered(|b| {
            let (start, _) = frames(b)[K];
            b[start + byte] ^= 0x04;
        });
        assert_eq!(
            err.first_bad_index(),
            Some(K as u64),
            "length byte {byte}: {err}"
        );
    }
}

#[test]
fn deleted_entry_is_named() {
    let (_copy, err) = tampered(|b| {
        let (start, end) = frames(b)[K];
        b.drain(start..end);
    });
    assert_eq!(err.first_bad_index(), Some(K as u64), "{err}");
    assert!(matches!(
        err,
        AuditError::Entry { problem: EntryProblem::IndexMismatch { found }, .. } if found == K as u64 + 1
    ));
}

#[test]
fn swapped_entries_are_named() {
    let (_copy, err) = tampered(|b| {
        let f = frames(b);
        let (a, mid, end) = (f[K].0, f[K].1, f[K + 1].1);
        let mut swapped = b[mid..end].to_vec();
        swapped.extend_from_slice(&b[a..mid]);
        b.splice(a..end, swapped);
    });
    assert_eq!(err.first_bad_index(), Some(K as u64), "{err}");
}

#[test]
fn truncated_tail_is_named() {
    // Cut inside a frame covered by a checkpoint.
    let (_copy, err) = tampered(|b| {
        let (start, end) = frames(b)[9000];
        b.truncate((start + end) / 2);
    });
    assert_eq!(err.first_bad_index(), Some(9000), "{err}");
    assert!(err.to_string().contains("log truncated"), "{err}");

    // Drop whole entries at a frame boundary.
    let (_copy, err) = tampered(|b| {
        let (start, _) = frames(b)[9500];
        b.truncate(start);
    });
    assert_eq!(err.first_bad_index(), Some(9500), "{err}");
}

#[test]
fn rewritten_entry_with_recomputed_hash_is_caught_by_the_signed_root() {
    let (_copy, err) = tampered(|b| {
        let (start, end) = frames(b)[K];
        let len = end - start - 36;
        let record = &mut b[start + 4..start + 4 + len];
        // Change the actor: "officer-" -> "offic3r-", same length.
        let pos = record.windows(8).position(|w| w == b"officer-").unwrap();
        record[pos + 5] = b'3';
        let leaf = hash_leaf(record);
        b[end - 32..end].copy_from_slice(&leaf);
    });
    let index = err.first_bad_index().unwrap();
    assert!(index <= K as u64 && K as u64 - index < 4096, "{err}");
    assert!(
        matches!(
            err,
            AuditError::Entry {
                problem: EntryProblem::RootMismatch { .. },
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn forged_checkpoint_is_refused() {
    let (dir, _) = fixture();
    let copy = copy_dir(dir.path());
    let (log, checkpoints) = paths(copy.path());
    let stranger = SigningKey::generate("city-1").unwrap();
    let err = verify_file(&log, &checkpoints, &stranger.public_key()).unwrap_err();
    assert!(
        matches!(err, AuditError::CheckpointFile { number: 0, .. }),
        "{err}"
    );
}
