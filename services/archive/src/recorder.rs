//! Records one stream: reads the relay track GOP by GOP (the same shared
//! GOPs every viewer gets, never re-encoded), muxes each GOP into fMP4
//! fragments of at most [`FRAGMENT_TICKS`] as its frames arrive (a long
//! GOP is several fragments; only the first begins with its keyframe), and
//! appends each to the current file at once, so a crash loses at most
//! about half a second; rotates files at keyframes, notices when the camera
//! goes quiet, and turns every interruption into a gap with its cause.

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;
use vfed_media::{AccessUnit, CLOCK_RATE, StreamMetadata, fmp4};
use vfed_relay::StreamKey;
use vfed_relay::track::TrackReader;

use crate::archive::{Archive, StreamStatus};
use crate::disk::DISK_FULL;
use crate::index::Header;
use crate::layout;
use crate::writer::{Fragment, RecordingFile, sha256_hex};

/// `ENOSPC`: no space left on the device.
const ENOSPC: i32 = 28;

/// Longest fragment, 90 kHz ticks (half a second): a fragment closes
/// before the frame that would make it longer, and is written and
/// fdatasync'ed then. Half a second, not one: a crash loses the frames
/// since the last fragment, and with the camera's delivery jitter on top
/// that must stay under a second (the `node down` gap is at most the
/// downtime + 1 s).
pub const FRAGMENT_TICKS: i64 = 45_000;

/// Why a GOP does not continue the current file.
fn rotation(open: &OpenFile, first: &AccessUnit, meta: &StreamMetadata) -> Option<&'static str> {
    let ticks = i64::from(CLOCK_RATE);
    if !same_decoder_config(&open.meta, meta) {
        Some("stream parameters changed")
    } else if first.dts + ticks / 2 < open.next_dts || first.dts > open.next_dts + 2 * ticks {
        Some("timestamps jumped")
    } else if first.dts - open.first_dts >= open.limit_ticks {
        Some("rotation")
    } else {
        None
    }
}

/// When `unit` entered vfed, Unix ms (now if the source did not say).
fn wall_clock(unit: &AccessUnit) -> i64 {
    if unit.ingest_unix_us > 0 {
        unit.ingest_unix_us / 1000
    } else {
        crate::archive::now_unix_ms()
    }
}

/// Whether two metadata describe the same decoder configuration.
fn same_decoder_config(a: &StreamMetadata, b: &StreamMetadata) -> bool {
    a.codec == b.codec
        && a.vps == b.vps
        && a.sps == b.sps
        && a.pps == b.pps
        && a.width == b.width
        && a.height == b.height
}

struct OpenFile {
    file: RecordingFile,
    meta: StreamMetadata,
    /// `mfhd` sequence number of the next fragment.
    sequence: u32,
    /// The last frame interval seen (the last fragment of a GOP ends one
    /// interval after its last frame).
    frame_ticks: i64,
    /// Wall clock and decode time of the file's first unit.
    anchor_unix_ms: i64,
    anchor_dts: i64,
    first_dts: i64,
    /// Decode time where the last fragment ended.
    next_dts: i64,
    limit_ticks: i64,
}

/// A stream's recorder state.
struct Recorder {
    archive: Archive,
    name: String,
    key: StreamKey,
    dir: PathBuf,
    open: Option<OpenFile>,
    files_opened: u64,
}

/// Records `reader`'s track until it ends or `stop`.
pub(crate) async fn record(
    archive: Archive,
    key: StreamKey,
    mut reader: TrackReader,
    stop: CancellationToken,
) {
    let name = key.to_string();
    let dir = layout::stream_dir(archive.dir(), &key.device_id, &key.profile);
    let idle = archive.options().idle;
    let track = reader.track().clone();
    tracing::info!(stream = %name, "archive: recording");
    let mut recorder = Recorder {
        archive: archive.clone(),
        name: name.clone(),
        key,
        dir,
        open: None,
        files_opened: 0,
    };
    loop {
        let next = tokio::select! {
            () = stop.cancelled() => break,
            n = tokio::time::timeout(idle, reader.next_gop()) => n,
        };
        let gop = match next {
            Err(_) => {
                recorder.quiet("camera offline").await;
                continue;
            }
            Ok(None) => {
                let cause = track.end_reason().map_or_else(
                    || "camera offline".to_owned(),
                    |e| format!("stream error: {e}"),
                );
                recorder.quiet(&cause).await;
                break;
            }
            Ok(Some(gop)) => gop,
        };
        // Fragments of at most FRAGMENT_TICKS, written as the frames arrive.
        let mut units: Vec<AccessUnit> = Vec::new();
        let mut stalled = false;
        let mut r = gop.reader();
        loop {
            let unit = tokio::select! {
                () = stop.cancelled() => break,
                u = tokio::time::timeout(idle, r.next()) => u,
            };
            match unit {
                Ok(Some(u)) => {
                    if fragment_full(&units, &u)
                        && let Some(meta) = track.metadata()
                    {
                        let next_dts = u.dts;
                        recorder
                            .write_units(std::mem::take(&mut units), Some(next_dts), &meta)
                            .await;
                    }
                    units.push(u);
                }
                Ok(None) => break,
                Err(_) => {
                    stalled = true;
                    break;
                }
            }
        }
        if !units.is_empty()
            && let Some(meta) = track.metadata()
        {
            recorder.write_units(units, None, &meta).await;
        }
        if stalled {
            recorder.quiet("camera offline").await;
        }
        if stop.is_cancelled() {
            break;
        }
    }
    recorder.close("node stopping").await;
    archive.set_status(&name, None);
}

