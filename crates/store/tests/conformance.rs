//! The store conformance suite: the same tests against the embedded store
//! and against a real etcd (one etcd per test binary, one root prefix per test).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use vfed_store::{
    Compare, KeyValue, Op, SharedStore, StoreError, Txn, WatchBatch, WatchEvent, WatchItem,
    WatchStream, watch_with_resync,
};

/// Upper bound of every wait in these tests.
const WAIT: Duration = Duration::from_secs(20);

/// Keeps a store's backing resources alive for a test.
struct Fixture {
    store: SharedStore,
    _dir: Option<tempfile::TempDir>,
    _serial: Option<tokio::sync::MutexGuard<'static, ()>>,
}

/// The etcd tests share one server and so one revision counter: they run one
/// at a time so that their revision arithmetic holds exactly as on the
/// embedded store.
static ETCD_SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn embedded() -> Fixture {
    let (store, dir) = vfed_store::testing::temp_embedded_store().unwrap();
    Fixture {
        store,
        _dir: Some(dir),
        _serial: None,
    }
}

async fn etcd() -> Fixture {
    let serial = ETCD_SERIAL.lock().await;
    let server = vfed_store::testing::shared_etcd().await.unwrap();
    Fixture {
        store: server.store().await.unwrap(),
        _dir: None,
        _serial: Some(serial),
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod embedded_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let fixture = super::embedded().await;
                    super::$name(fixture.store.clone()).await;
                }
            )*
        }
        mod etcd_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let fixture = super::etcd().await;
                    super::$name(fixture.store.clone()).await;
                }
            )*
        }
    };
}

conformance!(
    put_get_revisions,
    list_order_pagination,
    snapshot_consistency,
    txn_compare_and_swap,
    txn_value_compare,
    txn_multi_op_atomic,
    too_many_ops,
    delete_events,
    watch_replays_history,
    watch_prefix_isolation,
    watch_live_events,
    concurrent_cas_counter,
    compaction_then_watch,
    resync_across_compaction,
    resync_from_zero_starts_with_snapshot,
);

async fn put(store: &SharedStore, key: &str, value: &str) -> i64 {
    let response = store
        .txn(Txn::new().then(Op::put(key, value)))
        .await
        .unwrap();
    assert!(response.succeeded);
    response.revision
}

async fn delete(store: &SharedStore, key: &str) -> i64 {
    let response = store.txn(Txn::new().then(Op::delete(key))).await.unwrap();
    assert!(response.succeeded);
    response.revision
}

/// Collects watch batches until one reaches `revision`.
async fn collect_until(stream: &mut WatchStream, revision: i64) -> Vec<WatchBatch> {
    let mut batches = Vec::new();
    tokio::time::timeout(WAIT, async {
        loop {
            let batch = stream
                .next()
                .await
                .expect("watch ended")
                .expect("watch failed");
            let done = batch.revision >= revision;
            batches.push(batch);
            if done {
                break;
            }
        }
    })
    .await
    .expect("timed out waiting for watch events");
    batches
}

fn events(batches: &[WatchBatch]) -> Vec<WatchEvent> {
    let mut all = Vec::new();
    let mut last = 0;
    for batch in batches {
        assert!(!batch.events.is_empty(), "empty batch");
        for event in &batch.events {
            assert!(event.revision() >= last, "events out of order");
            last = event.revision();
        }
        assert_eq!(
            batch.revision, last,
            "batch revision is not its last event's"
        );
        all.extend(batch.events.iter().cloned());
    }
    all
}

fn kv(key: &str, value: &str, create: i64, modified: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.into(),
        create_revision: create,
        mod_revision: modified,
    }
}

