//! R14.3: every device watched around the clock. A device that misses
//! `missed_periods` keepalive periods goes offline and an outage record is
//! opened; its next keepalive closes the record and brings it back online.
//!
//! Last-seen times live in memory (a keepalive does not write to the store
//! unless the status changes); on start every device the store believes
//! online gets a fresh grace period.

use std::collections::HashMap;
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

/// Tracks keepalives and turns silence into outages.
#[derive(Clone)]
pub struct Liveness {
    catalog: Catalog,
    options: LivenessOptions,
    seen: Arc<Mutex<HashMap<String, Seen>>>,
    metrics: RegistryMetrics,
}

impl Liveness {
    /// A tracker over `catalog`.
    pub fn new(catalog: Catalog, options: LivenessOptions, metrics: RegistryMetrics) -> Self {
        Self {
            catalog,
            options,
            seen: Arc::default(),
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
                let closed = entry
                    .open_outage_start_ms
                    .take()
                    .map(|start_ms| OutageRecord {
                        device_id: id.to_owned(),
                        start_ms,
                        end_ms: Some(at_ms),
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

    /// Marks `id` offline with an outage that began at `since_ms`.
    async fn take_offline(&self, id: &str, since_ms: i64) -> Result<(), RegistryError> {
        let outage = OutageRecord {
            device_id: id.to_owned(),
            start_ms: since_ms,
            end_ms: None,
        };
        let updated = self
            .catalog
            .modify_with(id, None, |entry| {
                if entry.status != DeviceStatus::Online {
                    return Ok(None);
                }
                entry.status = DeviceStatus::Offline;
                entry.status_since_ms = since_ms;
                entry.open_outage_start_ms = Some(since_ms);
                Ok(Some(vec![Op::put(
                    keys::outage(id, since_ms),
                    encode(&outage),
                )]))
            })
            .await?;
        if updated.is_some() {
            tracing::warn!(
                device = id,
                since_ms,
                "device offline: keepalives stopped (R14.3)"
            );
            self.metrics.status_changes.inc();
        }
        Ok(())
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
        for v in entries
            .into_iter()
            .filter(|v| v.entry.status == DeviceStatus::Online)
        {
            seen.insert(v.entry.spec.id, now);
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
            let silent: Vec<(String, i64)> = {
                let mut seen = self.seen();
                let expired: Vec<(String, i64)> = seen
                    .iter()
                    .filter(|(_, s)| deadline.is_some_and(|d| s.at < d))
                    .map(|(id, s)| (id.clone(), s.at_ms))
                    .collect();
                for (id, _) in &expired {
                    seen.remove(id);
                }
                expired
            };
            for (id, since_ms) in silent {
                if let Err(e) = self.take_offline(&id, since_ms).await {
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
                            online: true,
                        },
                    );
                }
            }
            self.metrics
                .devices_online
                .set(i64::try_from(self.seen().len()).unwrap_or(i64::MAX));
        }
    }
}
