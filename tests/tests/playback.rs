//! Playback of a recording (issue 10, items 7 and 8), with real peers: a
//! GStreamer RTSP camera recorded at a county, a city above it that fetches
//! the bytes from the county over the relay link on demand. From the city,
//! ffprobe decodes the HLS VOD and the single MP4 of a range with the right codec,
//! size and frame count (the MP4 from the frame on screen at `start`, the
//! HLS VOD from the keyframe before it); a `Range` request returns exactly
//! those bytes; a department viewer with a live-only grant is refused (403,
//! R13), with a recorded grant plays exactly the granted range and is
//! refused outside it, each in the audit log, and the origin's audit log
//! names the playbacks the city asked for; `vfedctl recordings play`
//! prints URLs that ffprobe plays; `Archive.ListSpans` at the city lists
//! the county's spans.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use vfed_audit::Outcome;
use vfed_gateway::testing::{CameraOptions, RtspCamera};
use vfed_proto::archive::v1::archive_client::ArchiveClient;
use vfed_proto::archive::v1::{ListSpansRequest, Span};
use vfed_proto::auth::v1::Role;
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_proto::sharing::v1 as pb;
use vfed_proto::sharing::v1::sharing_client::SharingClient;
use vfed_tests::{NewUser, NodeOptions, TestNode, TestPki, eventually};

