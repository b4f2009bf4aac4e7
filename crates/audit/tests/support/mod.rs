//! Shared helpers for the audit log tests: writing logs through `append`, and locating
//! frames in the file to tamper with them.
#![allow(clippy::unwrap_used, dead_code)]

use std::path::{Path, PathBuf};

use serde_json::json;
use vfed_audit::format::encode_log_frame;
use vfed_audit::merkle::hash_leaf;
use vfed_audit::{AuditLog, AuditRecord, CHECKPOINTS_FILE, LOG_FILE, SigningKey};

/// A record as a node would log it.
pub fn record(i: u64) -> AuditRecord {
    AuditRecord::new(
        format!("user/officer-{}", i % 17),
        "live.view.start",
        format!("device/{}", i % 101),
    )
    .with_purpose("incident 2024-117")
    .with_destination("workstation/12")
    .with_details(json!({"seq": i, "stream": "main"}))
}

/// Appends `n` records from `tasks` concurrent tasks; checks every receipt.
pub async fn append_concurrently(log: &AuditLog, n: u64, tasks: u64) {
    let start = log.size();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let log = log.clone();
        handles.push(tokio::spawn(async move {
            let mut receipts = Vec::new();
            let mut i = t;
            while i < n {
                receipts.push(log.append(record(i)).await.unwrap());
                i += tasks;
            }
            receipts
        }));
    }
    let mut indices = Vec::new();
    for h in handles {
        for r in h.await.unwrap() {
            assert!(
                r.tree_size > r.index,
                "receipt {r:?}: tree size must include the entry"
            );
            indices.push(r.index);
        }
    }
    indices.sort_unstable();
    assert_eq!(
        indices,
        (start..start + n).collect::<Vec<_>>(),
        "indices are dense and unique"
    );
}

/// Writes a log of `n` entries in `dir` through 64 concurrent appenders and closes it;
/// returns the node's key.
pub fn write_log(dir: &Path, n: u64) -> SigningKey {
    let key = SigningKey::generate("city-1").unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let log = AuditLog::open(dir, key.clone()).unwrap();
        append_concurrently(&log, n, 64).await;
        log.close().await.unwrap();
    });
    key
}

/// Paths of the log and checkpoints files in `dir`.
pub fn paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join(LOG_FILE), dir.join(CHECKPOINTS_FILE))
}

/// Byte ranges `[start, end)` of every complete frame of a log file's bytes.
pub fn frames(bytes: &[u8]) -> Vec<(usize, usize)> {
    let origin_len = u16::from_be_bytes([bytes[10], bytes[11]]) as usize;
    let mut pos = 12 + origin_len;
    let mut out = Vec::new();
    while pos + 4 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let end = pos + 4 + len + 32;
        if end > bytes.len() {
            break;
        }
        out.push((pos, end));
        pos = end;
    }
    out
}

/// The frame a correct writer would write for `record` at `index`.
pub fn frame_for(index: u64) -> Vec<u8> {
    let mut r = record(index);
    r.index = index;
    let bytes = r.to_canonical_bytes().unwrap();
    let mut out = Vec::new();
    encode_log_frame(&bytes, &hash_leaf(&bytes), &mut out);
    out
}

/// Copies the audit directory `from` into a fresh temporary directory.
pub fn copy_dir(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for name in [LOG_FILE, CHECKPOINTS_FILE] {
        std::fs::copy(from.join(name), to.path().join(name)).unwrap();
    }
    to
}
