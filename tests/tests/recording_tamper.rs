//! Tamper at start (R18.6, R18.7), with a real node and a real GStreamer
//! file camera: a county under a city records with sealing on; with the
//! county stopped, a root `rm` of a sealed file fails (EPERM); then, seals
//! cleared as root could, one file gets a flipped byte, one is deleted and
//! one truncated. At the next start the county reports exactly those three,
//! each one `recording.tampered` audit record (read with `vfedctl audit
//! tail`) naming the file and the time of its first bad fragment, with the
//! alarm and the metric; untouched files are not flagged, and the city,
//! whose countersigned log of the county was not rewritten, flags nothing.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;

use common::*;
use vfed_archive::seal;
use vfed_proto::archive::v1::StatusRequest;
use vfed_proto::archive::v1::archive_client::ArchiveClient;
use vfed_proto::audit::v1 as audit_pb;
use vfed_proto::audit::v1::audit_client::AuditClient;
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_tests::{NodeOptions, TestNode, TestPki, eventually};

/// Clears every seal under `dir` (so the test's temporary directories can go).
fn unseal_all(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if path.is_dir() {
            unseal_all(&path);
        } else {
            let _ = seal::unseal(&path);
        }
    }
}

/// `recording.tampered` records in `vfedctl audit tail` of `node`: (file, time).
async fn tampered(pki: &TestPki, node: &TestNode) -> Vec<(String, i64)> {
    let out = vfedctl(
        pki,
        node,
        &["audit", "tail", "--from", "0", "-n", "0", "-o", "json"],
    )
    .await
    .unwrap();
    let entries: Vec<serde_json::Value> = match serde_json::from_str(&out) {
        Ok(serde_json::Value::Array(entries)) => entries,
        _ => out
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    };
    // One JSON object per entry: the record's fields, its time and leaf hash.
    entries
        .iter()
        .filter(|r| r["action"] == "recording.tampered")
        .map(|r| {
            (
                r["details"]["file"].as_str().unwrap().to_owned(),
                r["details"]["time_unix_ms"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// The value of the one series of `name` in a `/metrics` text (0 if none).
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_files_changed_deleted_or_truncated_while_stopped_are_found_at_start() {
    let media = tempfile::tempdir().unwrap();
    let camera = common::gop_camera(media.path(), 50).await.unwrap();
    let pki = TestPki::new().unwrap();
    let city = TestNode::start(&pki, NodeOptions::new(CITY, "city").children(&[NAIDONG]))
        .await
        .unwrap();
    let mut county = TestNode::start(
        &pki,
        NodeOptions::new(NAIDONG, "county")
            .under(&city)
            .keepalive(Duration::from_secs(1)),
    )
    .await
    .unwrap();
    // As in production: closed files sealed; files of 4 s, so several close soon.
    county.stop().await;
    county.config.archive.seal = true;
    county.config.archive.file_duration = Duration::from_secs(4);
    county.config.audit.checkpoint_interval = Duration::from_millis(500);
    county.restart().await.unwrap();
    let device = naidong_camera(1);
    register_camera(
        &mut RegistryClient::new(county.channel(&pki).unwrap()),
        &device,
        camera.url(),
    )
    .await
    .unwrap();
    let dir = stream_dir(&county, &device);
    eventually("six closed files", Duration::from_secs(90), || async {
        Ok((closed_files(&dir).len() >= 6).then_some(()))
    })
    .await
    .unwrap();
    county.stop().await;
    drop(camera);

    let files = closed_files(&dir);
    let (flipped, deleted, truncated) = (&files[1], &files[2], &files[3]);
    for (media, _) in [flipped, deleted, truncated] {
        assert!(seal::is_sealed(media).unwrap(), "{}", media.display());
    }
    // Root cannot delete a sealed file.
    let rm = std::fs::remove_file(&deleted.0).unwrap_err();
    assert_eq!(rm.raw_os_error(), Some(1), "EPERM: {rm}");

    // One byte flipped in the second fragment.
    let fragment = &flipped.1.fragments[1];
    seal::unseal(&flipped.0).unwrap();
    let mut bytes = std::fs::read(&flipped.0).unwrap();
    let at = usize::try_from(fragment.offset + fragment.len / 2).unwrap();
    bytes[at] ^= 0x01;
    std::fs::write(&flipped.0, bytes).unwrap();
    // A media file deleted (its index left).
    seal::unseal(&deleted.0).unwrap();
    std::fs::remove_file(&deleted.0).unwrap();
    // One truncated inside its second fragment.
    let fragment = &truncated.1.fragments[1];
    seal::unseal(&truncated.0).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&truncated.0)
        .unwrap()
        .set_len(fragment.offset + fragment.len / 2)
        .unwrap();

    county.restart().await.unwrap();
    let relative = |media: &Path| {
        format!(
            "{device}/main/{}",
            media.file_name().unwrap().to_str().unwrap()
        )
    };
    let expected: BTreeSet<(String, i64)> = [
        (relative(&flipped.0), flipped.1.fragments[1].start_unix_ms),
        (relative(&deleted.0), deleted.1.fragments[0].start_unix_ms),
        (
            relative(&truncated.0),
            truncated.1.fragments[1].start_unix_ms,
        ),
    ]
    .into();
    // Every closed file re-hashed (the scrub's bytes cover what is left).
    let left: u64 = files
        .iter()
        .filter_map(|(m, _)| std::fs::metadata(m).ok())
        .map(|m| m.len())
        .sum();
    eventually(
        "the scrub re-hashed every file",
        Duration::from_secs(60),
        || async {
            let metrics = http_get(county.http_addr(), "/metrics").await?;
            Ok((metric(&metrics, "vfed_archive_scrubbed_bytes_total") >= left).then_some(()))
        },
    )
    .await
    .unwrap();
    let found = eventually("three findings", Duration::from_secs(30), || async {
        let found = tampered(&pki, &county).await;
        Ok((found.len() >= 3).then_some(found))
    })
    .await
    .unwrap();
    assert_eq!(found.len(), 3, "one record per file: {found:?}");
    assert_eq!(
        found.into_iter().collect::<BTreeSet<_>>(),
        expected,
        "exactly the three files, at their first bad fragment"
    );

    let status = ArchiveClient::new(county.channel(&pki).unwrap())
        .status(StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        status
            .alarms
            .iter()
            .any(|a| a.contains("3 recording file(s)")),
        "{:?}",
        status.alarms
    );
    let metrics = http_get(county.http_addr(), "/metrics").await.unwrap();
    assert_eq!(metric(&metrics, "vfed_archive_tampered_files_total"), 3);

    // The city keeps countersigning the county's (not rewritten) log and flags nothing.
    let size = county.running.as_ref().unwrap().audit().size();
    let child = eventually(
        "the city countersigns the county",
        Duration::from_secs(30),
        || async {
            let children = AuditClient::new(city.channel(&pki)?)
                .list_child_checkpoints(audit_pb::ListChildCheckpointsRequest {})
                .await?
                .into_inner()
                .children;
            Ok(children
                .into_iter()
                .find(|c| c.child_id == NAIDONG && c.size >= size))
        },
    )
    .await
    .unwrap();
    assert!(child.flag.is_empty(), "{child:?}");

    // A third start reads the log from its cursor (the deleted file's
    // manifest is before it): the same three are found again, nothing else.
    county.stop().await;
    county.restart().await.unwrap();
    let again = eventually("three more findings", Duration::from_secs(30), || async {
        let found = tampered(&pki, &county).await;
        Ok((found.len() >= 6).then_some(found))
    })
    .await
    .unwrap();
    assert_eq!(
        again[3..].iter().cloned().collect::<BTreeSet<_>>(),
        expected
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(tampered(&pki, &county).await.len(), 6);

    // The log's first entries no longer those the cursor saw (as after a
    // rewrite): flagged, naming the audit log, and the whole log read again.
    county.stop().await;
    let archive_dir = county.config.archive.dir_for(&county.config.store);
    let cursor_path = archive_dir.join(vfed_archive::logged::CURSOR_FILE);
    let mut cursor = vfed_archive::logged::Cursor::read(&archive_dir)
        .unwrap()
        .expect("a cursor after a start");
    assert_eq!(
        std::fs::metadata(&cursor_path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    cursor.root = "00".repeat(32);
    cursor.write(&archive_dir).unwrap();
    county.restart().await.unwrap();
    let rewritten = eventually("the rewrite flagged", Duration::from_secs(30), || async {
        let found = tampered(&pki, &county).await;
        Ok((found.len() >= 10).then_some(found))
    })
    .await
    .unwrap();
    let log = &rewritten[6];
    assert!(
        log.0.ends_with(".log") || log.0.contains("audit"),
        "{log:?}"
    );
    assert_eq!(log.1, cursor.checked_unix_ms);
    assert_eq!(
        rewritten[7..].iter().cloned().collect::<BTreeSet<_>>(),
        expected
    );

    county.stop().await;
    unseal_all(&archive_dir);
}
