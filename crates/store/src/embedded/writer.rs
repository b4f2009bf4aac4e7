//! The group-commit writer: one thread owns every write to the database.
//!
//! It takes every request pending on its channel (up to a cap), evaluates
//! the transactions in order against the state including the earlier ones
//! of the same group, gives each writing transaction the next revision,
//! commits one redb write transaction for the whole group and only then
//! answers the callers and publishes the new revision to watchers.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use redb::{ReadableTable, Table};
use tokio::sync::{mpsc, oneshot, watch};

use super::codec::{decode_revisions, encode_entry, encode_events};
use super::{DATA, LOG, META, META_COMPACTED, META_REVISION, Shared, storage_error};
use crate::{Compare, KeyValue, Op, Revision, StoreError, Txn, TxnResponse, WatchEvent};

/// A request to the writer.
pub(crate) enum Request {
    /// A transaction (already checked against `max_txn_ops`).
    Txn {
        txn: Txn,
        reply: oneshot::Sender<Result<TxnResponse, StoreError>>,
    },
    /// A manual compaction.
    Compact {
        revision: Revision,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Finish what came before, then stop.
    Close { reply: oneshot::Sender<()> },
}

/// The writer's view of the persisted counters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Counters {
    pub revision: Revision,
    pub compacted: Revision,
}

/// Runs the writer until its channel closes or it gets [`Request::Close`].
pub(crate) fn run(
    shared: Arc<Shared>,
    mut requests: mpsc::Receiver<Request>,
    revision_tx: watch::Sender<Revision>,
    mut counters: Counters,
) {
    let mut group = Vec::with_capacity(shared.max_group);
    loop {
        let Some(first) = requests.blocking_recv() else {
            break;
        };
        group.push(first);
        while group.len() < shared.max_group {
            match requests.try_recv() {
                Ok(request) => group.push(request),
                Err(_) => break,
            }
        }
        // A close ends the group: what came before it is committed, what came after it is refused.
        let close_at = group
            .iter()
            .position(|r| matches!(r, Request::Close { .. }));
        let rest = close_at.map(|at| group.split_off(at));

        if !group.is_empty() {
            commit_group(&shared, &mut group, &mut counters, &revision_tx);
        }
        if let Some(rest) = rest {
            let mut acks = Vec::new();
            for request in rest {
                match request {
                    Request::Close { reply } => acks.push(reply),
                    other => refuse(other, StoreError::Closed),
                }
            }
            // Refuse whatever is still queued, then let the closer go on.
            requests.close();
            while let Ok(request) = requests.try_recv() {
                match request {
                    Request::Close { reply } => acks.push(reply),
                    other => refuse(other, StoreError::Closed),
                }
            }
            for ack in acks {
                let _ = ack.send(());
            }
            break;
        }
    }
    tracing::debug!(
        revision = counters.revision,
        "embedded store writer stopped"
    );
}

fn refuse(request: Request, error: StoreError) {
    match request {
        Request::Txn { reply, .. } => {
            let _ = reply.send(Err(error));
        }
        Request::Compact { reply, .. } => {
            let _ = reply.send(Err(error));
        }
        Request::Close { reply } => {
            let _ = reply.send(());
        }
    }
}

fn clone_error(error: &StoreError) -> StoreError {
    match error {
        StoreError::Closed => StoreError::Closed,
        StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
        other => StoreError::Unavailable {
            backend: super::BACKEND,
            message: other.to_string(),
        },
    }
}

fn commit_group(
    shared: &Shared,
    group: &mut Vec<Request>,
    counters: &mut Counters,
    revision_tx: &watch::Sender<Revision>,
) {
    let result = {
        let guard = shared.db.read().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            None => Err(StoreError::Closed),
            Some(db) => apply_group(shared, db, group, *counters),
        }
    };
    match result {
        Ok((outcomes, new_counters)) => {
            *counters = new_counters;
            shared
                .compacted
                .store(new_counters.compacted, Ordering::Release);
            revision_tx.send_if_modified(|current| {
                let changed = *current != new_counters.revision;
                *current = new_counters.revision;
                changed
            });
            for (request, outcome) in group.drain(..).zip(outcomes) {
                match request {
                    Request::Txn { reply, .. } => {
                        let _ = reply.send(outcome.ok_or(StoreError::Closed));
                    }
                    Request::Compact { reply, .. } => {
                        let _ = reply.send(Ok(()));
                    }
                    Request::Close { reply } => {
                        let _ = reply.send(());
                    }
                }
            }
        }
        Err(error) => {
            if !matches!(error, StoreError::Closed) {
                tracing::error!(%error, "embedded store group commit failed");
            }
            for request in group.drain(..) {
                refuse(request, clone_error(&error));
            }
        }
    }
}

