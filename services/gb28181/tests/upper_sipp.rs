//! vfed as a GB/T 28181 lower platform, with SIPp (Debian `sip-tester`) as
//! the upper platform (tests/sipp/upper_uas.xml): vfed registers with a
//! digest SIPp verifies, keepalives arrive, SIPp's catalog query gets
//! exactly the shared, accepted devices in groups, a device that is not
//! shared is refused, SIPp's INVITE gets PS over RTP (from a small RTP
//! receiver here) that ffprobe decodes as the encoder's codec, catalog
//! changes go up, and when SIPp is gone vfed judges the upper offline and
//! registers again once a new SIPp listens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use support::free_port;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use vfed_gb28181::manscdp::charset::decode;
use vfed_gb28181::manscdp::tree;
use vfed_gb28181::sip::{Limits, Message, parse_message};
use vfed_gb28181::upper::{
    BodyCharset, CatalogChange, ChangeEvent, LiveError, LiveItem, LiveSource, SharedCatalog,
    SharedDevice, UpperHandle, UpperOptions, UpperState, UpperStatus, upper,
};
use vfed_gb28181::{Transport, rtp};
use vfed_media::AccessUnitAssembler;
use vfed_media::nal::split_annexb;
use vfed_media::{AccessUnit, Codec, StreamMetadata};

const UPPER_ID: &str = "44010000002000000001";
const UPPER_DOMAIN: &str = "4401000000";
const LOCAL_ID: &str = "34020000002000000001";
const PASSWORD: &str = "upper-secret";
const SSRC: &str = "0100000042";

/// Shared and accepted (three), and three that must not go up.
fn devices() -> Vec<SharedDevice> {
    let device = |n: u32, name: &str, shared: bool, accepted: bool| SharedDevice {
        device_id: format!("3402000000132000{n:04}"),
        name: name.to_owned(),
        manufacturer: "vfed test".into(),
        model: "camera".into(),
        owner: "county".into(),
        civil_code: "340200".into(),
        address: "gate".into(),
        position: Some((117.25, 31.83)),
        online: n != 2,
        shared,
        accepted,
    };
    vec![
        device(1, "North gate", true, true),
        device(2, "南门 & 停车场", true, true),
        device(3, "Depot", true, true),
        device(4, "Not accepted", true, false),
        device(5, "Not shared", false, true),
        device(6, "Neither", false, false),
    ]
}

fn id(n: u32) -> String {
    format!("3402000000132000{n:04}")
}

struct Catalog {
    devices: Mutex<Vec<SharedDevice>>,
    changes: broadcast::Sender<CatalogChange>,
}

impl Catalog {
    fn change(&self, n: u32, event: ChangeEvent, edit: impl FnOnce(&mut SharedDevice)) {
        let mut devices = self.devices.lock().unwrap();
        let device = devices.iter_mut().find(|d| d.device_id == id(n)).unwrap();
        edit(device);
        let device = device.clone();
        self.changes.send(CatalogChange { event, device }).unwrap();
    }
}

#[async_trait]
impl SharedCatalog for Catalog {
    async fn devices(&self) -> Vec<SharedDevice> {
        self.devices.lock().unwrap().clone()
    }

    fn changes(&self) -> broadcast::Receiver<CatalogChange> {
        self.changes.subscribe()
    }
}

/// Real encoder output: 4 s of 320x240 at 25 fps, a keyframe every second.
fn encoded(codec: Codec) -> (StreamMetadata, Vec<AccessUnit>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("camera.es");
    let encoder: &[&str] = match codec {
        Codec::H264 => &["-c:v", "libx264", "-g", "25", "-bf", "0", "-f", "h264"],
        Codec::H265 => &[
            "-c:v",
            "libx265",
            "-x265-params",
            "keyint=25:min-keyint=25:bframes=0:log-level=error",
            "-f",
            "hevc",
        ],
    };
    let status = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-f", "lavfi"])
        .args(["-i", "testsrc2=size=320x240:rate=25", "-t", "4"])
        .args(encoder)
        .arg(&path)
        .status()
        .expect("ffmpeg runs (scripts/install-deps.sh)");
    assert!(status.success());
    let stream = std::fs::read(&path).unwrap();
    let mut assembler = AccessUnitAssembler::new(codec);
    let mut assembled = Vec::new();
    for nal in split_annexb(&stream).unwrap() {
        assembled.extend(assembler.push(nal).unwrap());
    }
    assembled.extend(assembler.flush());
    let units: Vec<AccessUnit> = assembled
        .into_iter()
        .enumerate()
        .map(|(i, unit)| AccessUnit {
            pts: i as i64 * 3600,
            dts: i as i64 * 3600,
            keyframe: unit.keyframe,
            data: unit.data,
            ingest_unix_us: 0,
        })
        .collect();
    assert_eq!(units.len(), 100);
    assert!(units[0].keyframe && units[25].keyframe && !units[1].keyframe);
    let sets = assembler.parameter_sets().clone();
    let metadata = StreamMetadata {
        codec,
        vps: sets.vps,
        sps: sets.sps,
        pps: sets.pps,
        width: 320,
        height: 240,
        fps_milli: 25_000,
        bitrate_bps: 0,
    };
    (metadata, units)
}

