//! Tests specific to the etcd backend: prefixes, store id, connection errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use vfed_store::etcd::{EtcdOptions, EtcdStore};
use vfed_store::{Op, Store, StoreError, Txn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_prefixes_isolate_stores_and_hide_meta() {
    let server = vfed_store::testing::shared_etcd().await.unwrap();
    let prefix = format!("/vfed-test/{}/", uuid::Uuid::new_v4());
    let a = EtcdStore::connect(server.options(prefix.clone()))
        .await
        .unwrap();
    let b = server.store().await.unwrap();
    a.txn(Txn::new().then(Op::put("k", "a"))).await.unwrap();
    b.txn(Txn::new().then(Op::put("k", "b"))).await.unwrap();
    assert_eq!(a.get(b"k").await.unwrap().unwrap().value, b"a");
    assert_eq!(b.get(b"k").await.unwrap().unwrap().value, b"b");
    // The whole key space of a store holds only its callers' keys.
    let all = a.snapshot(b"").await.unwrap();
    assert_eq!(all.kvs.len(), 1);
    assert_eq!(all.kvs[0].key, b"k");
    // The store id is stable for a prefix and differs between prefixes.
    let a2 = EtcdStore::connect(server.options(prefix)).await.unwrap();
    assert_eq!(a.store_id(), a2.store_id());
    assert_ne!(a.store_id(), b.store_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_nothing_is_unavailable_within_the_timeout() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = EtcdOptions {
        endpoints: vec![format!("http://127.0.0.1:{port}")],
        root_prefix: "/x/".into(),
        connect_timeout: Duration::from_secs(1),
        max_txn_ops: 128,
    };
    let started = Instant::now();
    let error = EtcdStore::connect(options).await.unwrap_err();
    assert!(matches!(error, StoreError::Unavailable { .. }), "{error:?}");
    assert!(error.is_transient());
    assert!(started.elapsed() < Duration::from_secs(10));
}
