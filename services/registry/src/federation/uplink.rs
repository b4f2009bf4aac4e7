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

use super::changes::{Chunks, PendingChanges, change_for, chunk_changes};
use super::downlink::{DOWN_AFTER_PERIODS, END_AFTER_PERIODS};
use super::links::{LinkRole, LinkState, LinkTable, RefusedEntry};
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
    /// Changes per batch (batches are also cut at
    /// `vfed_proto::bounds::MAX_BATCH_BYTES`).
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
        // Lag counts what the parent has not acknowledged, during an outage
        // too: the head is followed whether or not a session is up.
        tokio::spawn(follow_head(
            self.catalog.clone(),
            self.links.clone(),
            self.options.parent_id.clone(),
            self.options.heartbeat,
            shutdown.clone(),
        ));
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
            heartbeat_ms: u32::try_from(self.options.heartbeat.as_millis()).unwrap_or(u32::MAX),
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
        let period = self.options.heartbeat;
        let mut acks = tokio::spawn(async move {
            let mut shown_down = false;
            loop {
                // The parent acknowledges every batch and heartbeat: silence
                // past two periods is a partition, shown at once; past four
                // the session is given up and redialled.
                let wait = if shown_down {
                    period * (END_AFTER_PERIODS - DOWN_AFTER_PERIODS)
                } else {
                    period * DOWN_AFTER_PERIODS
                };
                let message = match tokio::time::timeout(wait, inbound.message()).await {
                    Ok(m) => m,
                    Err(_) if shown_down => {
                        return format!(
                            "no answer from the parent for {:?}; redialling",
                            period * END_AFTER_PERIODS
                        );
                    }
                    Err(_) => {
                        shown_down = true;
                        let text = format!(
                            "no answer from the parent for {:?} ({DOWN_AFTER_PERIODS} heartbeat periods)",
                            period * DOWN_AFTER_PERIODS
                        );
                        tracing::warn!(parent = %parent_id, "{text}");
                        links.update(LinkRole::Parent, &parent_id, |s| {
                            s.state = LinkState::Down;
                            s.last_error = text;
                        });
                        continue;
                    }
                };
                shown_down = false;
                match message {
                    Ok(Some(fed::ParentMessage {
                        message: Some(fed::parent_message::Message::Ack(ack)),
                    })) => {
                        links.touch(LinkRole::Parent, &parent_id, |s| {
                            s.applied_revision = ack.revision;
                            s.state = LinkState::Up;
                            for r in ack.refused {
                                tracing::warn!(parent = %parent_id, device = %r.device_id, reason = %r.reason, "the parent refused a catalog entry");
                                s.refuse(RefusedEntry {
                                    device_id: r.device_id,
                                    reason: r.reason,
                                    refused_by: LinkRole::Parent.name().to_owned(),
                                    at_ms: r.at_unix_ms,
                                });
                            }
                        });
                    }
                    Ok(Some(_)) => return "parent sent an unexpected message".to_owned(),
                    Ok(None) => return "parent closed the link".to_owned(),
                    Err(status) => return describe(&status),
                }
            }
        });
        let result = tokio::select! {
            r = self.stream_changes(&tx, start) => r,
            r = &mut acks => Err(r.unwrap_or_else(|e| format!("acknowledgement reader failed: {e}"))),
        };
        acks.abort();
        result
    }

    /// Sends `chunks` as batches; the last carries `processed`, the others
    /// `sent` (the parent never records progress it has not got). Entries too
    /// large for any batch are recorded as refused by this side.
    async fn send_chunks(
        &self,
        tx: &mpsc::Sender<fed::ChildMessage>,
        chunks: Chunks,
        (sent, processed, head): (i64, i64, i64),
    ) -> Result<(), SessionError> {
        self.refuse_too_large(&chunks.too_large);
        let last = chunks.batches.len().saturating_sub(1);
        for (i, chunk) in chunks.batches.into_iter().enumerate() {
            let revision = if i == last { processed } else { sent };
            send(tx, batch(chunk, revision, head)).await?;
        }
        Ok(())
    }

    fn refuse_too_large(&self, too_large: &[(String, usize)]) {
        for (id, size) in too_large {
            let reason = format!(
                "its catalog entry takes {size} bytes, more than a batch may ({} bytes); it was registered before the size limits: update it",
                vfed_proto::bounds::MAX_BATCH_BYTES
            );
            tracing::warn!(device = %id, %reason, "uplink: not sending a catalog entry");
            self.links
                .update(LinkRole::Parent, &self.options.parent_id, |s| {
                    s.refuse(RefusedEntry {
                        device_id: id.clone(),
                        reason,
                        refused_by: LinkRole::Child.name().to_owned(),
                        at_ms: crate::catalog::now_ms(),
                    });
                });
        }
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
                        let chunks = pending.drain_chunks(self.options.batch_size, vfed_proto::bounds::MAX_BATCH_BYTES);
                        if chunks.batches.is_empty() {
                            self.refuse_too_large(&chunks.too_large);
                        } else {
                            self.send_chunks(tx, chunks, (sent, processed, head)).await?;
                            sent = processed;
                            last_sent = Instant::now();
                        }
                    }
                }
                // At most one period between messages, so that the parent's
                // two-period silence means a partition, never a quiet child.
                () = tokio::time::sleep_until(last_sent + self.options.heartbeat) => {
                    let head = store.current_revision().await.map_err(|e| e.to_string())?;
                    send(tx, batch(Vec::new(), processed, head)).await?;
                    sent = processed;
                    last_sent = Instant::now();
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
        let Chunks {
            mut batches,
            too_large,
        } = chunk_changes(
            changes,
            self.options.batch_size,
            vfed_proto::bounds::MAX_BATCH_BYTES,
        );
        self.refuse_too_large(&too_large);
        if batches.is_empty() {
            batches.push(Vec::new());
        }
        let chunks = batches;
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

/// Keeps the parent link's head revision current, session or not, so that
/// `lag` (head minus acknowledged) grows through an outage.
async fn follow_head(
    catalog: Catalog,
    links: LinkTable,
    parent_id: String,
    period: Duration,
    shutdown: CancellationToken,
) {
    let store = catalog.store().clone();
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match store.current_revision().await {
            Ok(head) => links.update(LinkRole::Parent, &parent_id, |s| {
                s.head_revision = s.head_revision.max(head);
            }),
            Err(e) => tracing::debug!(error = %e, "uplink: cannot read the head revision"),
        }
    }
}