async fn put_get_revisions(store: SharedStore) {
    assert_eq!(store.get(b"a").await.unwrap(), None);
    let r1 = put(&store, "a", "1").await;
    assert_eq!(store.current_revision().await.unwrap(), r1);
    assert_eq!(store.get(b"a").await.unwrap(), Some(kv("a", "1", r1, r1)));
    let r2 = put(&store, "a", "2").await;
    assert_eq!(r2, r1 + 1);
    assert_eq!(store.get(b"a").await.unwrap(), Some(kv("a", "2", r1, r2)));
    let r3 = delete(&store, "a").await;
    assert_eq!(r3, r2 + 1);
    assert_eq!(store.get(b"a").await.unwrap(), None);
    let r4 = put(&store, "a", "3").await;
    assert_eq!(
        store.get(b"a").await.unwrap(),
        Some(kv("a", "3", r4, r4)),
        "recreation resets create_revision"
    );
    // Deleting an absent key and an empty txn change nothing.
    let response = store
        .txn(Txn::new().then(Op::delete("nope")))
        .await
        .unwrap();
    assert!(response.succeeded);
    assert_eq!(response.revision, r4);
    let response = store.txn(Txn::new()).await.unwrap();
    assert!(response.succeeded);
    assert_eq!(response.revision, r4);
    assert_eq!(store.current_revision().await.unwrap(), r4);
    assert!(!store.store_id().is_empty());
}

async fn list_order_pagination(store: SharedStore) {
    for key in ["p/c", "p/a", "p/b", "p/d", "q/a", "o/z", "p/a/x"] {
        put(&store, key, key).await;
    }
    let page = store.list(b"p/", None, 0).await.unwrap();
    let keys: Vec<_> = page
        .kvs
        .iter()
        .map(|kv| String::from_utf8(kv.key.clone()).unwrap())
        .collect();
    assert_eq!(keys, ["p/a", "p/a/x", "p/b", "p/c", "p/d"]);
    assert!(!page.more);
    assert_eq!(page.revision, store.current_revision().await.unwrap());

    let mut seen = Vec::new();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = store.list(b"p/", after.as_deref(), 2).await.unwrap();
        assert!(page.kvs.len() <= 2);
        seen.extend(
            page.kvs
                .iter()
                .map(|kv| String::from_utf8(kv.key.clone()).unwrap()),
        );
        if !page.more {
            break;
        }
        after = Some(page.kvs.last().unwrap().key.clone());
    }
    assert_eq!(seen, keys);

    let page = store.list(b"p/", Some(b"p/b"), 0).await.unwrap();
    assert_eq!(page.kvs.len(), 2);
    assert_eq!(page.kvs[0].key, b"p/c");
    // start_after before the prefix starts at the prefix.
    let page = store.list(b"p/", Some(b"a"), 1).await.unwrap();
    assert_eq!(page.kvs[0].key, b"p/a");
    assert!(page.more);
    let page = store.list(b"p/", Some(b"p/d"), 0).await.unwrap();
    assert!(page.kvs.is_empty() && !page.more);
    assert!(store.list(b"none/", None, 0).await.unwrap().kvs.is_empty());
}

async fn snapshot_consistency(store: SharedStore) {
    for i in 0..30 {
        put(&store, &format!("s/{i:03}"), &i.to_string()).await;
    }
    put(&store, "t/outside", "x").await;
    let snapshot = store.snapshot(b"s/").await.unwrap();
    assert_eq!(snapshot.kvs.len(), 30);
    assert_eq!(snapshot.revision, store.current_revision().await.unwrap());
    assert!(snapshot.kvs.windows(2).all(|w| w[0].key < w[1].key));
    assert!(
        snapshot
            .kvs
            .iter()
            .all(|kv| kv.mod_revision <= snapshot.revision)
    );

    // A snapshot taken while writers run equals the state at its revision:
    // replaying the watch from its revision + 1 on top of it gives the final state.
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..100 {
                let key = format!("s/{:03}", i % 40);
                if i % 7 == 0 {
                    delete(&store, &key).await;
                } else {
                    put(&store, &key, &format!("v{i}")).await;
                }
            }
        })
    };
    let mid = store.snapshot(b"s/").await.unwrap();
    writer.await.unwrap();
    let end = store.current_revision().await.unwrap();
    let mut state: BTreeMap<Vec<u8>, KeyValue> =
        mid.kvs.into_iter().map(|kv| (kv.key.clone(), kv)).collect();
    if end > mid.revision {
        let mut watch = store.watch(b"s/", mid.revision + 1).await.unwrap();
        for event in events(&collect_until(&mut watch, end).await) {
            apply(&mut state, event);
        }
    }
    let fin = store.snapshot(b"s/").await.unwrap();
    assert_eq!(state.into_values().collect::<Vec<_>>(), fin.kvs);
}

