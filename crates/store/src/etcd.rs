//! The etcd backend: for clusters where several replicas share one etcd.
//!
//! Every key lives under the store's root prefix: callers' keys under
//! `<root_prefix>kv/`, the store id at `<root_prefix>meta/store_id`; callers
//! never see either prefix. Revisions are etcd's own.
//!
//! Like etcd itself, a transaction must not touch one key twice (etcd
//! refuses it; that surfaces as [`StoreError::Unavailable`]). `compact(r)`
//! compacts etcd at `r` (physically); watches start one revision early and
//! drop that revision, so that a watch from `<= r` fails with
//! [`StoreError::Compacted`] exactly as on the embedded store.
//!
//! etcd-client neither reconnects watches nor resumes them: a broken watch
//! ends with [`StoreError::Unavailable`]; use [`crate::watch_with_resync`].

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{
    Client, CompactionOptions, Compare as EtcdCompare, CompareOp, ConnectOptions, EventType,
    GetOptions, TxnOp, WatchOptions,
};

use crate::{
    Compare, KeyValue, ListPage, Op, Result, Revision, Snapshot, Store, StoreError, Txn,
    TxnResponse, WatchBatch, WatchEvent, WatchStream,
};

const BACKEND: &str = "etcd";
/// Keys read per request when paging through a snapshot.
const SNAPSHOT_PAGE: i64 = 1000;

/// How to reach etcd.
#[derive(Clone, Debug)]
pub struct EtcdOptions {
    /// Client URLs, e.g. `http://127.0.0.1:2379`.
    pub endpoints: Vec<String>,
    /// The prefix every key of this store lives under (e.g. `/vfed/`).
    pub root_prefix: String,
    /// How long connecting (and the first request) may take.
    pub connect_timeout: Duration,
    /// etcd's `--max-txn-ops` (default 128).
    pub max_txn_ops: usize,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        Self {
            endpoints: vec!["http://127.0.0.1:2379".into()],
            root_prefix: "/vfed/".into(),
            connect_timeout: Duration::from_secs(5),
            max_txn_ops: 128,
        }
    }
}

/// A [`Store`] in etcd.
pub struct EtcdStore {
    client: Client,
    /// `<root_prefix>kv/`: prepended to every caller key.
    data_prefix: Vec<u8>,
    store_id: String,
    max_txn_ops: usize,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("data_prefix", &String::from_utf8_lossy(&self.data_prefix))
            .field("store_id", &self.store_id)
            .finish_non_exhaustive()
    }
}

fn unavailable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable {
        backend: BACKEND,
        message: error.to_string(),
    }
}

/// Maps an etcd-client error; `requested` is the revision a read asked for.
fn map_error(error: etcd_client::Error, requested: Revision) -> StoreError {
    if let etcd_client::Error::GRpcStatus(status) = &error
        && status
            .message()
            .contains("required revision has been compacted")
    {
        return StoreError::Compacted {
            requested,
            compact_revision: requested,
        };
    }
    unavailable(error)
}

/// The smallest key greater than every key starting with `prefix`
/// (`\0` = no upper bound, etcd's convention).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

impl EtcdStore {
    /// Connects, then reads (or creates) the store id.
    pub async fn connect(options: EtcdOptions) -> Result<Arc<EtcdStore>> {
        let connect = async {
            let connect_options = ConnectOptions::new()
                .with_connect_timeout(options.connect_timeout)
                .with_keep_alive(Duration::from_secs(10), Duration::from_secs(10))
                .with_keep_alive_while_idle(true);
            let client = Client::connect(&options.endpoints, Some(connect_options))
                .await
                .map_err(unavailable)?;
            let store_id = Self::load_store_id(client.clone(), &options.root_prefix).await?;
            Ok::<_, StoreError>((client, store_id))
        };
        let (client, store_id) = tokio::time::timeout(options.connect_timeout, connect)
            .await
            .map_err(|_| {
                unavailable(format!(
                    "no answer from {:?} within {:?}",
                    options.endpoints, options.connect_timeout
                ))
            })??;
        let mut data_prefix = options.root_prefix.clone().into_bytes();
        data_prefix.extend_from_slice(b"kv/");
        tracing::info!(endpoints = ?options.endpoints, root_prefix = %options.root_prefix, %store_id, "etcd store connected");
        Ok(Arc::new(EtcdStore {
            client,
            data_prefix,
            store_id,
            max_txn_ops: options.max_txn_ops.max(1),
        }))
    }

    async fn load_store_id(mut client: Client, root_prefix: &str) -> Result<String> {
        let key = format!("{root_prefix}meta/store_id").into_bytes();
        let candidate = uuid::Uuid::new_v4().to_string();
        let txn = etcd_client::Txn::new()
            .when(vec![EtcdCompare::create_revision(
                key.clone(),
                CompareOp::Equal,
                0,
            )])
            .and_then(vec![TxnOp::put(key.clone(), candidate.clone(), None)])
            .or_else(vec![TxnOp::get(key.clone(), None)]);
        let response = client.txn(txn).await.map_err(unavailable)?;
        if response.succeeded() {
            return Ok(candidate);
        }
        for op in response.op_responses() {
            if let etcd_client::TxnOpResponse::Get(get) = op
                && let Some(kv) = get.kvs().first()
            {
                return String::from_utf8(kv.value().to_vec())
                    .map_err(|_| StoreError::Corrupt("etcd store id is not utf-8".into()));
            }
        }
        Err(StoreError::Corrupt(
            "etcd store id vanished while being read".into(),
        ))
    }

