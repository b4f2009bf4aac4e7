//! Evidence export end to end (R16, R17, R14.5, R18.6), with real
//! processes: a county records two real GStreamer RTSP cameras (H.264 and
//! H.265) under a real city that countersigns its audit checkpoints; two
//! officers file and co-sign a request for 2 minutes of both, the custodian
//! approves, a signer exports with the built `vfedctl retrieval export`;
//! `vfedctl evidence verify` passes offline on a copy, names the file and
//! time of a flipped byte, names a deleted file; a third officer is
//! refused (R17) and the refusal is in the audit log; the export is in it
//! with the package's SHA-256.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::*;
use vfed_audit::Outcome;
use vfed_proto::archive::v1::ListSpansRequest;
use vfed_proto::archive::v1::archive_client::ArchiveClient;
use vfed_proto::auth::v1::Role;
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_proto::retrieval::v1 as pb;
use vfed_proto::retrieval::v1::retrieval_client::RetrievalClient;
use vfed_tests::{
    ClipSpec, FileCamera, FileCodec, NewUser, NodeOptions, TestNode, TestPki, eventually, make_clip,
};

/// Seconds of each camera the request names.
const EXPORTED: i64 = 120;

/// Creates an account with `role` at `node` and returns its token.
async fn person(node: &TestNode, pki: &TestPki, name: &str, role: Role) -> String {
    let password = format!("{name}-password-123");
    node.create_user(
        pki,
        NewUser {
            name,
            role,
            unit: "Naidong PSB",
            department: "",
            password: &password,
        },
    )
    .await
    .unwrap();
    node.login(pki, name, &password).await.unwrap()
}