fn apply(state: &mut BTreeMap<Vec<u8>, KeyValue>, event: WatchEvent) {
    match event {
        WatchEvent::Put(kv) => {
            state.insert(kv.key.clone(), kv);
        }
        WatchEvent::Delete { key, .. } => {
            state.remove(&key);
        }
    }
}

async fn txn_compare_and_swap(store: SharedStore) {
    // Absent compare: create once.
    let created = store
        .txn(
            Txn::new()
                .when(Compare::absent("k"))
                .then(Op::put("k", "1")),
        )
        .await
        .unwrap();
    assert!(created.succeeded);
    let again = store
        .txn(
            Txn::new()
                .when(Compare::absent("k"))
                .then(Op::put("k", "2")),
        )
        .await
        .unwrap();
    assert!(!again.succeeded);
    assert_eq!(
        again.revision, created.revision,
        "a failed txn does not bump the revision"
    );
    assert_eq!(store.get(b"k").await.unwrap().unwrap().value, b"1");

    // Mod revision compare.
    let stale = store
        .txn(
            Txn::new()
                .when(Compare::mod_revision("k", created.revision - 1))
                .then(Op::put("k", "x")),
        )
        .await
        .unwrap();
    assert!(!stale.succeeded);
    let swapped = store
        .txn(
            Txn::new()
                .when(Compare::mod_revision("k", created.revision))
                .then(Op::put("k", "3")),
        )
        .await
        .unwrap();
    assert!(swapped.succeeded);
    assert_eq!(swapped.revision, created.revision + 1);
    assert_eq!(store.get(b"k").await.unwrap().unwrap().value, b"3");
    assert_eq!(store.current_revision().await.unwrap(), swapped.revision);

    // A succeeding txn without ops does not bump the revision.
    let check = store
        .txn(Txn::new().when(Compare::mod_revision("k", swapped.revision)))
        .await
        .unwrap();
    assert!(check.succeeded);
    assert_eq!(check.revision, swapped.revision);
}

async fn txn_value_compare(store: SharedStore) {
    let missing = store
        .txn(
            Txn::new()
                .when(Compare::value("v", ""))
                .then(Op::put("v", "1")),
        )
        .await
        .unwrap();
    assert!(!missing.succeeded, "a value compare on an absent key fails");
    put(&store, "v", "a").await;
    let wrong = store
        .txn(
            Txn::new()
                .when(Compare::value("v", "b"))
                .then(Op::put("v", "c")),
        )
        .await
        .unwrap();
    assert!(!wrong.succeeded);
    let right = store
        .txn(
            Txn::new()
                .when(Compare::value("v", "a"))
                .then(Op::put("v", "c")),
        )
        .await
        .unwrap();
    assert!(right.succeeded);
    assert_eq!(store.get(b"v").await.unwrap().unwrap().value, b"c");
}