    fn full_key(&self, key: &[u8]) -> Vec<u8> {
        let mut full = Vec::with_capacity(self.data_prefix.len() + key.len());
        full.extend_from_slice(&self.data_prefix);
        full.extend_from_slice(key);
        full
    }

    fn strip(&self, key: &[u8]) -> Vec<u8> {
        key.strip_prefix(self.data_prefix.as_slice())
            .unwrap_or(key)
            .to_vec()
    }

    fn to_kv(&self, kv: &etcd_client::KeyValue) -> KeyValue {
        KeyValue {
            key: self.strip(kv.key()),
            value: kv.value().to_vec(),
            create_revision: kv.create_revision(),
            mod_revision: kv.mod_revision(),
        }
    }

    /// One range read of `[start, end)`, at `revision` (0: latest), at most `limit` (0: all).
    async fn range(
        &self,
        start: Vec<u8>,
        end: Vec<u8>,
        limit: i64,
        revision: Revision,
    ) -> Result<(Vec<KeyValue>, bool, Revision)> {
        let mut options = GetOptions::new().with_range(end).with_limit(limit);
        if revision > 0 {
            options = options.with_revision(revision);
        }
        let response = self
            .client
            .clone()
            .get(start, Some(options))
            .await
            .map_err(|e| map_error(e, revision))?;
        let header_revision = response.header().map(|h| h.revision()).unwrap_or_default();
        let kvs = response.kvs().iter().map(|kv| self.to_kv(kv)).collect();
        Ok((kvs, response.more(), header_revision))
    }
}

/// Turns the key after which a range starts into its first key.
fn after(key: &[u8]) -> Vec<u8> {
    let mut next = key.to_vec();
    next.push(0);
    next
}

#[async_trait::async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>> {
        let response = self
            .client
            .clone()
            .get(self.full_key(key), None)
            .await
            .map_err(unavailable)?;
        Ok(response.kvs().first().map(|kv| self.to_kv(kv)))
    }

    async fn list(
        &self,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<ListPage> {
        let full_prefix = self.full_key(prefix);
        let start = match start_after {
            Some(s) if s >= prefix => after(&self.full_key(s)),
            _ => full_prefix.clone(),
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (kvs, more, revision) = self
            .range(start, prefix_end(&full_prefix), limit, 0)
            .await?;
        Ok(ListPage {
            kvs,
            more,
            revision,
        })
    }

    async fn snapshot(&self, prefix: &[u8]) -> Result<Snapshot> {
        let full_prefix = self.full_key(prefix);
        let end = prefix_end(&full_prefix);
        let mut attempts = 0;
        'retry: loop {
            attempts += 1;
            let (mut kvs, mut more, revision) = self
                .range(full_prefix.clone(), end.clone(), SNAPSHOT_PAGE, 0)
                .await?;
            while more {
                let Some(last) = kvs.last() else { break };
                let start = after(&self.full_key(&last.key));
                match self
                    .range(start, end.clone(), SNAPSHOT_PAGE, revision)
                    .await
                {
                    Ok((page, page_more, _)) => {
                        kvs.extend(page);
                        more = page_more;
                    }
                    // Compacted while paging: start over at the latest revision.
                    Err(StoreError::Compacted { .. }) if attempts < 5 => continue 'retry,
                    Err(error) => return Err(error),
                }
            }
            return Ok(Snapshot { kvs, revision });
        }
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        let ops = txn.ops.len().max(txn.compares.len());
        if ops > self.max_txn_ops {
            return Err(StoreError::TooManyOps {
                ops,
                max: self.max_txn_ops,
            });
        }
        let compares: Vec<EtcdCompare> = txn
            .compares
            .iter()
            .map(|c| match c {
                Compare::ModRevision { key, revision } => {
                    EtcdCompare::mod_revision(self.full_key(key), CompareOp::Equal, *revision)
                }
                Compare::Value { key, value } => {
                    EtcdCompare::value(self.full_key(key), CompareOp::Equal, value.clone())
                }
            })
            .collect();
        let ops: Vec<TxnOp> = txn
            .ops
            .iter()
            .map(|op| match op {
                Op::Put { key, value } => TxnOp::put(self.full_key(key), value.clone(), None),
                Op::Delete { key } => TxnOp::delete(self.full_key(key), None),
            })
            .collect();
        let request = etcd_client::Txn::new().when(compares).and_then(ops);
        let response = self
            .client
            .clone()
            .txn(request)
            .await
            .map_err(unavailable)?;
        let revision = response.header().map(|h| h.revision()).unwrap_or_default();
        Ok(TxnResponse {
            succeeded: response.succeeded(),
            revision,
        })
    }

    async fn watch(&self, prefix: &[u8], start_revision: Revision) -> Result<WatchStream> {
        let full_prefix = self.full_key(prefix);
        // Watch from one revision earlier and drop that revision's events:
        // etcd accepts a watch from its compact revision itself but may miss
        // deletions of that revision, while this contract says history up to
        // and including the compacted revision is gone.
        let etcd_start = if start_revision > 1 {
            start_revision - 1
        } else {
            start_revision.max(0)
        };
        let options = WatchOptions::new()
            .with_range(prefix_end(&full_prefix))
            .with_start_revision(etcd_start);
        let mut watch = self
            .client
            .clone()
            .watch(full_prefix, Some(options))
            .await
            .map_err(unavailable)?;
        // Wait for the creation (or the refusal) of the watch.
        let pending = match watch.message().await {
            Ok(Some(response)) => {
                if response.compact_revision() > 0 {
                    return Err(StoreError::Compacted {
                        requested: start_revision,
                        compact_revision: response.compact_revision(),
                    });
                }
                if response.canceled() {
                    return Err(unavailable(format!(
                        "watch canceled: {}",
                        response.cancel_reason()
                    )));
                }
                if response.created() && response.events().is_empty() {
                    None
                } else {
                    Some(response)
                }
            }
            Ok(None) => return Err(unavailable("watch stream ended before it was created")),
            Err(error) => return Err(unavailable(error)),
        };
        let state = WatchState {
            watch,
            pending,
            data_prefix: self.data_prefix.clone(),
            min_revision: start_revision,
            done: false,
        };
        Ok(Box::pin(futures::stream::unfold(
            state,
            |mut state| async move {
                let item = state.next_item().await?;
                Some((item, state))
            },
        )))
    }

    async fn current_revision(&self) -> Result<Revision> {
        let options = GetOptions::new().with_count_only();
        let response = self
            .client
            .clone()
            .get(self.full_key(b"\0"), Some(options))
            .await
            .map_err(unavailable)?;
        Ok(response.header().map(|h| h.revision()).unwrap_or_default())
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let current = self.current_revision().await?;
        let revision = revision.min(current);
        if revision <= 0 {
            return Ok(());
        }
        match self
            .client
            .clone()
            .compact(revision, Some(CompactionOptions::new().with_physical()))
            .await
        {
            Ok(_) => Ok(()),
            // Already compacted at or past it: nothing to do.
            Err(etcd_client::Error::GRpcStatus(status))
                if status
                    .message()
                    .contains("required revision has been compacted") =>
            {
                Ok(())
            }
            Err(error) => Err(unavailable(error)),
        }
    }

    fn max_txn_ops(&self) -> usize {
        self.max_txn_ops
    }

    fn store_id(&self) -> &str {
        &self.store_id
    }

    fn backend(&self) -> &'static str {
        BACKEND
    }
}

