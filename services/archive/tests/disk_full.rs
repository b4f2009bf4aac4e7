//! A full archive volume is never silent and never eats protected video:
//! on a real 16 MiB tmpfs mounted for the test (root), recording a real
//! H.264 track, a filler pushes the volume over `disk_critical`: the alarm
//! fires (state, log, audit record), recording stops, no file is deleted,
//! the gap says "disk full"; the filler goes and recording resumes by
//! itself. Skipped, saying so, only when the mount is impossible.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use support::{DEVICE, NODE, Records, looping_camera, poll_until};
use tokio_util::sync::CancellationToken;
use vfed_archive::disk::DiskState;
use vfed_archive::{Archive, ArchiveOptions, layout};

/// A tmpfs mounted for the test, unmounted when dropped (a failing test too).
struct Mounted {
    dir: tempfile::TempDir,
}

impl Mounted {
    fn tmpfs(size: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir_in("/var/tmp").map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0700"))
            .arg("tmpfs")
            .arg(dir.path())
            .output()
            .map_err(|e| format!("mount not runnable: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let done = Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !done {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

/// Fills the volume of `dir` with `file` until `share` of it is used.
fn fill(dir: &Path, file: &Path, share: f64) {
    let (total, _, free) = vfed_archive::disk::volume(dir);
    let target_free = ((1.0 - share) * total as f64) as u64;
    let mut left = free.saturating_sub(target_free);
    let mut out = std::fs::File::create(file).unwrap();
    let chunk = vec![0x5au8; 256 * 1024];
    while left > 0 {
        let n = chunk.len().min(usize::try_from(left).unwrap());
        if out.write_all(&chunk[..n]).is_err() {
            break;
        }
        left -= n as u64;
    }
    out.sync_all().unwrap();
}

/// The media files under the archive holding video, and their lengths (a
/// file opened and discarded while the disk is full is not one).
fn files(root: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for (_, _, stream) in layout::streams(root).unwrap() {
        for (_, media) in layout::media_files(&stream).unwrap() {
            let index = vfed_archive::index::Index::read(&layout::index_path(&media));
            if index.is_ok_and(|i| !i.fragments.is_empty()) {
                let len = std::fs::metadata(&media).unwrap().len();
                out.push((media, len));
            }
        }
    }
    out
}

/// A real H.264 track recorded into `root` with these thresholds.
struct Recording {
    archive: Archive,
    records: Records,
    stop: CancellationToken,
    camera: CancellationToken,
    run: tokio::task::JoinHandle<()>,
}

impl Recording {
    async fn start(root: &Path, disk_critical: f64) -> Self {
        let mut options = ArchiveOptions::new(root, NODE);
        options.file_duration = Duration::from_secs(4);
        options.idle = Duration::from_secs(1);
        options.seal = false;
        options.disk_warn = 0.5;
        options.disk_critical = disk_critical;
        let records = Records::default();
        let (relay, camera) = looping_camera();
        let archive = Archive::open(options, Arc::new(records.clone()))
            .await
            .unwrap();
        let stop = CancellationToken::new();
        let run = tokio::spawn(archive.clone().run(relay, stop.clone()));
        poll_until("a file recorded", Duration::from_secs(30), || {
            !records.with_action("recording.file.closed").is_empty()
        })
        .await;
        assert_eq!(archive.disk().state, DiskState::Ok, "{:?}", archive.disk());
        Self {
            archive,
            records,
            stop,
            camera,
            run,
        }
    }

    /// With no video now, nothing changes on disk and nothing is deleted
    /// (not even by the sweep); the open gap says "disk full".
    async fn stays_stopped(&self, root: &Path) {
        let (_, gaps) = self.archive.list(DEVICE, "main", 0, 0).await.unwrap();
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert_eq!(gaps[0].cause, "disk full");
        let stopped = files(root);
        let (spans_before, _) = self.archive.list(DEVICE, "main", 0, 0).await.unwrap();
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(files(root), stopped, "nothing written, nothing deleted");
        let (spans_still, _) = self.archive.list(DEVICE, "main", 0, 0).await.unwrap();
        assert_eq!(spans_still, spans_before);
        assert!(self.archive.sweep().await.unwrap().deleted.is_empty());
    }

    /// Space is back: recording resumes by itself and one gap says why.
    async fn resumes(&self) {
        poll_until("recording resumed", Duration::from_secs(30), || {
            !self.archive.recording().is_empty() && self.archive.alarms().is_empty()
        })
        .await;
        let (spans, gaps) = self.archive.list(DEVICE, "main", 0, 0).await.unwrap();
        assert_eq!(spans.len(), 2, "{spans:?} {gaps:?}");
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert_eq!(gaps[0].cause, "disk full");
        assert!(
            gaps[0].start_unix_ms >= spans[0].end_unix_ms - 1000,
            "{gaps:?} {spans:?}"
        );
        assert!(
            gaps[0].end_unix_ms <= spans[1].start_unix_ms + 1000,
            "{gaps:?} {spans:?}"
        );
        assert!(matches!(
            self.archive.disk().state,
            DiskState::Ok | DiskState::Warn
        ));
    }

    async fn finish(self, root: &Path) {
        self.stop.cancel();
        self.run.await.unwrap();
        self.camera.cancel();
        let report = vfed_archive::verify(root).unwrap();
        assert!(report.is_clean(), "{:?}", report.findings);
    }
}

fn mount_or_skip() -> Option<Mounted> {
    match Mounted::tmpfs("16m") {
        Ok(m) => Some(m),
        Err(e) => {
            eprintln!("SKIPPED: cannot mount a 16 MiB tmpfs (needs root): {e}");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_critical_threshold_recording_stops_with_an_alarm_deletes_nothing_and_resumes() {
    let Some(mount) = mount_or_skip() else { return };
    let root = mount.path().join("archive");
    let filler = mount.path().join("filler");
    let r = Recording::start(&root, 0.9).await;
    fill(mount.path(), &filler, 0.95);
    poll_until(
        "recording stopped with an alarm",
        Duration::from_secs(15),
        || {
            r.archive.disk().state == DiskState::Critical
                && r.archive
                    .alarms()
                    .iter()
                    .any(|a| a.starts_with("disk full"))
                && r.archive.recording().is_empty()
        },
    )
    .await;
    let changes = r.records.with_action("archive.disk.state");
    let last = changes.last().unwrap();
    assert_eq!(last.details["to"], "critical", "{changes:?}");
    assert_eq!(last.actor, format!("node/{NODE}"));
    r.stays_stopped(&root).await;
    std::fs::remove_file(&filler).unwrap();
    r.resumes().await;
    let changes = r.records.with_action("archive.disk.state");
    assert_eq!(changes.last().unwrap().details["from"], "critical");
    r.finish(&root).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_space_left_a_failed_write_stops_recording_with_an_alarm_and_it_resumes() {
    let Some(mount) = mount_or_skip() else { return };
    let root = mount.path().join("archive");
    let filler = mount.path().join("filler");
    // Critical at 100%: only a write that fails (ENOSPC) stops recording.
    let r = Recording::start(&root, 1.0).await;
    let (total, _, _) = vfed_archive::disk::volume(mount.path());
    fill(mount.path(), &filler, 1.0 - 16_384.0 / total as f64);
    poll_until(
        "a write failed for lack of space",
        Duration::from_secs(15),
        || {
            r.archive.disk().state == DiskState::Full
                && r.archive
                    .alarms()
                    .iter()
                    .any(|a| a.contains("no space left"))
                && r.archive.recording().is_empty()
        },
    )
    .await;
    let changes = r.records.with_action("archive.disk.state");
    assert_eq!(changes.last().unwrap().details["to"], "full", "{changes:?}");
    r.stays_stopped(&root).await;
    std::fs::remove_file(&filler).unwrap();
    r.resumes().await;
    r.finish(&root).await;
}
