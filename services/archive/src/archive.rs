//! The archive of one node: its options, what it is recording now, its
//! alarms, and the loop that starts a recorder for every local stream the
//! relay carries.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::{AbortHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use vfed_audit::AuditRecord;
use vfed_authz::AuditSink;
use vfed_relay::Relay;

use crate::error::{ArchiveError, check_device_id, check_profile};
use crate::recovery::{self, NODE_DOWN};
use crate::seal::{self, Sealing};
use crate::spans::{self, Gap, Span};
use crate::writer::Manifest;

/// How often the relay is checked for local streams to record.
const SCAN: Duration = Duration::from_secs(1);

/// Archive settings.
#[derive(Clone, Debug)]
pub struct ArchiveOptions {
    /// Root directory of the recordings.
    pub dir: PathBuf,
    /// This node (the actor of the archive's audit records).
    pub node_id: String,
    /// How long recordings are kept (at least 30 days, R14.6; checked by the config).
    pub retention: Duration,
    /// Length of one file.
    pub file_duration: Duration,
    /// Seal closed files when possible.
    pub seal: bool,
    /// Profiles recorded.
    pub profiles: Vec<String>,
    /// No frame for this long: the camera is offline (the file closes).
    pub idle: Duration,
    /// Share of the volume used (0 to 1) at which a warning is raised.
    pub disk_warn: f64,
    /// Share of the volume used (0 to 1) at which new recording stops.
    pub disk_critical: f64,
}

impl ArchiveOptions {
    /// Defaults for `dir` at `node_id`: 30 days, 1-minute files, sealing on, `main`.
    pub fn new(dir: impl Into<PathBuf>, node_id: impl Into<String>) -> Self {
        Self {
            dir: dir.into(),
            node_id: node_id.into(),
            retention: Duration::from_secs(30 * 24 * 3600),
            file_duration: Duration::from_secs(60),
            seal: true,
            profiles: vec!["main".to_owned()],
            idle: Duration::from_secs(3),
            disk_warn: 0.90,
            disk_critical: 0.98,
        }
    }
}

/// One stream being recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamStatus {
    /// The file being written, relative to the archive directory.
    pub current_file: String,
    /// End of the newest fragment, Unix ms.
    pub last_fragment_unix_ms: i64,
}

/// Why a stream has no video right now, since when.
#[derive(Clone, Debug)]
pub(crate) struct Interruption {
    pub since_unix_ms: i64,
    pub cause: String,
}

pub(crate) struct Inner {
    pub options: ArchiveOptions,
    pub sealing: Sealing,
    pub audit: Arc<dyn AuditSink>,
    pub started_unix_ms: i64,
    pub streams: Mutex<HashMap<String, StreamStatus>>,
    /// Streams without video now (recorded before, or offline since start).
    pub interrupted: Mutex<HashMap<String, Interruption>>,
    pub alarms: Mutex<BTreeMap<String, String>>,
    /// Holds and deletions past retention.
    pub retention: crate::retention::RetentionState,
    /// The archive volume's fill state.
    pub disk: crate::disk::DiskWatch,
    /// Tamper findings and the start-up scrub's progress.
    pub integrity: crate::scrub::IntegrityState,
    /// Progressive MP4 plans kept between requests.
    pub mp4: crate::mp4_cache::Mp4Cache,
    /// Playbacks audited lately (one record per playback).
    pub views: crate::playback::ViewLog,
}

/// A node's archive (cheap to clone).
#[derive(Clone)]
pub struct Archive {
    pub(crate) inner: Arc<Inner>,
}

