//! The puller: one device stream, pulled over RTSP for as long as it is
//! wanted, reconnecting with capped exponential backoff.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use vfed_media::timing::frame_ticks;
use vfed_media::{AccessUnit, DecodeTimes, Retimer, Retiming, StreamMetadata};

use crate::error::GatewayError;
use crate::frame_rate::SessionRate;
use crate::session::RtspSession;
use crate::source::{StreamKey, StreamSource};
use crate::stats::{StatsSnapshot, StreamStats};
use crate::timeline::Timeline;

/// How a puller connects, waits and retries.
#[derive(Clone, Debug)]
pub struct PullConfig {
    /// First wait after a failure. The first frame of a session resets the
    /// wait to this, so a camera that comes back plays within about
    /// `backoff_max` of being reachable, however often it restarts.
    pub backoff_initial: Duration,
    /// The wait doubles after each failure up to this, while the camera
    /// cannot be reached (refused, unreachable, timed out, stream ended).
    pub backoff_max: Duration,
    /// The cap while the camera answers no (401 credentials, 404 path, no
    /// video): retrying fast does not help and cameras may lock accounts.
    pub refused_backoff_max: Duration,
    /// Limit for DESCRIBE + SETUP + PLAY.
    pub connect_timeout: Duration,
    /// A playing session without a frame for this long is restarted.
    pub stall_timeout: Duration,
    /// Window of the frame rate and bitrate statistics.
    pub stats_window: Duration,
    /// Events buffered per subscriber before it lags (and loses the oldest).
    pub channel_capacity: usize,
}

impl Default for PullConfig {
    fn default() -> Self {
        Self {
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(2),
            refused_backoff_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(10),
            stats_window: Duration::from_secs(5),
            channel_capacity: 512,
        }
    }
}

/// What a puller tells its subscribers.
#[derive(Clone, Debug, PartialEq)]
pub enum PullEvent {
    /// The stream's codec parameters. Sent before the first access unit of
    /// every session and again when the parameters change mid-session.
    Metadata {
        /// The parameters.
        metadata: StreamMetadata,
        /// A new RTSP session starts here (after a reconnect, or the first):
        /// the device's clock restarted, decoding restarts at the keyframe that
        /// follows. Output timestamps still keep increasing (the gap is the
        /// outage's wall-clock length), but they jump.
        new_session: bool,
    },
    /// One access unit. The first one after `Metadata { new_session: true }`
    /// is a keyframe.
    AccessUnit(AccessUnit),
    /// The session ended or an attempt failed; the puller retries after its
    /// backoff. The reason never contains credentials.
    Disconnected {
        /// Why.
        reason: String,
    },
}

/// A subscriber's view: the current metadata and every event after it.
#[derive(Debug)]
pub struct Subscription {
    /// The metadata of the session playing now, if one is. When `None`, the
    /// next session's `PullEvent::Metadata` arrives on `events`.
    pub metadata: Option<StreamMetadata>,
    /// The events, from the moment of subscription.
    pub events: broadcast::Receiver<PullEvent>,
}

/// State shared by a puller's task and its handle.
#[derive(Debug)]
struct Shared {
    events: broadcast::Sender<PullEvent>,
    /// The current session's metadata; locked while sending a metadata
    /// event so that subscribing is consistent with it.
    metadata: Mutex<Option<StreamMetadata>>,
    stats: StreamStats,
}

impl Shared {
    fn metadata(&self) -> MutexGuard<'_, Option<StreamMetadata>> {
        self.metadata.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn announce(&self, metadata: StreamMetadata, new_session: bool) {
        let mut current = self.metadata();
        *current = Some(metadata.clone());
        // No subscribers is fine: the metadata is kept for later ones.
        let _ = self.events.send(PullEvent::Metadata {
            metadata,
            new_session,
        });
    }

    /// Sets the frame rate measured from the timestamps on the current
    /// metadata, and tells subscribers.
    fn frame_rate_measured(&self, fps_milli: u32) {
        let current = self.metadata().clone();
        if let Some(metadata) = current {
            self.announce(
                StreamMetadata {
                    fps_milli,
                    ..metadata
                },
                false,
            );
        }
    }

