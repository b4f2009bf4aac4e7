//! Records one stream: reads the relay track GOP by GOP (the same shared
//! GOPs every viewer gets, never re-encoded), muxes each GOP into one fMP4
//! fragment with the media crate's segmenter, and appends it to the
//! current file; rotates files, notices when the camera goes quiet, and
//! turns every interruption into a gap with its cause.

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;
use vfed_media::{AccessUnit, CLOCK_RATE, Gop, SegmentWindow, StreamMetadata};
use vfed_relay::StreamKey;
use vfed_relay::track::TrackReader;

use crate::archive::{Archive, StreamStatus};
use crate::disk::DISK_FULL;
use crate::index::Header;
use crate::layout;
use crate::writer::{Fragment, RecordingFile, sha256_hex};

/// `ENOSPC`: no space left on the device.
const ENOSPC: i32 = 28;

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
    window: SegmentWindow,
    meta: StreamMetadata,
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
        let mut units = Vec::new();
        let mut stalled = false;
        let mut r = gop.reader();
        loop {
            let unit = tokio::select! {
                () = stop.cancelled() => break,
                u = tokio::time::timeout(idle, r.next()) => u,
            };
            match unit {
                Ok(Some(u)) => units.push(u),
                Ok(None) => break,
                Err(_) => {
                    stalled = true;
                    break;
                }
            }
        }
        if let Some(meta) = track.metadata() {
            recorder.write_gop(units, &meta).await;
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
        let window = SegmentWindow::new(meta)
            .map_err(|e| format!("cannot record {}: {e}", self.name))?
            .with_capacity(1);
        let init = window.init_segment().clone();
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
        self.open = Some(OpenFile {
            file,
            window,
            meta: meta.clone(),
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

    /// Writes one GOP as one fragment.
    async fn write_gop(&mut self, units: Vec<AccessUnit>, meta: &StreamMetadata) {
        let Some(first) = units.first().filter(|u| u.keyframe).cloned() else {
            return;
        };
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
        let Some(open) = self.open.as_mut() else {
            return;
        };
        let segment = match open.window.push_gop(&Gop { units }) {
            Ok(Some(seq)) => open.window.segment(seq).cloned(),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(stream = %self.name, error = %e, "archive: GOP not recordable; starting a new file");
                self.close("stream error").await;
                return;
            }
        };
        let Some(segment) = segment else { return };
        let offset_ticks = i64::try_from(segment.base_decode_time).unwrap_or(0) - open.anchor_dts;
        let fragment = Fragment {
            start_unix_ms: open.anchor_unix_ms + offset_ticks / 90,
            duration: segment.duration,
            frames: segment.frames as u64,
            data: segment.data,
        };
        open.next_dts =
            i64::try_from(segment.base_decode_time + segment.duration).unwrap_or(i64::MAX);
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
