//! Where the gateway publishes what it pulls: the node's relay, seen
//! through [`Tracks`] (the relay in process, or its API). One bridge per
//! stream copies the gateway's events onto its track, and the gateway's
//! view of the stream (state, last error, cause, attempts) onto the
//! track's source status, so viewers anywhere learn why a camera fails.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::broadcast::error::RecvError;
use vfed_media::{AccessUnit, StreamMetadata};
use vfed_proto::relay::v1::{SourceState, SourceStatus};

use crate::gateway::Gateway;
use crate::pull::PullEvent;
use crate::source::StreamKey;
use crate::stats::{StatsSnapshot, StreamState};

/// How often a bridge refreshes its track's source status from the
/// gateway's statistics (also done at once on every session change).
const STATUS_REFRESH: Duration = Duration::from_millis(250);

/// One published stream.
pub trait PublishedTrack: Send + Sync + 'static {
    /// The stream's codec parameters changed (or are first known).
    fn set_metadata(&self, metadata: StreamMetadata);
    /// One access unit.
    fn publish(&self, unit: AccessUnit);
    /// Ends the group of pictures being sent (frames were lost).
    fn close_gop(&self);
    /// The gateway's view of the stream; `retry_at` is when the next
    /// attempt starts while retrying.
    fn set_status(&self, status: SourceStatus, retry_at: Option<Instant>);
}

/// The relay's tracks of local sources.
pub trait Tracks: Send + Sync + 'static {
    /// The track of `key`, created if new; `None` when the relay cannot
    /// name it (the stream is then not published).
    fn publish(&self, key: &StreamKey) -> Option<Arc<dyn PublishedTrack>>;
    /// `key` is no longer pulled here.
    fn unpublish(&self, key: &StreamKey);
}

/// The gateway's view of a stream as the relay reports it: state, last
/// error and its cause in words, failed attempts and when the next starts.
fn source_status(stats: &StatsSnapshot) -> (SourceStatus, Option<Instant>) {
    let failing = stats.cause.is_some();
    let (state, retry_at) = match stats.state {
        StreamState::Playing => (SourceState::Playing, None),
        StreamState::Backoff { retry_in } => {
            (SourceState::Retrying, Instant::now().checked_add(retry_in))
        }
        StreamState::Connecting | StreamState::Stopped => (SourceState::Connecting, None),
    };
    let status = SourceStatus {
        state: state.into(),
        last_error: if failing {
            stats.last_error.clone().unwrap_or_default()
        } else {
            String::new()
        },
        cause: stats
            .cause
            .map(|c| c.words().to_owned())
            .unwrap_or_default(),
        attempts: u32::try_from(stats.failed_attempts).unwrap_or(u32::MAX),
        next_retry_ms: 0,
        flags: Vec::new(),
        reason: String::new(),
        retiming: stats.retiming.clone().unwrap_or_default(),
    };
    (status, retry_at)
}

/// Copies the gateway's current view of `key` onto its track.
fn refresh_status(gateway: &Gateway, key: &StreamKey, track: &dyn PublishedTrack) {
    if let Some(stats) = gateway.stream_stats(key) {
        let (status, retry_at) = source_status(&stats);
        track.set_status(status, retry_at);
    }
}

/// Copies one gateway stream into its track, until the gateway stops
/// pulling it.
pub(crate) async fn bridge(gateway: Gateway, key: StreamKey, tracks: Arc<dyn Tracks>) {
    while let Some(mut subscription) = gateway.subscribe(&key) {
        let Some(track) = tracks.publish(&key) else {
            return;
        };
        if let Some(metadata) = subscription.metadata.take() {
            track.set_metadata(metadata);
        }
        let mut refresh = tokio::time::interval(STATUS_REFRESH);
        loop {
            let event = tokio::select! {
                event = subscription.events.recv() => event,
                _ = refresh.tick() => {
                    refresh_status(&gateway, &key, track.as_ref());
                    continue;
                }
            };
            if !matches!(event, Ok(PullEvent::AccessUnit(_))) {
                // A session began or ended: say so at once.
                refresh_status(&gateway, &key, track.as_ref());
            }
            match event {
                Ok(PullEvent::Metadata { metadata, .. }) => track.set_metadata(metadata),
                Ok(PullEvent::AccessUnit(unit)) => track.publish(unit),
                Ok(PullEvent::Disconnected { reason }) => {
                    tracing::debug!(stream = %key, %reason, "camera disconnected");
                    track.close_gop();
                }
                // Lost events mid-GOP: drop the rest of it, resume at a keyframe.
                Err(RecvError::Lagged(_)) => track.close_gop(),
                Err(RecvError::Closed) => break,
            }
        }
        // The stream was restarted with new settings, or removed.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