    fn disconnected(&self, reason: String) {
        *self.metadata() = None;
        let _ = self.events.send(PullEvent::Disconnected { reason });
    }
}

/// Pulls one device stream until stopped. Dropping it stops the pull.
#[derive(Debug)]
pub struct Puller {
    key: StreamKey,
    source: StreamSource,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    /// `None` once `stop` took it.
    task: Option<JoinHandle<()>>,
}

impl Puller {
    /// Starts pulling `source` on the current tokio runtime. The pull stops
    /// when `cancel` (or a parent of it) is cancelled or the puller dropped.
    ///
    /// A URL that cannot be used is a permanent error, reported here rather
    /// than retried.
    pub fn spawn(
        source: StreamSource,
        config: PullConfig,
        cancel: &CancellationToken,
    ) -> Result<Self, GatewayError> {
        let (url, credentials) = source.endpoint()?;
        let (events, _) = broadcast::channel(config.channel_capacity.max(1));
        let shared = Arc::new(Shared {
            events,
            metadata: Mutex::new(None),
            stats: StreamStats::new(config.stats_window),
        });
        let cancel = cancel.child_token();
        let key = source.key();
        let run = Run {
            key: key.clone(),
            url,
            credentials,
            config,
            shared: Arc::clone(&shared),
            timeline: Timeline::default(),
            decode: DecodeTimes::new(),
            retiming_logged: false,
        };
        let task = tokio::spawn(run.run(cancel.clone()));
        Ok(Self {
            key,
            source,
            shared,
            cancel,
            task: Some(task),
        })
    }

    /// The device and profile pulled.
    pub fn key(&self) -> &StreamKey {
        &self.key
    }

    /// The source pulled.
    pub fn source(&self) -> &StreamSource {
        &self.source
    }

    /// Subscribes to the stream: the current metadata and all later events.
    pub fn subscribe(&self) -> Subscription {
        let current = self.shared.metadata();
        Subscription {
            metadata: current.clone(),
            events: self.shared.events.subscribe(),
        }
    }

    /// The stream's statistics now.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// Whether an access unit was delivered within the last `period`.
    pub fn delivered_within(&self, period: Duration) -> bool {
        self.shared.stats.delivered_within(period)
    }

    /// Stops pulling and waits until the session is closed.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take()
            && let Err(e) = task.await
        {
            warn!(stream = %self.key, error = %e, "puller task failed");
        }
    }
}

impl Drop for Puller {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The puller's task.
struct Run {
    key: StreamKey,
    url: url::Url,
    credentials: Option<crate::source::Credentials>,
    config: PullConfig,
    shared: Arc<Shared>,
    timeline: Timeline,
    /// Decode times from presentation times (RTP carries no others).
    decode: DecodeTimes,
    /// Whether a re-timing of broken timestamps was logged (once per stream).
    retiming_logged: bool,
}

impl Run {
    async fn run(mut self, cancel: CancellationToken) {
        let mut backoff = self.config.backoff_initial;
        let mut attempt = 0u64;
        loop {
            self.shared.stats.connecting(attempt > 0);
            attempt += 1;
            let mut played = false;
            let error = tokio::select! {
                () = cancel.cancelled() => break,
                e = self.session(&mut played) => e,
            };
            if played {
                // It worked: the next trouble starts with the shortest wait.
                backoff = self.config.backoff_initial;
            }
            let cause = error.cause();
            let cap = if cause.is_refusal() {
                self.config.refused_backoff_max
            } else {
                self.config.backoff_max
            };
            backoff = backoff.min(cap);
            let reason = error.to_string();
            warn!(stream = %self.key, error = %reason, %cause, retry_in = ?backoff, "stream disconnected");
            self.shared.stats.backoff(reason.clone(), cause, backoff);
            self.shared.disconnected(reason);
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(cap);
        }
        self.shared.stats.stopped();
        *self.shared.metadata() = None;
    }

    /// The session's timestamps are re-timed (or the rate changed): logged
    /// once per stream, shown in the statistics.
    fn retimed(&mut self, retiming: Option<Retiming>) {
        if let Some(r) = retiming
            && !self.retiming_logged
        {
            self.retiming_logged = true;
            warn!(stream = %self.key, retiming = %r, "broken camera timestamps: frames re-timed from the frame rate");
        }
        self.shared.stats.retiming(retiming.map(|r| r.to_string()));
    }

