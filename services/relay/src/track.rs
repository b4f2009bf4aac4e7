//! Fan-out of one live stream: the source appends access units to the
//! current GOP; every reader shares the same GOPs (reference-counted, never
//! copied per reader) and reads at its own pace. A reader that falls behind
//! jumps to the newest GOP (dropping whole old ones), so one slow reader
//! never holds back the source or the others. A new reader starts at the
//! latest GOP's keyframe (instant start).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::watch;
use vfed_media::{AccessUnit, StreamMetadata};
use vfed_proto::relay::v1::{SourceState, SourceStatus};

/// How far a GOP has been filled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Progress {
    len: usize,
    closed: bool,
}

/// A GOP being written by the source and read by every reader.
#[derive(Debug)]
pub struct SharedGop {
    /// Sequence number within the track (newer is larger).
    pub seq: u64,
    units: RwLock<Vec<AccessUnit>>,
    progress: watch::Sender<Progress>,
}

impl SharedGop {
    fn new(seq: u64, first: AccessUnit) -> Self {
        let (progress, _) = watch::channel(Progress {
            len: 1,
            closed: false,
        });
        Self {
            seq,
            units: RwLock::new(vec![first]),
            progress,
        }
    }

    fn push(&self, unit: AccessUnit) {
        let len = {
            let mut units = self
                .units
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            units.push(unit);
            units.len()
        };
        self.progress.send_modify(|p| p.len = len);
    }

    fn close(&self) {
        self.progress.send_modify(|p| p.closed = true);
    }

    /// Whether the source has moved on to a newer GOP.
    pub fn is_closed(&self) -> bool {
        self.progress.borrow().closed
    }

    /// The unit at `index`, if written yet.
    fn get(&self, index: usize) -> Option<AccessUnit> {
        self.units
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(index)
            .cloned()
    }

    /// Reads this GOP from its keyframe on.
    pub fn reader(self: &Arc<Self>) -> GopReader {
        GopReader {
            gop: self.clone(),
            next: 0,
            progress: self.progress.subscribe(),
        }
    }
}

/// Reads one GOP's units as they arrive.
pub struct GopReader {
    gop: Arc<SharedGop>,
    next: usize,
    progress: watch::Receiver<Progress>,
}

impl GopReader {
    /// The GOP read.
    pub fn gop(&self) -> &Arc<SharedGop> {
        &self.gop
    }

    /// The next unit, waiting for the source; `None` once the GOP is
    /// complete and fully read.
    pub async fn next(&mut self) -> Option<AccessUnit> {
        loop {
            if let Some(unit) = self.gop.get(self.next) {
                self.next += 1;
                return Some(unit);
            }
            if self.progress.borrow_and_update().closed && self.gop.get(self.next).is_none() {
                return None;
            }
            if self.progress.changed().await.is_err() {
                // The GOP was dropped by everyone else; nothing more will come.
                return self.gop.get(self.next).inspect(|_| self.next += 1);
            }
        }
    }
}

/// The window of the measured bitrate.
const RATE_WINDOW: std::time::Duration = std::time::Duration::from_secs(5);

/// Counters of a track.
#[derive(Debug, Default)]
pub struct TrackStats {
    /// Access units published.
    pub units_in: AtomicU64,
    /// Payload bytes published.
    pub bytes_in: AtomicU64,
    /// GOPs readers skipped because they were behind.
    pub gops_dropped: AtomicU64,
    /// Times the source was re-established.
    pub upstream_reconnects: AtomicU64,
}

/// One live stream at this node.
#[derive(Debug)]
pub struct Track {
    key: String,
    latest: watch::Sender<Option<Arc<SharedGop>>>,
    metadata: watch::Sender<Option<StreamMetadata>>,
    next_seq: Mutex<u64>,
    /// Counters.
    pub stats: TrackStats,
    readers: watch::Sender<usize>,
    ended: watch::Sender<bool>,
    end_reason: Mutex<Option<crate::RelayError>>,
    status: watch::Sender<(SourceStatus, Option<std::time::Instant>)>,
    rate: Mutex<vfed_media::RateWindow>,
}

impl Track {
    /// An empty track.
    pub fn new(key: impl Into<String>) -> Arc<Self> {
        Arc::new(Self {
            key: key.into(),
            latest: watch::channel(None).0,
            metadata: watch::channel(None).0,
            next_seq: Mutex::new(0),
            stats: TrackStats::default(),
            readers: watch::channel(0).0,
            ended: watch::channel(false).0,
            end_reason: Mutex::new(None),
            status: watch::channel((SourceStatus::default(), None)).0,
            rate: Mutex::new(vfed_media::RateWindow::new(RATE_WINDOW)),
        })
    }

