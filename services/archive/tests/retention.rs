//! Deletion past retention (R14.6, R18.7): recordings dated 31 days ago
//! are unsealed, deleted and audited by the sweep, except one an approved
//! request holds; one inside retention stays; and nothing else deletes: a
//! root `rm` or write of a sealed file fails with EPERM.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use support::Records;
use vfed_archive::holds::{Hold, Holds, HoldsFuture};
use vfed_archive::index::Header;
use vfed_archive::writer::{Fragment, RecordingFile, sha256_hex};
use vfed_archive::{Archive, ArchiveOptions, layout, seal, verify};
use vfed_audit::AuditRecord;

const NODE: &str = "54050200002000000001";
const OLD: &str = "54050200001320000001";
const HELD: &str = "54050200001320000002";
const DAY_MS: i64 = 86_400_000;

/// A fixed set of holds (what the node reads from its approved requests).
struct Fixed(Vec<Hold>);

impl Holds for Fixed {
    fn active(&self) -> HoldsFuture<'_> {
        let holds = self.0.clone();
        Box::pin(async move { Ok(holds) })
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A closed file of `device` with three 2-s fragments from `start`, sealed
/// when the file system allows it.
fn recording(root: &Path, device: &str, start: i64) -> PathBuf {
    let header = Header {
        device_id: device.into(),
        profile: "main".into(),
        codec: "h264".into(),
        width: 1280,
        height: 720,
        init_len: 4,
        init_sha256: sha256_hex(b"init"),
    };
    let stream = layout::stream_dir(root, device, "main");
    let mut file = RecordingFile::create(&stream, start, header, b"init").unwrap();
    for n in 0..3u8 {
        file.append(&Fragment {
            data: vec![n; 1000].into(),
            start_unix_ms: start + i64::from(n) * 2000,
            duration: 180_000,
            frames: 50,
            sync: true,
        })
        .unwrap();
    }
    let manifest = file.close("rotation").unwrap();
    for path in [manifest.path.clone(), layout::index_path(&manifest.path)] {
        let _ = seal::seal(&path);
    }
    manifest.path
}

/// Clears the seals under `root` so the temp dir can be removed.
fn unseal_all(root: &Path) {
    for (_, _, stream) in layout::streams(root).unwrap() {
        for entry in std::fs::read_dir(stream).unwrap() {
            let _ = seal::unseal(&entry.unwrap().path());
        }
    }
}

#[tokio::test]
async fn the_sweep_deletes_past_retention_audited_and_keeps_held_and_recent_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut options = ArchiveOptions::new(root, NODE);
    options.seal = true;
    let records = Records::default();
    let archive = Archive::open(options, Arc::new(records.clone()))
        .await
        .unwrap();
    let now = now_ms();
    let old = recording(root, OLD, now - 31 * DAY_MS);
    let recent = recording(root, OLD, now - 29 * DAY_MS);
    let held = recording(root, HELD, now - 31 * DAY_MS);
    let lapsed = recording(root, HELD, now - 31 * DAY_MS - 60_000);
    let sealing = archive.sealing().is_available();
    if sealing {
        assert!(seal::is_sealed(&old).unwrap(), "the old file starts sealed");
    }
    let old_index = std::fs::read(layout::index_path(&old)).unwrap();
    archive.set_holds(Arc::new(Fixed(vec![
        Hold {
            request_id: "1765000000000-0000abcd".into(),
            device_ids: vec![HELD.into()],
            from_unix_ms: now - 31 * DAY_MS + 1000,
            to_unix_ms: now - 31 * DAY_MS + 2000,
            until_unix_ms: now + DAY_MS,
        },
        // Expired: holds nothing.
        Hold {
            request_id: "1765000000000-0000dcba".into(),
            device_ids: vec![HELD.into()],
            from_unix_ms: now - 32 * DAY_MS,
            to_unix_ms: now,
            until_unix_ms: now - 1000,
        },
    ])));

