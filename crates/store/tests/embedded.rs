//! Tests specific to the embedded backend: lifecycle, locking, history trim,
//! and (ignored) the group-commit throughput check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use vfed_store::embedded::{EmbeddedOptions, EmbeddedStore};
use vfed_store::{Op, Store, StoreError, Txn, WatchItem, watch_with_resync};

const WAIT: Duration = Duration::from_secs(20);

async fn put(store: &EmbeddedStore, key: &str, value: &str) -> i64 {
    let response = store
        .txn(Txn::new().then(Op::put(key, value)))
        .await
        .unwrap();
    assert!(response.succeeded);
    response.revision
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_after_close_keeps_data_revisions_and_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    let id = store.store_id().to_string();
    put(&store, "a", "1").await;
    let r2 = put(&store, "b", "2").await;
    store.close().await;
    assert!(matches!(store.get(b"a").await, Err(StoreError::Closed)));
    assert!(matches!(
        store.txn(Txn::new().then(Op::put("c", "3"))).await,
        Err(StoreError::Closed)
    ));
    assert!(matches!(
        store.current_revision().await,
        Err(StoreError::Closed)
    ));
    store.close().await; // idempotent

    let reopened = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    assert_eq!(reopened.store_id(), id);
    assert_eq!(reopened.current_revision().await.unwrap(), r2);
    assert_eq!(reopened.get(b"b").await.unwrap().unwrap().mod_revision, r2);
    assert_eq!(put(&reopened, "c", "3").await, r2 + 1);
    // History survives too.
    let mut watch = reopened.watch(b"", 1).await.unwrap();
    let batch = tokio::time::timeout(WAIT, watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(batch.events[0].key(), b"a");
    drop(watch);
    drop(store);

    // A new file is a new store.
    let other_dir = tempfile::tempdir().unwrap();
    let other = EmbeddedStore::open(other_dir.path(), EmbeddedOptions::default()).unwrap();
    assert_ne!(other.store_id(), id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_open_of_a_locked_file_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    let error = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap_err();
    assert!(
        error.to_string().contains("already open"),
        "unclear error: {error}"
    );
    // Dropping the last handle releases the file.
    put(&store, "k", "v").await;
    drop(store);
    let reopened = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    assert_eq!(reopened.get(b"k").await.unwrap().unwrap().value, b"v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_ends_watches() {
    let (store, _dir) = vfed_store::testing::temp_embedded_store().unwrap();
    let mut watch = store.watch(b"", 1).await.unwrap();
    let resync = watch_with_resync(store.clone(), b"".to_vec(), 0);
    store.close().await;
    let item = tokio::time::timeout(WAIT, watch.next()).await.unwrap();
    assert!(matches!(item, Some(Err(StoreError::Closed))), "{item:?}");
    let items: Vec<WatchItem> = tokio::time::timeout(WAIT, resync.collect()).await.unwrap();
    assert!(items.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_trimmed_automatically() {
    let options = EmbeddedOptions {
        history: 10,
        ..EmbeddedOptions::default()
    };
    let (store, _dir) = vfed_store::testing::temp_embedded_store_with(options).unwrap();
    // A watch that is established but lags behind gets Compacted as a stream item.
    let mut lagging = store.watch(b"", 1).await.unwrap();
    let mut last = 0;
    for i in 0..30 {
        last = put(&store, &format!("k{}", i % 4), "x").await;
    }
    let item = tokio::time::timeout(WAIT, lagging.next())
        .await
        .unwrap()
        .unwrap();
    match item {
        Err(StoreError::Compacted {
            compact_revision, ..
        }) => assert_eq!(compact_revision, last - 10),
        other => panic!("expected Compacted, got {other:?}"),
    }
    assert!(matches!(
        store.watch(b"", last - 10).await,
        Err(StoreError::Compacted { .. })
    ));
    let mut watch = store.watch(b"", last - 9).await.unwrap();
    let batch = tokio::time::timeout(WAIT, watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(batch.events[0].revision(), last - 9);
    assert_eq!(batch.revision, last);
}

/// Prints the group-commit rate: `cargo test -p vfed-store --features testing
/// --release --test embedded -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "throughput measurement, run by hand"]
async fn group_commit_throughput() {
    let (store, _dir) = vfed_store::testing::temp_embedded_store().unwrap();
    const CALLERS: usize = 64;
    const PER_CALLER: usize = 500;
    let started = Instant::now();
    let tasks: Vec<_> = (0..CALLERS)
        .map(|c| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for i in 0..PER_CALLER {
                    let txn = Txn::new().then(Op::put(format!("bench/{c}/{i}"), vec![b'x'; 100]));
                    assert!(store.txn(txn).await.unwrap().succeeded);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed();
    let total = CALLERS * PER_CALLER;
    println!(
        "group commit: {total} single-put txns from {CALLERS} callers in {elapsed:?}: {:.0} txn/s",
        total as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(store.current_revision().await.unwrap(), total as i64);
}