    /// What the source is doing (set by whoever feeds the track: the
    /// node's gateway bridge, or the upstream pull); `retry_at`: when a
    /// retrying source tries again (`next_retry_ms` is counted from it
    /// whenever the status is read).
    pub fn set_status(&self, mut status: SourceStatus, retry_at: Option<std::time::Instant>) {
        status.next_retry_ms = 0;
        self.status.send_if_modified(|current| {
            // The same retry time, seen again a little later, is no news.
            let same_retry = match (current.1, retry_at) {
                (Some(a), Some(b)) => a.max(b) - a.min(b) < std::time::Duration::from_millis(100),
                (a, b) => a == b,
            };
            if current.0 == status && same_retry {
                return false;
            }
            *current = (status, retry_at);
            true
        });
    }

    /// The source's status now.
    pub fn status(&self) -> SourceStatus {
        let (mut status, retry_at) = self.status.borrow().clone();
        if let Some(at) = retry_at {
            let left = at.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() && status.state == i32::from(SourceState::Retrying) {
                status.state = SourceState::Connecting.into();
            }
            status.next_retry_ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
        }
        status
    }

    /// Waits for status changes (read them with [`Track::status`]).
    pub fn watch_status(&self) -> watch::Receiver<(SourceStatus, Option<std::time::Instant>)> {
        self.status.subscribe()
    }

    /// Whether the source is known to be failing now (retrying, or
    /// connecting again after failed attempts).
    pub fn is_failing(&self) -> bool {
        let status = &self.status.borrow().0;
        status.state == i32::from(SourceState::Retrying)
            || (status.state == i32::from(SourceState::Connecting) && status.attempts > 0)
    }

    /// Bits per second received over the last few seconds (0 without
    /// recent units).
    pub fn bitrate_bps(&self) -> u64 {
        self.rate
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .bitrate_bps(std::time::Instant::now())
    }

    /// `<device id>/<profile>`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Sets the stream's codec parameters.
    pub fn set_metadata(&self, metadata: StreamMetadata) {
        self.metadata.send_replace(Some(metadata));
    }

    /// The current metadata.
    pub fn metadata(&self) -> Option<StreamMetadata> {
        self.metadata.borrow().clone()
    }

    /// Waits for metadata changes.
    pub fn watch_metadata(&self) -> watch::Receiver<Option<StreamMetadata>> {
        self.metadata.subscribe()
    }

    /// Appends a unit: a keyframe starts a new GOP; units before the first
    /// keyframe are dropped (nobody could decode them).
    pub fn publish(&self, unit: AccessUnit) {
        self.rate
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .add(std::time::Instant::now(), unit.data.len());
        self.stats.units_in.fetch_add(1, Ordering::Relaxed);
        self.stats
            .bytes_in
            .fetch_add(unit.data.len() as u64, Ordering::Relaxed);
        if unit.keyframe {
            let seq = {
                let mut next = self
                    .next_seq
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                *next += 1;
                *next
            };
            let gop = Arc::new(SharedGop::new(seq, unit));
            let previous = self.latest.send_replace(Some(gop));
            if let Some(previous) = previous {
                previous.close();
            }
        } else if let Some(current) = self.latest.borrow().as_ref().filter(|g| !g.is_closed()) {
            // A closed GOP (the source lost frames or restarted) takes no
            // more units: they wait for the next keyframe.
            current.push(unit);
        }
    }

    /// Ends the current GOP (the source stopped).
    pub fn close_gop(&self) {
        if let Some(current) = self.latest.borrow().as_ref() {
            current.close();
        }
    }

    /// Ends the track for good: readers get `None` once they reach the end.
    pub fn end(&self) {
        self.close_gop();
        self.ended.send_replace(true);
    }

    /// Ends the track, remembering why (e.g. not found upstream).
    pub fn end_with(&self, reason: crate::RelayError) {
        *self
            .end_reason
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(reason);
        self.end();
    }

