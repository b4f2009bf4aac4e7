//! GB/T 28181 cascade from a real county node: SIPp (Debian `sip-tester`,
//! the scenario of services/gb28181/tests/sipp/upper_uas.xml) plays the
//! upper platform of a `[[gb28181.upper]]` entry. vfed registers with the
//! digest SIPp verifies; SIPp's catalog query gets exactly the node's
//! shared, accepted devices (R6.1, R11) from the registry; its INVITE of a
//! device that is not shared is refused; its INVITE of the device a real
//! RTSP file camera feeds gets PS over RTP (from the relay) that ffprobe
//! decodes as H.264; a device that stops being shared goes up as DEL
//! (from the registry's store watch); the per-upper metrics say so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use tokio::net::UdpSocket;
use vfed_gb28181::manscdp::{charset::decode, tree};
use vfed_gb28181::rtp;
use vfed_gb28181::sip::{Limits, Message, parse_message};
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_proto::registry::v1::{
    Acceptance, AcceptanceState, RegisterDeviceRequest, UpdateDeviceRequest,
};
use vfed_tests::{NodeOptions, TestNode, TestPki, device_spec, eventually};

const UPPER_ID: &str = "44010000002000000001";
const UPPER_DOMAIN: &str = "4401000000";
const PASSWORD: &str = "upper-secret";
const SSRC: &str = "0100000042";

/// The messages SIPp logged as received (`... message received [N] bytes :`).
fn received_messages(log: &[u8]) -> Vec<Message> {
    let marker = b"message received [";
    let find =
        |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).position(|w| w == needle);
    let mut messages = Vec::new();
    let mut pos = 0;
    while let Some(at) = find(&log[pos..], marker) {
        let start = pos + at + marker.len();
        let close = start + find(&log[start..], b"]").unwrap();
        let length: usize = std::str::from_utf8(&log[start..close])
            .unwrap()
            .parse()
            .unwrap();
        let body = close + find(&log[close..], b"\n\n").unwrap() + 2;
        messages.push(parse_message(&log[body..body + length], &Limits::default(), true).unwrap());
        pos = body + length;
    }
    messages
}

/// The MANSCDP root of a MESSAGE.
fn manscdp(message: &Message) -> Option<tree::Element> {
    if message.method().map(|m| m.as_str()) != Some("MESSAGE") {
        return None;
    }
    let (text, _) = decode(&message.body);
    Some(tree::parse(&text).unwrap())
}

