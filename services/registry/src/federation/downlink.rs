//! The parent side of a link: the `Federation` service. It checks that the
//! caller's certificate names a configured child (R18.4), tells it where to
//! resume, applies its batches durably and acknowledges them.

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::Stream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};
use vfed_gbcode::AreaCode;
use vfed_proto::federation::v1 as fed;
use vfed_proto::federation::v1::federation_server::Federation;
use vfed_store::{Op, Txn};

use super::links::{LinkRole, LinkState, LinkTable, RefusedEntry};
use crate::catalog::Catalog;
use crate::codec::{decode, encode};
use crate::convert::remote_entry_from_wire;
use crate::domain::{CatalogEntry, LinkRecord};
use crate::metrics::RegistryMetrics;
use crate::rules::{check_bounds, check_id, check_location};
use crate::{RegistryError, keys};

/// Heartbeat-only progress is persisted at most this often: replaying a few
/// revisions after a crash is harmless, a write per heartbeat is not free.
const PERSIST_IDLE_PROGRESS: Duration = Duration::from_secs(10);
/// How long a child has to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// The child's heartbeat period when its hello does not say.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(1);
/// Heartbeat periods without a message after which the link is shown down.
pub(super) const DOWN_AFTER_PERIODS: u32 = 2;
/// Heartbeat periods without a message after which the session is ended
/// (the child reconnects and resumes): a silent partition frees its slot.
pub(super) const END_AFTER_PERIODS: u32 = 4;

/// A configured child.
#[derive(Clone, Debug)]
pub struct ChildNode {
    /// Its node code.
    pub id: String,
    /// Its name.
    pub name: String,
}

struct Session {
    generation: u64,
    cancel: CancellationToken,
    slot: Arc<tokio::sync::Mutex<()>>,
}

/// The `Federation` gRPC service.
#[derive(Clone)]
pub struct FederationService {
    catalog: Catalog,
    node_name: String,
    children: Arc<HashMap<String, ChildNode>>,
    links: LinkTable,
    metrics: RegistryMetrics,
    sessions: Arc<Mutex<HashMap<String, Session>>>,
}

impl FederationService {
    /// A service accepting `children`.
    pub fn new(
        catalog: Catalog,
        node_name: String,
        children: Vec<ChildNode>,
        links: LinkTable,
        metrics: RegistryMetrics,
    ) -> Self {
        let children = children.into_iter().map(|c| (c.id.clone(), c)).collect();
        Self {
            catalog,
            node_name,
            children: Arc::new(children),
            links,
            metrics,
            sessions: Arc::default(),
        }
    }

    /// Ends any previous session of `child` and returns this one's token,
    /// generation and the slot lock (held while applying).
    fn take_over(&self, child: &str) -> (CancellationToken, u64, Arc<tokio::sync::Mutex<()>>) {
        let mut sessions = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let cancel = CancellationToken::new();
        let entry = sessions.entry(child.to_owned()).or_insert_with(|| Session {
            generation: 0,
            cancel: CancellationToken::new(),
            slot: Arc::default(),
        });
        entry.cancel.cancel();
        entry.generation += 1;
        entry.cancel = cancel.clone();
        (cancel, entry.generation, entry.slot.clone())
    }

    fn authorize<T>(&self, request: &Request<T>) -> Result<ChildNode, Status> {
        let peer = vfed_pki::peer_info(request)
            .ok_or_else(|| Status::unauthenticated("no client certificate (R18.4)"))?;
        let identity = &peer.identity;
        match self
            .children
            .get(&identity.name)
            .filter(|_| identity.is_node())
        {
            Some(child) => Ok(child.clone()),
            None => Err(Status::permission_denied(format!(
                "{identity} is not a configured child of node {} (R6.1, R18.4)",
                self.catalog.node_id()
            ))),
        }
    }
}

type LinkStream = Pin<Box<dyn Stream<Item = Result<fed::ParentMessage, Status>> + Send>>;

#[tonic::async_trait]
impl Federation for FederationService {
    type LinkStream = LinkStream;

