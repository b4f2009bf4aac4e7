//! Throughput and proof-cost measurements, ignored by default (they print numbers rather
//! than assert them; real numbers come from the bench crate later). Run with
//! `cargo test --release -p vfed-audit --test rate -- --ignored --nocapture`.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Instant;

use vfed_audit::merkle::{MerkleTree, hash_leaf, verify_consistency, verify_inclusion};
use vfed_audit::{AuditLog, SigningKey, verify_file};

use support::{append_concurrently, paths};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: run in release with --nocapture"]
async fn append_rate_with_64_appenders_and_fsync() {
    const N: u64 = 200_000;
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let key = SigningKey::generate("city-1").unwrap();
    let log = AuditLog::open(dir.path(), key.clone()).unwrap();
    let start = Instant::now();
    append_concurrently(&log, N, 64).await;
    let elapsed = start.elapsed();
    log.close().await.unwrap();

    let (l, c) = paths(dir.path());
    let verify_start = Instant::now();
    let report = verify_file(&l, &c, &key.public_key()).unwrap();
    let verify_elapsed = verify_start.elapsed();
    let bytes = std::fs::metadata(&l).unwrap().len();
    println!(
        "append: {N} records from 64 tasks in {:.2?}: {:.0} appends/s; {} groups (one log fsync each; checkpoints synced at most once a second), {:.1} records/group; log {} bytes",
        elapsed,
        N as f64 / elapsed.as_secs_f64(),
        report.checkpoints - 1,
        N as f64 / (report.checkpoints - 1) as f64,
        bytes
    );
    println!(
        "verify_file: {} entries, {} checkpoints in {:.2?}",
        report.entries, report.checkpoints, verify_elapsed
    );
    let reopen = Instant::now();
    let log = AuditLog::open(dir.path(), key).unwrap();
    println!(
        "open (recovery scan): {} entries in {:.2?}",
        log.size(),
        reopen.elapsed()
    );
}

#[test]
#[ignore = "measurement: run in release with --nocapture"]
fn proof_times_at_one_million_entries() {
    const N: u64 = 1_000_000;
    let mut tree = MerkleTree::new();
    let start = Instant::now();
    for i in 0..N {
        tree.push_leaf_hash(hash_leaf(&i.to_be_bytes()));
    }
    println!("build: {N} leaves in {:.2?}", start.elapsed());
    let root = tree.root();

    // A cheap deterministic spread of indices and sizes.
    let pick = |i: u64, m: u64| (i.wrapping_mul(2_654_435_761) ^ 0x5bd1e995) % m;
    const PROOFS: u64 = 10_000;
    let start = Instant::now();
    let mut total_len = 0;
    for i in 0..PROOFS {
        let index = pick(i, N);
        let proof = tree.inclusion_proof(index, N).unwrap();
        total_len += proof.len();
        if i % 100 == 0 {
            verify_inclusion(&tree.leaf_hash(index).unwrap(), index, N, &proof, &root).unwrap();
        }
    }
    println!(
        "inclusion proof at size {N}: {:.2?} each (mean length {:.1})",
        start.elapsed() / PROOFS as u32,
        total_len as f64 / PROOFS as f64
    );

    let start = Instant::now();
    for i in 0..PROOFS {
        let old = 1 + pick(i, N - 1);
        let proof = tree.consistency_proof(old, N).unwrap();
        if i % 100 == 0 {
            verify_consistency(old, N, &tree.root_at(old).unwrap(), &root, &proof).unwrap();
        }
    }
    println!(
        "consistency proof to size {N}: {:.2?} each",
        start.elapsed() / PROOFS as u32
    );

    let start = Instant::now();
    for i in 0..PROOFS {
        let size = 1 + pick(i, N);
        std::hint::black_box(tree.root_at(size).unwrap());
    }
    println!(
        "root at an arbitrary size: {:.2?} each",
        start.elapsed() / PROOFS as u32
    );
}