/// The built `vfedctl` with `args`, acting as `token` at `node` when given.
async fn vfedctl(pki: &TestPki, node: Option<(&TestNode, &str)>, args: &[&str]) -> Output {
    let mut command = match node {
        Some((node, token)) => {
            let mut c = vfed_tests::binaries::vfedctl_at(pki, node).unwrap();
            c.args(["--token", token]);
            c
        }
        None => tokio::process::Command::new(vfed_tests::binaries::built_binary("vfedctl")),
    };
    command.args(args).output().await.unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Once the newest spans of all `devices` overlap by `seconds`: (latest
/// start, earliest end), Unix ms.
async fn recorded(
    county: &TestNode,
    pki: &TestPki,
    devices: &[String],
    seconds: i64,
) -> (i64, i64) {
    eventually(
        "both cameras recorded",
        Duration::from_secs(240),
        || async {
            let mut starts = Vec::new();
            let mut ends = Vec::new();
            for device in devices {
                let Ok(r) = ArchiveClient::new(county.channel(pki)?)
                    .list_spans(ListSpansRequest {
                        device_id: device.clone(),
                        ..ListSpansRequest::default()
                    })
                    .await
                else {
                    return Ok(None);
                };
                let Some(span) = r.into_inner().spans.last().copied() else {
                    return Ok(None);
                };
                starts.push(span.start_unix_ms);
                ends.push(span.end_unix_ms);
            }
            let (start, end) = (*starts.iter().max().unwrap(), *ends.iter().min().unwrap());
            Ok((end - start >= seconds * 1000).then_some((start, end)))
        },
    )
    .await
    .unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

/// A camera replaying a 150 s 640x360 clip of `codec` (longer than the
/// recording the test waits for, so the loop's seam is not inside it).
async fn file_camera(dir: &Path, codec: FileCodec) -> FileCamera {
    let name = match codec {
        FileCodec::H264 => "h264",
        FileCodec::H265 => "h265",
    };
    let mp4 = dir.join(format!("{name}.mp4"));
    let spec = ClipSpec {
        codec,
        width: 640,
        height: 360,
        fps: 25,
        gop: 25,
        b_frames: 0,
        kbps: 800,
        seconds: 150,
    };
    make_clip(&mp4, &spec).await.unwrap();
    FileCamera::start(&mp4, codec, name).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_officers_export_verifiable_evidence_and_a_third_is_refused() {
    // File cameras replay encoded clips: no live encoder competes with the
    // node for the CPU, so the recording keeps real time on a loaded machine.
    let media = tempfile::tempdir().unwrap();
    let h264_camera = file_camera(media.path(), FileCodec::H264).await;
    let h265_camera = file_camera(media.path(), FileCodec::H265).await;
    let pki = TestPki::new().unwrap();
    let city = TestNode::start(&pki, NodeOptions::new(CITY, "city").children(&[NAIDONG]))
        .await
        .unwrap();
    let county = TestNode::start(
        &pki,
        NodeOptions::new(NAIDONG, "county")
            .under(&city)
            .keepalive(Duration::from_secs(1)),
    )
    .await
    .unwrap();
    let devices = vec![naidong_camera(1), naidong_camera(2)];
    let mut registry = RegistryClient::new(county.channel(&pki).unwrap());
    register_camera(&mut registry, &devices[0], h264_camera.url())
        .await
        .unwrap();
    register_camera(&mut registry, &devices[1], h265_camera.url())
        .await
        .unwrap();
    let zhuoma = person(&county, &pki, "zhuoma", Role::Officer).await;
    let tenzin = person(&county, &pki, "tenzin", Role::Officer).await;
    let dawa = person(&county, &pki, "dawa", Role::Officer).await;
    let custodian = person(&county, &pki, "custodian", Role::Admin).await;
    let client = |token: &str| RetrievalClient::new(county.channel_as(&pki, token).unwrap());

    // 2 minutes of both cameras, inside what both recorded.
    let (start, _) = recorded(&county, &pki, &devices, 124).await;
    let from_unix = start.div_euclid(1000) + 2;
    let filed = client(&zhuoma)
        .file_request(theft_case(devices.clone(), from_unix, from_unix + EXPORTED))
        .await
        .unwrap()
        .into_inner();
    let id = filed.id.clone();
    client(&tenzin)
        .co_sign(pb::CoSignRequest { id: id.clone() })
        .await
        .unwrap();
    client(&custodian)
        .approve(pb::ApproveRequest { id: id.clone() })
        .await
        .unwrap();

    // A third officer is refused (R17), and nothing is written.
    let work = tempfile::tempdir().unwrap();
    let refused_dir = work.path().join("refused");
    let out = vfedctl(
        &pki,
        Some((&county, &dawa)),
        &[
            "retrieval",
            "export",
            &id,
            "-o",
            refused_dir.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("(R17)"), "{}", text(&out));
    assert!(!refused_dir.exists());

    // A signer exports: retried while the files covering the period are
    // still being recorded or not yet under a countersigned checkpoint.
    let package = work.path().join("case-0042");
    let dir = package.to_str().unwrap().to_owned();
    let exported = eventually("the export succeeds", Duration::from_secs(90), || async {
        let out = vfedctl(
            &pki,
            Some((&county, &zhuoma)),
            &["retrieval", "export", &id, "-o", &dir],
        )
        .await;
        if out.status.success() {
            return Ok(Some(out));
        }
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{t}");
        assert!(
            t.contains("still being recorded")
                || t.contains("countersigned")
                || t.contains("not in the audit log yet"),
            "{t}"
        );
        assert!(!package.exists(), "a refused export leaves nothing: {t}");
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok(None)
    })
    .await
    .unwrap();
    let said = text(&exported);
    assert!(said.contains("verifies"), "{said}");

    // 0700 directory, 0600 files; both devices; the original bytes.
    assert_eq!(
        std::fs::metadata(&package).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let manifest_bytes = std::fs::read(package.join("manifest.json")).unwrap();
    let manifest: vfed_evidence::Manifest = serde_json::from_slice(&manifest_bytes).unwrap();
    for file in &manifest.files {
        let mode = std::fs::metadata(package.join(&file.path))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{}", file.path);
    }
    for device in &devices {
        let covered: Vec<_> = manifest
            .files
            .iter()
            .filter(|f| &f.device_id == device)
            .collect();
        assert!(!covered.is_empty(), "{device} is in the package");
        let first = covered.iter().map(|f| f.start_unix_ms()).min().unwrap();
        let last = covered
            .iter()
            .flat_map(|f| f.fragments.iter().map(|x| x.end_unix_ms))
            .max()
            .unwrap();
        assert!(
            first <= from_unix * 1000 && last >= (from_unix + EXPORTED) * 1000,
            "{device}: {first}..{last}"
        );
    }
    assert_eq!(manifest.request.id, id);
    assert_eq!(manifest.request.filed_by.user, "zhuoma");
    assert_eq!(manifest.request.cosigned_by.user, "tenzin");
    assert_eq!(manifest.request.approved_by.user, "custodian");
    assert_eq!(manifest.request.legal_document.sha256, "9f".repeat(32));
    let archive = county.config.archive.dir_for(&county.config.store);
    let sample = &manifest.files[0];
    let recorded_bytes = std::fs::read(archive.join(&sample.source)).unwrap();
    let exported_bytes = std::fs::read(package.join(&sample.path)).unwrap();
    let f = &sample.fragments[0];
    assert_eq!(
        vfed_evidence::sha256_hex(&exported_bytes[f.offset as usize..(f.offset + f.len) as usize]),
        f.sha256
    );
    assert!(recorded_bytes.len() >= exported_bytes.len());
    // Each exported file plays as recorded: ffprobe decodes its frames
    // with the camera's codec.
    for file in &manifest.files {
        let path = package.join(&file.path);
        let (codec, _, _, frames) = common::probe(&path.to_string_lossy())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", file.path));
        let expected = if file.device_id == devices[0] {
            "h264"
        } else {
            "hevc"
        };
        assert_eq!(codec, expected, "{}", file.path);
        assert!(frames >= 25, "{}: {frames} frames decoded", file.path);
    }

    // The export is in the audit log with its hash, purpose and destination.
    let package_sha256 = vfed_evidence::sha256_hex(&manifest_bytes);
    let records = county.audit_records().await.unwrap();
    let logged = records
        .iter()
        .find(|r| r.action == "recording.exported" && r.outcome == Outcome::Allowed)
        .expect("the export is audited");
    assert_eq!(logged.actor, "user/zhuoma");
    assert_eq!(logged.target, id);
    assert_eq!(logged.purpose, "theft at Zedang Square");
    assert_eq!(logged.destination, "Naidong criminal police");
    assert_eq!(logged.details["package_sha256"], package_sha256);
    assert!(said.contains(&package_sha256), "{said}");
    let refusal = records
        .iter()
        .find(|r| r.action == "recording.export" && r.actor == "user/dawa")
        .expect("the third officer's refusal is audited");
    assert!(
        matches!(&refusal.outcome, Outcome::Refused { requirement, .. } if requirement == "R17"),
        "{refusal:?}"
    );

    // Offline, on a copy: it verifies.
    let copy = work.path().join("copy");
    copy_dir(&package, &copy);
    let out = vfedctl(&pki, None, &["evidence", "verify", copy.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&package_sha256));

    // One flipped byte: exit 4 naming the file and the fragment's time.
    let target = manifest.files.last().unwrap();
    let fragment = &target.fragments[target.fragments.len() / 2];
    let path = copy.join(&target.path);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[(fragment.offset + fragment.len / 2) as usize] ^= 0x20;
    std::fs::write(&path, bytes).unwrap();
    let out = vfedctl(&pki, None, &["evidence", "verify", copy.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains(&target.path), "{said}");
    assert!(
        said.contains(&vfed_evidence::verify::rfc3339(fragment.start_unix_ms)),
        "{said}"
    );

    // A deleted file: exit 4 naming it.
    let copy2 = work.path().join("copy2");
    copy_dir(&package, &copy2);
    let gone = &manifest.files[0].path;
    std::fs::remove_file(copy2.join(gone)).unwrap();
    let out = vfedctl(&pki, None, &["evidence", "verify", copy2.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        text(&out).contains(gone.as_str()) && text(&out).contains("missing"),
        "{}",
        text(&out)
    );
    drop((h264_camera, h265_camera));
}