/// Whether `next` would make the fragment of `units` longer than
/// [`FRAGMENT_TICKS`] (its last frame lasting as long as the one before).
fn fragment_full(units: &[AccessUnit], next: &AccessUnit) -> bool {
    let (Some(first), Some(last)) = (units.first(), units.last()) else {
        return false;
    };
    let interval = (next.dts - last.dts).max(0);
    next.dts + interval - first.dts > FRAGMENT_TICKS
}

impl Recorder {
    /// No video: closes the file and marks the stream interrupted.
    async fn quiet(&mut self, cause: &str) {
        let since = self.open.as_ref().map(|o| o.file.end_unix_ms());
        self.close(cause).await;
        if let Some(since) = since {
            tracing::info!(stream = %self.name, cause, "archive: no video");
            self.archive.interrupt(&self.name, since, cause);
        }
    }

    /// Closes the current file: index closed, sealed, manifest logged.
    async fn close(&mut self, reason: &str) {
        let Some(open) = self.open.take() else {
            return;
        };
        let seal = self.archive.sealing().is_available();
        let reason = reason.to_owned();
        let closed = tokio::task::spawn_blocking(move || {
            let manifest = open.file.close(&reason)?;
            if seal {
                for path in [manifest.path.clone(), layout::index_path(&manifest.path)] {
                    if let Err(e) = crate::seal::seal(&path) {
                        tracing::error!(file = %path.display(), error = %e, "archive: file not sealed");
                    }
                }
            }
            Ok::<_, std::io::Error>(manifest)
        })
        .await;
        match closed {
            Ok(Ok(manifest)) => self.archive.log_manifest(&manifest, None).await,
            Ok(Err(e)) => {
                tracing::error!(stream = %self.name, error = %e, "archive: file not closed; it is cut back and closed at the next start");
            }
            Err(e) => {
                tracing::error!(stream = %self.name, error = %e, "archive: closing task failed")
            }
        }
        self.archive.set_status(&self.name, None);
    }

    /// How long the next file runs: the first one of a stream is shortened
    /// by a per-stream amount so rotations spread out over time.
    fn limit_ticks(&self) -> i64 {
        let full = i64::try_from(self.archive.options().file_duration.as_millis())
            .unwrap_or(i64::MAX / 90)
            * 90;
        if self.files_opened > 0 {
            return full;
        }
        let hash = self
            .name
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        let half = full / 2;
        half + i64::try_from(hash % u64::try_from(half.max(1)).unwrap_or(1)).unwrap_or(0)
    }