const VIEWER: &str = "dawa";
const PASSWORD: &str = "dawa-password-123";

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// Status, headers (lowercase names) and body of an HTTP/1.0 GET.
async fn fetch(
    addr: SocketAddr,
    path: &str,
    range: Option<&str>,
) -> anyhow::Result<(u16, Vec<(String, String)>, Vec<u8>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let range = range.map_or_else(String::new, |r| format!("Range: {r}\r\n"));
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n{range}\r\n").as_bytes())
        .await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no status in {head:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok((status, headers, raw[split + 4..].to_vec()))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn one_span(node: &TestNode, pki: &TestPki, device: &str, secs: i64) -> anyhow::Result<Span> {
    let listed = eventually("a long enough span", Duration::from_secs(60), || async {
        let r = ArchiveClient::new(node.channel(pki)?)
            .list_spans(ListSpansRequest {
                device_id: device.to_owned(),
                ..ListSpansRequest::default()
            })
            .await
            .ok()
            .map(tonic::Response::into_inner);
        Ok(r.filter(|r| {
            r.spans.len() == 1 && r.spans[0].end_unix_ms - r.spans[0].start_unix_ms >= secs * 1000
        }))
    })
    .await?;
    Ok(listed.spans[0])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_play_back_as_hls_and_mp4_under_grants() -> anyhow::Result<()> {
    let camera = RtspCamera::start(CameraOptions::default()).await?;
    let pki = TestPki::new()?;
    let city = TestNode::start(&pki, NodeOptions::new(CITY, "city").children(&[NAIDONG])).await?;
    let county = TestNode::start(&pki, NodeOptions::new(NAIDONG, "county").under(&city)).await?;
    let device = naidong_camera(1);
    let mut registry = RegistryClient::new(county.channel(&pki)?);
    register_camera(&mut registry, &device, camera.url("/h264")).await?;
    let city_channel = city.channel(&pki)?;
    eventually(
        "camera in the city catalog",
        Duration::from_secs(15),
        || get_device(&city_channel, &device),
    )
    .await?;
    let city_relay = city.relay()?;
    eventually(
        "relay link from the county",
        Duration::from_secs(15),
        || async { Ok(city_relay.link(NAIDONG).map(|_| ())) },
    )
    .await?;
    let span = one_span(&county, &pki, &device, 16).await?;
    // The city lists the county's recording as the county does.
    let at_city = one_span(&city, &pki, &device, 16).await?;
    assert_eq!(at_city.start_unix_ms, span.start_unix_ms);
    // Everything below is asked of the city: it fetches from the county on demand.
    let node = &city;
    let http = node.http_addr();
    let token = node.admin_token(&pki).await?;

    // 6 s from the middle of a GOP.
    let (from, to) = (span.start_unix_ms + 2_520, span.start_unix_ms + 8_520);
    let (shown, fragments) = common::expected_frames(&county, &device, from, to);
    assert!(shown >= 140, "6 s at 25 fps, got {shown}");
    assert!(
        fragments > shown + 1,
        "the range starts inside a GOP ({fragments} frames in its fragments, {shown} shown)"
    );
    let query = format!("start={}&end={}&token={token}", rfc3339(from), rfc3339(to));
    let mp4 = format!("/playback/{device}.mp4?{query}");
    let (codec, width, height, frames) = common::probe(&format!("http://{http}{mp4}")).await?;
    assert_eq!((codec.as_str(), width, height), ("h264", 1280, 720));
    assert!(
        frames.abs_diff(shown) <= 1,
        "MP4: decoded {frames}, recorded {shown}"
    );
    let hls = format!("/playback/{device}/index.m3u8?{query}");
    let (codec, width, height, frames) = common::probe(&format!("http://{http}{hls}")).await?;
    assert_eq!((codec.as_str(), width, height), ("h264", 1280, 720));
    assert!(
        frames.abs_diff(fragments) <= 1,
        "HLS: decoded {frames}, recorded {fragments}"
    );

    // Range: exactly the bytes asked for, with their place in the whole;
    // the city passes on the county's bytes unchanged.
    let (status, headers, whole) = fetch(http, &mp4, None).await?;
    assert_eq!(status, 200);
    let at_origin = format!(
        "/playback/{device}.mp4?start={}&end={}&token={}",
        rfc3339(from),
        rfc3339(to),
        county.admin_token(&pki).await?
    );
    let (status, _, origin) = fetch(county.http_addr(), &at_origin, None).await?;
    assert_eq!(status, 200);
    assert!(origin == whole, "the city serves the county's bytes");
    assert_eq!(
        header(&headers, "content-length"),
        Some(whole.len().to_string().as_str())
    );
    assert_eq!(header(&headers, "accept-ranges"), Some("bytes"));
    let (status, headers, part) = fetch(http, &mp4, Some("bytes=1000-50999")).await?;
    assert_eq!(status, 206);
    assert_eq!(part, whole[1000..51_000]);
    assert_eq!(header(&headers, "content-length"), Some("50000"));
    let expected_range = format!("bytes 1000-50999/{}", whole.len());
    assert_eq!(
        header(&headers, "content-range"),
        Some(expected_range.as_str())
    );
    let (status, _, tail) = fetch(http, &mp4, Some("bytes=-100")).await?;
    assert_eq!(
        (status, tail.as_slice()),
        (206, &whole[whole.len() - 100..])
    );
    let (status, headers, _) = fetch(http, &mp4, Some(&format!("bytes={}-", whole.len()))).await?;
    assert_eq!(status, 416);
    let unsatisfiable = format!("bytes */{}", whole.len());
    assert_eq!(
        header(&headers, "content-range"),
        Some(unsatisfiable.as_str())
    );

    // Bounds name the field.
    let long = format!(
        "/playback/{device}.mp4?start={}&end={}&token={token}",
        rfc3339(from),
        rfc3339(from + 25 * 3_600_000)
    );
    let (status, _, body) = fetch(http, &long, None).await?;
    assert_eq!(status, 400);
    assert!(
        String::from_utf8_lossy(&body).starts_with("end: at most 24 h"),
        "{body:?}"
    );

    // Department viewers: live-only grant refused, recorded grant for its range only.
    let mut sharing = SharingClient::new(node.channel(&pki)?);
    sharing
        .create_department(pb::CreateDepartmentRequest {
            department: Some(pb::Department {
                name: "traffic".into(),
                display_name: "Shannan Traffic Police Detachment".into(),
                ..Default::default()
            }),
        })
        .await?;
    let grant_from_unix = (span.start_unix_ms + 4_999) / 1000;
    let live_only = pb::Grant {
        department: "traffic".into(),
        device_ids: vec![device.clone()],
        purpose: "junction monitoring".into(),
        live: true,
        valid_from_unix: grant_from_unix,
        valid_to_unix: now_unix() + 3600,
        ..Default::default()
    };
    sharing
        .create_grant(pb::CreateGrantRequest {
            grant: Some(live_only.clone()),
        })
        .await?;
    node.create_user(
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
    let viewer = node.login(&pki, VIEWER, PASSWORD).await?;
    let (g_from, g_to) = (grant_from_unix * 1000, grant_from_unix * 1000 + 5_000);
    let granted_mp4 = format!(
        "/playback/{device}.mp4?start={}&end={}&token={viewer}",
        rfc3339(g_from),
        rfc3339(g_to)
    );
    let refused = eventually("grants loaded", Duration::from_secs(10), || async {
        let (status, _, body) = fetch(http, &granted_mp4, None).await?;
        Ok((status == 403).then(|| String::from_utf8_lossy(&body).into_owned()))
    })
    .await?;
    assert!(
        refused.contains("not for recorded video") && refused.contains("R13"),
        "{refused}"
    );
    let recorded = pb::Grant {
        live: false,
        recorded: true,
        purpose: "incident review".into(),
        ..live_only
    };
    let grant = sharing
        .create_grant(pb::CreateGrantRequest {
            grant: Some(recorded),
        })
        .await?
        .into_inner();
    let (codec, _, _, frames) = eventually(
        "recorded grant in force",
        Duration::from_secs(10),
        || async {
            Ok(common::probe(&format!("http://{http}{granted_mp4}"))
                .await
                .ok())
        },
    )
    .await?;
    let (shown, _) = common::expected_frames(&county, &device, g_from, g_to);
    assert_eq!(codec, "h264");
    assert!(
        frames.abs_diff(shown) <= 1,
        "granted range: decoded {frames}, recorded {shown}"
    );
    let before = format!(
        "/playback/{device}/index.m3u8?start={}&end={}&token={viewer}",
        rfc3339(g_from - 2_000),
        rfc3339(g_to)
    );
    let (status, _, body) = fetch(http, &before, None).await?;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("not the requested") && body.contains("R13"),
        "{body}"
    );

    let records = node.audit_records().await?;
    let viewer_actor = format!("user/{VIEWER}");
    let played = records
        .iter()
        .find(|r| {
            r.action == "recording.view" && r.actor == viewer_actor && r.outcome == Outcome::Allowed
        })
        .expect("the granted playback is audited");
    assert_eq!(played.details["start_unix_ms"], g_from);
    assert_eq!(played.details["end_unix_ms"], g_to);
    assert_eq!(played.details["grant_id"], grant.id.as_str());
    assert_eq!(played.purpose, "incident review");
    let refusals = records
        .iter()
        .filter(|r| {
            r.action == "recording.view" && r.actor == viewer_actor && r.outcome != Outcome::Allowed
        })
        .count();
    assert!(refusals >= 2, "both refusals are audited ({refusals})");

    // The origin audits the playback too (R14.5): the city asked it, for
    // the viewer; the viewer's token never reached the county.
    let at_origin = county.audit_records().await?;
    let relayed = at_origin
        .iter()
        .find(|r| {
            r.action == "recording.view"
                && r.details["viewer"] == viewer_actor.as_str()
                && r.details["start_unix_ms"] == g_from
        })
        .expect("the origin audits the granted playback");
    assert_eq!(relayed.actor, format!("node/{CITY}"));
    assert_eq!(relayed.target, format!("{device}/main"));
    assert_eq!(relayed.details["viewer_node"], CITY);
    assert_eq!(relayed.details["end_unix_ms"], g_to);
    assert_eq!(relayed.destination, "mp4");
    assert_eq!(relayed.outcome, Outcome::Allowed);
    let origin_views = at_origin
        .iter()
        .filter(|r| r.action == "recording.view" && r.details["viewer"] == viewer_actor.as_str())
        .count();
    assert_eq!(origin_views, 1, "refused playbacks never reach the origin");
    let logged = serde_json::to_string(&at_origin)?;
    assert!(
        !logged.contains(&viewer),
        "the viewer's token stays at the city"
    );

    // `vfedctl recordings play` prints URLs a player plays.
    let http_base = format!("http://{http}");
    let printed = common::vfedctl_json(
        &pki,
        node,
        &[
            "recordings",
            "play",
            &device,
            "--from",
            &rfc3339(from),
            "--to",
            &rfc3339(to),
            "--http",
            &http_base,
        ],
    )
    .await?;
    for form in ["mp4", "hls"] {
        let url = printed[form].as_str().unwrap();
        assert!(url.contains("token="), "{url}");
        let (codec, width, height, frames) = common::probe(url).await?;
        assert_eq!(
            (codec.as_str(), width, height),
            ("h264", 1280, 720),
            "{form}"
        );
        assert!(frames >= 140, "{form}: {frames} frames");
    }
    drop(camera);
    Ok(())
}
