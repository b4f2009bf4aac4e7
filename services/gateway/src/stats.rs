//! Per-stream statistics: frame rate and bitrate over a sliding window, last
//! frame, reconnects, state.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use vfed_media::{Codec, RateWindow};

use crate::error::FailureCause;

/// What a stream's puller is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamState {
    /// Connecting (DESCRIBE, SETUP, PLAY) or waiting for the first keyframe.
    Connecting,
    /// Delivering frames.
    Playing,
    /// Waiting before the next attempt.
    Backoff {
        /// Time left until the next attempt.
        retry_in: Duration,
    },
    /// Stopped (removed from the gateway or shut down).
    Stopped,
}

/// A point-in-time copy of a stream's statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct StatsSnapshot {
    /// Current state.
    pub state: StreamState,
    /// Frames per second over the sliding window (0 without recent frames).
    pub fps: f64,
    /// Bits per second over the sliding window (0 without recent frames).
    pub bitrate_bps: u64,
    /// Access units delivered since the puller started.
    pub frames: u64,
    /// Payload bytes delivered since the puller started.
    pub bytes: u64,
    /// Wall-clock time (unix µs) of the last delivered access unit.
    pub last_frame_unix_us: Option<i64>,
    /// Time since the last delivered access unit.
    pub since_last_frame: Option<Duration>,
    /// Connection attempts after the first one.
    pub reconnects: u64,
    /// Sessions that reached PLAY and delivered a keyframe.
    pub sessions: u64,
    /// Why the last session or attempt ended (credentials redacted).
    pub last_error: Option<String>,
    /// The same in a few words; `None` once a frame arrived after it.
    pub cause: Option<FailureCause>,
    /// Attempts that failed since the last frame (0 while playing).
    pub failed_attempts: u64,
    /// How long no frame has arrived: since the last one, or since the
    /// puller started if none ever did.
    pub silent_for: Duration,
    /// Codec of the current (or last) session.
    pub codec: Option<Codec>,
    /// Picture width of the current (or last) session.
    pub width: u32,
    /// Picture height of the current (or last) session.
    pub height: u32,
    /// When the camera's RTP timestamps were found broken (constant or
    /// jumping) in the current (or last) session: what was wrong and the
    /// frame rate its frames are re-timed at.
    pub retiming: Option<String>,
}

#[derive(Debug)]
enum State {
    Connecting,
    Playing,
    Backoff { until: Instant },
    Stopped,
}

#[derive(Debug)]
struct Inner {
    state: State,
    /// The frames inside the rate window.
    window: RateWindow,
    frames: u64,
    bytes: u64,
    last_frame: Option<(Instant, i64)>,
    reconnects: u64,
    sessions: u64,
    last_error: Option<String>,
    cause: Option<FailureCause>,
    failed_attempts: u64,
    started: Instant,
    codec: Option<Codec>,
    width: u32,
    height: u32,
    retiming: Option<String>,
}

/// The live statistics of one stream, updated by its puller.
#[derive(Debug)]
pub(crate) struct StreamStats {
    inner: Mutex<Inner>,
}

