//! The archive on its own, over a real relay track fed by the demo clip
//! (real H.264, real-time pace): files written and closed with their
//! manifests logged, spans listed, a flipped byte found by the verifier,
//! and a half-written file cut back at the next open.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{DEVICE, NODE, Records, looping_camera, poll_until};
use tokio_util::sync::CancellationToken;
use vfed_archive::index::{Header, Index};
use vfed_archive::writer::{Fragment, RecordingFile};
use vfed_archive::{Archive, ArchiveOptions, layout, verify};

fn options(dir: &std::path::Path) -> ArchiveOptions {
    let mut options = ArchiveOptions::new(dir, NODE);
    options.file_duration = Duration::from_secs(4);
    options.idle = Duration::from_secs(1);
    options.seal = false;
    options
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_verifies_detects_tampering_and_recovers_a_torn_file() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let records = Records::default();
    let (relay, camera) = looping_camera();

    let archive = Archive::open(options(dir.path()), Arc::new(records.clone())).await?;
    let stop = CancellationToken::new();
    let run = tokio::spawn(archive.clone().run(relay.clone(), stop.clone()));
    // At least one rotation (files of at most 4 s) and a few fragments (GOPs of 2 s).
    let stream = layout::stream_dir(dir.path(), DEVICE, "main");
    poll_until("two closed files", Duration::from_secs(30), || {
        records
            .actions()
            .iter()
            .filter(|r| r.action == "recording.file.closed")
            .count()
            >= 2
    })
    .await;
    stop.cancel();
    run.await?;
    camera.cancel();

    // Files 0600 in dirs 0700.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&stream)?.permissions().mode() & 0o777,
        0o700
    );
    let files = layout::media_files(&stream)?;
    assert!(files.len() >= 2, "{files:?}");
    for (_, media) in &files {
        assert_eq!(
            std::fs::metadata(media)?.permissions().mode() & 0o777,
            0o600
        );
        let index = Index::read(&layout::index_path(media))?;
        assert!(index.closed.is_some(), "every file closed on stop");
        assert_eq!(index.media_len(), std::fs::metadata(media)?.len());
    }
    // Every closed file's manifest is in the log, with one hash per fragment.
    let closed: Vec<_> = records
        .actions()
        .into_iter()
        .filter(|r| r.action == "recording.file.closed")
        .collect();
    assert_eq!(closed.len(), files.len());
    let first = Index::read(&layout::index_path(&files[0].1))?;
    let logged: Vec<String> =
        serde_json::from_value(closed[0].details["fragments_sha256"].clone())?;
    assert_eq!(
        logged,
        first
            .fragments
            .iter()
            .map(|f| f.sha256.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(closed[0].target, format!("{DEVICE}/main"));

    // One continuous span across the rotations.
    let (spans, gaps) = archive.list(DEVICE, "main", 0, 0).await?;
    assert_eq!(spans.len(), 1, "{spans:?} {gaps:?}");
    assert!(gaps.is_empty(), "{gaps:?}");
    let report = verify(dir.path())?;
    assert!(report.is_clean(), "{:?}", report.findings);
    assert!(report.fragments >= 3);

    // One flipped byte in the second fragment of the first file: found, with that fragment's time.
    let victim = &files[0].1;
    let fragment = first
        .fragments
        .get(1)
        .unwrap_or(&first.fragments[0])
        .clone();
    let mut bytes = std::fs::read(victim)?;
    let at = usize::try_from(fragment.offset + fragment.len / 2)?;
    bytes[at] ^= 0x01;
    std::fs::write(victim, &bytes)?;
    let report = verify(dir.path())?;
    assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
    assert_eq!(&report.findings[0].file, victim);
    assert_eq!(report.findings[0].time_unix_ms, fragment.start_unix_ms);
    bytes[at] ^= 0x01;
    std::fs::write(victim, &bytes)?;
    // A deleted file is found through its index.
    let last = &files[files.len() - 1].1;
    let saved = std::fs::read(last)?;
    std::fs::remove_file(last)?;
    let report = verify(dir.path())?;
    assert!(
        report
            .findings
            .iter()
            .any(|f| &f.file == last && f.problem.contains("missing"))
    );
    std::fs::write(last, saved)?;
    assert!(verify(dir.path())?.is_clean());

    // A crash mid-write: a file with two durable fragments, then half a
    // fragment on disk and half an index line (dated a minute before the
    // recording above, so the stream's last video stays that recording's end).
    let end = spans[0].start_unix_ms - 60_000;
    let header = Header {
        device_id: DEVICE.into(),
        profile: "main".into(),
        codec: "h264".into(),
        width: 1280,
        height: 720,
        init_len: 4,
        init_sha256: vfed_archive::writer::sha256_hex(b"init"),
    };
    let mut torn = RecordingFile::create(&stream, end + 10, header, b"init")?;
    for n in 0..2 {
        torn.append(&Fragment {
            data: vec![n; 1000].into(),
            start_unix_ms: end + 10 + i64::from(n) * 2000,
            duration: 180_000,
            frames: 50,
            sync: true,
        })?;
    }
    let torn_path = torn.path().to_path_buf();
    drop(torn);
    let whole = std::fs::metadata(&torn_path)?.len();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&torn_path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, &[7u8; 500]))?;
    std::fs::OpenOptions::new()
        .append(true)
        .open(layout::index_path(&torn_path))
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"kind\":\"fragment\",\"off"))?;

    let reopened = Archive::open(options(dir.path()), Arc::new(records.clone())).await?;
    assert_eq!(
        std::fs::metadata(&torn_path)?.len(),
        whole,
        "cut back to the last whole fragment"
    );
    let index = Index::read(&layout::index_path(&torn_path))?;
    assert_eq!(index.fragments.len(), 2);
    assert_eq!(index.closed.map(|c| c.reason), Some("node down".to_owned()));
    let recovered: Vec<_> = records
        .actions()
        .into_iter()
        .filter(|r| r.action == "recording.file.recovered")
        .collect();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].details["cut_bytes"], 500);
    assert!(verify(dir.path())?.is_clean());
    // Until video resumes, the stream shows an open gap: node down.
    let (_, gaps) = reopened.list(DEVICE, "main", 0, 0).await?;
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0].cause, "node down");
    assert_eq!(gaps[0].start_unix_ms, spans[0].end_unix_ms);
    Ok(())
}
