//! The child side of a link: connect to the parent over mutual TLS, learn
//! where to resume, then stream catalog changes as the store commits them.
//! A session that fails is retried with capped backoff; the parent's record
//! of the last applied revision makes the retry lose and repeat nothing.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use vfed_proto::federation::v1 as fed;
use vfed_proto::federation::v1::federation_client::FederationClient;
use vfed_store::{Snapshot, WatchItem, watch_with_resync};

use super::changes::{PendingChanges, change_for};
use super::links::{LinkRole, LinkState, LinkTable};
use crate::catalog::Catalog;
use crate::keys;

/// Uplink settings.
#[derive(Clone, Debug)]
pub struct UplinkOptions {
    /// This node's name and level, sent in hello.
    pub name: String,
    /// This node's level.
    pub level: String,
    /// The parent's node code.
    pub parent_id: String,
    /// Changes per batch.
    pub batch_size: usize,
    /// Idle heartbeat period.
    pub heartbeat: Duration,
    /// Longest reconnect wait.
    pub max_backoff: Duration,
}

/// The child's link to its parent.
pub struct Uplink {
    catalog: Catalog,
    channel: Channel,
    options: UplinkOptions,
    links: LinkTable,
}

type SessionError = String;

fn batch(changes: Vec<fed::CatalogChange>, revision: i64, head: i64) -> fed::ChildMessage {
    fed::ChildMessage {
        message: Some(fed::child_message::Message::Batch(fed::CatalogBatch {
            changes,
            revision,
            snapshot_begin: false,
            snapshot_end: false,
            head_revision: head,
        })),
    }
}

impl Uplink {
    /// An uplink over `channel` (mutual TLS, pinned to the parent's identity).
    pub fn new(
        catalog: Catalog,
        channel: Channel,
        options: UplinkOptions,
        links: LinkTable,
    ) -> Self {
        Self {
            catalog,
            channel,
            options,
            links,
        }
    }