    let sweep = archive.sweep().await.unwrap();
    let mut deleted = sweep.deleted.clone();
    deleted.sort();
    let mut expected = vec![old.clone(), lapsed.clone()];
    expected.sort();
    assert_eq!(deleted, expected, "{sweep:?}");
    assert_eq!(sweep.held, 1);
    assert_eq!(sweep.kept_for_holds, 1);
    for gone in [&old, &lapsed] {
        assert!(!gone.exists() && !layout::index_path(gone).exists());
    }
    for kept in [&recent, &held] {
        assert!(kept.exists() && layout::index_path(kept).exists());
        if sealing {
            assert!(seal::is_sealed(kept).unwrap(), "kept files stay sealed");
        }
    }
    assert_eq!(archive.files_deleted(), 2);
    assert_eq!(archive.held_files(), 1);
    // What is left verifies: a deletion leaves no dangling index.
    let report = verify(root).unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!(report.files, 2);

    // Each deletion is audited: device, range, file, fragments, manifest hash.
    let audited: Vec<AuditRecord> = records.with_action("recording.file.deleted");
    assert_eq!(audited.len(), 2);
    let record = audited
        .iter()
        .find(|r| r.target == format!("{OLD}/main"))
        .unwrap();
    assert_eq!(record.actor, format!("node/{NODE}"));
    let d = &record.details;
    assert_eq!(
        d["file"],
        old.strip_prefix(root).unwrap().display().to_string()
    );
    assert_eq!(d["start_unix_ms"], now - 31 * DAY_MS);
    assert_eq!(d["end_unix_ms"], now - 31 * DAY_MS + 6000);
    assert_eq!(d["fragments"], 3);
    assert_eq!(d["manifest_sha256"], sha256_hex(&old_index));

    // A second pass deletes nothing more; when the hold lapses, the held file goes.
    assert!(archive.sweep().await.unwrap().deleted.is_empty());
    archive.set_holds(Arc::new(Fixed(Vec::new())));
    assert_eq!(archive.sweep().await.unwrap().deleted, vec![held]);
    unseal_all(root);
}

/// `rm` and a write of a file the archive sealed fail for root (EPERM);
/// `lsattr` shows the flag. Needs a file system with `FS_IMMUTABLE_FL`
/// (ext4 under /var/tmp) and `CAP_LINUX_IMMUTABLE`.
#[tokio::test]
async fn root_cannot_remove_or_write_a_sealed_recording() {
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let root = dir.path();
    let archive = Archive::open(
        ArchiveOptions::new(root, NODE),
        Arc::new(Records::default()),
    )
    .await
    .unwrap();
    if !archive.sealing().is_available() {
        eprintln!(
            "SKIPPED: {} ({})",
            archive.sealing().detail(),
            root.display()
        );
        return;
    }
    // As the recorder does when a file closes: close, then seal.
    let media = recording(root, OLD, now_ms() - 60_000);
    let rm = std::process::Command::new("rm")
        .arg("-f")
        .arg(&media)
        .output()
        .unwrap();
    assert!(!rm.status.success());
    assert!(
        String::from_utf8_lossy(&rm.stderr).contains("Operation not permitted"),
        "{}",
        String::from_utf8_lossy(&rm.stderr)
    );
    assert!(media.exists());
    let remove = std::fs::remove_file(&media).unwrap_err();
    assert_eq!(remove.raw_os_error(), Some(1), "EPERM: {remove}");
    let write = std::fs::OpenOptions::new()
        .append(true)
        .open(&media)
        .unwrap_err();
    assert_eq!(write.raw_os_error(), Some(1), "EPERM: {write}");
    let index = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(layout::index_path(&media))
        .unwrap_err();
    assert_eq!(index.raw_os_error(), Some(1), "EPERM: {index}");
    if let Ok(out) = std::process::Command::new("lsattr").arg(&media).output() {
        let text = String::from_utf8_lossy(&out.stdout);
        let flags = text.split_whitespace().next().unwrap_or_default();
        assert!(
            flags.contains('i'),
            "lsattr shows the immutable flag: {text}"
        );
    }
    assert!(verify(root).unwrap().is_clean());
    // Inside retention, the sweep leaves it alone too.
    assert!(archive.sweep().await.unwrap().deleted.is_empty());
    unseal_all(root);
}
