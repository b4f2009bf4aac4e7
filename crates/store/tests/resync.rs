//! `watch_with_resync` against a store whose watches keep failing: it must
//! resume from the last delivered revision + 1, losing and repeating nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use vfed_store::{
    KeyValue, ListPage, Op, Result, Revision, SharedStore, Snapshot, Store, StoreError, Txn,
    TxnResponse, WatchEvent, WatchItem, WatchStream, watch_with_resync,
};

/// Wraps a store: every other `watch` call fails, and every watch stream
/// breaks with a transient error after delivering one batch.
struct Flaky {
    inner: SharedStore,
    watch_calls: AtomicUsize,
}

fn transient() -> StoreError {
    StoreError::Unavailable {
        backend: "flaky",
        message: "injected".into(),
    }
}

#[async_trait::async_trait]
impl Store for Flaky {
    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>> {
        self.inner.get(key).await
    }
    async fn list(
        &self,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<ListPage> {
        self.inner.list(prefix, start_after, limit).await
    }
    async fn snapshot(&self, prefix: &[u8]) -> Result<Snapshot> {
        self.inner.snapshot(prefix).await
    }
    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        self.inner.txn(txn).await
    }
    async fn watch(&self, prefix: &[u8], start_revision: Revision) -> Result<WatchStream> {
        if self
            .watch_calls
            .fetch_add(1, Ordering::SeqCst)
            .is_multiple_of(2)
        {
            return Err(transient());
        }
        let inner = self.inner.watch(prefix, start_revision).await?;
        Ok(Box::pin(
            inner
                .take(1)
                .chain(futures::stream::iter([Err(transient())])),
        ))
    }
    async fn current_revision(&self) -> Result<Revision> {
        self.inner.current_revision().await
    }
    async fn compact(&self, revision: Revision) -> Result<()> {
        self.inner.compact(revision).await
    }
    fn max_txn_ops(&self) -> usize {
        self.inner.max_txn_ops()
    }
    fn store_id(&self) -> &str {
        self.inner.store_id()
    }
    fn backend(&self) -> &'static str {
        "flaky"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_errors_resume_without_loss_or_duplicates() {
    let (inner, _dir) = vfed_store::testing::temp_embedded_store().unwrap();
    let inner: SharedStore = inner;
    let flaky = Arc::new(Flaky {
        inner: inner.clone(),
        watch_calls: AtomicUsize::new(0),
    });
    let first = inner
        .txn(Txn::new().then(Op::put("f/0", "0")))
        .await
        .unwrap()
        .revision;
    let mut stream = Box::pin(watch_with_resync(flaky.clone(), b"f/".to_vec(), first));
    // The consumer follows while the writer writes, so the watch breaks many times.
    let writer = {
        let inner = inner.clone();
        tokio::spawn(async move {
            for i in 1..200 {
                let key = format!("f/{}", i % 7);
                let op = if i % 6 == 0 {
                    Op::delete(key)
                } else {
                    Op::put(key, i.to_string())
                };
                inner.txn(Txn::new().then(op)).await.unwrap();
                if i % 20 == 0 {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
            }
            inner
                .txn(Txn::new().then(Op::put("f/end", "done")))
                .await
                .unwrap();
        })
    };
    let mut state: BTreeMap<Vec<u8>, KeyValue> = BTreeMap::new();
    let mut position = first - 1;
    tokio::time::timeout(Duration::from_secs(60), async {
        while !state.contains_key(b"f/end".as_slice()) {
            match stream.next().await.unwrap() {
                WatchItem::Resync(_) => panic!("no resync expected: nothing was compacted"),
                WatchItem::Events(batch) => {
                    for event in batch.events {
                        assert!(
                            event.revision() > position,
                            "duplicate or out-of-order event"
                        );
                        position = event.revision();
                        match event {
                            WatchEvent::Put(kv) => {
                                state.insert(kv.key.clone(), kv);
                            }
                            WatchEvent::Delete { key, .. } => {
                                state.remove(&key);
                            }
                        }
                    }
                }
            }
        }
    })
    .await
    .expect("timed out");
    writer.await.unwrap();
    let calls = flaky.watch_calls.load(Ordering::SeqCst);
    assert!(
        calls >= 4,
        "the watch should have broken several times, got {calls} watch calls"
    );
    assert_eq!(
        state.into_values().collect::<Vec<_>>(),
        inner.snapshot(b"f/").await.unwrap().kvs
    );
}
