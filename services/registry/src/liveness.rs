//! R14.3: every device watched around the clock. A device that misses
//! `missed_periods` keepalive periods goes offline and an outage record is
//! opened; its next keepalive closes the record and brings it back online.
//!
//! A gateway also reports the devices whose streams deliver nothing, with
//! why ([`Liveness::silent`]): a device never heard from is tracked from
//! when its gateway started pulling it, so it goes offline too rather than
//! staying unknown, and its outage names the cause ("401 credentials
//! rejected").
//!
//! Last-seen times live in memory (a keepalive does not write to the store
//! unless the status changes); on start every device the store believes
//! online gets a fresh grace period.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use vfed_store::Op;

use crate::catalog::{Catalog, now_ms};
use crate::codec::encode;
use crate::domain::{DeviceStatus, OutageRecord};
use crate::metrics::RegistryMetrics;
use crate::{RegistryError, keys};

/// Liveness settings.
#[derive(Clone, Copy, Debug)]
pub struct LivenessOptions {
    /// Expected keepalive period.
    pub period: Duration,
    /// Periods missed before offline.
    pub missed_periods: u32,
}

#[derive(Clone, Copy, Debug)]
struct Seen {
    at: Instant,
    at_ms: i64,
    /// The store says online (no write needed on the next keepalive).
    online: bool,
}

/// The cause recorded when nothing better is known.
const KEEPALIVES_STOPPED: &str = "keepalives stopped";

/// Longest cause kept (bytes); longer ones are cut at a character boundary.
pub const MAX_CAUSE_BYTES: usize = 512;

/// Tracks keepalives and turns silence into outages.
#[derive(Clone)]
pub struct Liveness {
    catalog: Catalog,
    options: LivenessOptions,
    seen: Arc<Mutex<HashMap<String, Seen>>>,
    /// The latest cause a gateway gave for each silent device.
    causes: Arc<Mutex<HashMap<String, String>>>,
    /// Devices known offline (or not local): silence reports about them
    /// need no tracking until they are alive again.
    settled: Arc<Mutex<HashSet<String>>>,
    metrics: RegistryMetrics,
}

impl Liveness {
    /// A tracker over `catalog`.
    pub fn new(catalog: Catalog, options: LivenessOptions, metrics: RegistryMetrics) -> Self {
        Self {
            catalog,
            options,
            seen: Arc::default(),
            causes: Arc::default(),
            settled: Arc::default(),
            metrics,
        }
    }

    /// The keepalive period.
    pub fn period(&self) -> Duration {
        self.options.period
    }