impl StreamStats {
    /// Statistics measuring rates over `window`.
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            inner: Mutex::new(Inner {
                state: State::Connecting,
                window: RateWindow::new(window),
                frames: 0,
                bytes: 0,
                last_frame: None,
                reconnects: 0,
                sessions: 0,
                last_error: None,
                cause: None,
                failed_attempts: 0,
                started: Instant::now(),
                codec: None,
                width: 0,
                height: 0,
                retiming: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The counters stay meaningful even if a holder panicked.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn connecting(&self, is_retry: bool) {
        let mut inner = self.lock();
        inner.state = State::Connecting;
        if is_retry {
            inner.reconnects += 1;
        }
    }

    pub(crate) fn playing(&self, codec: Codec, width: u32, height: u32) {
        let mut inner = self.lock();
        inner.state = State::Playing;
        inner.sessions += 1;
        drop(inner);
        self.parameters(codec, width, height);
    }

    /// The re-timing of the session playing now (`None`: its timestamps are sound).
    pub(crate) fn retiming(&self, retiming: Option<String>) {
        self.lock().retiming = retiming;
    }

    pub(crate) fn parameters(&self, codec: Codec, width: u32, height: u32) {
        let mut inner = self.lock();
        inner.codec = Some(codec);
        inner.width = width;
        inner.height = height;
    }

    pub(crate) fn backoff(&self, error: String, cause: FailureCause, retry_in: Duration) {
        let mut inner = self.lock();
        inner.last_error = Some(error);
        inner.cause = Some(cause);
        inner.failed_attempts += 1;
        inner.state = State::Backoff {
            until: Instant::now() + retry_in,
        };
    }

    pub(crate) fn stopped(&self) {
        self.lock().state = State::Stopped;
    }

    pub(crate) fn frame(&self, now: Instant, unix_us: i64, bytes: usize) {
        let mut inner = self.lock();
        inner.failed_attempts = 0;
        inner.cause = None;
        inner.frames += 1;
        inner.bytes += bytes as u64;
        inner.last_frame = Some((now, unix_us));
        inner.window.add(now, bytes);
    }

    /// Whether a frame was delivered within `period` before now.
    pub(crate) fn delivered_within(&self, period: Duration) -> bool {
        self.lock()
            .last_frame
            .is_some_and(|(at, _)| at.elapsed() <= period)
    }

    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        let now = Instant::now();
        let mut inner = self.lock();
        let (fps, bitrate_bps) = inner.window.rates(now);
        StatsSnapshot {
            state: match inner.state {
                State::Connecting => StreamState::Connecting,
                State::Playing => StreamState::Playing,
                State::Backoff { until } => StreamState::Backoff {
                    retry_in: until.saturating_duration_since(now),
                },
                State::Stopped => StreamState::Stopped,
            },
            fps,
            bitrate_bps,
            frames: inner.frames,
            bytes: inner.bytes,
            last_frame_unix_us: inner.last_frame.map(|(_, us)| us),
            since_last_frame: inner
                .last_frame
                .map(|(at, _)| now.saturating_duration_since(at)),
            reconnects: inner.reconnects,
            sessions: inner.sessions,
            last_error: inner.last_error.clone(),
            cause: inner.cause,
            failed_attempts: inner.failed_attempts,
            silent_for: now
                .saturating_duration_since(inner.last_frame.map_or(inner.started, |(at, _)| at)),
            codec: inner.codec,
            width: inner.width,
            height: inner.height,
            retiming: inner.retiming.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_over_the_window() {
        let stats = StreamStats::new(Duration::from_secs(5));
        let start = Instant::now() - Duration::from_secs(2);
        for i in 0..26u32 {
            stats.frame(start + Duration::from_millis(40) * i, 0, 1000);
        }
        let snap = stats.snapshot();
        assert!((snap.fps - 25.0).abs() < 0.01, "{}", snap.fps);
        assert_eq!(snap.bitrate_bps, 200_000);
        assert_eq!(snap.frames, 26);
    }

    #[test]
    fn old_frames_leave_the_window() {
        let stats = StreamStats::new(Duration::from_secs(1));
        let old = Instant::now() - Duration::from_secs(3);
        stats.frame(old, 1, 10);
        stats.frame(old + Duration::from_millis(40), 2, 10);
        let snap = stats.snapshot();
        assert_eq!((snap.fps, snap.bitrate_bps), (0.0, 0));
        assert_eq!(snap.last_frame_unix_us, Some(2));
        assert!(!stats.delivered_within(Duration::from_secs(1)));
    }

    #[test]
    fn states_and_reconnects() {
        let stats = StreamStats::new(Duration::from_secs(1));
        stats.connecting(false);
        stats.backoff(
            "refused".into(),
            FailureCause::ConnectionRefused,
            Duration::from_secs(2),
        );
        assert_eq!(stats.snapshot().failed_attempts, 1);
        stats.connecting(true);
        stats.playing(Codec::H264, 1280, 720);
        let snap = stats.snapshot();
        assert_eq!(snap.state, StreamState::Playing);
        assert_eq!((snap.reconnects, snap.sessions), (1, 1));
        assert_eq!(snap.last_error.as_deref(), Some("refused"));
    }
}