    /// Opens a new file for a GOP starting with `first`.
    async fn open_file(&mut self, first: &AccessUnit, meta: &StreamMetadata) -> Result<(), String> {
        let init =
            fmp4::init_segment(meta).map_err(|e| format!("cannot record {}: {e}", self.name))?;
        let header = Header {
            device_id: self.key.device_id.clone(),
            profile: self.key.profile.clone(),
            codec: meta.codec.name().to_owned(),
            width: meta.width,
            height: meta.height,
            init_len: init.len() as u64,
            init_sha256: sha256_hex(&init),
        };
        let anchor_unix_ms = wall_clock(first);
        let dir = self.dir.clone();
        let file = tokio::task::spawn_blocking(move || {
            // A file name is its start; a clash (same millisecond) takes the next one.
            let mut start = anchor_unix_ms;
            loop {
                match RecordingFile::create(&dir, start, header.clone(), &init) {
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => start += 1,
                    other => return other,
                }
            }
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| self.storage_error(&e))?;
        let frame_ticks = match meta.fps_milli {
            0 => i64::from(CLOCK_RATE) / 25,
            fps => i64::from(CLOCK_RATE) * 1000 / i64::from(fps),
        };
        self.open = Some(OpenFile {
            file,
            meta: meta.clone(),
            sequence: 1,
            frame_ticks: frame_ticks.max(1),
            anchor_unix_ms,
            anchor_dts: first.dts,
            first_dts: first.dts,
            next_dts: first.dts,
            limit_ticks: self.limit_ticks(),
        });
        self.files_opened += 1;
        Ok(())
    }

    /// The cause a write error gives the gap, with an alarm for a full disk.
    fn storage_error(&self, e: &std::io::Error) -> String {
        if e.raw_os_error() == Some(ENOSPC) {
            let alarm = format!(
                "disk full: recording of {} stopped ({})",
                self.name,
                self.archive.dir().display()
            );
            tracing::error!(stream = %self.name, "archive: {alarm}");
            self.archive.set_alarm(&self.name, Some(alarm));
            self.archive.note_disk_full(true);
            DISK_FULL.to_owned()
        } else {
            tracing::error!(stream = %self.name, error = %e, "archive: write failed");
            format!("storage error: {e}")
        }
    }

    /// Writes `units` (decode order) as one fragment: the start of a GOP
    /// (a keyframe first) may open a new file; the rest of a GOP continues
    /// the file its start went to, or is dropped if that start was not
    /// recorded. `next_dts`: where the next fragment starts, when known.
    async fn write_units(
        &mut self,
        units: Vec<AccessUnit>,
        next_dts: Option<i64>,
        meta: &StreamMetadata,
    ) {
        let Some(first) = units.first().cloned() else {
            return;
        };
        if first.keyframe {
            if self.archive.disk_blocked() {
                // Critical or full: no new video, the gap says why (the alarm is the disk's).
                self.quiet(DISK_FULL).await;
                self.archive
                    .interrupt(&self.name, wall_clock(&first), DISK_FULL);
                return;
            }
            if let Some(reason) = self.open.as_ref().and_then(|o| rotation(o, &first, meta)) {
                self.close(reason).await;
            }
            if self.open.is_none()
                && let Err(cause) = self.open_file(&first, meta).await
            {
                self.archive
                    .interrupt(&self.name, wall_clock(&first), &cause);
                return;
            }
        } else if self
            .open
            .as_ref()
            .is_none_or(|o| o.next_dts != first.dts || !same_decoder_config(&o.meta, meta))
        {
            // The GOP's start went nowhere (disk full, an error): nothing to continue.
            return;
        }
        let Some(open) = self.open.as_mut() else {
            return;
        };
        if let [.., before, last] = units.as_slice() {
            open.frame_ticks = (last.dts - before.dts).max(1);
        }
        let end_dts = next_dts.unwrap_or_else(|| {
            units
                .last()
                .map_or(first.dts, |u| u.dts.saturating_add(open.frame_ticks))
        });
        let base = u64::try_from(first.dts).unwrap_or(0);
        let data = match fmp4::media_segment(open.sequence, &units, base, end_dts) {
            Ok(data) => data,
            Err(e) => {
                tracing::warn!(stream = %self.name, error = %e, "archive: GOP not recordable; starting a new file");
                self.close("stream error").await;
                return;
            }
        };
        open.sequence = open.sequence.wrapping_add(1);
        let duration = u64::try_from(end_dts - first.dts).unwrap_or(0);
        let fragment = Fragment {
            start_unix_ms: open.anchor_unix_ms + (first.dts - open.anchor_dts) / 90,
            duration,
            frames: units.len() as u64,
            sync: first.keyframe,
            data,
        };
        open.next_dts = end_dts;
        let Some(mut taken) = self.open.take() else {
            return;
        };
        let to_write = fragment.clone();
        let written = tokio::task::spawn_blocking(move || {
            let r = taken.file.append(&to_write);
            (taken, r)
        })
        .await;
        let (open, result) = match written {
            Ok(x) => x,
            Err(e) => {
                tracing::error!(stream = %self.name, error = %e, "archive: write task failed");
                return;
            }
        };
        match result {
            Ok(entry) => {
                self.archive
                    .resume(&self.name, &self.dir, fragment.start_unix_ms);
                self.archive.set_alarm(&self.name, None);
                self.archive.note_disk_full(false);
                let current_file = open
                    .file
                    .path()
                    .strip_prefix(self.archive.dir())
                    .unwrap_or(open.file.path())
                    .display()
                    .to_string();
                self.archive.set_status(
                    &self.name,
                    Some(StreamStatus {
                        current_file,
                        last_fragment_unix_ms: entry.end_unix_ms(),
                    }),
                );
                self.open = Some(open);
            }
            Err(e) => {
                let cause = self.storage_error(&e);
                let since = open.file.end_unix_ms();
                if open.file.fragments() == 0 {
                    // A file without video is not kept: a full disk would leave one per GOP.
                    let file = open.file;
                    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || file.discard()).await {
                        tracing::warn!(stream = %self.name, error = %e, "archive: empty file not removed; recovery removes it at the next start");
                    }
                    self.archive.set_status(&self.name, None);
                } else {
                    self.open = Some(open);
                    self.close(&cause).await;
                }
                self.archive.interrupt(&self.name, since, &cause);
            }
        }
    }
}
