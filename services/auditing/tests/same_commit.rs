//! R14.5/R18.6: a change and its audit record commit in one store transaction, and the pump
//! moves the record into the Merkle log exactly once — across a kill before the pump ran,
//! and across a crash between the pump's append and its delete. A failed compare-and-swap
//! carries nothing. The same tests run on the embedded store and on a real etcd.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use vfed_audit::AuditRecord;
use vfed_auditing::pending::{PENDING_PREFIX, PUMP_MARKER, pumped_from};
use vfed_auditing::pump::testing;
use vfed_auditing::{AuditTrail, ScopeOutcome};
use vfed_store::embedded::{EmbeddedOptions, EmbeddedStore};
use vfed_store::etcd::EtcdStore;
use vfed_store::{Compare, Op, SharedStore, Txn};

const NODE: &str = "54050200002000000001";
const WAIT: Duration = Duration::from_secs(20);

/// A store that can be closed and opened again on the same data, and an audit directory.
struct Env {
    etcd_prefix: Option<String>,
    store_dir: tempfile::TempDir,
    audit_dir: tempfile::TempDir,
    embedded: Option<Arc<EmbeddedStore>>,
    _serial: Option<tokio::sync::MutexGuard<'static, ()>>,
}

/// The etcd tests share one server: one at a time keeps them independent of each other's load.
static ETCD_SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Env {
    async fn new(etcd: bool) -> Env {
        let serial = if etcd {
            Some(ETCD_SERIAL.lock().await)
        } else {
            None
        };
        Env {
            etcd_prefix: etcd.then(|| format!("/vfed-audit-test/{}/", rand_suffix())),
            store_dir: tempfile::tempdir().unwrap(),
            audit_dir: tempfile::tempdir().unwrap(),
            embedded: None,
            _serial: serial,
        }
    }

    /// Opens the store (again).
    async fn open_store(&mut self) -> SharedStore {
        match &self.etcd_prefix {
            Some(prefix) => {
                let server = vfed_store::testing::shared_etcd().await.unwrap();
                EtcdStore::connect(server.options(prefix.clone()))
                    .await
                    .unwrap()
            }
            None => {
                let options = EmbeddedOptions {
                    max_txn_ops: 128,
                    ..EmbeddedOptions::default()
                };
                let store = EmbeddedStore::open(self.store_dir.path(), options).unwrap();
                self.embedded = Some(store.clone());
                store
            }
        }
    }

    async fn open_trail(&mut self) -> (AuditTrail, SharedStore) {
        let store = self.open_store().await;
        let trail = AuditTrail::open(self.audit_dir.path(), NODE, store.clone())
            .await
            .unwrap();
        (trail, store)
    }

    /// A crash: the log and the store keep only what they made durable.
    async fn kill(&mut self, trail: AuditTrail) {
        trail.close().await.unwrap();
        drop(trail);
        if let Some(store) = self.embedded.take() {
            store.close().await;
        }
    }
}

fn rand_suffix() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

fn change_record(n: u32) -> AuditRecord {
    AuditRecord::new(
        "user/zhuoma",
        "device.update",
        format!("5405020000132000000{n}"),
    )
    .with_purpose("maintenance")
}

/// Every record in the log.
async fn logged(trail: &AuditTrail) -> Vec<AuditRecord> {
    let entries = trail.read(0, 1000).await.unwrap();
    assert_eq!(entries.len() as u64, trail.size());
    entries
        .iter()
        .map(|e| AuditRecord::from_bytes(&e.record).unwrap())
        .collect()
}

async fn pending_count(store: &SharedStore) -> usize {
    store.list(PENDING_PREFIX, None, 0).await.unwrap().kvs.len()
}

/// Puts `key` inside a change scope; returns the outcome.
async fn scoped_put(trail: &AuditTrail, n: u32, key: &str) -> ScopeOutcome {
    let store = trail.store();
    let key = key.to_owned();
    let (result, outcome) = trail
        .in_change_scope(change_record(n), async move {
            store
                .txn(Txn::new().then(Op::put(key.into_bytes(), b"v".to_vec())))
                .await
        })
        .await;
    assert!(result.unwrap().succeeded);
    outcome
}