async fn txn_multi_op_atomic(store: SharedStore) {
    put(&store, "m/gone", "x").await;
    let before = store.current_revision().await.unwrap();
    // Failure: nothing of it applies.
    let failed = store
        .txn(
            Txn::new()
                .when(Compare::absent("m/a"))
                .when(Compare::absent("m/gone"))
                .then(Op::put("m/a", "1"))
                .then(Op::put("m/b", "2"))
                .then(Op::delete("m/gone")),
        )
        .await
        .unwrap();
    assert!(!failed.succeeded);
    assert_eq!(store.current_revision().await.unwrap(), before);
    assert!(store.get(b"m/a").await.unwrap().is_none());
    assert!(store.get(b"m/gone").await.unwrap().is_some());
    // Success: everything in one revision.
    let ok = store
        .txn(
            Txn::new()
                .when(Compare::absent("m/a"))
                .then(Op::put("m/a", "1"))
                .then(Op::put("m/b", "2"))
                .then(Op::delete("m/gone")),
        )
        .await
        .unwrap();
    assert!(ok.succeeded);
    assert_eq!(ok.revision, before + 1);
    let snapshot = store.snapshot(b"m/").await.unwrap();
    assert_eq!(
        snapshot.kvs,
        vec![
            kv("m/a", "1", ok.revision, ok.revision),
            kv("m/b", "2", ok.revision, ok.revision)
        ]
    );
    let mut watch = store.watch(b"m/", ok.revision).await.unwrap();
    let batches = collect_until(&mut watch, ok.revision).await;
    let events = events(&batches);
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e.revision() == ok.revision));
}

async fn too_many_ops(store: SharedStore) {
    let max = store.max_txn_ops();
    let mut txn = Txn::new();
    for i in 0..=max {
        txn = txn.then(Op::put(format!("many/{i}"), "x"));
    }
    let before = store.current_revision().await.unwrap();
    match store.txn(txn).await {
        Err(StoreError::TooManyOps { ops, max: m }) => {
            assert_eq!(ops, max + 1);
            assert_eq!(m, max);
        }
        other => panic!("expected TooManyOps, got {other:?}"),
    }
    assert_eq!(store.current_revision().await.unwrap(), before);
    // Exactly the limit is fine.
    let mut txn = Txn::new();
    for i in 0..max {
        txn = txn.then(Op::put(format!("many/{i}"), "x"));
    }
    assert!(store.txn(txn).await.unwrap().succeeded);
    assert_eq!(store.list(b"many/", None, 0).await.unwrap().kvs.len(), max);
}

async fn delete_events(store: SharedStore) {
    let r1 = put(&store, "d/a", "1").await;
    let r2 = delete(&store, "d/a").await;
    let mut watch = store.watch(b"d/", r1).await.unwrap();
    let events = events(&collect_until(&mut watch, r2).await);
    assert_eq!(
        events,
        vec![
            WatchEvent::Put(kv("d/a", "1", r1, r1)),
            WatchEvent::Delete {
                key: b"d/a".to_vec(),
                mod_revision: r2
            }
        ]
    );
}

async fn watch_replays_history(store: SharedStore) {
    let mut expected = Vec::new();
    let mut created = BTreeMap::new();
    for i in 0..40 {
        let key = format!("h/{}", i % 5);
        if i % 9 == 8 {
            let r = delete(&store, &key).await;
            if created.remove(&key).is_some() {
                expected.push(WatchEvent::Delete {
                    key: key.into_bytes(),
                    mod_revision: r,
                });
            }
        } else {
            let r = put(&store, &key, &i.to_string()).await;
            let c = *created.entry(key.clone()).or_insert(r);
            expected.push(WatchEvent::Put(kv(&key, &i.to_string(), c, r)));
        }
    }
    let last = expected.last().unwrap().revision();
    // From the start.
    let first = expected[0].revision();
    let mut watch = store.watch(b"h/", first).await.unwrap();
    assert_eq!(events(&collect_until(&mut watch, last).await), expected);
    // From the middle: exactly the events from there on.
    let mid = expected[20].revision();
    let mut watch = store.watch(b"h/", mid).await.unwrap();
    let tail: Vec<_> = expected
        .iter()
        .filter(|e| e.revision() >= mid)
        .cloned()
        .collect();
    assert_eq!(events(&collect_until(&mut watch, last).await), tail);
}

