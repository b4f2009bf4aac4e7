//! A local source that loops a recorded clip at real-time pace, for the demo
//! and for load tests: it publishes into a track exactly as the gateway does
//! for a live camera, with timestamps that keep increasing across loops.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use vfed_media::{AccessUnit, CLOCK_RATE, StreamMetadata};

use crate::track::Track;

/// Plays `units` (one clip, starting with a keyframe) into `track` in a loop
/// until `stop`.
pub fn spawn_looping(
    track: Arc<Track>,
    metadata: StreamMetadata,
    units: Vec<AccessUnit>,
    stop: CancellationToken,
) {
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
            for unit in &units {
                let pts = unit.pts - start_pts + offset;
                let due = began
                    + Duration::from_micros(
                        u64::try_from(pts).unwrap_or(0) * 1_000_000 / u64::from(CLOCK_RATE),
                    );
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep_until(due) => {}
                }
                let ingest_unix_us = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
                track.publish(AccessUnit {
                    pts,
                    dts: unit.dts - start_pts + offset,
                    ingest_unix_us,
                    ..unit.clone()
                });
            }
            offset += clip;
        }
    });
}