async fn kill_before_the_pump_logs_the_record_once(etcd: bool) {
    let mut env = Env::new(etcd).await;
    let (trail, store) = env.open_trail().await;
    let outcome = scoped_put(&trail, 1, "cat/local/1").await;
    let ScopeOutcome::Committed { key, revision } = outcome else {
        panic!("not committed: {outcome:?}")
    };
    // The change and its record are in one revision; nothing is in the log yet.
    let change = store.get(b"cat/local/1").await.unwrap().unwrap();
    let pending = store.get(key.as_bytes()).await.unwrap().unwrap();
    assert_eq!(change.mod_revision, revision);
    assert_eq!(pending.mod_revision, revision);
    assert_eq!(trail.size(), 0);
    env.kill(trail).await;

    let (trail, store) = env.open_trail().await;
    assert_eq!(testing::drain(&trail).await.unwrap(), 1);
    let records = logged(&trail).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].action, "device.update");
    assert_eq!(pumped_from(&records[0]), Some(key.as_str()));
    assert_eq!(records[0].details["store_commit"]["revision"], revision);
    assert_eq!(pending_count(&store).await, 0);
    // Draining again finds nothing.
    assert_eq!(testing::drain(&trail).await.unwrap(), 0);
    assert_eq!(trail.size(), 1);
    env.kill(trail).await;
}

async fn crash_between_append_and_delete_logs_each_record_once(etcd: bool) {
    let mut env = Env::new(etcd).await;
    let (trail, store) = env.open_trail().await;
    for n in 0..3 {
        assert!(
            scoped_put(&trail, n, &format!("cat/local/{n}"))
                .await
                .is_committed()
        );
    }
    // A direct record in between, as a view or refusal would be.
    trail
        .record(AuditRecord::new("user/a", "live.view.start", "x"))
        .await
        .unwrap();
    // The pump appends the three and "crashes" before deleting their keys.
    assert_eq!(testing::append_without_delete(&trail).await.unwrap(), 3);
    assert_eq!(trail.size(), 4);
    assert_eq!(pending_count(&store).await, 3);
    env.kill(trail).await;

    let (trail, store) = env.open_trail().await;
    assert_eq!(
        testing::drain(&trail).await.unwrap(),
        0,
        "nothing appended twice"
    );
    assert_eq!(pending_count(&store).await, 0);
    let records = logged(&trail).await;
    assert_eq!(records.len(), 4);
    let pumped: Vec<&str> = records.iter().filter_map(pumped_from).collect();
    assert_eq!(pumped.len(), 3);
    assert!(store.get(PUMP_MARKER).await.unwrap().is_some());

    // And the pump carries on normally afterwards.
    assert!(scoped_put(&trail, 7, "cat/local/7").await.is_committed());
    assert_eq!(testing::drain(&trail).await.unwrap(), 1);
    assert_eq!(trail.size(), 5);
    env.kill(trail).await;
}