async fn watch_prefix_isolation(store: SharedStore) {
    let start = store.current_revision().await.unwrap() + 1;
    put(&store, "w/a", "1").await;
    put(&store, "wx/a", "no").await;
    put(&store, "v/a", "no").await;
    let last = put(&store, "w/b", "2").await;
    put(&store, "x/after", "no").await;
    let mut watch = store.watch(b"w/", start).await.unwrap();
    let events = events(&collect_until(&mut watch, last).await);
    let keys: Vec<_> = events.iter().map(|e| e.key().to_vec()).collect();
    assert_eq!(keys, vec![b"w/a".to_vec(), b"w/b".to_vec()]);
    // Nothing else arrives.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), watch.next())
            .await
            .is_err()
    );
}

async fn watch_live_events(store: SharedStore) {
    let start = store.current_revision().await.unwrap() + 1;
    let mut watch = store.watch(b"live/", start).await.unwrap();
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut last = 0;
            for i in 0..50 {
                last = put(&store, &format!("live/{}", i % 3), &i.to_string()).await;
            }
            last
        })
    };
    let last = writer.await.unwrap();
    let events = events(&collect_until(&mut watch, last).await);
    assert_eq!(events.len(), 50);
    let revisions: Vec<_> = events.iter().map(WatchEvent::revision).collect();
    assert_eq!(revisions, (start..=last).collect::<Vec<_>>());
}

async fn concurrent_cas_counter(store: SharedStore) {
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            while done < 50 {
                let current = store.get(b"counter").await.unwrap();
                let (value, revision) = match &current {
                    Some(kv) => (
                        String::from_utf8(kv.value.clone())
                            .unwrap()
                            .parse::<u64>()
                            .unwrap(),
                        kv.mod_revision,
                    ),
                    None => (0, 0),
                };
                let txn = Txn::new()
                    .when(Compare::mod_revision("counter", revision))
                    .then(Op::put("counter", (value + 1).to_string()));
                if store.txn(txn).await.unwrap().succeeded {
                    done += 1;
                }
            }
        }));
    }
    tokio::time::timeout(Duration::from_secs(120), futures::future::join_all(tasks))
        .await
        .expect("counter tasks timed out")
        .into_iter()
        .for_each(|r| r.unwrap());
    let counter = store.get(b"counter").await.unwrap().unwrap();
    assert_eq!(counter.value, b"800");
    assert_eq!(counter.mod_revision - counter.create_revision, 799);
}

async fn compaction_then_watch(store: SharedStore) {
    let mut revisions = Vec::new();
    for i in 0..6 {
        revisions.push(put(&store, &format!("c/{i}"), "x").await);
    }
    let compact_at = revisions[3];
    store.compact(compact_at).await.unwrap();
    for requested in [revisions[0], revisions[2], compact_at] {
        let result = match store.watch(b"c/", requested).await {
            Err(error) => Err(error),
            Ok(mut stream) => tokio::time::timeout(WAIT, stream.next())
                .await
                .expect("no watch item")
                .expect("watch ended"),
        };
        match result {
            Err(StoreError::Compacted { .. }) => {}
            other => panic!(
                "watch from {requested} after compaction at {compact_at}: expected Compacted, got {other:?}"
            ),
        }
    }
    // History after the compacted revision is intact.
    let mut watch = store.watch(b"c/", compact_at + 1).await.unwrap();
    let events = events(&collect_until(&mut watch, revisions[5]).await);
    let got: Vec<_> = events.iter().map(WatchEvent::revision).collect();
    assert_eq!(got, vec![revisions[4], revisions[5]]);
    // The data itself is untouched, and compacting again (or past the end) is fine.
    assert_eq!(store.snapshot(b"c/").await.unwrap().kvs.len(), 6);
    store.compact(compact_at).await.unwrap();
    store.compact(revisions[1]).await.unwrap();
}

