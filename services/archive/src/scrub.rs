//! The start-up scrub (R18.6, R18.7): every closed recording's init
//! segment and fragments hashed again against its index, newest file
//! first, in the background and at a bounded read rate, so the node is
//! ready at once and live relay keeps the disk. A changed fragment, a
//! truncated file and a deleted one are each one finding; every finding
//! (here or from the check against the audit log, [`crate::logged`]) is
//! reported the same way: an error log line, a `recording.tampered` audit
//! record naming the file and the time of its first bad fragment, the
//! alarm `tampered` and a count (`vfed_archive_tampered_files`).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use vfed_audit::AuditRecord;

use crate::archive::{Archive, now_unix_ms};
use crate::verify::{self, Finding};

/// Bytes the scrub reads per second at most (a busy disk keeps its
/// bandwidth for recording and live relay).
pub const SCRUB_BYTES_PER_SEC: u64 = 32 * 1024 * 1024;

/// How often a long scrub logs its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// What the archive has found and checked since it started.
#[derive(Default)]
pub(crate) struct IntegrityState {
    tampered: AtomicU64,
    scrubbed_bytes: AtomicU64,
}

/// What one scrub did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scrubbed {
    /// Files re-hashed (or found missing).
    pub files: usize,
    /// Bytes read.
    pub bytes: u64,
    /// What differs.
    pub findings: Vec<Finding>,
    /// Whether it stopped before the end (shutdown).
    pub stopped: bool,
}

impl Archive {
    /// Recording files found changed, truncated or missing since start.
    pub fn tampered_files(&self) -> u64 {
        self.inner.integrity.tampered.load(Ordering::Relaxed)
    }

    /// Bytes the start-up scrub has read since start.
    pub fn scrubbed_bytes(&self) -> u64 {
        self.inner.integrity.scrubbed_bytes.load(Ordering::Relaxed)
    }

    /// Reports one finding: error log line, `recording.tampered` audit
    /// record (file relative to the archive, time of the first affected
    /// fragment), alarm `tampered`, count.
    pub async fn report_tampered(&self, finding: &Finding) {
        tracing::error!(%finding, "archive: a recording was changed, truncated or deleted (R18.6, R18.7)");
        let file = finding
            .file
            .strip_prefix(self.dir())
            .unwrap_or(&finding.file)
            .display()
            .to_string();
        let record = AuditRecord::new(
            format!("node/{}", self.options().node_id),
            "recording.tampered",
            file.clone(),
        )
        .refused(finding.problem.clone(), "R18.7")
        .with_details(serde_json::json!({
            "file": file,
            "time_unix_ms": finding.time_unix_ms,
            "problem": finding.problem,
        }));
        self.inner.audit.record(record).await;
        let count = self
            .inner
            .integrity
            .tampered
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        self.set_alarm(
            "tampered",
            Some(format!(
                "{count} recording file(s) changed, truncated or missing; latest: {finding}"
            )),
        );
    }

    /// Re-hashes every closed file not in `skip` (already reported), newest
    /// first, at most [`SCRUB_BYTES_PER_SEC`], until done or `stop`; each
    /// finding is reported as it is found.
    pub async fn scrub(&self, skip: &HashSet<PathBuf>, stop: &CancellationToken) -> Scrubbed {
        let root = self.dir().to_path_buf();
        let files = match tokio::task::spawn_blocking(move || verify::closed_files(&root)).await {
            Ok(Ok(files)) => files,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "archive: recordings not re-hashed at start");
                return Scrubbed::default();
            }
            Err(e) => {
                tracing::error!(error = %e, "archive: recordings not re-hashed at start");
                return Scrubbed::default();
            }
        };
        let total = files.len();
        tracing::info!(
            files = total,
            rate_mib_s = SCRUB_BYTES_PER_SEC >> 20,
            "archive: re-hashing the recordings (newest first, in the background)"
        );
        let retention = i64::try_from(self.options().retention.as_millis()).unwrap_or(i64::MAX);
        let began = Instant::now();
        let mut progress = began;
        let mut out = Scrubbed::default();
        for (start, media) in files {
            if stop.is_cancelled() {
                out.stopped = true;
                break;
            }
            if skip.contains(&media) {
                continue;
            }
            let since = now_unix_ms().saturating_sub(retention);
            let path = media.clone();
            let checked =
                tokio::task::spawn_blocking(move || verify::check_closed(start, &path, since))
                    .await;
            let (finding, bytes) = match checked {
                Ok(Ok(result)) => result,
                Ok(Err(e)) => {
                    tracing::warn!(file = %media.display(), error = %e, "archive: recording not re-hashed");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(file = %media.display(), error = %e, "archive: recording not re-hashed");
                    continue;
                }
            };
            out.files += 1;
            out.bytes += bytes;
            self.inner
                .integrity
                .scrubbed_bytes
                .fetch_add(bytes, Ordering::Relaxed);
            if let Some(finding) = finding {
                self.report_tampered(&finding).await;
                out.findings.push(finding);
            }
            if progress.elapsed() >= PROGRESS_EVERY {
                progress = Instant::now();
                tracing::info!(
                    checked = out.files,
                    files = total,
                    mib = out.bytes >> 20,
                    findings = out.findings.len(),
                    "archive: re-hashing the recordings"
                );
            }
            let pause = Duration::from_secs_f64(bytes as f64 / SCRUB_BYTES_PER_SEC as f64);
            tokio::select! {
                () = stop.cancelled() => {
                    out.stopped = true;
                    break;
                }
                () = tokio::time::sleep(pause) => {}
            }
        }
        if out.stopped {
            tracing::info!(
                checked = out.files,
                files = total,
                "archive: re-hashing stopped (node stopping); it starts over at the next start"
            );
        } else {
            tracing::info!(
                files = out.files,
                mib = out.bytes >> 20,
                findings = out.findings.len(),
                seconds = began.elapsed().as_secs(),
                "archive: recordings re-hashed"
            );
        }
        out
    }
}