/// The relay, played by the encoder's output at 25 fps.
struct Live {
    metadata: StreamMetadata,
    units: Vec<AccessUnit>,
    subscribed: Mutex<Vec<String>>,
    senders: Mutex<Vec<mpsc::Sender<LiveItem>>>,
}

#[async_trait]
impl LiveSource for Live {
    async fn subscribe(&self, device_id: &str) -> Result<mpsc::Receiver<LiveItem>, LiveError> {
        self.subscribed.lock().unwrap().push(device_id.to_owned());
        let (sender, receiver) = mpsc::channel(8);
        self.senders.lock().unwrap().push(sender.clone());
        let metadata = self.metadata.clone();
        let units = self.units.clone();
        tokio::spawn(async move {
            if sender.send(LiveItem::Metadata(metadata)).await.is_err() {
                return;
            }
            let mut tick = tokio::time::interval(Duration::from_millis(40));
            for unit in units {
                tick.tick().await;
                if sender.send(LiveItem::Unit(unit)).await.is_err() {
                    return;
                }
            }
        });
        Ok(receiver)
    }
}

/// The node's side: the six devices, and the relay playing `codec`.
fn node(codec: Codec) -> (Arc<Catalog>, Arc<Live>) {
    let (metadata, units) = encoded(codec);
    let catalog = Arc::new(Catalog {
        devices: Mutex::new(devices()),
        changes: broadcast::channel(16).0,
    });
    let live = Arc::new(Live {
        metadata,
        units,
        subscribed: Mutex::new(Vec::new()),
        senders: Mutex::new(Vec::new()),
    });
    (catalog, live)
}

/// Waits (at most `limit`) for the upper's status to be `status`.
async fn wait_status(
    handle: &mut UpperHandle,
    status: UpperStatus,
    limit: Duration,
    what: &str,
) -> UpperState {
    tokio::time::timeout(limit, handle.wait_for(|s| s.status == status))
        .await
        .unwrap_or_else(|_| panic!("{what}: {:?}", handle.state()))
        .unwrap()
}

/// What the upper's media receiver got: the PS bytes and the SSRCs seen.
#[derive(Default)]
struct Received {
    ps: Vec<u8>,
    ssrcs: BTreeSet<u32>,
    packets: usize,
}

impl Received {
    fn take(&mut self, packet: &[u8]) {
        let packet = rtp::parse(packet).expect("an RTP packet");
        assert_eq!(packet.payload_type, 96);
        self.ssrcs.insert(packet.ssrc);
        self.ps.extend_from_slice(packet.payload);
        self.packets += 1;
    }
}

/// A small RTP receiver: UDP, or TCP (vfed connects, RFC 4571 framing);
/// ends 1.5 s after the last packet.
async fn receive(tcp: bool) -> (u16, tokio::task::JoinHandle<Received>) {
    let idle = Duration::from_millis(1500);
    if tcp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut received = Received::default();
            let (mut stream, _) = tokio::time::timeout(Duration::from_secs(40), listener.accept())
                .await
                .expect("vfed connects for TCP media")
                .unwrap();
            loop {
                let mut length = [0u8; 2];
                match tokio::time::timeout(idle, stream.read_exact(&mut length)).await {
                    Ok(Ok(_)) => {}
                    _ => return received,
                }
                let mut packet = vec![0u8; usize::from(u16::from_be_bytes(length))];
                stream.read_exact(&mut packet).await.unwrap();
                received.take(&packet);
            }
        });
        (port, task)
    } else {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = socket.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut received = Received::default();
            let mut buffer = vec![0u8; 65_536];
            let first = Duration::from_secs(40);
            loop {
                let wait = if received.packets == 0 { first } else { idle };
                match tokio::time::timeout(wait, socket.recv(&mut buffer)).await {
                    Ok(Ok(n)) => received.take(&buffer[..n]),
                    _ => return received,
                }
            }
        });
        (port, task)
    }
}

