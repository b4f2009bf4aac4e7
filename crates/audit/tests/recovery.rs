//! Reopening, crash recovery (a torn final frame is a crash, not tampering) and closing.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write;

use vfed_audit::{AuditError, AuditLog, EntryProblem, verify_file};

use support::{append_concurrently, frame_for, frames, paths, record, write_log};

fn append_bytes(path: &std::path::Path, bytes: &[u8]) {
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_after_close_appends_on() {
    let dir = tempfile::tempdir().unwrap();
    let key = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || write_log(&dir, 300)
    })
    .await
    .unwrap();
    let log = AuditLog::open(dir.path(), key.clone()).unwrap();
    assert_eq!(log.size(), 300);
    let before = log.checkpoint();
    append_concurrently(&log, 200, 16).await;
    let after = log.sync().await.unwrap();
    assert_eq!(log.checkpoint(), after);
    assert_eq!(after.size, 500);
    after.verify(&key.public_key()).unwrap();

    // Proofs from the running log verify against its signed checkpoints.
    let proof = log.consistency_proof(before.size, after.size).unwrap();
    vfed_audit::merkle::verify_consistency(
        before.size,
        after.size,
        &before.root,
        &after.root,
        &proof,
    )
    .unwrap();
    let leaf = log.leaf_hash(123).unwrap();
    let incl = log.inclusion_proof(123, after.size).unwrap();
    vfed_audit::merkle::verify_inclusion(&leaf, 123, after.size, &incl, &after.root).unwrap();

    log.close().await.unwrap();
    let err = log.append(record(0)).await.unwrap_err();
    assert!(matches!(err, AuditError::Closed { .. }), "{err}");

    let (l, c) = paths(dir.path());
    let report = verify_file(&l, &c, &key.public_key()).unwrap();
    assert_eq!((report.entries, report.last_checkpoint_size), (500, 500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_final_frame_after_the_last_checkpoint_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let key = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || write_log(&dir, 100)
    })
    .await
    .unwrap();
    let (l, c) = paths(dir.path());
    // A crash after the log fsync of one group but before its checkpoint (entry 100 is
    // complete, nobody was answered), then mid-write of the next frame (half of entry 101),
    // and mid-write of a checkpoint frame.
    append_bytes(&l, &frame_for(100));
    let half = frame_for(101);
    append_bytes(&l, &half[..half.len() / 2]);
    append_bytes(&c, &[0, 0, 1, 0, b'c', b'i']);

    // Offline, this is a crash, not tampering.
    let report = verify_file(&l, &c, &key.public_key()).unwrap();
    assert!(report.torn_tail);
    assert_eq!((report.entries, report.last_checkpoint_size), (101, 100));

    let log = AuditLog::open(dir.path(), key.clone()).unwrap();
    assert_eq!(
        log.size(),
        101,
        "complete entries after the checkpoint are kept"
    );
    assert_eq!(log.checkpoint().size, 101, "open signs what it recovered");
    let receipt = log.append(record(101)).await.unwrap();
    assert_eq!(receipt.index, 101);
    log.close().await.unwrap();

    let report = verify_file(&l, &c, &key.public_key()).unwrap();
    assert!(!report.torn_tail);
    assert_eq!((report.entries, report.last_checkpoint_size), (102, 102));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_shorter_than_its_checkpoint_is_truncation_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let key = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || write_log(&dir, 200)
    })
    .await
    .unwrap();
    let (l, _) = paths(dir.path());
    let mut bytes = std::fs::read(&l).unwrap();
    let (start, end) = frames(&bytes)[150];
    // Looks like a torn frame, but entries up to 200 were signed.
    bytes.truncate((start + end) / 2);
    std::fs::write(&l, &bytes).unwrap();

    let err = AuditLog::open(dir.path(), key).unwrap_err();
    assert_eq!(err.first_bad_index(), Some(150), "{err}");
    match err {
        AuditError::Tampered(inner) => assert!(matches!(
            *inner,
            AuditError::Entry {
                problem: EntryProblem::Missing {
                    checkpoint_size: 200
                },
                ..
            }
        )),
        other => panic!("expected Tampered, got {other}"),
    }
    assert_eq!(
        std::fs::read(&l).unwrap(),
        bytes,
        "a refused open leaves the evidence alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_checkpoints_file_or_wrong_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || write_log(&dir, 10)
    })
    .await
    .unwrap();
    let other = vfed_audit::SigningKey::generate("city-1").unwrap();
    assert!(
        AuditLog::open(dir.path(), other).is_err(),
        "checkpoints not signed by this key"
    );
    let renamed = vfed_audit::SigningKey::generate("city-2").unwrap();
    assert!(
        AuditLog::open(dir.path(), renamed).is_err(),
        "another origin"
    );
    let (_, c) = paths(dir.path());
    std::fs::remove_file(&c).unwrap();
    assert!(
        AuditLog::open(dir.path(), key).is_err(),
        "log without checkpoints"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_records_are_refused_alone() {
    let dir = tempfile::tempdir().unwrap();
    let key = vfed_audit::SigningKey::generate("city-1").unwrap();
    let log = AuditLog::open(dir.path(), key).unwrap();
    let big = record(0).with_details(serde_json::Value::String("x".repeat(2 << 20)));
    let (a, b, c) = tokio::join!(
        log.append(record(0)),
        log.append(big),
        log.append(record(1))
    );
    assert!(matches!(b, Err(AuditError::RecordRejected(_))));
    let mut got = [a.unwrap().index, c.unwrap().index];
    got.sort_unstable();
    assert_eq!(got, [0, 1]);
    log.close().await.unwrap();
}
