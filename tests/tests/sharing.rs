//! Sharing with departments under grants (R13), end to end with real peers:
//! a county relays two cameras (the demo clip looped) to the city over
//! QUIC; at the city an admin grants one of them to the traffic department;
//! a traffic viewer watches it over HLS with their token (ffprobe and ffmpeg
//! as the players) and over QUIC with their certificate; the other camera is
//! refused; when the grant expires mid-view both views end within 5 s; and
//! each of these is in the city's audit log.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::future::BoxFuture;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use vfed_audit::{AuditRecord, Outcome};
use vfed_media::{AnnexBFile, Codec};
use vfed_pki::{Identity, ServerExpectation};
use vfed_proto::auth::v1::Role;
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_proto::sharing::v1 as pb;
use vfed_proto::sharing::v1::sharing_client::SharingClient;
use vfed_relay::{Relay, RelayError, RelayOptions, Resolver, Route, StreamKey};
use vfed_tests::{NewUser, NodeOptions, TestNode, TestPki, eventually, register_request};

const CLIP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../crates/media/assets/demo-720p25.h264"
);
const VIEWER: &str = "dawa";
const PASSWORD: &str = "dawa-password-123";
const PURPOSE: &str = "traffic flow at Zedang Square during the festival";

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// Loops the demo clip as `device`'s main stream at `node` until `stop`.
fn camera(node: &TestNode, device: &str, stop: &CancellationToken) -> anyhow::Result<()> {
    let (metadata, units) = AnnexBFile::read(CLIP)?;
    anyhow::ensure!(metadata.codec == Codec::H264, "the demo clip is H.264");
    let track = node.relay()?.publish(&StreamKey::new(device, "main")?);
    vfed_relay::source::spawn_looping(track, metadata, units, stop.clone());
    Ok(())
}