    /// One session, from connecting to its end. `played`: whether it
    /// delivered a frame, set at once so that it survives the error.
    async fn session(&mut self, played: &mut bool) -> GatewayError {
        let mut session = match RtspSession::open(
            self.url.clone(),
            self.credentials.clone(),
            self.config.connect_timeout,
        )
        .await
        {
            Ok(s) => s,
            Err(e) => return e,
        };
        self.timeline.new_session();
        let mut started = false;
        let mut codec = vfed_media::Codec::H264;
        let mut rate = SessionRate::default();
        let mut retimer = Retimer::new(0);
        let mut retiming: Option<Retiming> = None;
        let session_start = Instant::now();
        loop {
            let frame = match session.next_frame(self.config.stall_timeout).await {
                Ok(f) => f,
                Err(e) => return e,
            };
            let now = Instant::now();
            if !started {
                // A decoder can only start at a keyframe with known parameters.
                let mut metadata = match session.metadata() {
                    Some(m) if frame.is_random_access_point() => m,
                    _ => continue,
                };
                codec = metadata.codec;
                rate.fill(&mut metadata);
                let reorder = metadata.reorder_frames();
                info!(
                    stream = %self.key,
                    codec = metadata.codec.name(),
                    width = metadata.width,
                    height = metadata.height,
                    fps_milli = metadata.fps_milli,
                    reorder = ?reorder,
                    "stream playing"
                );
                // Retimed from the rate the stream signals (SPS/VUI, SDP),
                // else from the arrival times, should its timestamps be broken.
                retimer = Retimer::new(metadata.fps_milli);
                self.shared.stats.retiming(None);
                self.decode.start(reorder, frame_ticks(metadata.fps_milli));
                self.shared
                    .stats
                    .playing(metadata.codec, metadata.width, metadata.height);
                self.shared.announce(metadata, true);
                started = true;
                *played = true;
            } else if frame.has_new_parameters()
                && let Some(mut metadata) = session.metadata()
            {
                rate.fill(&mut metadata);
                if frame.is_random_access_point() {
                    self.decode
                        .start(metadata.reorder_frames(), frame_ticks(metadata.fps_milli));
                }
                self.shared
                    .stats
                    .parameters(metadata.codec, metadata.width, metadata.height);
                self.shared.announce(metadata, false);
            }
            let ts = frame.timestamp();
            let mapped = self.timeline.map(ts.elapsed(), ts.clock_rate().get(), now);
            let arrival = i64::try_from(
                now.saturating_duration_since(session_start).as_micros()
                    * u128::from(vfed_media::CLOCK_RATE)
                    / 1_000_000,
            )
            .unwrap_or(i64::MAX);
            let pts = retimer.pts(mapped, arrival);
            if pts != mapped {
                self.timeline.delivered(pts, now);
            }
            if retimer.retiming() != retiming {
                retiming = retimer.retiming();
                self.retimed(retiming);
            }
            if let Some(fps_milli) = rate.frame(pts) {
                info!(stream = %self.key, fps_milli, "frame rate measured from the timestamps");
                self.shared.frame_rate_measured(fps_milli);
            }
            let ingest_unix_us = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
            let random_access = frame.is_random_access_point();
            let data = Bytes::from(frame.into_data());
            // retina flags IDR pictures; H.265 encoders in open-GOP mode
            // (x265's default) start GOPs with CRA pictures, which are IRAP
            // too: read the NAL types rather than miss every GOP after the first.
            let keyframe = random_access || vfed_media::nal::contains_keyframe(codec, &data);
            self.shared.stats.frame(now, ingest_unix_us, data.len());
            // RTP carries presentation times only: decode times follow from
            // the reorder depth (equal to them without B-frames).
            let dts = self.decode.next(pts);
            let _ = self.shared.events.send(PullEvent::AccessUnit(AccessUnit {
                pts,
                dts,
                keyframe,
                data,
                ingest_unix_us,
            }));
        }
    }
}
