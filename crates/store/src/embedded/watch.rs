//! Watches of the embedded store: each one follows the published revision
//! and reads the event log from its next revision in read transactions.

use std::sync::Arc;

use tokio::sync::watch;

use super::codec::decode_events;
use super::{LOG, META, META_COMPACTED, Shared, read_i64, storage_error};
use crate::{Revision, StoreError, WatchBatch, WatchStream};

/// The most revisions read in one read transaction.
const REVISIONS_PER_READ: i64 = 1024;

struct State {
    shared: Arc<Shared>,
    revisions: watch::Receiver<Revision>,
    prefix: Arc<Vec<u8>>,
    /// The next revision to read.
    next: Revision,
    done: bool,
}

/// A stream of the changes under `prefix` from revision `next` on.
pub(crate) fn stream(
    shared: Arc<Shared>,
    revisions: watch::Receiver<Revision>,
    prefix: Vec<u8>,
    next: Revision,
) -> WatchStream {
    let state = State {
        shared,
        revisions,
        prefix: Arc::new(prefix),
        next,
        done: false,
    };
    Box::pin(futures::stream::unfold(state, |mut state| async move {
        let item = next_item(&mut state).await?;
        Some((item, state))
    }))
}

async fn next_item(state: &mut State) -> Option<Result<WatchBatch, StoreError>> {
    if state.done {
        return None;
    }
    loop {
        let current = *state.revisions.borrow_and_update();
        if state.next > current {
            if state.revisions.changed().await.is_err() {
                state.done = true;
                return Some(Err(StoreError::Closed));
            }
            continue;
        }
        let from = state.next;
        let to = current.min(from + REVISIONS_PER_READ - 1);
        let prefix = Arc::clone(&state.prefix);
        let read = state
            .shared
            .read(move |rtx| read_log(rtx, &prefix, from, to))
            .await;
        match read {
            Ok(events) => {
                state.next = to + 1;
                if let Some(last) = events.last() {
                    let revision = last.revision();
                    return Some(Ok(WatchBatch { revision, events }));
                }
            }
            Err(error) => {
                state.done = true;
                return Some(Err(error));
            }
        }
    }
}

fn read_log(
    rtx: &redb::ReadTransaction,
    prefix: &[u8],
    from: Revision,
    to: Revision,
) -> Result<Vec<crate::WatchEvent>, StoreError> {
    let meta = rtx.open_table(META).map_err(storage_error)?;
    let compacted = read_i64(&meta, META_COMPACTED)?;
    if from <= compacted {
        return Err(StoreError::Compacted {
            requested: from,
            compact_revision: compacted,
        });
    }
    let log = rtx.open_table(LOG).map_err(storage_error)?;
    let mut events = Vec::new();
    let mut expected = from;
    for item in log.range(from..=to).map_err(storage_error)? {
        let (revision, bytes) = item.map_err(storage_error)?;
        let revision = revision.value();
        if revision != expected {
            return Err(StoreError::Corrupt(format!(
                "event log has no revision {expected}"
            )));
        }
        decode_events(bytes.value(), revision, prefix, &mut events)?;
        expected += 1;
    }
    if expected != to + 1 {
        return Err(StoreError::Corrupt(format!(
            "event log has no revision {expected}"
        )));
    }
    Ok(events)
}