/// Frames ffprobe decodes from the HLS stream at `url`, sending `token`.
async fn probe_frames(url: &str, token: &str) -> anyhow::Result<u32> {
    let out = tokio::process::Command::new("timeout")
        .args(["60", "ffprobe", "-v", "error", "-headers"])
        .arg(format!("Authorization: Bearer {token}\r\n"))
        .args(["-count_frames", "-read_intervals", "%+#100"])
        .args([
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
        ])
        .args(["-of", "csv=p=0", url])
        .output()
        .await
        .map_err(|e| {
            anyhow::anyhow!("ffprobe not runnable ({e}): install ffmpeg (make test does)")
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .parse()
        .map_err(|_| {
            anyhow::anyhow!(
                "ffprobe said {text:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

/// A player that keeps watching `url` with `token` until refused.
fn player(url: &str, token: &str) -> anyhow::Result<tokio::process::Child> {
    Ok(tokio::process::Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "warning", "-headers"])
        .arg(format!("Authorization: Bearer {token}\r\n"))
        .args(["-i", url, "-c", "copy", "-f", "null", "-"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?)
}

/// Status code and body of `GET path` at `addr`.
async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    let response = http_get(addr, path).await?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no status in {response:?}"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    Ok((status, body))
}

/// Every stream comes from the one node dialed.
struct FromCity;

impl Resolver for FromCity {
    fn resolve<'a>(&'a self, _device_id: &'a str) -> BoxFuture<'a, Route> {
        Box::pin(async { Route::Peer(CITY.to_owned()) })
    }
}

/// A person subscribing over QUIC with their `user/<name>` certificate.
async fn quic_viewer(pki: &TestPki, name: &str, city: &TestNode) -> anyhow::Result<Relay> {
    let material = pki.material(&Identity::user(name)?)?;
    let endpoint = vfed_relay::endpoint::client("127.0.0.1:0".parse()?)?;
    let config = vfed_relay::endpoint::client_config(
        &material,
        ServerExpectation::Exactly(Identity::node(CITY)?),
    )?;
    let relay = Relay::new(
        name,
        "vfed",
        None,
        Vec::<String>::new(),
        Arc::new(FromCity),
        RelayOptions::default(),
    );
    relay
        .connect(&endpoint, config, city.relay_addr(), CITY, false)
        .await?;
    Ok(relay)
}

fn refused_requirement(record: &AuditRecord) -> Option<(&str, &str)> {
    match &record.outcome {
        Outcome::Refused {
            reason,
            requirement,
        } => Some((reason.as_str(), requirement.as_str())),
        Outcome::Allowed => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_department_viewer_watches_granted_cameras_until_the_grant_ends() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let city = TestNode::start(&pki, NodeOptions::new(CITY, "city").children(&[NAIDONG])).await?;
    let county = TestNode::start(&pki, NodeOptions::new(NAIDONG, "county").under(&city)).await?;
    let (granted, ungranted) = (naidong_camera(1), naidong_camera(2));
    let mut registry = RegistryClient::new(county.channel(&pki)?);
    for id in [&granted, &ungranted] {
        registry.register_device(register_request(id, true)).await?;
    }
    let stop = CancellationToken::new();
    camera(&county, &granted, &stop)?;
    camera(&county, &ungranted, &stop)?;
    let city_channel = city.channel(&pki)?;
    for id in [&granted, &ungranted] {
        eventually(
            "camera in the city catalog",
            Duration::from_secs(15),
            || get_device(&city_channel, id),
        )
        .await?;
    }
    let city_relay = city.relay()?;
    eventually(
        "relay link from the county",
        Duration::from_secs(15),
        || async { Ok(city_relay.link(NAIDONG).map(|_| ())) },
    )
    .await?;

    // The city admin (the harness's tool certificate) sets up the sharing.
    let mut sharing = SharingClient::new(city_channel.clone());
    sharing
        .create_department(pb::CreateDepartmentRequest {
            department: Some(pb::Department {
                name: "traffic".into(),
                display_name: "Shannan Traffic Police Detachment".into(),
                ..Default::default()
            }),
        })
        .await?;
    let spec = pb::Grant {
        department: "traffic".into(),
        device_ids: vec![granted.clone()],
        purpose: PURPOSE.into(),
        live: true,
        valid_to_unix: now_unix() + 3600,
        ..Default::default()
    };

    // Bad grants are refused naming field, rule and R13, and write nothing
    // (the store's revision itself moves with the audit pump and the catalog).
    let store = city.store()?;
    let before = store.snapshot(b"sharing/").await?.kvs;
    let mut bad_cases = Vec::new();
    let mut bad = spec.clone();
    bad.valid_from_unix = now_unix() + 7200;
    bad_cases.push(("grant.valid_to_unix", bad));
    let mut bad = spec.clone();
    bad.department = "urban".into();
    bad_cases.push(("grant.department", bad));
    let mut bad = spec.clone();
    bad.device_ids = vec!["54050200001320000001x".into()];
    bad_cases.push(("grant.device_ids[0]", bad));
    let mut bad = spec.clone();
    bad.live = false;
    bad_cases.push(("grant.live", bad));
    for (field, grant) in bad_cases {
        let status = sharing
            .create_grant(pb::CreateGrantRequest { grant: Some(grant) })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{}", status.message());
        assert!(
            status.message().starts_with(&format!("{field}: ")) && status.message().contains("R13"),
            "{}",
            status.message()
        );
    }
    assert_eq!(
        store.snapshot(b"sharing/").await?.kvs,
        before,
        "a refused grant wrote something"
    );
    let grant = sharing
        .create_grant(pb::CreateGrantRequest {
            grant: Some(spec.clone()),
        })
        .await?
        .into_inner();

    city.create_user(
        &pki,
        NewUser {
            name: VIEWER,
            role: Role::DepartmentViewer,
            unit: "Shannan Traffic Police Detachment",
            department: "traffic",
            password: PASSWORD,
        },
    )
    .await?;
    let token = city.login(&pki, VIEWER, PASSWORD).await?;
    let http = city.http_addr();
    let url = |device: &str| format!("http://{http}/live/{device}/main/index.m3u8");

    // The granted camera plays; the other is refused (R13).
    let frames = probe_frames(&url(&granted), &token).await?;
    assert!(frames >= 50, "only {frames} frames decoded");
    let (status, body) = get(
        http,
        &format!("/live/{ungranted}/main/index.m3u8?token={token}"),
    )
    .await?;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains(&ungranted) && body.contains("R13"), "{body}");

    // Watching: a player over HLS, a subscriber over QUIC.
    let hls_viewer = player(&url(&granted), &token)?;
    let quic = quic_viewer(&pki, VIEWER, &city).await?;
    let key = format!("{granted}/main");
    let mut reader = eventually(
        "QUIC subscription accepted",
        Duration::from_secs(15),
        || async {
            let mut reader = quic.subscribe(&key).await?;
            Ok(
                tokio::time::timeout(Duration::from_secs(5), reader.next_gop())
                    .await
                    .ok()
                    .flatten()
                    .map(|_| reader),
            )
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut hls_viewer = hls_viewer;
    assert!(
        hls_viewer.try_wait()?.is_none(),
        "the HLS player stopped early"
    );

    // The grant is shortened to end in a few seconds: it expires mid-view.
    let ends = now_unix() + 3;
    sharing
        .set_grant_validity(pb::SetGrantValidityRequest {
            id: grant.id.clone(),
            valid_from_unix: 0,
            valid_to_unix: ends,
        })
        .await?;
    let expiry = Instant::now() + Duration::from_millis(u64::try_from(ends * 1000 - now_ms())?);
    let deadline = expiry + Duration::from_secs(5);
    let quic_end = tokio::time::timeout_at(deadline, async {
        while reader.next_gop().await.is_some() {}
        Instant::now()
    })
    .await
    .map_err(|_| anyhow::anyhow!("the QUIC view outlived its grant by 5 s"))?;
    assert!(
        quic_end + Duration::from_millis(100) >= expiry,
        "ended before the grant did"
    );
    match reader.track().end_reason() {
        Some(RelayError::Unauthorized(reason)) => {
            assert!(
                reason.contains("expired") && reason.contains("R13"),
                "{reason}"
            );
        }
        other => panic!("the QUIC view ended with {other:?}"),
    }
    let played = tokio::time::timeout_at(deadline, hls_viewer.wait_with_output())
        .await
        .map_err(|_| anyhow::anyhow!("the HLS player still plays 5 s after the grant expired"))??;
    let said = String::from_utf8_lossy(&played.stderr);
    assert!(
        said.contains("403"),
        "the HLS player stopped for another reason: {said}"
    );
    eprintln!(
        "after the grant expired: QUIC view ended in {:?}, HLS player in {:?}",
        quic_end.saturating_duration_since(expiry),
        Instant::now().saturating_duration_since(expiry)
    );
    let (status, body) = get(
        http,
        &format!("/live/{granted}/main/index.m3u8?token={token}"),
    )
    .await?;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("expired") && body.contains("R13"), "{body}");
    let (status, _) = get(
        http,
        &format!("/live/{granted}/main/init.mp4?token={token}"),
    )
    .await?;
    assert_eq!(
        status, 403,
        "the packager's window still serves a refused viewer"
    );

    // A new grant, revoked: refused at once, with who and why.
    let renewed = sharing
        .create_grant(pb::CreateGrantRequest {
            grant: Some(pb::Grant {
                valid_to_unix: now_unix() + 3600,
                ..spec.clone()
            }),
        })
        .await?
        .into_inner();
    let playlist = format!("/live/{granted}/main/index.m3u8?token={token}");
    eventually(
        "the renewed grant lets the viewer in",
        Duration::from_secs(10),
        || async { Ok((get(http, &playlist).await?.0 == 200).then_some(())) },
    )
    .await?;
    // Players and proxies keep nothing: every request is authorized anew.
    let response = http_get(http, &playlist).await?.to_ascii_lowercase();
    assert!(response.contains("cache-control: no-store"), "{response}");
    sharing
        .revoke_grant(pb::RevokeGrantRequest {
            id: renewed.id.clone(),
            reason: "festival over".into(),
        })
        .await?;
    let body = eventually(
        "the revoked grant refuses the viewer",
        Duration::from_secs(5),
        || async {
            let (status, body) = get(http, &playlist).await?;
            Ok((status == 403).then_some(body))
        },
    )
    .await?;
    assert!(
        body.contains("festival over") && body.contains("R13"),
        "{body}"
    );

    // Each of these is in the city's audit log.
    let stream = |device: &str| format!("{device}/main");
    let actor = format!("user/{VIEWER}");
    let audit = eventually(
        "the views and refusals in the audit log",
        Duration::from_secs(10),
        || async {
            let records = city.audit_records().await?;
            let has = |f: &dyn Fn(&AuditRecord) -> bool| records.iter().any(f);
            let complete = has(&|r| r.action == "grant.create" && r.outcome == Outcome::Allowed)
                && has(&|r| {
                    r.action == "grant.create"
                        && refused_requirement(r)
                            .is_some_and(|(reason, _)| reason.contains("grant.valid_to_unix"))
                })
                && has(&|r| r.action == "grant.set_validity" && r.outcome == Outcome::Allowed)
                && has(&|r| r.action == "grant.revoke" && r.outcome == Outcome::Allowed)
                && has(&|r| {
                    r.actor == actor
                        && r.action == "live.view.start"
                        && r.target == stream(&granted)
                        && r.purpose == PURPOSE
                })
                && has(&|r| {
                    r.actor == actor
                        && r.target == stream(&ungranted)
                        && refused_requirement(r).is_some_and(|(_, req)| req == "R13")
                })
                && has(&|r| {
                    r.actor == actor
                        && r.action == "live.view.stop"
                        && r.target == stream(&granted)
                        && r.details.to_string().contains("expired")
                })
                // The QUIC subscriber's view too.
                && has(&|r| {
                    r.actor == actor
                        && r.action == "live.view.start"
                        && r.destination == "quic"
                        && r.target == stream(&granted)
                })
                && has(&|r| {
                    r.actor == actor
                        && r.action == "live.view.stop"
                        && r.destination == "quic"
                        && r.details.to_string().contains("expired")
                });
            Ok(complete.then_some(records))
        },
    )
    .await;
    if let Ok(records) = &audit {
        // One view, not a start/stop pair per re-check: the grant covers the
        // device, and the sweep must ask about the device, not the stream.
        let starts = records
            .iter()
            .filter(|r| {
                r.actor == actor
                    && r.action == "live.view.start"
                    && r.destination == "hls"
                    && r.target == stream(&granted)
            })
            .count();
        assert!(starts <= 2, "the view flapped: {starts} starts");
    }
    if let Err(e) = audit {
        for r in city.audit_records().await? {
            eprintln!(
                "{} {} {} {:?} {}",
                r.actor, r.action, r.target, r.outcome, r.details
            );
        }
        return Err(e);
    }
    stop.cancel();
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}
