//! The archive's own housekeeping while it records: the volume sampled
//! every second ([`crate::disk`]) and the retention sweep every minute
//! ([`crate::retention`]), the first of each at once.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::archive::Archive;

/// How often the volume is sampled.
const DISK_PERIOD: Duration = Duration::from_secs(1);
/// How often files past retention are looked for.
const SWEEP_PERIOD: Duration = Duration::from_secs(60);

/// Runs until `shutdown`.
pub(crate) async fn run(archive: Archive, shutdown: CancellationToken) {
    let mut disk = tokio::time::interval(DISK_PERIOD);
    let mut sweep = tokio::time::interval(SWEEP_PERIOD);
    disk.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = disk.tick() => archive.check_disk().await,
            _ = sweep.tick() => {
                if let Err(e) = archive.sweep().await {
                    tracing::error!(error = %e, "archive: retention sweep failed");
                }
            }
        }
    }
}
