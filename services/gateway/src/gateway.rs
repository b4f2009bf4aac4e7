//! The gateway: the set of device streams, one puller each, their fan-out,
//! statistics and liveness reports.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

use crate::error::GatewayError;
use crate::liveness::{LivenessReport, LivenessSink, SilentDevice};
use crate::pull::{PullConfig, Puller, Subscription};
use crate::source::{Profile, StreamKey, StreamSource};
use crate::stats::StatsSnapshot;

/// Gateway settings.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// How every stream is pulled.
    pub pull: PullConfig,
    /// How often the liveness sink hears which devices delivered frames.
    pub liveness_period: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            pull: PullConfig::default(),
            liveness_period: Duration::from_secs(5),
        }
    }
}

#[derive(Debug)]
struct Inner {
    config: GatewayConfig,
    pullers: Mutex<BTreeMap<StreamKey, Puller>>,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

impl Inner {
    fn pullers(&self) -> MutexGuard<'_, BTreeMap<StreamKey, Puller>> {
        self.pullers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Devices with a stream that delivered a frame within `period`.
    fn alive_devices(&self, period: Duration) -> Vec<String> {
        self.liveness_report(period).alive
    }

    /// Which devices delivered a frame within `period`, and which did not
    /// (with why).
    fn liveness_report(&self, period: Duration) -> LivenessReport {
        let mut alive = BTreeSet::new();
        // Per device: the shortest silence of its streams and the cause,
        // the main stream's first.
        let mut silent: BTreeMap<String, (Duration, Option<(Profile, String)>)> = BTreeMap::new();
        for p in self.pullers().values() {
            let device = &p.key().device_id;
            if p.delivered_within(period) {
                alive.insert(device.clone());
                continue;
            }
            let stats = p.stats();
            let entry = silent
                .entry(device.clone())
                .or_insert((stats.silent_for, None));
            entry.0 = entry.0.min(stats.silent_for);
            if let Some(cause) = stats.cause {
                let better = entry
                    .1
                    .as_ref()
                    .is_none_or(|(profile, _)| p.key().profile < *profile);
                if better {
                    entry.1 = Some((p.key().profile, cause.words().to_owned()));
                }
            }
        }
        LivenessReport {
            silent: silent
                .into_iter()
                .filter(|(id, _)| !alive.contains(id))
                .map(|(device_id, (silent_for, cause))| SilentDevice {
                    device_id,
                    silent_for,
                    cause: cause.map_or_else(|| "no frames yet".to_owned(), |(_, c)| c),
                })
                .collect(),
            alive: alive.into_iter().collect(),
        }
    }
}

/// Holds the device streams and pulls each of them. Cheap to clone.
///
/// Each stream's events fan out on its own broadcast channel
/// ([`Gateway::subscribe`]); a slow subscriber lags and loses the oldest
/// events without holding back the puller or other subscribers.
#[derive(Clone, Debug)]
pub struct Gateway {
    inner: Arc<Inner>,
}

impl Gateway {
    /// A gateway with no streams. Everything it starts stops when `cancel` is
    /// cancelled; [`Gateway::stopped`] then waits for the sessions to close.
    /// With a `liveness` sink, a task reports alive devices every
    /// `config.liveness_period`.
    pub fn new(
        config: GatewayConfig,
        liveness: Option<Arc<dyn LivenessSink>>,
        cancel: CancellationToken,
    ) -> Self {
        let inner = Arc::new(Inner {
            config,
            pullers: Mutex::new(BTreeMap::new()),
            cancel,
            tasks: TaskTracker::new(),
        });
        if let Some(sink) = liveness {
            inner
                .tasks
                .spawn(report_liveness(Arc::downgrade(&inner), sink));
        }
        Self { inner }
    }

    /// Makes `sources` the gateway's streams: starts the new ones, stops the
    /// removed ones, restarts those whose URL or credentials changed and
    /// leaves the others playing untouched.
    ///
    /// Bad input (an unusable URL, a device/profile listed twice) changes
    /// nothing. Subscribers of a stopped or restarted stream see their
    /// channel close and subscribe again.
    pub fn set_streams(&self, sources: Vec<StreamSource>) -> Result<(), GatewayError> {
        let mut wanted = BTreeMap::new();
        for source in sources {
            source.endpoint()?;
            let key = source.key();
            if wanted.insert(key.clone(), source).is_some() {
                return Err(GatewayError::DuplicateStream {
                    key: key.to_string(),
                });
            }
        }
        let mut pullers = self.inner.pullers();
        let stale: Vec<StreamKey> = pullers
            .iter()
            .filter(|(key, p)| wanted.get(*key) != Some(p.source()))
            .map(|(key, _)| key.clone())
            .collect();
        for key in stale {
            if let Some(puller) = pullers.remove(&key) {
                info!(stream = %key, "stopping stream");
                self.inner.tasks.spawn(puller.stop());
            }
        }
        for (key, source) in wanted {
            if pullers.contains_key(&key) {
                continue;
            }
            info!(source = %source, "starting stream");
            let puller = Puller::spawn(source, self.inner.config.pull.clone(), &self.inner.cancel)?;
            pullers.insert(key, puller);
        }
        Ok(())
    }

    /// The streams the gateway pulls.
    pub fn streams(&self) -> Vec<StreamSource> {
        self.inner
            .pullers()
            .values()
            .map(|p| p.source().clone())
            .collect()
    }

    /// Subscribes to one stream: its current metadata and every later event.
    /// `None` if the gateway does not pull it.
    pub fn subscribe(&self, key: &StreamKey) -> Option<Subscription> {
        self.inner.pullers().get(key).map(Puller::subscribe)
    }

    /// Statistics of every stream.
    pub fn stats(&self) -> BTreeMap<StreamKey, StatsSnapshot> {
        self.inner
            .pullers()
            .iter()
            .map(|(key, p)| (key.clone(), p.stats()))
            .collect()
    }

    /// Devices with a stream that delivered a frame within `period`.
    pub fn alive_devices(&self, period: Duration) -> Vec<String> {
        self.inner.alive_devices(period)
    }

    /// The liveness report for `period`: alive devices, and silent ones
    /// with why.
    pub fn liveness_report(&self, period: Duration) -> LivenessReport {
        self.inner.liveness_report(period)
    }

    /// Statistics of one stream, if the gateway pulls it.
    pub fn stream_stats(&self, key: &StreamKey) -> Option<StatsSnapshot> {
        self.inner.pullers().get(key).map(Puller::stats)
    }

    /// Stops every stream and the liveness reports, and waits until all
    /// sessions are closed.
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        self.stopped().await;
    }

    /// Waits until the cancellation token is cancelled and every task ended.
    pub async fn stopped(&self) {
        self.inner.cancel.cancelled().await;
        let pullers = std::mem::take(&mut *self.inner.pullers());
        for puller in pullers.into_values() {
            self.inner.tasks.spawn(puller.stop());
        }
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }
}

/// Every period, tells `sink` which devices delivered frames within it.
/// Holds the gateway weakly so that dropping the gateway ends it.
async fn report_liveness(inner: std::sync::Weak<Inner>, sink: Arc<dyn LivenessSink>) {
    let Some((period, cancel)) = inner
        .upgrade()
        .map(|i| (i.config.liveness_period, i.cancel.clone()))
    else {
        return;
    };
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The first tick is immediate: nothing can have played yet.
    ticks.tick().await;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let Some(report) = inner.upgrade().map(|i| i.liveness_report(period)) else {
            return;
        };
        if report.alive.is_empty() && report.silent.is_empty() {
            continue;
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = sink.report(&report) => {}
        }
    }
}