/// Now, Unix ms.
pub(crate) fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Archive {
    /// Opens the archive at `options.dir`: creates it (0700), finds out
    /// whether files can be sealed, and recovers what a crash left open
    /// (each recovered file's manifest goes to `audit`).
    pub async fn open(
        options: ArchiveOptions,
        audit: Arc<dyn AuditSink>,
    ) -> Result<Self, ArchiveError> {
        let dir = options.dir.clone();
        let want_seal = options.seal;
        let (sealing, recovered) = tokio::task::spawn_blocking(move || {
            crate::layout::create_dirs(&dir)?;
            let sealing = if want_seal {
                seal::probe(&dir)
            } else {
                Sealing::Unavailable("sealing unavailable: archive.seal is off".to_owned())
            };
            let recovered = recovery::recover(&dir, sealing.is_available())?;
            Ok::<_, std::io::Error>((sealing, recovered))
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))??;
        match &sealing {
            Sealing::Available => {
                tracing::info!(dir = %options.dir.display(), "archive: closed files are sealed immutable (FS_IMMUTABLE_FL)");
            }
            Sealing::Unavailable(why) => {
                tracing::warn!(dir = %options.dir.display(), "archive: {why}; changes are still detected by verification (R18.7)");
            }
        }
        let started_unix_ms = now_unix_ms();
        let interrupted = recovered
            .last_end
            .iter()
            .map(|(key, end)| {
                (
                    key.clone(),
                    Interruption {
                        since_unix_ms: *end,
                        cause: NODE_DOWN.to_owned(),
                    },
                )
            })
            .collect();
        let archive = Archive {
            inner: Arc::new(Inner {
                options,
                sealing,
                audit,
                started_unix_ms,
                streams: Mutex::default(),
                interrupted: Mutex::new(interrupted),
                alarms: Mutex::default(),
                retention: Default::default(),
                disk: Default::default(),
                integrity: Default::default(),
                mp4: Default::default(),
                views: Default::default(),
            }),
        };
        for (manifest, cut) in &recovered.closed {
            archive.log_manifest(manifest, Some(*cut)).await;
        }
        Ok(archive)
    }

    /// The archive directory.
    pub fn dir(&self) -> &Path {
        &self.inner.options.dir
    }

    /// The settings.
    pub fn options(&self) -> &ArchiveOptions {
        &self.inner.options
    }

    /// Whether closed files are sealed.
    pub fn sealing(&self) -> &Sealing {
        &self.inner.sealing
    }

    /// The streams being recorded now, by key.
    pub fn recording(&self) -> BTreeMap<String, StreamStatus> {
        lock(&self.inner.streams)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Active alarms.
    pub fn alarms(&self) -> Vec<String> {
        lock(&self.inner.alarms).values().cloned().collect()
    }

    pub(crate) fn set_alarm(&self, key: &str, alarm: Option<String>) {
        let mut alarms = lock(&self.inner.alarms);
        match alarm {
            Some(a) => {
                alarms.insert(key.to_owned(), a);
            }
            None => {
                alarms.remove(key);
            }
        }
    }

    pub(crate) fn set_status(&self, key: &str, status: Option<StreamStatus>) {
        let mut streams = lock(&self.inner.streams);
        match status {
            Some(s) => {
                streams.insert(key.to_owned(), s);
            }
            None => {
                streams.remove(key);
            }
        }
    }

    /// Marks `key` without video since `since` for `cause` (the first cause wins).
    pub(crate) fn interrupt(&self, key: &str, since_unix_ms: i64, cause: &str) {
        lock(&self.inner.interrupted)
            .entry(key.to_owned())
            .or_insert_with(|| Interruption {
                since_unix_ms,
                cause: cause.to_owned(),
            });
    }

    /// Video is back on `key` at `now`: the interruption, if any, becomes
    /// gaps. A gap that began before this node started is split: `node
    /// down` up to the start, then whatever kept the camera away.
    pub(crate) fn resume(&self, key: &str, stream_dir: &Path, now_unix_ms: i64) {
        let Some(interruption) = lock(&self.inner.interrupted).remove(key) else {
            return;
        };
        let started = self.inner.started_unix_ms;
        let mut gaps = Vec::new();
        if interruption.cause == NODE_DOWN && now_unix_ms - started > spans::JOIN_MS {
            gaps.push(Gap {
                start_unix_ms: interruption.since_unix_ms,
                end_unix_ms: started,
                cause: NODE_DOWN.to_owned(),
            });
            gaps.push(Gap {
                start_unix_ms: started,
                end_unix_ms: now_unix_ms,
                cause: "camera offline".to_owned(),
            });
        } else {
            gaps.push(Gap {
                start_unix_ms: interruption.since_unix_ms,
                end_unix_ms: now_unix_ms,
                cause: interruption.cause,
            });
        }
        for gap in gaps
            .into_iter()
            .filter(|g| g.end_unix_ms - g.start_unix_ms > spans::JOIN_MS)
        {
            tracing::info!(stream = %key, cause = %gap.cause, seconds = (gap.end_unix_ms - gap.start_unix_ms) / 1000, "archive: gap in the recording");
            if let Err(e) = spans::record_gap(stream_dir, &gap) {
                tracing::error!(stream = %key, error = %e, "archive: gap not recorded");
            }
        }
    }

    /// Spans and gaps of `device_id`/`profile` overlapping `[from, to]`
    /// (Unix ms; 0 = unbounded), with the open gap of a stream without video now.
    pub async fn list(
        &self,
        device_id: &str,
        profile: &str,
        from: i64,
        to: i64,
    ) -> Result<(Vec<Span>, Vec<Gap>), ArchiveError> {
        check_device_id("device_id", device_id)?;
        let profile = check_profile("profile", profile)?;
        let now = now_unix_ms();
        // Unbounded is not "up to now": the end of the newest video is its
        // last frame's timestamp plus that frame's duration, which can be a
        // few milliseconds after the wall clock read here.
        let to = if to == 0 { i64::MAX } else { to };
        if from > to {
            return Err(ArchiveError::invalid("from", "must not be after `to`"));
        }
        let dir = crate::layout::stream_dir(self.dir(), device_id, profile);
        let key = format!("{device_id}/{profile}");
        let (spans, mut gaps) = tokio::task::spawn_blocking(move || {
            Ok::<_, std::io::Error>((spans::spans(&dir, from, to)?, spans::gaps(&dir, from, to)?))
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))??;
        if spans.is_empty() && gaps.is_empty() && !lock(&self.inner.interrupted).contains_key(&key)
        {
            return Err(ArchiveError::NotFound(key));
        }
        if let Some(open) = lock(&self.inner.interrupted).get(&key)
            && open.since_unix_ms <= to
        {
            gaps.push(Gap {
                start_unix_ms: open.since_unix_ms,
                end_unix_ms: to.min(now).max(open.since_unix_ms),
                cause: open.cause.clone(),
            });
        }
        Ok((spans, gaps))
    }

    /// Appends a closed file's manifest to the audit log (R18.6); `cut`:
    /// bytes recovery cut off.
    pub async fn log_manifest(&self, manifest: &Manifest, cut: Option<u64>) {
        let file = manifest
            .path
            .strip_prefix(self.dir())
            .unwrap_or(&manifest.path)
            .display()
            .to_string();
        let action = if cut.is_some() {
            "recording.file.recovered"
        } else {
            "recording.file.closed"
        };
        let record = AuditRecord::new(
            format!("node/{}", self.inner.options.node_id),
            action,
            format!("{}/{}", manifest.device_id, manifest.profile),
        )
        .with_details(serde_json::json!({
            "file": file,
            "start_unix_ms": manifest.start_unix_ms,
            "end_unix_ms": manifest.end_unix_ms,
            "bytes": manifest.len,
            "reason": manifest.reason,
            "init_sha256": manifest.init_sha256,
            "fragments_sha256": manifest.fragments,
            "cut_bytes": cut,
        }));
        self.inner.audit.record(record).await;
    }

    /// Records every local stream of `relay` in the configured profiles
    /// until `shutdown`; each recorder closes its file on the way out.
    /// Aborting this task aborts every recorder at once (as a crash
    /// would): files are left as they are on disk, for [`recovery`].
    pub async fn run(self, relay: Relay, shutdown: CancellationToken) {
        let mut recorders: HashMap<String, AbortHandle> = HashMap::new();
        let mut tasks = JoinSet::new();
        let mut tick = tokio::time::interval(SCAN);
        tasks.spawn(crate::upkeep::run(self.clone(), shutdown.clone()));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            while tasks.try_join_next().is_some() {}
            recorders.retain(|_, task| !task.is_finished());
            for info in relay.streams() {
                if info.source != "local" || recorders.contains_key(&info.key) {
                    continue;
                }
                let Ok(key) = vfed_relay::StreamKey::parse(&info.key) else {
                    continue;
                };
                if !self.inner.options.profiles.contains(&key.profile) {
                    continue;
                }
                match relay.subscribe_for(&info.key, "archive").await {
                    Ok(reader) => {
                        let task = tasks.spawn(crate::recorder::record(
                            self.clone(),
                            key,
                            reader,
                            shutdown.child_token(),
                        ));
                        recorders.insert(info.key.clone(), task);
                    }
                    Err(e) => {
                        tracing::debug!(stream = %info.key, error = %e, "archive: not recording yet")
                    }
                }
            }
        }
        drop(recorders);
        while tasks.join_next().await.is_some() {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const DEVICE: &str = "54050200001320000001";

    /// The newest video can end a few milliseconds after the wall clock
    /// (its last frame's duration counts): the stream's open gap is still
    /// listed, starting where the video ended, never ending before that.
    #[tokio::test]
    async fn open_gap_starting_after_now_is_listed() {
        let dir = tempfile::tempdir().unwrap();
        let mut options = ArchiveOptions::new(dir.path(), "54050200002000000001");
        options.seal = false;
        let archive = Archive::open(options, Arc::new(vfed_authz::DiscardAudit))
            .await
            .unwrap();
        let since = now_unix_ms() + 60_000;
        archive.interrupt(&format!("{DEVICE}/main"), since, NODE_DOWN);
        let (spans, gaps) = archive.list(DEVICE, "main", 0, 0).await.unwrap();
        assert!(spans.is_empty());
        assert_eq!(
            gaps,
            vec![Gap {
                start_unix_ms: since,
                end_unix_ms: since,
                cause: NODE_DOWN.to_owned(),
            }]
        );
        // A bounded query ending before the gap does not show it.
        let (_, gaps) = archive.list(DEVICE, "main", 0, since - 1).await.unwrap();
        assert!(gaps.is_empty());
    }
}