/// One SIPp upper platform run in `dir`.
struct Sipp {
    child: tokio::process::Child,
    dir: PathBuf,
    name: String,
}

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name)
}

impl Sipp {
    fn start(dir: &Path, name: &str, port: u16, tcp: bool, keys: &[(&str, String)]) -> Self {
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut command = tokio::process::Command::new("sipp");
        command
            .args(["-sf", scenario(name).to_str().unwrap()])
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-t", if tcp { "t1" } else { "u1" }])
            .args(["-nostdin", "-trace_err", "-trace_msg"])
            .args(["-error_file", dir.join("errors.log").to_str().unwrap()])
            .args(["-message_file", dir.join("messages.log").to_str().unwrap()]);
        for (key, value) in keys {
            command.args(["-key", key, value]);
        }
        let child = command
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("sipp runs (Debian package sip-tester, scripts/install-deps.sh)");
        Self {
            child,
            dir,
            name: name.to_owned(),
        }
    }

    fn read(&self, file: &str) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.join(file)).unwrap_or_default())
            .into_owned()
    }

    /// Waits (at most `limit`) for the scenario to write `marker`.
    async fn wait_marker(&self, marker: &str, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while !self.dir.join(marker).exists() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "sipp {} did not reach {marker}\nerrors: {}\nmessages: {}",
                self.name,
                self.read("errors.log"),
                self.read("messages.log")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for SIPp to stop (the scenario ends with stop_now); the
    /// messages it received.
    async fn finish(mut self) -> Vec<Message> {
        tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("sipp stops at the end of its scenario")
            .unwrap();
        received_messages(&std::fs::read(self.dir.join("messages.log")).unwrap())
    }
}

