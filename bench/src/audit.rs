//! Benchmark: the audit log (R14.5, R18.6).
//!
//! - appends/s with fsync, one appender and 64 concurrent ones (group commit: one log fsync
//!   and one checkpoint fsync per group), through the node's `AuditTrail::record`;
//! - changes whose audit record commits in the same store transaction (embedded store,
//!   64 concurrent), measured until the pump has moved every record into the log;
//! - inclusion and consistency proof generation at 1M entries (100k in quick mode);
//! - opening (recovery scan) and offline verification of the appended log.
//!
//! Files go to a directory next to the benchmark binary (`target/.../audit-bench`), not to
//! `/tmp`, which may be a tmpfs where fsync costs nothing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use vfed_audit::merkle::{MerkleTree, hash_leaf, verify_consistency, verify_inclusion};
use vfed_audit::{AuditLog, AuditRecord, SigningKey, verify_file};
use vfed_auditing::AuditTrail;
use vfed_store::embedded::{EmbeddedOptions, EmbeddedStore};
use vfed_store::{Op, Txn};

use crate::machine::CpuMark;
use crate::report::{Goal, Row, Section, Stat, number, quantile};

/// The node whose log is written.
const NODE: &str = "54050200002000000001";

/// Sizes of this benchmark.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Appends per run with 64 appenders.
    pub appends: u64,
    /// Appends per run with one appender.
    pub serial_appends: u64,
    /// Same-commit changes per run.
    pub changes: u64,
    /// Entries of the tree the proofs are taken from.
    pub proof_entries: u64,
    /// Proofs of each kind per run.
    pub proofs: u64,
    /// Runs.
    pub runs: usize,
}

/// A record as the auth layer writes one for a view.
fn record(i: u64) -> AuditRecord {
    AuditRecord::new(
        format!("user/officer-{}", i % 17),
        "live.view.start",
        format!("5405020000132{:07}", i % 1000),
    )
    .with_purpose("incident 2025-117")
    .with_destination("workstation/12")
    .with_details(serde_json::json!({ "stream": "main", "seq": i }))
}

/// A scratch directory on the disk the benchmark binary lives on.
fn scratch() -> anyhow::Result<tempfile::TempDir> {
    let base = std::env::current_exe()?
        .parent()
        .map_or_else(std::env::temp_dir, |p| p.join("audit-bench"));
    std::fs::create_dir_all(&base)?;
    Ok(tempfile::tempdir_in(base)?)
}

async fn trail_on_fresh_store()
-> anyhow::Result<(AuditTrail, Arc<EmbeddedStore>, tempfile::TempDir)> {
    let dir = scratch()?;
    let store = EmbeddedStore::open(&dir.path().join("store"), EmbeddedOptions::default())?;
    let trail = AuditTrail::open(&dir.path().join("audit"), NODE, store.clone()).await?;
    Ok((trail, store, dir))
}

/// `n` records from `tasks` concurrent appenders; appends/s.
async fn append_rate(trail: &AuditTrail, n: u64, tasks: u64) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let trail = trail.clone();
        handles.push(tokio::spawn(async move {
            let mut i = t;
            while i < n {
                trail.record(record(i)).await?;
                i += tasks;
            }
            Ok::<_, vfed_auditing::AuditingError>(())
        }));
    }
    for h in handles {
        h.await?.context("append")?;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// `n` store changes at 64 concurrency, each carrying its audit record in its own
/// transaction, with the pump running; changes/s until every record is in the log.
async fn same_commit_rate(n: u64) -> anyhow::Result<f64> {
    let (trail, store, _dir) = trail_on_fresh_store().await?;
    let shutdown = CancellationToken::new();
    let pump = tokio::spawn({
        let trail = trail.clone();
        let shutdown = shutdown.clone();
        async move { trail.run_pump(shutdown).await }
    });
    let base = trail.size();
    let mut size = trail.watch_size();
    let started = Instant::now();
    let tasks = 64;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let trail = trail.clone();
        handles.push(tokio::spawn(async move {
            let wrapped = trail.store();
            let mut i = t;
            while i < n {
                let key = format!("cat/local/{i:08}").into_bytes();
                let txn = Txn::new().then(Op::put(key, b"{}".to_vec()));
                let s = wrapped.clone();
                let (result, outcome) = trail
                    .in_change_scope(record(i), async move { s.txn(txn).await })
                    .await;
                anyhow::ensure!(
                    result?.succeeded && outcome.is_committed(),
                    "change {i} not committed with its record"
                );
                i += tasks;
            }
            Ok(())
        }));
    }
    for h in handles {
        h.await??;
    }
    tokio::time::timeout(Duration::from_secs(300), size.wait_for(|s| *s >= base + n))
        .await
        .context("pump did not catch up within 300 s")??;
    let rate = n as f64 / started.elapsed().as_secs_f64();
    shutdown.cancel();
    pump.await?;
    trail.close().await?;
    store.close().await;
    Ok(rate)
}