    #[tracing::instrument(skip_all, fields(child))]
    async fn link(
        &self,
        request: Request<Streaming<fed::ChildMessage>>,
    ) -> Result<Response<LinkStream>, Status> {
        let child = self.authorize(&request)?;
        tracing::Span::current().record("child", child.id.as_str());
        let mut inbound = request.into_inner();
        let hello = match tokio::time::timeout(HELLO_TIMEOUT, inbound.message()).await {
            Ok(Ok(Some(fed::ChildMessage {
                message: Some(fed::child_message::Message::Hello(h)),
            }))) => h,
            Ok(Err(status)) => return Err(status),
            Err(_) => return Err(Status::deadline_exceeded("no hello within 10 s")),
            Ok(Ok(_)) => {
                return Err(Status::invalid_argument(
                    "hello: the first message of a link must be Hello",
                ));
            }
        };
        if hello.node_id != child.id {
            return Err(Status::permission_denied(format!(
                "hello.node_id {} differs from the certificate's node/{} (R18.4)",
                hello.node_id, child.id
            )));
        }
        let (cancel, generation, slot) = self.take_over(&child.id);
        let guard = tokio::select! {
            guard = slot.lock_owned() => guard,
            () = tokio::time::sleep(HELLO_TIMEOUT) => {
                return Err(Status::unavailable("the previous session of this child is still closing; retry"));
            }
        };
        let record = read_link(&self.catalog, &child.id)
            .await
            .map_err(Status::from)?;
        let resume = if record.store_id == hello.store_id {
            record.applied_revision
        } else {
            0
        };
        tracing::info!(child = %child.id, generation, resume, head = hello.head_revision, "child linked");
        self.links.touch(LinkRole::Child, &child.id, |s| {
            s.state = LinkState::Up;
            s.applied_revision = resume;
            s.head_revision = hello.head_revision;
            s.last_error.clear();
        });
        let (tx, rx) = mpsc::channel(64);
        let welcome = fed::ParentMessage {
            message: Some(fed::parent_message::Message::Welcome(fed::Welcome {
                parent_id: self.catalog.node_id().to_owned(),
                resume_after_revision: resume,
                parent_name: self.node_name.clone(),
            })),
        };
        tx.send(Ok(welcome))
            .await
            .map_err(|_| Status::cancelled("child went away"))?;
        let mut applier = Applier {
            catalog: self.catalog.clone(),
            child: child.clone(),
            area: AreaCode::parse(child.id.get(..6).unwrap_or_default())
                .ok_or_else(|| Status::internal("configured child has no area"))?,
            store_id: hello.store_id,
            applied: resume,
            persisted_at: Instant::now(),
            snapshot: None,
            links: self.links.clone(),
            metrics: self.metrics.clone(),
        };
        let links = self.links.clone();
        let period = match hello.heartbeat_ms {
            0 => DEFAULT_HEARTBEAT,
            ms => Duration::from_millis(u64::from(ms)),
        };
        tokio::spawn(async move {
            let _guard = guard;
            let mut last_message = Instant::now();
            let mut shown_down = false;
            let outcome = loop {
                // A black-holed link delivers nothing and closes nothing:
                // silence past two heartbeats is shown as down (R14.3 in
                // spirit: an outage is reported, not discovered later).
                let down_at = last_message + period * DOWN_AFTER_PERIODS;
                let end_at = last_message + period * END_AFTER_PERIODS;
                let message = tokio::select! {
                    () = cancel.cancelled() => break Err("superseded by a newer session".to_owned()),
                    () = tokio::time::sleep_until(down_at), if !shown_down => {
                        shown_down = true;
                        let text = format!("no message from the child for {:?} ({DOWN_AFTER_PERIODS} heartbeat periods)", period * DOWN_AFTER_PERIODS);
                        tracing::warn!(child = %applier.child.id, "{text}");
                        links.update(LinkRole::Child, &applier.child.id, |s| {
                            s.state = LinkState::Down;
                            s.last_error = text;
                        });
                        continue;
                    }
                    () = tokio::time::sleep_until(end_at) => {
                        break Err(format!("no message from the child for {:?}; session ended", period * END_AFTER_PERIODS));
                    }
                    m = inbound.message() => m,
                };
                last_message = Instant::now();
                shown_down = false;
                match message {
                    Ok(Some(fed::ChildMessage {
                        message: Some(fed::child_message::Message::Batch(batch)),
                    })) => {
                        match applier.apply(batch).await {
                            Ok((revision, refused)) => {
                                let ack = fed::ParentMessage {
                                    message: Some(fed::parent_message::Message::Ack(fed::Ack {
                                        revision,
                                        refused,
                                    })),
                                };
                                if tx.send(Ok(ack)).await.is_err() {
                                    break Err("child stopped reading".to_owned());
                                }
                            }
                            Err(e) => {
                                let status = Status::from(e);
                                let text = status.message().to_owned();
                                // The session ends; the child reconnects and resumes from the last applied revision.
                                let _ = tx.send(Err(status)).await;
                                break Err(text);
                            }
                        }
                    }
                    Ok(Some(_)) => {
                        let _ = tx
                            .send(Err(Status::invalid_argument(
                                "only batches may follow hello",
                            )))
                            .await;
                        break Err("protocol violation".to_owned());
                    }
                    Ok(None) => break Ok(()),
                    Err(status) => break Err(status.message().to_owned()),
                }
            };
            tracing::info!(child = %applier.child.id, ?outcome, "child link ended");
            links.update(LinkRole::Child, &applier.child.id, |s| {
                s.state = LinkState::Down;
                if let Err(e) = outcome {
                    s.last_error = e;
                }
            });
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

async fn read_link(catalog: &Catalog, child: &str) -> Result<LinkRecord, RegistryError> {
    let key = keys::link(child);
    match catalog.store().get(key.as_bytes()).await? {
        Some(kv) => decode(&kv.key, &kv.value),
        None => Ok(LinkRecord::default()),
    }
}

/// Applies one child's batches.
struct Applier {
    catalog: Catalog,
    child: ChildNode,
    area: AreaCode,
    store_id: String,
    applied: i64,
    persisted_at: Instant,
    /// IDs seen during a full resync in progress.
    snapshot: Option<HashSet<String>>,
    links: LinkTable,
    metrics: RegistryMetrics,
}

impl Applier {
    fn record_op(&self, applied_revision: i64) -> Op {
        let record = LinkRecord {
            store_id: self.store_id.clone(),
            applied_revision,
        };
        Op::put(keys::link(&self.child.id), encode(&record))
    }

    /// Applies a batch; returns the revision to acknowledge and the entries
    /// refused.
    async fn apply(
        &mut self,
        batch: fed::CatalogBatch,
    ) -> Result<(i64, Vec<fed::RefusedEntry>), RegistryError> {
        let store = self.catalog.store().clone();
        let max_ops = store.max_txn_ops().max(2) - 1;
        if batch.snapshot_begin {
            // A crash mid-resync must lead to another full resync.
            store.txn(Txn::new().then(self.record_op(0))).await?;
            self.applied = 0;
            self.snapshot = Some(HashSet::new());
            self.links.touch(LinkRole::Child, &self.child.id, |s| {
                s.state = LinkState::Resyncing;
                s.resyncs += 1;
            });
        }
        let (mut ops, refused) = self.change_ops(batch.changes).await?;
        let changed = !ops.is_empty();
        if batch.snapshot_end {
            ops.extend(self.sweep_ops().await?);
            self.snapshot = None;
        }
        let in_snapshot = self.snapshot.is_some();
        let persist = !in_snapshot
            && batch.revision != self.applied
            && (changed
                || batch.snapshot_end
                || self.persisted_at.elapsed() >= PERSIST_IDLE_PROGRESS);
        if persist {
            ops.push(self.record_op(batch.revision));
        }
        let count = ops.len();
        // Chunks beyond the first are only needed past the backend's op limit;
        // the link record rides in the last one, so a crash between chunks
        // replays the batch (puts and deletes are idempotent).
        for chunk in ops.chunks(max_ops) {
            store
                .txn(Txn {
                    compares: Vec::new(),
                    ops: chunk.to_vec(),
                })
                .await?;
        }
        if persist {
            self.persisted_at = Instant::now();
        }
        if !in_snapshot {
            self.applied = batch.revision;
        }
        self.metrics
            .changes_applied
            .inc_by(u64::try_from(count).unwrap_or(0));
        let applied = self.applied;
        self.links.touch(LinkRole::Child, &self.child.id, |s| {
            s.applied_revision = applied;
            s.head_revision = batch.head_revision.max(applied);
            if !in_snapshot {
                s.state = LinkState::Up;
            }
        });
        Ok((batch.revision, refused))
    }

    /// Ops for a batch's changes. Entries outside the child's area or at a
    /// prohibited location (R7) are refused one by one, not the whole link.
    async fn change_ops(
        &mut self,
        changes: Vec<fed::CatalogChange>,
    ) -> Result<(Vec<Op>, Vec<fed::RefusedEntry>), RegistryError> {
        use fed::catalog_change::Change;
        let mut latest: HashMap<String, Option<CatalogEntry>> = HashMap::new();
        let mut order = Vec::new();
        let mut refused = Vec::new();
        for change in changes {
            let (id, entry) = match change.change {
                Some(Change::Upsert(device)) => {
                    let device_id: String = device
                        .spec
                        .as_ref()
                        .map(|s| s.id.chars().take(20).collect())
                        .unwrap_or_default();
                    match self.accept(device) {
                        Ok(entry) => (entry.spec.id.clone(), Some(entry)),
                        Err(e) => {
                            tracing::warn!(child = %self.child.id, device = %device_id, error = %e, "refused a catalog entry from a child");
                            let entry = RefusedEntry {
                                device_id,
                                reason: e.to_string(),
                                refused_by: LinkRole::Parent.name().to_owned(),
                                at_ms: crate::catalog::now_ms(),
                            };
                            refused.push(fed::RefusedEntry {
                                device_id: entry.device_id.clone(),
                                reason: entry.reason.clone(),
                                refused_by: entry.refused_by.clone(),
                                at_unix_ms: entry.at_ms,
                            });
                            self.links
                                .update(LinkRole::Child, &self.child.id, |s| s.refuse(entry));
                            continue;
                        }
                    }
                }
                Some(Change::RemoveDeviceId(id)) => (id, None),
                None => continue,
            };
            if let Some(seen) = self.snapshot.as_mut().filter(|_| entry.is_some()) {
                seen.insert(id.clone());
            }
            if latest.insert(id.clone(), entry).is_none() {
                order.push(id);
            }
        }
        let mut ops = Vec::with_capacity(order.len());
        for id in order {
            match latest.remove(&id).flatten() {
                Some(entry) => ops.push(Op::put(keys::remote(&id), encode(&entry))),
                None => {
                    if self.owns(&id).await? {
                        ops.push(Op::delete(keys::remote(&id)));
                    }
                }
            }
        }
        Ok((ops, refused))
    }

    fn accept(
        &self,
        device: vfed_proto::registry::v1::Device,
    ) -> Result<CatalogEntry, RegistryError> {
        let entry = remote_entry_from_wire(device, &self.child.id)?;
        check_id(&entry.spec.id, &self.area, "upsert.spec.id")?;
        check_location(&entry.spec)?;
        check_bounds(&entry.spec)?;
        Ok(entry)
    }

    /// Whether a remote entry exists and came through this child.
    async fn owns(&self, id: &str) -> Result<bool, RegistryError> {
        let Some(kv) = self
            .catalog
            .store()
            .get(keys::remote(id).as_bytes())
            .await?
        else {
            return Ok(false);
        };
        let entry: CatalogEntry = decode(&kv.key, &kv.value)?;
        Ok(entry.via_child.as_deref() == Some(self.child.id.as_str()))
    }

    /// Deletes of this child's entries that the finished snapshot lacked.
    async fn sweep_ops(&self) -> Result<Vec<Op>, RegistryError> {
        let Some(seen) = &self.snapshot else {
            return Ok(Vec::new());
        };
        let entries = self.catalog.all(keys::REMOTE).await?;
        Ok(entries
            .into_iter()
            .filter(|v| v.entry.via_child.as_deref() == Some(self.child.id.as_str()))
            .filter(|v| !seen.contains(&v.entry.spec.id))
            .map(|v| Op::delete(keys::remote(&v.entry.spec.id)))
            .collect())
    }
}
