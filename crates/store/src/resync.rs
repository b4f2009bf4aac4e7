//! A watch that survives compaction and backend outages: when the history it
//! needs is gone it re-lists the prefix and resumes after the listing, so a
//! consumer loses nothing (it sees a full [`WatchItem::Resync`] instead of the
//! events it missed).
//!
//! Delivery is exact: every revision after the starting point is covered
//! once, either by its events or by a later `Resync`; nothing is delivered
//! twice (events at or below the last delivered revision are dropped).

use std::time::Duration;

use futures::{Stream, StreamExt};

use crate::{Revision, SharedStore, Snapshot, StoreError, WatchBatch, WatchStream};

/// First retry delay after a transient error.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Largest retry delay.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What a resilient watch yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchItem {
    /// Changes since the previous item.
    Events(WatchBatch),
    /// The full state of the prefix at `snapshot.revision`; replaces
    /// everything the consumer knew. Events resume at `revision + 1`.
    Resync(Snapshot),
}

/// Watches `prefix` from `start_revision` forever (until dropped).
///
/// - `start_revision == 0`: the first item is a [`WatchItem::Resync`].
/// - On [`crate::StoreError::Compacted`] (at start or later): yields a
///   `Resync` and carries on after it.
/// - On a transient error: retries with capped backoff (100 ms doubling to
///   5 s), resuming from the last delivered revision + 1.
/// - On [`crate::StoreError::Closed`]: the stream ends.
pub fn watch_with_resync(
    store: SharedStore,
    prefix: Vec<u8>,
    start_revision: Revision,
) -> impl Stream<Item = WatchItem> + Send + 'static {
    let state = Resync {
        store,
        prefix,
        next: start_revision.max(0),
        need_resync: start_revision <= 0,
        stream: None,
        backoff: BACKOFF_MIN,
        done: false,
    };
    futures::stream::unfold(state, |mut state| async move {
        let item = state.next_item().await?;
        Some((item, state))
    })
}

struct Resync {
    store: SharedStore,
    prefix: Vec<u8>,
    /// The next revision to deliver.
    next: Revision,
    need_resync: bool,
    stream: Option<WatchStream>,
    backoff: Duration,
    done: bool,
}

impl Resync {
    async fn next_item(&mut self) -> Option<WatchItem> {
        while !self.done {
            if self.need_resync {
                match self.store.snapshot(&self.prefix).await {
                    Ok(snapshot) => {
                        self.need_resync = false;
                        self.stream = None;
                        self.next = snapshot.revision + 1;
                        self.backoff = BACKOFF_MIN;
                        return Some(WatchItem::Resync(snapshot));
                    }
                    Err(error) => self.on_error(error).await,
                }
                continue;
            }
            let Some(stream) = self.stream.as_mut() else {
                match self.store.watch(&self.prefix, self.next).await {
                    Ok(stream) => self.stream = Some(stream),
                    Err(error) => self.on_error(error).await,
                }
                continue;
            };
            match stream.next().await {
                Some(Ok(mut batch)) => {
                    let next = self.next;
                    batch.events.retain(|event| event.revision() >= next);
                    if batch.events.is_empty() || batch.revision < next {
                        continue;
                    }
                    self.next = batch.revision + 1;
                    self.backoff = BACKOFF_MIN;
                    return Some(WatchItem::Events(batch));
                }
                Some(Err(error)) => {
                    self.stream = None;
                    self.on_error(error).await;
                }
                None => {
                    self.stream = None;
                    self.on_error(StoreError::Unavailable {
                        backend: self.store.backend(),
                        message: "watch stream ended".into(),
                    })
                    .await;
                }
            }
        }
        None
    }

    /// Decides what an error means: resync, stop, or wait and retry.
    async fn on_error(&mut self, error: StoreError) {
        match error {
            StoreError::Compacted { .. } => {
                tracing::info!(%error, prefix = %String::from_utf8_lossy(&self.prefix), "watch history compacted, resyncing");
                self.need_resync = true;
            }
            StoreError::Closed => self.done = true,
            error => {
                tracing::warn!(%error, retry_in = ?self.backoff, prefix = %String::from_utf8_lossy(&self.prefix), "watch failed, retrying");
                tokio::time::sleep(self.backoff).await;
                self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}