/// The messages SIPp logged as received (`... message received [N] bytes :`).
fn received_messages(log: &[u8]) -> Vec<Message> {
    let marker = b"message received [";
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
        let bytes = &log[body..body + length];
        messages.push(parse_message(bytes, &Limits::default(), true).unwrap());
        pos = body + length;
    }
    messages
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The MANSCDP root of a MESSAGE (element tree) and the declared charset.
fn manscdp(message: &Message) -> Option<(tree::Element, String)> {
    if message.method().map(|m| m.as_str()) != Some("MESSAGE") {
        return None;
    }
    let (text, _) = decode(&message.body);
    let declared = text
        .split("encoding=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();
    Some((tree::parse(&text).unwrap(), declared))
}

fn items(root: &tree::Element) -> Vec<&tree::Element> {
    root.child("DeviceList")
        .map(|list| list.children.iter().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn sipp_upper_over_udp_gets_the_shared_catalog_and_h264() {
    cascade(false, Codec::H264, BodyCharset::Gb2312).await;
}

#[tokio::test]
async fn sipp_upper_over_tcp_gets_the_shared_catalog_and_h265() {
    cascade(true, Codec::H265, BodyCharset::Utf8).await;
}

async fn cascade(tcp: bool, codec: Codec, charset: BodyCharset) {
    let (catalog, live) = node(codec);
    let dir = tempfile::tempdir().unwrap();
    let sip_port = free_port();
    let (rtp_port, media) = receive(tcp).await;
    let keys = [
        ("local_id", LOCAL_ID.to_owned()),
        ("password", PASSWORD.to_owned()),
        ("domain", UPPER_DOMAIN.to_owned()),
        ("server_id", UPPER_ID.to_owned()),
        ("channel", id(1)),
        ("denied_channel", id(4)),
        ("rtp_port", rtp_port.to_string()),
        (
            "media_proto",
            if tcp { "TCP/RTP/AVP" } else { "RTP/AVP" }.to_owned(),
        ),
        (
            "setup_line",
            if tcp { "a=setup:passive" } else { "a=recvonly" }.to_owned(),
        ),
        ("ssrc", SSRC.to_owned()),
    ];
    let sipp = Sipp::start(dir.path(), "upper_uas.xml", sip_port, tcp, &keys);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let address: SocketAddr = ([127, 0, 0, 1], sip_port).into();
    let mut options = UpperOptions::new(UPPER_ID, UPPER_DOMAIN, address, LOCAL_ID, PASSWORD);
    options.transport = if tcp { Transport::Tcp } else { Transport::Udp };
    options.local_ip = [127, 0, 0, 1].into();
    options.catalog_group_size = 2;
    options.keepalive_interval = Duration::from_millis(500);
    options.charset = charset;
    options.retry_min = Duration::from_millis(200);
    options.retry_max = Duration::from_secs(1);
    let (mut handle, task) = upper(options, catalog.clone(), live.clone()).unwrap();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(task.run(shutdown.clone()));

    let registered = wait_status(
        &mut handle,
        UpperStatus::Registered,
        Duration::from_secs(15),
        "vfed registers with SIPp",
    )
    .await;
    assert_eq!(registered.registrations, 1);

    sipp.wait_marker("main.done", Duration::from_secs(40)).await;
    // Catalog changes: device 2 comes online (it goes up), device 4 (not
    // accepted) changes (nothing goes up), device 1 stops being shared
    // (the upper loses it: DEL).
    catalog.change(2, ChangeEvent::On, |d| d.online = true);
    catalog.change(4, ChangeEvent::Update, |d| d.name = "still hidden".into());
    catalog.change(1, ChangeEvent::Update, |d| d.shared = false);
    let messages = sipp.finish().await;

    // Digest REGISTER then keepalives.
    let registers = messages
        .iter()
        .filter(|m| m.method().map(|m| m.as_str()) == Some("REGISTER"))
        .collect::<Vec<_>>();
    assert_eq!(
        registers.len(),
        2,
        "REGISTER, then REGISTER with the digest"
    );
    let authorization = registers[1].headers.get("authorization").unwrap();
    assert!(
        authorization.contains(&format!("username=\"{LOCAL_ID}\""))
            && authorization.contains("qop=auth"),
        "{authorization}"
    );
    let bodies: Vec<(tree::Element, String)> = messages.iter().filter_map(manscdp).collect();
    let expected_charset = match charset {
        BodyCharset::Gb2312 => "GB2312",
        BodyCharset::Utf8 => "UTF-8",
    };
    assert!(
        bodies
            .iter()
            .all(|(_, declared)| declared == expected_charset)
    );
    let keepalives = bodies
        .iter()
        .filter(|(root, _)| root.name == "Notify" && root.field("CmdType") == Some("Keepalive"))
        .count();
    assert!(keepalives >= 3, "{keepalives} keepalives in 6 s at 500 ms");

    // The catalog: exactly the shared, accepted devices, in groups of 2,
    // each page with the query's SN and the whole SumNum.
    let pages: Vec<&tree::Element> = bodies
        .iter()
        .map(|(root, _)| root)
        .filter(|root| root.name == "Response" && root.field("CmdType") == Some("Catalog"))
        .collect();
    assert_eq!(pages.len(), 2, "3 devices in groups of 2");
    let mut seen = Vec::new();
    for page in &pages {
        assert_eq!(page.field("SN"), Some("100"));
        assert_eq!(page.field("DeviceID"), Some(LOCAL_ID));
        assert_eq!(page.field("SumNum"), Some("3"));
        let list = items(page);
        assert_eq!(
            page.child("DeviceList").unwrap().field("Num"),
            Some(list.len().to_string().as_str())
        );
        for item in list {
            seen.push((
                item.field("DeviceID").unwrap().to_owned(),
                item.field("Name").unwrap().to_owned(),
                item.field("Status").unwrap().to_owned(),
            ));
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        vec![
            (id(1), "North gate".to_owned(), "ON".to_owned()),
            (id(2), "南门 & 停车场".to_owned(), "OFF".to_owned()),
            (id(3), "Depot".to_owned(), "ON".to_owned()),
        ]
    );

    // Catalog changes: device 2 ON, device 1 DEL, nothing of device 4.
    let notified: Vec<(String, String)> = bodies
        .iter()
        .map(|(root, _)| root)
        .filter(|root| root.name == "Notify" && root.field("CmdType") == Some("Catalog"))
        .flat_map(items)
        .map(|item| {
            (
                item.field("DeviceID").unwrap().to_owned(),
                item.field("Event").unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        notified,
        vec![(id(2), "ON".to_owned()), (id(1), "DEL".to_owned())]
    );

    // The INVITE of device 1 (the one of device 4 was refused 404 in the
    // scenario): one subscription, PS over RTP with the upper's SSRC that
    // ffprobe decodes as the encoder's codec.
    assert_eq!(*live.subscribed.lock().unwrap(), vec![id(1)]);
    let received = media.await.unwrap();
    assert_eq!(
        received.ssrcs,
        BTreeSet::from([SSRC.parse::<u32>().unwrap()])
    );
    let ps = dir.path().join("upper.ps");
    std::fs::write(&ps, &received.ps).unwrap();
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-f", "mpeg", "-count_frames"])
        .args([
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
        ])
        .args(["-of", "csv=p=0"])
        .arg(&ps)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&probe.stdout).trim().to_owned();
    eprintln!(
        "upper received {} RTP packets, {} PS bytes; ffprobe: {said}; {keepalives} keepalives",
        received.packets,
        received.ps.len()
    );
    let fields: Vec<&str> = said.split(',').collect();
    let name = match codec {
        Codec::H264 => "h264",
        Codec::H265 => "hevc",
    };
    assert_eq!(fields[..3], [name, "320", "240"], "ffprobe said {said:?}");
    let frames: u32 = fields[3].parse().unwrap();
    // 3 s between ACK and BYE at 25 fps, from the first keyframe on.
    assert!(frames >= 25, "ffprobe decoded {frames} frames");

    // SIPp is gone: the upper goes offline and its state says why.
    let offline = wait_status(
        &mut handle,
        UpperStatus::Offline,
        Duration::from_secs(10),
        "the silent upper is judged offline",
    )
    .await;
    let why = offline.last_error.unwrap();
    assert!(
        why.contains("keepalives unanswered")
            || why.contains("connection")
            || why.contains("REGISTER"),
        "{why}"
    );
    assert_eq!(offline.sessions, 0);

    // A new upper process at the same address: vfed registers again.
    let again = Sipp::start(dir.path(), "upper_register.xml", sip_port, tcp, &keys);
    let back = wait_status(
        &mut handle,
        UpperStatus::Registered,
        Duration::from_secs(15),
        "vfed registers again with backoff",
    )
    .await;
    assert_eq!(back.registrations, 2);
    again
        .wait_marker("registered.done", Duration::from_secs(5))
        .await;
    again.finish().await;
    shutdown.cancel();
    running.await.unwrap();
}

/// A hostile (or broken) upper the test plays by hand on a UDP socket:
/// it registers vfed properly (checking the digest with the crate's own
/// registrar code), answers keepalives, and sends what no SIPp scenario
/// would.
struct RawUpper {
    socket: UdpSocket,
    vfed: Option<SocketAddr>,
    keepalives: usize,
    cseq: u32,
}

impl RawUpper {
    /// A raw upper on a fresh socket and vfed's link to it (`configure`
    /// adjusts the options), running until the token is cancelled.
    async fn link(
        catalog: Arc<Catalog>,
        live: Arc<Live>,
        configure: impl FnOnce(&mut UpperOptions),
    ) -> (
        Self,
        UpperHandle,
        CancellationToken,
        tokio::task::JoinHandle<()>,
    ) {
        let peer = Self {
            socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            vfed: None,
            keepalives: 0,
            cseq: 0,
        };
        let address = peer.socket.local_addr().unwrap();
        let mut options = UpperOptions::new(UPPER_ID, UPPER_DOMAIN, address, LOCAL_ID, PASSWORD);
        options.local_ip = [127, 0, 0, 1].into();
        configure(&mut options);
        let (handle, task) = upper(options, catalog, live).unwrap();
        let shutdown = CancellationToken::new();
        let running = tokio::spawn(task.run(shutdown.clone()));
        (peer, handle, shutdown, running)
    }

    /// The next message that is not a keepalive (answered 200); `None`
    /// after `wait` of silence.
    async fn next(&mut self, wait: Duration) -> Option<Message> {
        let mut buffer = vec![0u8; 65_536];
        loop {
            let (n, from) = tokio::time::timeout(wait, self.socket.recv_from(&mut buffer))
                .await
                .ok()?
                .unwrap();
            self.vfed = Some(from);
            let message = parse_message(&buffer[..n], &Limits::default(), true).unwrap();
            let keepalive = manscdp(&message)
                .is_some_and(|(root, _)| root.field("CmdType") == Some("Keepalive"));
            if keepalive {
                self.keepalives += 1;
                self.reply(&message, "200 OK", "").await;
                continue;
            }
            return Some(message);
        }
    }

    /// The next response (keepalives answered on the way).
    async fn response(&mut self) -> u16 {
        loop {
            let message = self.next(Duration::from_secs(5)).await.expect("an answer");
            if let Some(code) = message.status() {
                return code;
            }
        }
    }

    async fn reply(&self, request: &Message, status: &str, extra: &str) {
        let mut text = format!("SIP/2.0 {status}\r\n");
        for name in ["via", "from", "to", "call-id", "cseq"] {
            for value in request.headers.get_all(name) {
                text.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        text.push_str(&format!("{extra}Content-Length: 0\r\n\r\n"));
        self.send(text.as_bytes()).await;
    }

    async fn send(&self, bytes: &[u8]) {
        self.socket
            .send_to(bytes, self.vfed.expect("vfed has spoken"))
            .await
            .unwrap();
    }

    /// Answers vfed's first REGISTER 200 with `expires` (no challenge) and
    /// waits for the link to say registered; the REGISTER.
    async fn registered(&mut self, handle: &mut UpperHandle, expires: u32) -> Message {
        let first = self.next(Duration::from_secs(5)).await.unwrap();
        let granted = format!("Expires: {expires}\r\n");
        self.reply(&first, "200 OK", &granted).await;
        wait_status(
            handle,
            UpperStatus::Registered,
            Duration::from_secs(5),
            "registered",
        )
        .await;
        first
    }

    /// Sends a request with `body`; `call_id` names its dialog.
    async fn request(&mut self, method: &str, target: &str, call_id: &str, body: &str) {
        self.request_with(method, target, call_id, "", body).await;
    }

    /// [`Self::request`] with `extra` header lines (each ending in CRLF).
    async fn request_with(
        &mut self,
        method: &str,
        target: &str,
        call_id: &str,
        extra: &str,
        body: &str,
    ) {
        self.cseq += 1;
        let content_type = if method == "INVITE" {
            "APPLICATION/SDP"
        } else {
            "Application/MANSCDP+xml"
        };
        let text = format!(
            "{method} sip:{target}@{UPPER_DOMAIN} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {};branch=z9hG4bK{call_id}{}\r\n\
             From: <sip:{UPPER_ID}@{UPPER_DOMAIN}>;tag=u{call_id}\r\n\
             To: <sip:{target}@{UPPER_DOMAIN}>\r\nCall-ID: {call_id}\r\nCSeq: {} {method}\r\n\
             Contact: <sip:{UPPER_ID}@{}>\r\nMax-Forwards: 70\r\n\
             {extra}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            self.socket.local_addr().unwrap(),
            self.cseq,
            self.cseq,
            self.socket.local_addr().unwrap(),
            body.len()
        );
        self.send(text.as_bytes()).await;
    }
}

fn query(cmd_type: &str, sn: u32, device: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Query>\r\n<CmdType>{cmd_type}</CmdType>\r\n\
         <SN>{sn}</SN>\r\n<DeviceID>{device}</DeviceID>\r\n</Query>\r\n"
    )
}

fn offer(port: u16, session: &str, ssrc: &str) -> String {
    format!(
        "v=0\r\no={UPPER_ID} 0 0 IN IP4 127.0.0.1\r\ns={session}\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=video {port} RTP/AVP 96\r\na=recvonly\r\na=rtpmap:96 PS/90000\r\ny={ssrc}\r\n"
    )
}

/// A hostile upper gets an error for each bad request and changes
/// nothing: the link stays registered, no stream is pulled for a refused
/// INVITE, the session bound holds; when it goes silent it is judged
/// offline and its session is reaped (the relay subscription dropped).
#[tokio::test]
async fn a_hostile_upper_gets_errors_and_changes_nothing() {
    let (catalog, live) = node(Codec::H264);
    let (mut upper_peer, mut handle, shutdown, running) =
        RawUpper::link(catalog.clone(), live.clone(), |options| {
            options.keepalive_interval = Duration::from_millis(300);
            options.max_sessions = 1;
        })
        .await;

    // Registration: challenge, then the digest checked by the registrar's code.
    let first = upper_peer.next(Duration::from_secs(5)).await.unwrap();
    upper_peer
        .reply(
            &first,
            "401 Unauthorized",
            "WWW-Authenticate: Digest realm=\"4401000000\", nonce=\"n0nce\"\r\n",
        )
        .await;
    let second = upper_peer.next(Duration::from_secs(5)).await.unwrap();
    let credentials =
        vfed_gb28181::digest::Credentials::parse(second.headers.get("authorization").unwrap())
            .unwrap();
    assert!(credentials.verify("REGISTER", PASSWORD));
    assert_eq!(credentials.qop, None, "no qop offered, none used");
    upper_peer
        .reply(&second, "200 OK", "Expires: 3600\r\n")
        .await;
    wait_status(
        &mut handle,
        UpperStatus::Registered,
        Duration::from_secs(5),
        "registered",
    )
    .await;

    // Garbage and an oversize body: no answer, nothing changes.
    upper_peer.send(b"\x00\x01garbage that is not SIP").await;
    let huge = "x".repeat(62 * 1024);
    upper_peer.request("MESSAGE", LOCAL_ID, "huge", &huge).await;
    // Bodies that are not a query, a CmdType not served, an unknown device.
    upper_peer
        .request("MESSAGE", LOCAL_ID, "c1", "not xml")
        .await;
    assert_eq!(upper_peer.response().await, 400);
    let record = query("RecordInfo", 5, LOCAL_ID);
    upper_peer.request("MESSAGE", LOCAL_ID, "c2", &record).await;
    assert_eq!(upper_peer.response().await, 400);
    let unknown = query("DeviceInfo", 6, &id(5));
    upper_peer
        .request("MESSAGE", LOCAL_ID, "c3", &unknown)
        .await;
    assert_eq!(
        upper_peer.response().await,
        404,
        "a device not shared is unknown"
    );
    // A catalog query flood: the first answered, the next refused 503.
    let first_query = query("Catalog", 7, LOCAL_ID);
    upper_peer
        .request("MESSAGE", LOCAL_ID, "c4", &first_query)
        .await;
    upper_peer
        .request("MESSAGE", LOCAL_ID, "c5", &query("Catalog", 8, LOCAL_ID))
        .await;
    let mut codes = Vec::new();
    let mut pages = 0;
    while codes.len() < 2 {
        let message = upper_peer.next(Duration::from_secs(5)).await.unwrap();
        match message.status() {
            Some(code) => codes.push(code),
            None => {
                pages += 1;
                upper_peer.reply(&message, "200 OK", "").await;
            }
        }
    }
    assert_eq!(codes, vec![200, 503]);
    // Bad offers, a device not shared, a BYE for no session, a method not served.
    let port = free_port();
    for (call, device, sdp, code) in [
        ("i1", id(1), offer(port, "Playback", SSRC), 488),
        ("i2", id(1), offer(port, "Play", "99999999999"), 488),
        ("i3", id(1), offer(0, "Play", SSRC), 488),
        ("i4", id(4), offer(port, "Play", SSRC), 404),
        ("i5", id(6), offer(port, "Play", SSRC), 404),
    ] {
        upper_peer.request("INVITE", &device, call, &sdp).await;
        assert_eq!(upper_peer.response().await, code, "INVITE {call}");
    }
    upper_peer.request("BYE", &id(1), "nobody", "").await;
    assert_eq!(upper_peer.response().await, 481);
    upper_peer.request("SUBSCRIBE", LOCAL_ID, "s1", "").await;
    assert_eq!(
        upper_peer.response().await,
        489,
        "SUBSCRIBE without Event: Catalog"
    );
    upper_peer.request("INFO", LOCAL_ID, "f1", "").await;
    assert_eq!(upper_peer.response().await, 405);
    assert!(
        live.subscribed.lock().unwrap().is_empty(),
        "no pull for a refused INVITE"
    );
    // One session allowed: the second INVITE is busy.
    let media = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let media_port = media.local_addr().unwrap().port();
    upper_peer
        .request("INVITE", &id(1), "ok1", &offer(media_port, "Play", SSRC))
        .await;
    assert_eq!(upper_peer.response().await, 200);
    upper_peer.request("ACK", &id(1), "ok1", "").await;
    upper_peer
        .request("INVITE", &id(3), "ok2", &offer(media_port, "Play", SSRC))
        .await;
    assert_eq!(upper_peer.response().await, 486);
    let mut buffer = vec![0u8; 2048];
    tokio::time::timeout(Duration::from_secs(5), media.recv(&mut buffer))
        .await
        .expect("media flows to the accepted session")
        .unwrap();

    let state = handle.state();
    assert_eq!(
        (state.status, state.registrations, state.sessions),
        (UpperStatus::Registered, 1, 1)
    );
    assert_eq!(
        pages, 3,
        "3 shared, accepted devices, one per MESSAGE (the default group size)"
    );
    // Keepalives answered for a second: still registered, nothing else said.
    let said = tokio::time::timeout(
        Duration::from_secs(1),
        upper_peer.next(Duration::from_secs(2)),
    )
    .await
    .ok()
    .flatten();
    assert!(said.is_none(), "{said:?}");
    assert!(
        upper_peer.keepalives >= 2,
        "{} keepalives",
        upper_peer.keepalives
    );
    assert_eq!(handle.state().status, UpperStatus::Registered);

    // The upper goes silent: offline after 3 unanswered keepalives, the
    // session reaped, the relay subscription dropped.
    let offline = wait_status(
        &mut handle,
        UpperStatus::Offline,
        Duration::from_secs(5),
        "the status",
    )
    .await;
    assert_eq!(
        offline.last_error.as_deref(),
        Some("3 keepalives unanswered")
    );
    assert_eq!(offline.sessions, 0);
    assert_eq!(*live.subscribed.lock().unwrap(), vec![id(1)]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        live.senders.lock().unwrap().iter().all(|s| s.is_closed()),
        "the reaped session let go of the relay's stream"
    );
    shutdown.cancel();
    running.await.unwrap();
}

/// The registration is refreshed at 3/4 of what the upper grants (10 s
/// here, the shortest vfed accepts), on the same Call-ID with a higher
/// CSeq; a challenge vfed cannot answer (SHA-256) makes the upper offline
/// with that reason.
#[tokio::test]
async fn refreshes_before_expiry_and_says_why_it_cannot() {
    let (catalog, live) = node(Codec::H264);
    let (mut upper_peer, mut handle, shutdown, running) =
        RawUpper::link(catalog, live, |options| {
            options.keepalive_interval = Duration::from_secs(2);
        })
        .await;

    let first = upper_peer.registered(&mut handle, 1).await;
    let granted_at = tokio::time::Instant::now();
    let refresh = upper_peer.next(Duration::from_secs(12)).await.unwrap();
    let waited = granted_at.elapsed();
    assert_eq!(refresh.method().map(|m| m.as_str()), Some("REGISTER"));
    assert!(
        waited >= Duration::from_secs(6) && waited < Duration::from_secs(10),
        "refreshed after {waited:?} of a lifetime clamped to 10 s"
    );
    assert_eq!(refresh.call_id(), first.call_id());
    assert!(refresh.cseq().unwrap().0 > first.cseq().unwrap().0);
    assert_eq!(refresh.headers.get("expires"), Some("3600"));
    upper_peer
        .reply(
            &refresh,
            "401 Unauthorized",
            "WWW-Authenticate: Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256\r\n",
        )
        .await;
    let offline = wait_status(
        &mut handle,
        UpperStatus::Offline,
        Duration::from_secs(5),
        "offline",
    )
    .await;
    let why = offline.last_error.unwrap();
    assert!(why.contains("SHA-256") && why.contains("MD5 only"), "{why}");
    assert_eq!(handle.state().registrations, 1);
    shutdown.cancel();
    running.await.unwrap();
}

/// The upper subscribes to the catalog: changes come as NOTIFY in the
/// subscription's dialog; unsubscribed (`Expires: 0`), as MESSAGE again.
#[tokio::test]
async fn a_catalog_subscription_gets_changes_as_notify() {
    let (catalog, live) = node(Codec::H264);
    let (mut upper_peer, mut handle, shutdown, running) =
        RawUpper::link(catalog.clone(), live, |_| {}).await;
    upper_peer.registered(&mut handle, 3600).await;

    let body = query("Catalog", 9, LOCAL_ID);
    let presence = "Event: presence\r\nExpires: 600\r\n";
    upper_peer
        .request_with("SUBSCRIBE", LOCAL_ID, "sub0", presence, &body)
        .await;
    assert_eq!(upper_peer.response().await, 489);
    let catalog_event = "Event: Catalog;id=1\r\nExpires: 600\r\n";
    upper_peer
        .request_with("SUBSCRIBE", LOCAL_ID, "sub1", catalog_event, &body)
        .await;
    let ok = upper_peer.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        (ok.status(), ok.headers.get("expires")),
        (Some(200), Some("600"))
    );

    catalog.change(2, ChangeEvent::On, |d| d.online = true);
    let notify = upper_peer.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(notify.method().map(|m| m.as_str()), Some("NOTIFY"));
    assert_eq!(notify.call_id(), Some("sub1"));
    assert_eq!(notify.headers.get("event"), Some("Catalog;id=1"));
    assert!(
        notify
            .headers
            .get("subscription-state")
            .unwrap()
            .starts_with("active")
    );
    let (text, _) = decode(&notify.body);
    let root = tree::parse(&text).unwrap();
    let item = items(&root)[0];
    assert_eq!(
        (item.field("DeviceID"), item.field("Event")),
        (Some(id(2).as_str()), Some("ON"))
    );
    upper_peer.reply(&notify, "200 OK", "").await;

    let unsubscribe = "Event: Catalog;id=1\r\nExpires: 0\r\n";
    upper_peer
        .request_with("SUBSCRIBE", LOCAL_ID, "sub1", unsubscribe, &body)
        .await;
    assert_eq!(upper_peer.response().await, 200);
    catalog.change(3, ChangeEvent::Off, |d| d.online = false);
    let message = upper_peer.next(Duration::from_secs(5)).await.unwrap();
    let (root, _) = manscdp(&message).expect("a MESSAGE once unsubscribed");
    assert_eq!(items(&root)[0].field("Event"), Some("OFF"));
    shutdown.cancel();
    running.await.unwrap();
}