/// A small RTP receiver on UDP: the PS payload and the SSRCs seen; ends
/// 1.5 s after the last packet.
async fn receive() -> (u16, tokio::task::JoinHandle<(Vec<u8>, BTreeSet<u32>)>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (mut ps, mut ssrcs) = (Vec::new(), BTreeSet::new());
        let mut buffer = vec![0u8; 65_536];
        loop {
            let wait = if ps.is_empty() {
                Duration::from_secs(60)
            } else {
                Duration::from_millis(1500)
            };
            match tokio::time::timeout(wait, socket.recv(&mut buffer)).await {
                Ok(Ok(n)) => {
                    let packet = rtp::parse(&buffer[..n]).expect("an RTP packet");
                    ssrcs.insert(packet.ssrc);
                    ps.extend_from_slice(packet.payload);
                }
                _ => return (ps, ssrcs),
            }
        }
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_upper_gets_the_county_s_shared_accepted_devices_and_h264() -> anyhow::Result<()> {
    let media = tempfile::tempdir()?;
    let camera = gop_camera(media.path(), 25).await?;
    let pki = TestPki::new()?;
    let section = vfed_config::Gb28181Config {
        enabled: true,
        listen_udp: "127.0.0.1:0".into(),
        listen_tcp: "127.0.0.1:0".into(),
        ..vfed_config::Gb28181Config::default()
    };
    let mut county =
        TestNode::start(&pki, NodeOptions::new(NAIDONG, "county").gb28181(section)).await?;

    // Devices: shared and accepted (one with the camera), accepted but not
    // shared, shared but not accepted.
    let registry = RegistryClient::new(county.channel(&pki)?);
    let camera_id = naidong_camera(1);
    let register = |id: &str, shared: bool, accepted: bool, url: Option<String>| {
        let mut spec = device_spec(id, shared);
        if !accepted {
            spec.acceptance = Some(Acceptance {
                state: AcceptanceState::NotAccepted.into(),
                accepted_on: String::new(),
            });
        }
        if let Some(url) = url {
            spec.streams = Some(vfed_proto::registry::v1::StreamSources {
                main_url: url,
                sub_url: String::new(),
            });
        }
        let mut registry = registry.clone();
        async move {
            registry
                .register_device(RegisterDeviceRequest { spec: Some(spec) })
                .await
        }
    };
    register(&camera_id, true, true, Some(camera.url())).await?;
    register(&naidong_camera(2), true, true, None).await?;
    register(&naidong_camera(3), false, true, None).await?;
    register(&naidong_camera(4), true, false, None).await?;

    // SIPp listens as the upper; the node restarts with the entry.
    let dir = tempfile::tempdir()?;
    let password_file = dir.path().join("upper.password");
    vfed_private_fs::write_atomic(&password_file, format!("{PASSWORD}\n").as_bytes())?;
    let sip_port = free_port();
    let (rtp_port, received) = receive().await;
    let keys = [
        ("local_id", NAIDONG.to_owned()),
        ("password", PASSWORD.to_owned()),
        ("domain", UPPER_DOMAIN.to_owned()),
        ("server_id", UPPER_ID.to_owned()),
        ("channel", camera_id.clone()),
        ("denied_channel", naidong_camera(3)),
        ("rtp_port", rtp_port.to_string()),
        ("media_proto", "RTP/AVP".to_owned()),
        ("setup_line", "a=recvonly".to_owned()),
        ("ssrc", SSRC.to_owned()),
    ];
    let sipp = start_sipp(dir.path(), sip_port, &keys);
    tokio::time::sleep(Duration::from_millis(500)).await;
    county.config.gb28181.upper = vec![vfed_config::Gb28181UpperConfig {
        server_id: UPPER_ID.into(),
        domain: UPPER_DOMAIN.into(),
        address: Some(([127, 0, 0, 1], sip_port).into()),
        password_file: password_file.clone(),
        catalog_group_size: 2,
        keepalive_interval: Duration::from_millis(500),
        ..vfed_config::Gb28181UpperConfig::default()
    }];
    county.restart().await?;

    // Registered, as the metrics say.
    let label = format!("{{node=\"{NAIDONG}\",upper=\"{UPPER_ID}\"}}");
    eventually(
        "registered at the upper",
        Duration::from_secs(20),
        || async {
            let metrics = http_get(county.http_addr(), "/metrics").await?;
            Ok(metrics
                .contains(&format!("vfed_gb28181_upper_registered{label} 1"))
                .then_some(()))
        },
    )
    .await?;

    let done = dir.path().join("main.done");
    let waited = eventually("SIPp's scenario done", Duration::from_secs(60), || async {
        Ok(done.exists().then_some(()))
    })
    .await;
    // In the 2 s SIPp listens after its BYE: device 2 stops being shared
    // (the upper was shown it: DEL), device 3 (never shown) is renamed.
    let mut registry = RegistryClient::new(county.channel(&pki)?);
    let mut renamed = device_spec(&naidong_camera(3), false);
    renamed.name = "Renamed, still not shared".into();
    for spec in [device_spec(&naidong_camera(2), false), renamed] {
        registry
            .update_device(UpdateDeviceRequest {
                spec: Some(spec),
                expected_revision: 0,
            })
            .await?;
    }
    let mut sipp = sipp;
    let exited = tokio::time::timeout(Duration::from_secs(20), sipp.wait()).await;
    let log = std::fs::read(dir.path().join("messages.log")).unwrap_or_default();
    let errors = std::fs::read_to_string(dir.path().join("errors.log")).unwrap_or_default();
    waited.map_err(|e| anyhow::anyhow!("{e}\nSIPp errors: {errors}"))?;
    exited.expect("sipp stops at the end of its scenario")?;
    let messages = received_messages(&log);

    // Digest REGISTER (SIPp verified it: else no 200 and no scenario).
    let registers: Vec<&Message> = messages
        .iter()
        .filter(|m| m.method().map(|m| m.as_str()) == Some("REGISTER"))
        .collect();
    assert_eq!(registers.len(), 2, "REGISTER, then with the digest");
    let authorization = registers[1].headers.get("authorization").unwrap();
    assert!(
        authorization.contains(&format!("username=\"{NAIDONG}\"")),
        "{authorization}"
    );

    // The catalog: exactly the shared, accepted devices.
    let bodies: Vec<tree::Element> = messages.iter().filter_map(manscdp).collect();
    let mut seen = Vec::new();
    for page in bodies
        .iter()
        .filter(|root| root.name == "Response" && root.field("CmdType") == Some("Catalog"))
    {
        assert_eq!(page.field("SN"), Some("100"));
        assert_eq!(page.field("SumNum"), Some("2"));
        for item in page
            .child("DeviceList")
            .map(|l| l.children.iter().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            seen.push(item.field("DeviceID").unwrap().to_owned());
        }
    }
    seen.sort();
    assert_eq!(seen, vec![camera_id.clone(), naidong_camera(2)]);

    // Catalog changes from the registry's watch: device 2's DEL, nothing
    // of the devices never shown (the camera may go ON while it is watched).
    let notified: Vec<(String, String)> = bodies
        .iter()
        .filter(|root| root.name == "Notify" && root.field("CmdType") == Some("Catalog"))
        .filter_map(|root| root.child("DeviceList"))
        .flat_map(|list| list.children.iter())
        .map(|item| {
            (
                item.field("DeviceID").unwrap().to_owned(),
                item.field("Event").unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        notified.contains(&(naidong_camera(2), "DEL".to_owned())),
        "{notified:?}"
    );
    assert!(
        notified
            .iter()
            .all(|(id, _)| *id == camera_id || *id == naidong_camera(2)),
        "{notified:?}"
    );

    // The camera's PS over RTP, with the upper's SSRC, decoded as H.264.
    let (ps, ssrcs) = received.await?;
    assert_eq!(ssrcs, BTreeSet::from([SSRC.parse::<u32>()?]));
    let ps_path = dir.path().join("upper.ps");
    std::fs::write(&ps_path, &ps)?;
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-f", "mpeg", "-count_frames"])
        .args([
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
        ])
        .args(["-of", "csv=p=0"])
        .arg(&ps_path)
        .output()?;
    let said = String::from_utf8_lossy(&probe.stdout).trim().to_owned();
    eprintln!("upper received {} PS bytes; ffprobe: {said}", ps.len());
    let fields: Vec<&str> = said.split(',').collect();
    assert_eq!(fields[..3], ["h264", "640", "360"], "ffprobe said {said:?}");
    let frames: u32 = fields[3].parse()?;
    assert!(frames >= 25, "ffprobe decoded {frames} frames");

    let metrics = http_get(county.http_addr(), "/metrics").await?;
    for name in [
        "vfed_gb28181_upper_registrations_total",
        "vfed_gb28181_upper_keepalives_answered_total",
    ] {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name}{label}")))
            .unwrap_or_else(|| panic!("{name} not in\n{metrics}"));
        let value: f64 = line.rsplit(' ').next().unwrap().parse()?;
        assert!(value >= 1.0, "{line}");
    }
    Ok(())
}

/// SIPp as the upper platform (the scenario of the gb28181 service's tests).
fn start_sipp(dir: &Path, port: u16, keys: &[(&str, String)]) -> tokio::process::Child {
    let scenario =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../services/gb28181/tests/sipp/upper_uas.xml");
    let mut command = tokio::process::Command::new("sipp");
    command
        .arg("-sf")
        .arg(&scenario)
        .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-t", "u1"])
        .args(["-nostdin", "-trace_err", "-trace_msg"])
        .arg("-error_file")
        .arg(dir.join("errors.log"))
        .arg("-message_file")
        .arg(dir.join("messages.log"));
    for (key, value) in keys {
        command.args(["-key", key, value]);
    }
    command
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("sipp runs (Debian package sip-tester, scripts/install-deps.sh)")
}