/// Proof generation times (µs) at a tree of `n` leaves: inclusion and consistency.
fn proof_times(tree: &MerkleTree, proofs: u64) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let n = tree.size();
    let root = tree.root();
    let pick = |i: u64, m: u64| (i.wrapping_mul(2_654_435_761) ^ 0x5bd1_e995) % m;
    let mut inclusion = Vec::with_capacity(proofs as usize);
    for i in 0..proofs {
        let index = pick(i, n);
        let started = Instant::now();
        let proof = tree.inclusion_proof(index, n)?;
        inclusion.push(started.elapsed().as_secs_f64() * 1e6);
        if i % 97 == 0 {
            let leaf = tree.leaf_hash(index).context("leaf")?;
            verify_inclusion(&leaf, index, n, &proof, &root)?;
        }
    }
    let mut consistency = Vec::with_capacity(proofs as usize);
    for i in 0..proofs {
        let old = 1 + pick(i, n - 1);
        let started = Instant::now();
        let proof = tree.consistency_proof(old, n)?;
        consistency.push(started.elapsed().as_secs_f64() * 1e6);
        if i % 97 == 0 {
            verify_consistency(old, n, &tree.root_at(old)?, &root, &proof)?;
        }
    }
    Ok((inclusion, consistency))
}

/// Runs the benchmark.
pub async fn run(sizes: Sizes) -> anyhow::Result<Section> {
    let mut serial = Vec::new();
    let mut grouped = Vec::new();
    let mut changes = Vec::new();
    let mut open_s = Vec::new();
    let mut verify_s = Vec::new();
    let mut cores = Vec::new();
    for run in 0..sizes.runs {
        let (trail, store, dir) = trail_on_fresh_store().await?;
        serial.push(append_rate(&trail, sizes.serial_appends, 1).await?);
        let mark = CpuMark::now();
        grouped.push(append_rate(&trail, sizes.appends, 64).await?);
        cores.push(mark.used().process_cores);
        let key = SigningKey::load(&dir.path().join("audit").join("signing.key"))?;
        trail.close().await?;
        store.close().await;
        let audit_dir: PathBuf = dir.path().join("audit");
        let started = Instant::now();
        let reopened = AuditLog::open(&audit_dir, key.clone())?;
        open_s.push(started.elapsed().as_secs_f64());
        reopened.close().await?;
        let started = Instant::now();
        let report = verify_file(
            &audit_dir.join(vfed_audit::LOG_FILE),
            &audit_dir.join(vfed_audit::CHECKPOINTS_FILE),
            &key.public_key(),
        )?;
        verify_s.push(started.elapsed().as_secs_f64());
        anyhow::ensure!(report.entries == sizes.appends + sizes.serial_appends);
        drop(dir);
        changes.push(same_commit_rate(sizes.changes).await?);
        eprintln!(
            "   run {}: {} appends/s (1), {} appends/s (64), {} changes/s same commit",
            run + 1,
            number(serial[run]),
            number(grouped[run]),
            number(changes[run])
        );
    }

    // Proofs: a tree of real record leaf hashes, the structure the log keeps in memory.
    let started = Instant::now();
    let mut tree = MerkleTree::new();
    for i in 0..sizes.proof_entries {
        let mut r = record(i);
        r.index = i;
        tree.push_leaf_hash(hash_leaf(&r.to_canonical_bytes()?));
    }
    let build_s = started.elapsed().as_secs_f64();
    let mut inclusion_p50 = Vec::new();
    let mut inclusion_p99 = Vec::new();
    let mut consistency_p50 = Vec::new();
    let mut consistency_p99 = Vec::new();
    for _ in 0..sizes.runs {
        let (inc, cons) = proof_times(&tree, sizes.proofs)?;
        inclusion_p50.push(quantile(&inc, 0.5));
        inclusion_p99.push(quantile(&inc, 0.99));
        consistency_p50.push(quantile(&cons, 0.5));
        consistency_p99.push(quantile(&cons, 0.99));
    }

    let bench = "audit";
    let n = sizes.appends;
    let at = format!("{} entries", sizes.proof_entries);
    let rows = vec![
        Row::new(
            bench,
            format!("1 appender, {} records", sizes.serial_appends),
            "appends/s (fsync)",
            "1/s",
            Stat::of(serial)?,
        ),
        Row::new(
            bench,
            format!("64 appenders, {n} records"),
            "appends/s (fsync, group commit)",
            "1/s",
            Stat::of(grouped.clone())?,
        )
        .goal(Goal::AtLeast(20_000.0)),
        Row::new(
            bench,
            format!("embedded store, 64 concurrent, {} changes", sizes.changes),
            "changes/s with record in the same commit, until logged",
            "1/s",
            Stat::of(changes)?,
        ),
        Row::new(
            bench,
            at.clone(),
            "inclusion proof p50",
            "µs",
            Stat::of(inclusion_p50)?,
        ),
        Row::new(
            bench,
            at.clone(),
            "inclusion proof p99",
            "µs",
            Stat::of(inclusion_p99)?,
        ),
        Row::new(
            bench,
            at.clone(),
            "consistency proof p50",
            "µs",
            Stat::of(consistency_p50)?,
        ),
        Row::new(
            bench,
            at,
            "consistency proof p99",
            "µs",
            Stat::of(consistency_p99)?,
        ),
        Row::new(
            bench,
            format!("{} entries", n + sizes.serial_appends),
            "open (recovery scan)",
            "s",
            Stat::of(open_s)?,
        ),
        Row::new(
            bench,
            format!("{} entries", n + sizes.serial_appends),
            "offline verify (vfedctl audit verify)",
            "s",
            Stat::of(verify_s)?,
        ),
    ];
    let mean_cores = cores.iter().sum::<f64>() / cores.len().max(1) as f64;
    Ok(Section {
        name: "Audit log".into(),
        method: format!(
            "A node's `AuditTrail` (vfed-auditing over vfed-audit) on a fresh directory next to the \
             benchmark binary (ext4/whatever the target dir is on; never tmpfs). `record` returns once \
             the record's group is fsynced; every group is followed by a signed checkpoint (ed25519) \
             appended and fsynced too. Same-commit changes: `in_change_scope` + one put through \
             `AuditTrail::store()` on an embedded store (redb, its own group commit), with the pump \
             moving the records into the log; timed until the log holds all of them. Proofs: \
             {} inclusion and {} consistency proofs at random indices/sizes of a {}-leaf tree of \
             real record leaf hashes (the in-memory structure `AuditLog` proves from), 1% verified.",
            sizes.proofs, sizes.proofs, sizes.proof_entries
        ),
        rows,
        notes: vec![
            format!(
                "64 appenders kept {mean_cores:.2} cores busy on average (record encoding, SHA-256, \
                 the writer thread, ed25519 signing per group)."
            ),
            format!(
                "Building the {}-leaf tree took {build_s:.2} s.",
                sizes.proof_entries
            ),
        ],
        ..Section::default()
    })
}