/// Applies a resync stream's items to a map until it reaches `until` (or times out).
async fn follow(
    stream: &mut (impl futures::Stream<Item = WatchItem> + Unpin),
    state: &mut BTreeMap<Vec<u8>, KeyValue>,
    position: &mut i64,
    resyncs: &mut usize,
    until: i64,
) {
    tokio::time::timeout(WAIT, async {
        while *position < until {
            match stream.next().await.expect("resync watch ended") {
                WatchItem::Resync(snapshot) => {
                    *resyncs += 1;
                    assert!(snapshot.revision >= *position, "resync went back in time");
                    state.clear();
                    state.extend(snapshot.kvs.into_iter().map(|kv| (kv.key.clone(), kv)));
                    *position = snapshot.revision;
                }
                WatchItem::Events(batch) => {
                    for event in &batch.events {
                        assert!(
                            event.revision() > *position,
                            "event delivered twice or out of order"
                        );
                    }
                    *position = batch.revision;
                    for event in batch.events {
                        apply(state, event);
                    }
                }
            }
        }
    })
    .await
    .expect("timed out following the resync watch");
}

/// Writes `count` changes under `r/` (with noise elsewhere); returns the last `r/` revision.
async fn churn(store: &SharedStore, from: u32, count: u32) -> i64 {
    let mut last = 0;
    for i in from..from + count {
        let key = format!("r/{}", i % 17);
        last = if i % 5 == 4 {
            delete(store, &key).await
        } else {
            put(store, &key, &i.to_string()).await
        };
        put(store, "other/noise", &i.to_string()).await;
    }
    last
}

async fn resync_across_compaction(store: SharedStore) {
    let start = put(&store, "r/seed", "0").await;
    // Created now, but (streams being lazy) it only starts watching when
    // first polled: after the history it starts from is compacted.
    let mut stream = Box::pin(watch_with_resync(store.clone(), b"r/".to_vec(), start));
    let mut state = BTreeMap::new();
    let mut position = start - 1;
    let mut resyncs = 0;

    churn(&store, 0, 150).await;
    let now = store.current_revision().await.unwrap();
    store.compact(now - 50).await.unwrap();
    // The writer keeps writing while the consumer catches up.
    let writer = {
        let store = store.clone();
        tokio::spawn(async move { churn(&store, 150, 150).await })
    };
    follow(&mut stream, &mut state, &mut position, &mut resyncs, now).await;
    let last = writer.await.unwrap();
    follow(&mut stream, &mut state, &mut position, &mut resyncs, last).await;
    assert!(
        resyncs >= 1,
        "the consumer should have been resynced after the compaction"
    );
    let expected = store.snapshot(b"r/").await.unwrap();
    assert_eq!(
        state.clone().into_values().collect::<Vec<_>>(),
        expected.kvs
    );

    // And it keeps following live changes without another resync.
    let before = resyncs;
    let last = put(&store, "r/late", "1").await;
    follow(&mut stream, &mut state, &mut position, &mut resyncs, last).await;
    assert_eq!(resyncs, before);
    assert_eq!(
        state.into_values().collect::<Vec<_>>(),
        store.snapshot(b"r/").await.unwrap().kvs
    );
}

async fn resync_from_zero_starts_with_snapshot(store: SharedStore) {
    put(&store, "z/a", "1").await;
    let mut stream = Box::pin(watch_with_resync(store.clone(), b"z/".to_vec(), 0));
    let first = tokio::time::timeout(WAIT, stream.next())
        .await
        .unwrap()
        .unwrap();
    let WatchItem::Resync(snapshot) = first else {
        panic!("first item is not a resync: {first:?}")
    };
    assert_eq!(snapshot.kvs.len(), 1);
    let r = put(&store, "z/b", "2").await;
    let next = tokio::time::timeout(WAIT, stream.next())
        .await
        .unwrap()
        .unwrap();
    let WatchItem::Events(batch) = next else {
        panic!("expected events, got {next:?}")
    };
    assert_eq!(batch.revision, r);
    assert_eq!(batch.events[0].key(), b"z/b");
}

#[allow(dead_code)]
fn assert_send_sync(_: Arc<dyn vfed_store::Store>) {}