    /// Why the track ended, if it did with a reason.
    pub fn end_reason(&self) -> Option<crate::RelayError> {
        self.end_reason
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Resolves once the track has ended.
    pub async fn ended(&self) {
        let mut ended = self.ended.subscribe();
        let _ = ended.wait_for(|e| *e).await;
    }

    /// Whether the track has ended.
    pub fn is_ended(&self) -> bool {
        *self.ended.borrow()
    }

    /// A new reader, starting at the latest GOP.
    pub fn reader(self: &Arc<Self>) -> TrackReader {
        self.readers.send_modify(|n| *n += 1);
        let latest = self.latest.subscribe();
        let ended = self.ended.subscribe();
        TrackReader {
            track: self.clone(),
            latest,
            ended,
            last_seq: 0,
        }
    }

    /// Readers right now.
    pub fn readers(&self) -> usize {
        *self.readers.borrow()
    }

    /// Waits for reader count changes.
    pub fn watch_readers(&self) -> watch::Receiver<usize> {
        self.readers.subscribe()
    }
}

/// Follows a track GOP by GOP, always the newest.
pub struct TrackReader {
    track: Arc<Track>,
    latest: watch::Receiver<Option<Arc<SharedGop>>>,
    ended: watch::Receiver<bool>,
    last_seq: u64,
}

impl TrackReader {
    /// The track.
    pub fn track(&self) -> &Arc<Track> {
        &self.track
    }

    /// The newest GOP not yet returned, waiting for one. GOPs that came and
    /// went while the caller was busy are counted as dropped.
    pub async fn next_gop(&mut self) -> Option<Arc<SharedGop>> {
        loop {
            let current = self.latest.borrow_and_update().clone();
            if let Some(gop) = current.filter(|g| g.seq > self.last_seq) {
                if self.last_seq > 0 && gop.seq > self.last_seq + 1 {
                    self.track
                        .stats
                        .gops_dropped
                        .fetch_add(gop.seq - self.last_seq - 1, Ordering::Relaxed);
                }
                self.last_seq = gop.seq;
                return Some(gop);
            }
            if *self.ended.borrow_and_update() {
                return None;
            }
            tokio::select! {
                changed = self.latest.changed() => changed.ok()?,
                changed = self.ended.changed() => changed.ok()?,
            }
        }
    }

    /// Whether a GOP newer than `seq` exists.
    pub fn newer_than(&self, seq: u64) -> bool {
        self.latest.borrow().as_ref().is_some_and(|g| g.seq > seq)
    }
}

impl Drop for TrackReader {
    fn drop(&mut self) {
        self.track.readers.send_modify(|n| *n = n.saturating_sub(1));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn unit(n: i64, keyframe: bool) -> AccessUnit {
        AccessUnit {
            pts: n * 3600,
            dts: n * 3600,
            keyframe,
            data: Bytes::from(vec![n as u8; 10]),
            ingest_unix_us: n,
        }
    }

    #[tokio::test]
    async fn readers_share_gops_and_start_at_a_keyframe() {
        let track = Track::new("d/main");
        track.publish(unit(0, false)); // before any keyframe: dropped
        track.publish(unit(1, true));
        track.publish(unit(2, false));
        let mut a = track.reader();
        let mut b = track.reader();
        assert_eq!(track.readers(), 2);
        let gop_a = a.next_gop().await.unwrap();
        let gop_b = b.next_gop().await.unwrap();
        assert!(Arc::ptr_eq(&gop_a, &gop_b), "GOPs are shared, not copied");
        let mut r = gop_a.reader();
        assert_eq!(r.next().await.unwrap().pts, 3600);
        assert_eq!(r.next().await.unwrap().pts, 7200);
        track.publish(unit(3, false));
        assert_eq!(r.next().await.unwrap().pts, 10800);
        track.publish(unit(4, true));
        assert_eq!(r.next().await, None, "GOP closed by the next keyframe");
        assert_eq!(a.next_gop().await.unwrap().seq, 2);
        drop(b);
        assert_eq!(track.readers(), 1);
    }

    #[tokio::test]
    async fn a_slow_reader_skips_to_the_newest_gop() {
        let track = Track::new("d/main");
        let mut slow = track.reader();
        track.publish(unit(0, true));
        assert_eq!(slow.next_gop().await.unwrap().seq, 1);
        for n in 1..5 {
            track.publish(unit(n * 10, true));
            track.publish(unit(n * 10 + 1, false));
        }
        // The source never waited; the reader jumps from GOP 1 to GOP 5.
        assert_eq!(slow.next_gop().await.unwrap().seq, 5);
        assert_eq!(track.stats.gops_dropped.load(Ordering::Relaxed), 3);
    }
}