struct WatchState {
    /// Keeps the request side open too (dropping it ends the watch).
    watch: etcd_client::WatchStream,
    pending: Option<etcd_client::WatchResponse>,
    data_prefix: Vec<u8>,
    /// Events of earlier revisions are dropped (see `watch`).
    min_revision: Revision,
    done: bool,
}

impl WatchState {
    async fn next_item(&mut self) -> Option<Result<WatchBatch>> {
        if self.done {
            return None;
        }
        loop {
            let response = match self.pending.take() {
                Some(response) => response,
                None => match self.watch.message().await {
                    Ok(Some(response)) => response,
                    Ok(None) => return self.fail(unavailable("etcd watch stream ended")),
                    Err(error) => return self.fail(unavailable(error)),
                },
            };
            if response.compact_revision() > 0 {
                return self.fail(StoreError::Compacted {
                    requested: self.min_revision,
                    compact_revision: response.compact_revision(),
                });
            }
            if response.canceled() {
                return self.fail(unavailable(format!(
                    "etcd watch canceled: {}",
                    response.cancel_reason()
                )));
            }
            let events: Vec<WatchEvent> = response
                .events()
                .iter()
                .filter_map(|event| {
                    let kv = event.kv()?;
                    if kv.mod_revision() < self.min_revision {
                        return None;
                    }
                    let key = kv
                        .key()
                        .strip_prefix(self.data_prefix.as_slice())
                        .unwrap_or(kv.key())
                        .to_vec();
                    Some(match event.event_type() {
                        EventType::Put => WatchEvent::Put(KeyValue {
                            key,
                            value: kv.value().to_vec(),
                            create_revision: kv.create_revision(),
                            mod_revision: kv.mod_revision(),
                        }),
                        EventType::Delete => WatchEvent::Delete {
                            key,
                            mod_revision: kv.mod_revision(),
                        },
                    })
                })
                .collect();
            if let Some(last) = events.last() {
                let revision = last.revision();
                self.min_revision = revision + 1;
                return Some(Ok(WatchBatch { revision, events }));
            }
        }
    }

    fn fail(&mut self, error: StoreError) -> Option<Result<WatchBatch>> {
        self.done = true;
        Some(Err(error))
    }
}