    /// Keeps the link up until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let started = Instant::now();
            let outcome = tokio::select! {
                () = shutdown.cancelled() => Ok(()),
                r = self.session() => r,
            };
            let parent = &self.options.parent_id;
            match &outcome {
                Ok(()) if shutdown.is_cancelled() => {}
                Ok(()) => tracing::info!(%parent, "parent link closed; reconnecting"),
                Err(e) => tracing::warn!(%parent, error = %e, "parent link failed; reconnecting"),
            }
            self.links.update(LinkRole::Parent, parent, |s| {
                s.state = LinkState::Down;
                if let Err(e) = outcome {
                    s.last_error = e;
                }
            });
            if shutdown.is_cancelled() {
                return;
            }
            if started.elapsed() > Duration::from_secs(10) {
                backoff = Duration::from_millis(100);
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(self.options.max_backoff);
        }
    }

    async fn session(&self) -> Result<(), SessionError> {
        let store = self.catalog.store().clone();
        let head = store.current_revision().await.map_err(|e| e.to_string())?;
        let (tx, rx) = mpsc::channel::<fed::ChildMessage>(4);
        let hello = fed::Hello {
            node_id: self.catalog.node_id().to_owned(),
            name: self.options.name.clone(),
            level: self.options.level.clone(),
            store_id: store.store_id().to_owned(),
            head_revision: head,
        };
        tx.send(fed::ChildMessage {
            message: Some(fed::child_message::Message::Hello(hello)),
        })
        .await
        .map_err(|_| "link closed before hello".to_owned())?;
        // The link carries the trace context, so a session shows as one trace
        // across child and parent.
        let mut client = FederationClient::with_interceptor(
            self.channel.clone(),
            vfed_telemetry::propagation::inject,
        );
        let mut inbound = client
            .link(ReceiverStream::new(rx))
            .await
            .map_err(|s| describe(&s))?
            .into_inner();
        let welcome = match inbound.message().await.map_err(|s| describe(&s))? {
            Some(fed::ParentMessage {
                message: Some(fed::parent_message::Message::Welcome(w)),
            }) => w,
            _ => return Err("parent did not answer hello with welcome".into()),
        };
        if welcome.parent_id != self.options.parent_id {
            return Err(format!(
                "parent says it is {}, expected {}",
                welcome.parent_id, self.options.parent_id
            ));
        }
        // A parent that remembers a revision we never reached saw another
        // incarnation of this store: start over with a full resync.
        let resume = welcome.resume_after_revision;
        let start = if resume <= 0 || resume > head {
            0
        } else {
            resume + 1
        };
        tracing::info!(parent = %self.options.parent_id, resume, head, full_resync = start == 0, "parent link up");
        let parent_id = self.options.parent_id.clone();
        let parent_name = welcome.parent_name.clone();
        self.links.touch(LinkRole::Parent, &parent_id, |s| {
            s.state = LinkState::Up;
            if !parent_name.is_empty() {
                s.peer_name = parent_name;
            }
            s.applied_revision = resume.max(0);
            s.head_revision = head;
            s.last_error.clear();
        });
        let links = self.links.clone();
        let acks = tokio::spawn(async move {
            loop {
                match inbound.message().await {
                    Ok(Some(fed::ParentMessage {
                        message: Some(fed::parent_message::Message::Ack(ack)),
                    })) => {
                        links.touch(LinkRole::Parent, &parent_id, |s| {
                            s.applied_revision = ack.revision;
                            s.state = LinkState::Up;
                        });
                    }
                    Ok(Some(_)) => return "parent sent an unexpected message".to_owned(),
                    Ok(None) => return "parent closed the link".to_owned(),
                    Err(status) => return describe(&status),
                }
            }
        });
        let result = self.stream_changes(&tx, start).await;
        acks.abort();
        result
    }

    async fn stream_changes(
        &self,
        tx: &mpsc::Sender<fed::ChildMessage>,
        start: i64,
    ) -> Result<(), SessionError> {
        let store = self.catalog.store().clone();
        // The whole key space, so that the processed revision is exact even
        // when the latest revisions touched no catalog entry.
        let watch = watch_with_resync(store.clone(), Vec::new(), start);
        let mut watch = Box::pin(watch.ready_chunks(256));
        let mut processed = (start - 1).max(0);
        // The revision of the last batch sent: intermediate chunks repeat it,
        // so the parent never records progress it has not got.
        let mut sent = processed;
        let mut heartbeat = tokio::time::interval(self.options.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_sent = Instant::now();
        loop {
            tokio::select! {
                items = watch.next() => {
                    let Some(items) = items else { return Err("store watch ended".into()) };
                    let mut pending = PendingChanges::default();
                    for item in items {
                        match item {
                            WatchItem::Events(b) => {
                                b.events.iter().for_each(|e| pending.add_event(e));
                                processed = b.revision;
                            }
                            WatchItem::Resync(snapshot) => {
                                // Changes before a resync are superseded by it.
                                pending = PendingChanges::default();
                                processed = snapshot.revision;
                                self.send_snapshot(tx, snapshot).await?;
                                sent = processed;
                            }
                        }
                    }
                    if !pending.is_empty() {
                        let head = store.current_revision().await.map_err(|e| e.to_string())?;
                        let chunks = pending.drain_chunks(self.options.batch_size);
                        let last = chunks.len().saturating_sub(1);
                        for (i, chunk) in chunks.into_iter().enumerate() {
                            let revision = if i == last { processed } else { sent };
                            send(tx, batch(chunk, revision, head)).await?;
                        }
                        sent = processed;
                        last_sent = Instant::now();
                    }
                }
                _ = heartbeat.tick() => {
                    if last_sent.elapsed() >= self.options.heartbeat {
                        let head = store.current_revision().await.map_err(|e| e.to_string())?;
                        send(tx, batch(Vec::new(), processed, head)).await?;
                        sent = processed;
                        last_sent = Instant::now();
                    }
                }
            }
        }
    }

    async fn send_snapshot(
        &self,
        tx: &mpsc::Sender<fed::ChildMessage>,
        snapshot: Snapshot,
    ) -> Result<(), SessionError> {
        let changes: Vec<fed::CatalogChange> = snapshot
            .kvs
            .iter()
            .filter_map(|kv| keys::parse_catalog(&kv.key).map(|(id, _)| change_for(id, kv)))
            .filter(|c| matches!(c.change, Some(fed::catalog_change::Change::Upsert(_))))
            .collect();
        tracing::info!(
            entries = changes.len(),
            revision = snapshot.revision,
            "uplink: full resync"
        );
        let chunks: Vec<Vec<fed::CatalogChange>> = if changes.is_empty() {
            vec![Vec::new()]
        } else {
            changes
                .chunks(self.options.batch_size)
                .map(<[_]>::to_vec)
                .collect()
        };
        let last = chunks.len() - 1;
        for (i, chunk) in chunks.into_iter().enumerate() {
            let mut message = batch(chunk, snapshot.revision, snapshot.revision);
            if let Some(fed::child_message::Message::Batch(b)) = message.message.as_mut() {
                b.snapshot_begin = i == 0;
                b.snapshot_end = i == last;
            }
            send(tx, message).await?;
        }
        Ok(())
    }
}

async fn send(
    tx: &mpsc::Sender<fed::ChildMessage>,
    message: fed::ChildMessage,
) -> Result<(), SessionError> {
    tx.send(message)
        .await
        .map_err(|_| "parent link closed while sending".to_owned())
}

/// A status with the transport cause (TLS alerts, refused connections) spelled out.
fn describe(status: &tonic::Status) -> String {
    let mut text = format!("{}: {}", status.code(), status.message());
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
