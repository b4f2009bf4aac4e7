//! The archive volume's fill state: `ok`, `warn` (at `archive.disk_warn`),
//! `critical` (at `archive.disk_critical`: new recording stops, as
//! Milestone does) and `full` (a write failed with ENOSPC). Each change is
//! a log line, an audit record and an alarm. Nothing inside retention is
//! ever deleted to make room: recording resumes by itself when space
//! returns (someone freed it, or the sweep removed files past retention).

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use vfed_audit::AuditRecord;

use crate::archive::Archive;

/// The gap cause and alarm word when the disk stops recording.
pub const DISK_FULL: &str = "disk full";

/// The alarm key of the volume's state.
const ALARM: &str = "disk";

/// How full the archive volume is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DiskState {
    /// Under `disk_warn`.
    #[default]
    Ok,
    /// At or over `disk_warn`.
    Warn,
    /// At or over `disk_critical`: new recording is stopped.
    Critical,
    /// A write failed for lack of space (until a write succeeds).
    Full,
}

impl DiskState {
    /// `ok`, `warn`, `critical` or `full`.
    pub fn name(self) -> &'static str {
        match self {
            DiskState::Ok => "ok",
            DiskState::Warn => "warn",
            DiskState::Critical => "critical",
            DiskState::Full => "full",
        }
    }

    /// 0 to 3, for the metric.
    pub fn level(self) -> i64 {
        match self {
            DiskState::Ok => 0,
            DiskState::Warn => 1,
            DiskState::Critical => 2,
            DiskState::Full => 3,
        }
    }
}

/// The volume as last sampled.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DiskStatus {
    /// Its state.
    pub state: DiskState,
    /// Size of the volume, bytes.
    pub volume_bytes: u64,
    /// Bytes the archive may still write.
    pub free_bytes: u64,
    /// Share of the volume in use, 0 to 1, as `df` counts Use% (used
    /// over used plus available).
    pub used_fraction: f64,
}

/// The archive's view of its volume.
#[derive(Default)]
pub(crate) struct DiskWatch {
    status: Mutex<DiskStatus>,
    /// A write failed with ENOSPC and none has succeeded since.
    full: AtomicBool,
}

/// Total, used and free (available) bytes of the volume holding `dir`.
pub fn volume(dir: &Path) -> (u64, u64, u64) {
    match rustix::fs::statvfs(dir) {
        Ok(s) => {
            let total = s.f_blocks.saturating_mul(s.f_frsize);
            let free = s.f_bavail.saturating_mul(s.f_frsize);
            let used = s
                .f_blocks
                .saturating_sub(s.f_bfree)
                .saturating_mul(s.f_frsize);
            (total, used, free)
        }
        Err(_) => (0, 0, 0),
    }
}

/// The state of a volume `used` full (0 to 1) under the thresholds.
pub fn classify(used: f64, warn: f64, critical: f64, full: bool) -> DiskState {
    if full {
        DiskState::Full
    } else if used >= critical {
        DiskState::Critical
    } else if used >= warn {
        DiskState::Warn
    } else {
        DiskState::Ok
    }
}

fn percent(f: f64) -> String {
    format!("{:.1}%", f * 100.0)
}

impl Archive {
    /// The archive volume as last sampled.
    pub fn disk(&self) -> DiskStatus {
        *self
            .inner
            .disk
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether new recording is stopped: the volume is at or over
    /// `disk_critical`, or has no byte left.
    pub(crate) fn disk_blocked(&self) -> bool {
        let d = self.disk();
        d.volume_bytes > 0 && (d.used_fraction >= self.options().disk_critical || d.free_bytes == 0)
    }

    /// A recorder's write failed with ENOSPC (`true`) or succeeded (`false`).
    pub(crate) fn note_disk_full(&self, full: bool) {
        let was = self.inner.disk.full.swap(full, Ordering::Relaxed);
        if was != full {
            // Take the new state into account now, not at the next sample.
            let archive = self.clone();
            tokio::spawn(async move { archive.check_disk().await });
        }
    }

    /// Samples the volume; on a change of state, logs it, audits it and
    /// sets or clears the disk alarm.
    pub async fn check_disk(&self) {
        let dir = self.dir().to_path_buf();
        let Ok((total, used_bytes, free)) = tokio::task::spawn_blocking(move || volume(&dir)).await
        else {
            return;
        };
        // As `df` counts Use%: the root reserve is neither used nor available.
        let used = if used_bytes + free == 0 {
            0.0
        } else {
            used_bytes as f64 / (used_bytes + free) as f64
        };
        let (warn, critical) = (self.options().disk_warn, self.options().disk_critical);
        let full = self.inner.disk.full.load(Ordering::Relaxed);
        let state = classify(used, warn, critical, full);
        let previous = {
            let mut status = self
                .inner
                .disk
                .status
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let previous = status.state;
            *status = DiskStatus {
                state,
                volume_bytes: total,
                free_bytes: free,
                used_fraction: used,
            };
            previous
        };
        if state == previous {
            return;
        }
        let dir = self.dir().display().to_string();
        let alarm = match state {
            DiskState::Ok => None,
            DiskState::Warn => Some(format!(
                "disk warning: {} of the archive volume ({dir}) used, warning at {}",
                percent(used),
                percent(warn)
            )),
            DiskState::Critical => Some(format!(
                "{DISK_FULL}: {} of the archive volume ({dir}) used, critical at {}: new recording stopped; nothing inside retention is deleted (R14.6)",
                percent(used),
                percent(critical)
            )),
            DiskState::Full => Some(format!(
                "{DISK_FULL}: no space left on the archive volume ({dir}): new recording stopped; nothing inside retention is deleted (R14.6)"
            )),
        };
        match (&alarm, state) {
            (Some(a), DiskState::Warn) => tracing::warn!(
                from = previous.name(),
                to = state.name(),
                free_bytes = free,
                "archive: {a}"
            ),
            (Some(a), _) => tracing::error!(
                from = previous.name(),
                to = state.name(),
                free_bytes = free,
                "archive: {a}"
            ),
            (None, _) => {
                tracing::info!(from = previous.name(), to = state.name(), free_bytes = free, used = %percent(used), "archive: disk back under its thresholds; recording resumes")
            }
        }
        self.set_alarm(ALARM, alarm);
        let record = AuditRecord::new(
            format!("node/{}", self.options().node_id),
            "archive.disk.state",
            dir,
        )
        .with_details(serde_json::json!({
            "from": previous.name(),
            "to": state.name(),
            "volume_bytes": total,
            "free_bytes": free,
            "used_fraction": used,
            "disk_warn": warn,
            "disk_critical": critical,
        }));
        self.inner.audit.record(record).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_follow_the_thresholds_and_a_failed_write() {
        assert_eq!(classify(0.5, 0.9, 0.98, false), DiskState::Ok);
        assert_eq!(classify(0.9, 0.9, 0.98, false), DiskState::Warn);
        assert_eq!(classify(0.99, 0.9, 0.98, false), DiskState::Critical);
        assert_eq!(classify(0.5, 0.9, 0.98, true), DiskState::Full);
    }
}
