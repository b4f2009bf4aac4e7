//! The archive's metrics on `/metrics`: free bytes and state of its
//! volume, streams recording, files deleted past retention, files held by
//! retrieval requests, recordings found tampered and bytes re-hashed at
//! start; sampled from the archive every second.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;
use vfed_archive::Archive;

/// Registers the archive metrics and samples `archive` every second until `shutdown`.
pub fn register(
    registry: &mut Registry,
    archive: Archive,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + Send + use<> {
    let free = Gauge::<i64>::default();
    let state = Gauge::<i64>::default();
    let streams = Gauge::<i64>::default();
    let held = Gauge::<i64>::default();
    let deleted = Counter::<u64>::default();
    let tampered = Counter::<u64>::default();
    let scrubbed = Counter::<u64>::default();
    registry.register(
        "vfed_archive_free_bytes",
        "Bytes the archive may still write on its volume",
        free.clone(),
    );
    registry.register(
        "vfed_archive_disk_state",
        "Archive volume state: 0 ok, 1 warn, 2 critical (recording stopped), 3 full",
        state.clone(),
    );
    registry.register(
        "vfed_archive_streams_recording",
        "Streams being recorded now",
        streams.clone(),
    );
    registry.register(
        "vfed_archive_held_files",
        "Recording files held by approved retrieval requests",
        held.clone(),
    );
    registry.register(
        "vfed_archive_files_deleted",
        "Recording files deleted past retention (each audited)",
        deleted.clone(),
    );
    registry.register(
        "vfed_archive_tampered_files",
        "Recording files found changed, truncated or missing (each audited as recording.tampered)",
        tampered.clone(),
    );
    registry.register(
        "vfed_archive_scrubbed_bytes",
        "Bytes of recordings re-hashed by the start-up scrub",
        scrubbed.clone(),
    );
    async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            let disk = archive.disk();
            free.set(gauge(disk.free_bytes));
            state.set(disk.state.level());
            streams.set(gauge(archive.recording().len() as u64));
            held.set(gauge(archive.held_files()));
            deleted.inc_by(archive.files_deleted().saturating_sub(deleted.get()));
            tampered.inc_by(archive.tampered_files().saturating_sub(tampered.get()));
            scrubbed.inc_by(archive.scrubbed_bytes().saturating_sub(scrubbed.get()));
        }
    }
}