    fn timeout(&self) -> Duration {
        self.options.period * self.options.missed_periods
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<String, Seen>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn causes(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.causes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn settled(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.settled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records that the devices in `silent` (ID, time without frames,
    /// cause) deliver nothing. A device not tracked yet (never heard from,
    /// or its node just started) is tracked from when its silence began,
    /// so that it goes offline `missed_periods` periods after that.
    pub fn silent(&self, silent: &[(String, Duration, String)]) {
        let now = Instant::now();
        let now_ms = now_ms();
        for (id, silent_for, cause) in silent {
            self.causes().insert(id.clone(), bounded(cause));
            if self.settled().contains(id) {
                continue;
            }
            let mut seen = self.seen();
            if seen.contains_key(id) {
                continue;
            }
            let ms = i64::try_from(silent_for.as_millis()).unwrap_or(i64::MAX);
            seen.insert(
                id.clone(),
                Seen {
                    at: now.checked_sub(*silent_for).unwrap_or(now),
                    at_ms: now_ms.saturating_sub(ms),
                    online: false,
                },
            );
        }
    }

    /// Takes the devices in `gone` (ID, time since last heard, cause)
    /// offline at once, with an outage from when they were last heard: for
    /// access points that keep their own liveness rule (GB/T 28181
    /// keepalives, R14.3). Their next keepalive brings them back.
    pub async fn offline_now(&self, gone: &[(String, Duration, String)]) {
        let now_ms = now_ms();
        for (id, silent_for, cause) in gone {
            self.causes().insert(id.clone(), bounded(cause));
            self.seen().remove(id);
            let since_ms =
                now_ms.saturating_sub(i64::try_from(silent_for.as_millis()).unwrap_or(i64::MAX));
            match self.take_offline(id, since_ms).await {
                Ok(_) => {
                    self.settled().insert(id.clone());
                }
                Err(e) => {
                    tracing::error!(device = %id, error = %e, "liveness: cannot record the outage");
                }
            }
        }
    }

    /// Records keepalives; returns the IDs that are not local devices.
    pub async fn keepalive(&self, ids: &[String]) -> Result<Vec<String>, RegistryError> {
        let mut unknown = Vec::new();
        for id in ids {
            let now = Seen {
                at: Instant::now(),
                at_ms: now_ms(),
                online: true,
            };
            let known_online = {
                let mut seen = self.seen();
                match seen.get_mut(id) {
                    Some(s) if s.online => {
                        *s = now;
                        true
                    }
                    _ => false,
                }
            };
            if known_online {
                continue;
            }
            if self.bring_online(id, now.at_ms).await? {
                self.settled().remove(id);
                self.causes().remove(id);
                self.seen().insert(id.clone(), now);
            } else {
                unknown.push(id.clone());
            }
        }
        Ok(unknown)
    }

    /// Marks `id` online (closing its open outage); false if not a local device.
    async fn bring_online(&self, id: &str, at_ms: i64) -> Result<bool, RegistryError> {
        let updated = self
            .catalog
            .modify_with(id, None, |entry| {
                if entry.status == DeviceStatus::Online {
                    return Ok(None);
                }
                let cause = entry.open_outage_cause.take();
                let closed = entry
                    .open_outage_start_ms
                    .take()
                    .map(|start_ms| OutageRecord {
                        device_id: id.to_owned(),
                        start_ms,
                        end_ms: Some(at_ms),
                        cause: cause.clone(),
                    });
                entry.status = DeviceStatus::Online;
                entry.status_since_ms = at_ms;
                Ok(Some(
                    closed
                        .iter()
                        .map(|o| Op::put(keys::outage(id, o.start_ms), encode(o)))
                        .collect(),
                ))
            })
            .await?;
        if updated.is_some() {
            tracing::info!(device = id, "device online");
            self.metrics.status_changes.inc();
        }
        Ok(updated.is_some())
    }

    /// Marks `id` offline (from online or never heard from) with an
    /// outage that began at `since_ms`, naming the last cause its gateway
    /// gave. Returns false if `id` is not a local device.
    async fn take_offline(&self, id: &str, since_ms: i64) -> Result<bool, RegistryError> {
        let cause = self
            .causes()
            .get(id)
            .cloned()
            .unwrap_or_else(|| KEEPALIVES_STOPPED.to_owned());
        let outage = OutageRecord {
            device_id: id.to_owned(),
            start_ms: since_ms,
            end_ms: None,
            cause: Some(cause.clone()),
        };
        let mut changed = false;
        let updated = self
            .catalog
            .modify_with(id, None, |entry| {
                if entry.status == DeviceStatus::Offline {
                    return Ok(None);
                }
                changed = true;
                entry.status = DeviceStatus::Offline;
                entry.status_since_ms = since_ms;
                entry.open_outage_start_ms = Some(since_ms);
                entry.open_outage_cause = Some(cause.clone());
                Ok(Some(vec![Op::put(
                    keys::outage(id, since_ms),
                    encode(&outage),
                )]))
            })
            .await?;
        if updated.is_none() {
            return Ok(false);
        }
        if changed {
            tracing::warn!(
                device = id,
                since_ms,
                %cause,
                "device offline: no frames or keepalives (R14.3)"
            );
            self.metrics.status_changes.inc();
        }
        Ok(true)
    }

    /// Gives every device the store believes online a fresh grace period.
    pub async fn prime(&self) -> Result<(), RegistryError> {
        let entries = self.catalog.all(keys::LOCAL).await?;
        let now = Seen {
            at: Instant::now(),
            at_ms: now_ms(),
            online: true,
        };
        let mut seen = self.seen();
        let mut settled = self.settled();
        for v in entries {
            match v.entry.status {
                DeviceStatus::Online => {
                    seen.insert(v.entry.spec.id, now);
                }
                DeviceStatus::Offline => {
                    settled.insert(v.entry.spec.id);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Runs the sweeper until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        if let Err(e) = self.prime().await {
            tracing::error!(error = %e, "liveness: cannot read the catalog at start");
        }
        let tick =
            (self.options.period / 4).clamp(Duration::from_millis(20), Duration::from_secs(1));
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = interval.tick() => {}
            }
            let deadline = Instant::now().checked_sub(self.timeout());
            let silent: Vec<(String, i64, bool)> = {
                let mut seen = self.seen();
                let expired: Vec<(String, i64, bool)> = seen
                    .iter()
                    .filter(|(_, s)| deadline.is_some_and(|d| s.at < d))
                    .map(|(id, s)| (id.clone(), s.at_ms, s.online))
                    .collect();
                for (id, _, _) in &expired {
                    seen.remove(id);
                }
                expired
            };
            for (id, since_ms, online) in silent {
                match self.take_offline(&id, since_ms).await {
                    // Offline now, or not a local device: either way
                    // nothing to track until it is alive.
                    Ok(_) => {
                        self.settled().insert(id);
                    }
                    Err(e) => {
                        tracing::error!(device = %id, error = %e, "liveness: cannot record the outage; retrying");
                        // Put it back so the next tick tries again.
                        let at = Instant::now()
                            .checked_sub(self.timeout() * 2)
                            .unwrap_or_else(Instant::now);
                        self.seen().insert(
                            id,
                            Seen {
                                at,
                                at_ms: since_ms,
                                online,
                            },
                        );
                    }
                }
            }
            let online = self.seen().values().filter(|s| s.online).count();
            self.metrics
                .devices_online
                .set(i64::try_from(online).unwrap_or(i64::MAX));
        }
    }
}

/// `cause` cut to [`MAX_CAUSE_BYTES`] at a character boundary, control
/// characters replaced (it is shown on operators' terminals).
fn bounded(cause: &str) -> String {
    let mut end = cause.len().min(MAX_CAUSE_BYTES);
    while !cause.is_char_boundary(end) {
        end -= 1;
    }
    cause[..end]
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
