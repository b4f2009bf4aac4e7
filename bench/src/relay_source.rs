//! A looping clip published into a relay track, like the demo's source
//! (`vfed_relay::source::spawn_looping`) but at `speed` times real time, so
//! that the relay's capacity can be measured beyond one real-time stream.
//! Each access unit is stamped with the wall clock when it is published
//! (`ingest_unix_us`): latency is read against that stamp at egress.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;
use vfed_media::{AccessUnit, CLOCK_RATE, StreamMetadata};
use vfed_relay::track::Track;

/// Wall clock, unix microseconds.
pub fn unix_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Plays `units` (a clip starting with a keyframe) into `track` in a loop,
/// forever, `speed` times faster than real time (1.0: real time).
pub fn spawn(track: Arc<Track>, metadata: StreamMetadata, units: Arc<Vec<AccessUnit>>, speed: f64) {
    tokio::spawn(async move {
        let Some(first) = units.first() else { return };
        let start_pts = first.pts;
        let frame = units
            .windows(2)
            .next()
            .map_or(3600, |w| (w[1].pts - w[0].pts).max(1));
        let clip = units.last().map_or(frame, |u| u.pts - start_pts + frame);
        track.set_metadata(metadata);
        let began = Instant::now();
        let mut offset = 0i64;
        loop {
            for unit in units.iter() {
                let pts = unit.pts - start_pts + offset;
                let media_us = u64::try_from(pts).unwrap_or(0) * 1_000_000 / u64::from(CLOCK_RATE);
                let due = began + Duration::from_micros((media_us as f64 / speed) as u64);
                if due > Instant::now() {
                    tokio::time::sleep_until(due).await;
                } else {
                    // Behind (or unpaced): let the relay's own tasks run.
                    tokio::task::yield_now().await;
                }
                track.publish(AccessUnit {
                    pts,
                    dts: unit.dts - start_pts + offset,
                    ingest_unix_us: unix_us(),
                    ..unit.clone()
                });
            }
            offset += clip;
        }
    });
}