/// Applies a group in one write transaction; returns each request's outcome
/// (in order, `None` for non-transactions), to send once it is committed.
fn apply_group(
    shared: &Shared,
    db: &redb::Database,
    group: &mut [Request],
    counters: Counters,
) -> Result<(Vec<Option<TxnResponse>>, Counters), StoreError> {
    let wtx = db.begin_write().map_err(storage_error)?;
    let mut replies = Vec::with_capacity(group.len());
    let mut revision = counters.revision;
    let mut compacted = counters.compacted;
    {
        let mut data = wtx.open_table(DATA).map_err(storage_error)?;
        let mut log = wtx.open_table(LOG).map_err(storage_error)?;
        let mut meta = wtx.open_table(META).map_err(storage_error)?;
        for request in group.iter_mut() {
            match request {
                Request::Txn { txn, .. } => {
                    let response = if compares_hold(&data, &txn.compares)? {
                        let events =
                            apply_ops(&mut data, std::mem::take(&mut txn.ops), revision + 1)?;
                        if events.is_empty() {
                            TxnResponse {
                                succeeded: true,
                                revision,
                            }
                        } else {
                            revision += 1;
                            log.insert(revision, encode_events(&events).as_slice())
                                .map_err(storage_error)?;
                            TxnResponse {
                                succeeded: true,
                                revision,
                            }
                        }
                    } else {
                        TxnResponse {
                            succeeded: false,
                            revision,
                        }
                    };
                    replies.push(Some(response));
                }
                Request::Compact {
                    revision: target, ..
                } => {
                    let target = (*target).min(revision);
                    if target > compacted {
                        trim(&mut log, compacted, target)?;
                        compacted = target;
                    }
                    replies.push(None);
                }
                Request::Close { .. } => replies.push(None),
            }
        }
        let keep_from = revision - shared.history;
        if keep_from > compacted {
            trim(&mut log, compacted, keep_from)?;
            compacted = keep_from;
        }
        if revision != counters.revision {
            meta.insert(META_REVISION, revision.to_be_bytes().as_slice())
                .map_err(storage_error)?;
        }
        if compacted != counters.compacted {
            meta.insert(META_COMPACTED, compacted.to_be_bytes().as_slice())
                .map_err(storage_error)?;
        }
    }
    if revision == counters.revision && compacted == counters.compacted {
        // Nothing written (only failed compares or no-op txns): skip the fsync.
        wtx.abort().map_err(storage_error)?;
    } else {
        wtx.commit().map_err(storage_error)?;
    }
    Ok((
        replies,
        Counters {
            revision,
            compacted,
        },
    ))
}

fn trim(
    log: &mut Table<'_, Revision, &[u8]>,
    from_exclusive: Revision,
    to_inclusive: Revision,
) -> Result<(), StoreError> {
    log.retain_in((from_exclusive + 1)..=to_inclusive, |_, _| false)
        .map_err(storage_error)
}

fn compares_hold<T: ReadableTable<&'static [u8], &'static [u8]>>(
    data: &T,
    compares: &[Compare],
) -> Result<bool, StoreError> {
    for compare in compares {
        let holds = match compare {
            Compare::ModRevision { key, revision } => {
                let current = match data.get(key.as_slice()).map_err(storage_error)? {
                    Some(guard) => decode_revisions(guard.value())?.1,
                    None => 0,
                };
                current == *revision
            }
            Compare::Value { key, value } => {
                match data.get(key.as_slice()).map_err(storage_error)? {
                    Some(guard) => decode_revisions(guard.value())?.2 == value.as_slice(),
                    None => false,
                }
            }
        };
        if !holds {
            return Ok(false);
        }
    }
    Ok(true)
}

fn apply_ops(
    data: &mut Table<'_, &'static [u8], &'static [u8]>,
    ops: Vec<Op>,
    revision: Revision,
) -> Result<Vec<WatchEvent>, StoreError> {
    let mut events = Vec::with_capacity(ops.len());
    for op in ops {
        match op {
            Op::Put { key, value } => {
                let create_revision = match data.get(key.as_slice()).map_err(storage_error)? {
                    Some(guard) => decode_revisions(guard.value())?.0,
                    None => revision,
                };
                data.insert(
                    key.as_slice(),
                    encode_entry(create_revision, revision, &value).as_slice(),
                )
                .map_err(storage_error)?;
                events.push(WatchEvent::Put(KeyValue {
                    key,
                    value,
                    create_revision,
                    mod_revision: revision,
                }));
            }
            Op::Delete { key } => {
                if data
                    .remove(key.as_slice())
                    .map_err(storage_error)?
                    .is_some()
                {
                    events.push(WatchEvent::Delete {
                        key,
                        mod_revision: revision,
                    });
                }
            }
        }
    }
    Ok(events)
}