async fn failed_cas_carries_nothing(etcd: bool) {
    let mut env = Env::new(etcd).await;
    let (trail, store) = env.open_trail().await;
    let audited = trail.store();
    assert_eq!(audited.max_txn_ops(), store.max_txn_ops() - 1);
    let before = store.current_revision().await.unwrap();

    // A CAS that fails: nothing written, the record comes back.
    let s = audited.clone();
    let (result, outcome) = trail
        .in_change_scope(change_record(1), async move {
            s.txn(
                Txn::new()
                    .when(Compare::mod_revision(b"cat/local/1".to_vec(), 99))
                    .then(Op::put(b"cat/local/1".to_vec(), b"v".to_vec())),
            )
            .await
        })
        .await;
    assert!(!result.unwrap().succeeded);
    let ScopeOutcome::NotCommitted(back) = outcome else {
        panic!("committed: {outcome:?}")
    };
    assert_eq!(back.target, change_record(1).target);
    assert_eq!(pending_count(&store).await, 0);
    assert_eq!(store.current_revision().await.unwrap(), before);

    // A CAS loop: the failed attempt carries nothing, the one that commits carries the
    // record, a later write of the same scope does not carry it again.
    let s = audited.clone();
    let (writes, outcome) = trail
        .in_change_scope(change_record(2), async move {
            let mut expected = 42; // stale
            loop {
                let r = s
                    .txn(
                        Txn::new()
                            .when(Compare::mod_revision(b"cat/local/2".to_vec(), expected))
                            .then(Op::put(b"cat/local/2".to_vec(), b"v".to_vec())),
                    )
                    .await
                    .unwrap();
                if r.succeeded {
                    break;
                }
                expected = 0;
            }
            s.txn(Txn::new().then(Op::put(b"outage/2".to_vec(), b"o".to_vec())))
                .await
                .unwrap()
        })
        .await;
    assert!(writes.succeeded);
    assert!(outcome.is_committed(), "{outcome:?}");
    assert_eq!(pending_count(&store).await, 1);

    // A read-only scope and writes outside any scope carry nothing.
    let s = audited.clone();
    let (_, outcome) = trail
        .in_change_scope(change_record(3), async move { s.get(b"cat/local/2").await })
        .await;
    assert!(!outcome.is_committed());
    audited
        .txn(Txn::new().then(Op::put(b"cat/local/4".to_vec(), b"v".to_vec())))
        .await
        .unwrap();
    // Another trail's scope does not ride this trail's store.
    let other_dir = tempfile::tempdir().unwrap();
    let other = AuditTrail::open(other_dir.path(), "54052100002000000001", store.clone())
        .await
        .unwrap();
    let s = audited.clone();
    let (_, outcome) = other
        .in_change_scope(change_record(5), async move {
            s.txn(Txn::new().then(Op::put(b"cat/local/5".to_vec(), b"v".to_vec())))
                .await
        })
        .await;
    assert!(!outcome.is_committed());
    assert_eq!(pending_count(&store).await, 1);
    other.close().await.unwrap();

    // A transaction of the advertised maximum still fits with the record.
    let s = audited.clone();
    let max = audited.max_txn_ops();
    let (result, outcome) = trail
        .in_change_scope(change_record(6), async move {
            let mut txn = Txn::new();
            for i in 0..max {
                txn = txn.then(Op::put(format!("bulk/{i}").into_bytes(), b"v".to_vec()));
            }
            s.txn(txn).await
        })
        .await;
    assert!(result.unwrap().succeeded);
    assert!(outcome.is_committed());
    assert_eq!(testing::drain(&trail).await.unwrap(), 2);
    env.kill(trail).await;
}

async fn running_pump_logs_changes_as_they_commit(etcd: bool) {
    let mut env = Env::new(etcd).await;
    let (trail, store) = env.open_trail().await;
    let shutdown = CancellationToken::new();
    let pump = tokio::spawn({
        let trail = trail.clone();
        let shutdown = shutdown.clone();
        async move { trail.run_pump(shutdown).await }
    });
    let mut size = trail.watch_size();
    let mut tasks = Vec::new();
    for n in 0..20u32 {
        let trail = trail.clone();
        tasks.push(tokio::spawn(async move {
            scoped_put(&trail, n, &format!("cat/local/{n}")).await
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap().is_committed());
    }
    tokio::time::timeout(WAIT, size.wait_for(|s| *s >= 20))
        .await
        .expect("pumped in time")
        .unwrap();
    shutdown.cancel();
    pump.await.unwrap();
    assert_eq!(trail.size(), 20);
    assert_eq!(pending_count(&store).await, 0);
    env.kill(trail).await;
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(false).await;
                }
            )*
        }
        mod etcd {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(true).await;
                }
            )*
        }
    };
}

on_both_backends!(
    kill_before_the_pump_logs_the_record_once,
    crash_between_append_and_delete_logs_each_record_once,
    failed_cas_carries_nothing,
    running_pump_logs_changes_as_they_commit,
);
