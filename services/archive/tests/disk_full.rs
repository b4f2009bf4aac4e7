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

use support::{NoRoutes, Records, poll_until};
use tokio_util::sync::CancellationToken;
use vfed_archive::disk::DiskState;
use vfed_archive::{Archive, ArchiveOptions, layout};
use vfed_media::AnnexBFile;
use vfed_relay::{Relay, RelayOptions, StreamKey};

const CLIP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../crates/media/assets/demo-720p25.h264"
);
const NODE: &str = "54050200002000000001";
const DEVICE: &str = "54050200001320000001";

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

/// The media files under the archive and their lengths.
fn files(root: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for (_, _, stream) in layout::streams(root).unwrap() {
        for (_, media) in layout::media_files(&stream).unwrap() {
            let len = std::fs::metadata(&media).unwrap().len();
            out.push((media, len));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_volume_stops_recording_with_an_alarm_deletes_nothing_and_recording_resumes() {
    let mount = match Mounted::tmpfs("16m") {
        Ok(m) => m,
        Err(e) => {
            eprintln!("SKIPPED: cannot mount a 16 MiB tmpfs (needs root): {e}");
            return;
        }
    };
    let root = mount.path().join("archive");
    let filler = mount.path().join("filler");
    let mut options = ArchiveOptions::new(&root, NODE);
    options.file_duration = Duration::from_secs(4);
    options.idle = Duration::from_secs(1);
    options.seal = false;
    options.disk_warn = 0.5;
    options.disk_critical = 0.9;
    let records = Records::default();
    let relay = Relay::new(
        NODE,
        "vfed.test",
        None,
        [],
        Arc::new(NoRoutes),
        RelayOptions::default(),
    );
    let (metadata, units) = AnnexBFile::read(CLIP).unwrap();
    let camera = CancellationToken::new();
    let key = StreamKey::new(DEVICE, "main").unwrap();
    vfed_relay::source::spawn_looping(relay.publish(&key), metadata, units, camera.clone());
    let archive = Archive::open(options, Arc::new(records.clone()))
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let run = tokio::spawn(archive.clone().run(relay.clone(), stop.clone()));
    poll_until("a file recorded", Duration::from_secs(30), || {
        !records.with_action("recording.file.closed").is_empty()
    })
    .await;
    assert_eq!(archive.disk().state, DiskState::Ok, "{:?}", archive.disk());

    // Over the critical threshold: the alarm fires and recording stops.
    fill(mount.path(), &filler, 0.95);
    poll_until(
        "recording stopped with an alarm",
        Duration::from_secs(15),
        || {
            archive.disk().state == DiskState::Critical
                && archive.alarms().iter().any(|a| a.starts_with("disk full"))
                && archive.recording().is_empty()
        },
    )
    .await;
    let changes = records.with_action("archive.disk.state");
    let last = changes.last().unwrap();
    assert_eq!(last.details["to"], "critical", "{changes:?}");
    assert_eq!(last.actor, format!("node/{NODE}"));
    let (_, gaps) = archive.list(DEVICE, "main", 0, 0).await.unwrap();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0].cause, "disk full");
    let stopped = files(&root);
    let (spans_before, _) = archive.list(DEVICE, "main", 0, 0).await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(files(&root), stopped, "nothing written, nothing deleted");
    let (spans_still, _) = archive.list(DEVICE, "main", 0, 0).await.unwrap();
    assert_eq!(spans_still, spans_before);
    // Not even the sweep deletes anything inside retention.
    assert!(archive.sweep().await.unwrap().deleted.is_empty());

    // Space returns: recording resumes by itself; the gap says why.
    std::fs::remove_file(&filler).unwrap();
    poll_until("recording resumed", Duration::from_secs(30), || {
        !archive.recording().is_empty() && archive.alarms().is_empty()
    })
    .await;
    let (spans, gaps) = archive.list(DEVICE, "main", 0, 0).await.unwrap();
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
    for (file, len) in &stopped {
        assert!(
            std::fs::metadata(file).unwrap().len() >= *len,
            "{} kept",
            file.display()
        );
    }
    assert_ne!(archive.disk().state, DiskState::Critical);
    let changes = records.with_action("archive.disk.state");
    assert_eq!(changes.last().unwrap().details["from"], "critical");

    stop.cancel();
    run.await.unwrap();
    camera.cancel();
    assert!(vfed_archive::verify(&root).unwrap().is_clean());
}
