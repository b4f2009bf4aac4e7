//! Bounded input and a link that tells the truth (issue 9, items 2, 5, 6, 7),
//! through real nodes over real mutual TLS on loopback: oversize and hostile
//! fields are refused naming the field and its limit, maximal entries
//! neither jam the link nor a listing, a refused entry is shown at both ends
//! and the link goes on, and a black-holed link is shown down with its lag
//! growing.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vfed_proto::federation::v1::{Link, LinkState};
use vfed_proto::registry::v1 as pb;
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_store::{Op, Txn};
use vfed_tests::{NodeOptions, TestNode, TestPki, device_spec, eventually, register_request};

const WAIT: Duration = Duration::from_secs(30);
/// A character that takes four bytes in UTF-8: the largest a limit in
/// characters can make a field.
const WIDE: char = '\u{20000}';

fn wide(n: usize) -> String {
    std::iter::repeat_n(WIDE, n).collect()
}

/// A shared, accepted device with every text field at its limit.
fn maximal_spec(id: &str) -> pb::DeviceSpec {
    let mut spec = device_spec(id, true);
    spec.name = wide(128);
    spec.address = wide(256);
    spec.unit = wide(128);
    spec.responsible = Some(pb::ResponsibleUnits {
        builder: wide(128),
        maintainer: wide(128),
        manager: wide(128),
    });
    spec.filing = Some(pb::Filing {
        design_unit: wide(128),
        build_unit: wide(128),
        maintenance_unit: wide(128),
        operators: (0..32).map(|_| wide(64)).collect(),
        ..Default::default()
    });
    let url = format!("rtsp://{}", "a".repeat(1024 - 7));
    spec.streams = Some(pb::StreamSources {
        main_url: url.clone(),
        sub_url: url,
    });
    spec
}

async fn register(
    channel: &tonic::transport::Channel,
    spec: pb::DeviceSpec,
) -> Result<pb::Device, tonic::Status> {
    RegistryClient::new(channel.clone())
        .register_device(pb::RegisterDeviceRequest { spec: Some(spec) })
        .await
        .map(tonic::Response::into_inner)
}

/// The refusal of `spec`, which must be INVALID_ARGUMENT naming `field`
/// and containing `rule`.
async fn refused(
    channel: &tonic::transport::Channel,
    spec: pb::DeviceSpec,
    field: &str,
    rule: &str,
) -> anyhow::Result<()> {
    let status = register(channel, spec)
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("{field}: accepted, expected a refusal"))?;
    anyhow::ensure!(
        status.code() == tonic::Code::InvalidArgument,
        "{field}: {status:?}"
    );
    anyhow::ensure!(
        status.message().contains(field) && status.message().contains(rule),
        "{field}: refusal does not name the field and rule {rule:?}: {}",
        status.message()
    );
    Ok(())
}

fn link<'a>(links: &'a [Link], role: &str) -> anyhow::Result<&'a Link> {
    links
        .iter()
        .find(|l| l.role == role)
        .ok_or_else(|| anyhow::anyhow!("no {role} link listed"))
}

/// Pages of a listing as `devices list --all` follows them: how many pages.
async fn pages(channel: &tonic::transport::Channel) -> anyhow::Result<(usize, usize)> {
    let mut client = RegistryClient::new(channel.clone());
    let (mut pages, mut devices) = (0, 0);
    let mut page_token = String::new();
    loop {
        let page = client
            .list_devices(pb::ListDevicesRequest {
                page_size: 1000,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await?
            .into_inner();
        pages += 1;
        devices += page.devices.len();
        if page.next_page_token.is_empty() {
            return Ok((pages, devices));
        }
        page_token = page.next_page_token;
    }
}

async fn city_and_county(pki: &TestPki) -> anyhow::Result<(TestNode, TestNode)> {
    let city = TestNode::start(pki, NodeOptions::new(CITY, "city").children(&[NAIDONG])).await?;
    let county = TestNode::start(pki, NodeOptions::new(NAIDONG, "county").under(&city)).await?;
    Ok((city, county))
}

#[tokio::test]
async fn maximal_devices_jam_neither_the_link_nor_the_listings() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let (city, county) = city_and_county(&pki).await?;
    let (top, bottom) = (city.channel(&pki)?, county.channel(&pki)?);

    // The jam: 1 MB units and 100,000 operators are refused, each
    // naming the field and its limit.
    for n in 0..5 {
        let mut spec = device_spec(&naidong_camera(900 + n), true);
        spec.filing = Some(pb::Filing {
            design_unit: "u".repeat(1 << 20),
            ..Default::default()
        });
        refused(
            &bottom,
            spec,
            "spec.filing.design_unit",
            "at most 128 characters",
        )
        .await?;
    }
    let mut spec = device_spec(&naidong_camera(950), true);
    spec.filing = Some(pb::Filing {
        operators: (0..100_000).map(|i| format!("op{i}")).collect(),
        ..Default::default()
    });
    refused(
        &bottom,
        spec,
        "spec.filing.operators",
        "at most 32 operators",
    )
    .await?;
    let mut spec = device_spec(&naidong_camera(951), true);
    spec.name = wide(129);
    refused(&bottom, spec, "spec.name", "at most 128 characters").await?;

    // Enough maximal devices (five and more) that one count-sized batch and
    // one count-sized page would pass a mebibyte.
    let maximal: Vec<String> = (1..=80).map(naidong_camera).collect();
    for id in &maximal {
        register(&bottom, maximal_spec(id)).await?;
    }
    eventually("every maximal device at the city", WAIT, || async {
        let remote = remote_set(&top).await?;
        Ok(maximal.iter().all(|id| remote.contains(id)).then_some(()))
    })
    .await?;

    // A device registered after them reaches the city within 1 s.
    let later = naidong_camera(100);
    register(&bottom, device_spec(&later, true)).await?;
    eventually(
        "the later device at the city",
        Duration::from_secs(1),
        || async { Ok(get_device(&top, &later).await?.map(|_| ())) },
    )
    .await?;

    // `devices list --all` at both levels: every device, over several pages.
    for (level, channel) in [("county", &bottom), ("city", &top)] {
        let (pages, devices) = pages(channel).await?;
        assert_eq!(devices, 81, "{level}");
        assert!(pages > 1, "{level}: {pages} page(s) for 80 maximal devices");
    }
    let county_links = links(&bottom).await?;
    assert_eq!(link(&county_links, "parent")?.refused_total, 0);
    Ok(())
}

/// Rewrites the stored record of `id` at `node` as a node without today's
/// rules could have stored it (`edit` on its JSON).
async fn rewrite_record(
    node: &TestNode,
    id: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> anyhow::Result<()> {
    let store = node.store()?;
    let key = format!("cat/local/{id}");
    let kv = store
        .get(key.as_bytes())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no record {key}"))?;
    let mut record: serde_json::Value = serde_json::from_slice(&kv.value)?;
    edit(&mut record);
    store
        .txn(Txn::new().then(Op::put(key, serde_json::to_vec(&record)?)))
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_refused_entry_shows_at_both_ends_and_the_link_goes_on() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let (city, county) = city_and_county(&pki).await?;
    let (top, bottom) = (city.channel(&pki)?, county.channel(&pki)?);
    let (hostile, huge, later) = (naidong_camera(1), naidong_camera(2), naidong_camera(3));
    register(&bottom, device_spec(&hostile, true)).await?;
    register(&bottom, device_spec(&huge, true)).await?;
    eventually("both devices at the city", WAIT, || async {
        let remote = remote_set(&top).await?;
        Ok((remote.contains(&hostile) && remote.contains(&huge)).then_some(()))
    })
    .await?;

    // Records from before the rules: an escape sequence in a name (the
    // parent refuses it) and a 2 MB name (too large for any batch: the
    // child refuses to send it).
    rewrite_record(&county, &hostile, |r| {
        r["spec"]["name"] = "\u{1b}[31mred\u{1b}[0m".into();
    })
    .await?;
    rewrite_record(&county, &huge, |r| {
        r["spec"]["name"] = "n".repeat(2 << 20).into();
    })
    .await?;
    register(&bottom, device_spec(&later, true)).await?;
    eventually("the later device at the city", WAIT, || async {
        Ok(get_device(&top, &later).await?.map(|_| ()))
    })
    .await?;

    let (child_side, parent_side) = eventually("refusals listed", WAIT, || async {
        let at_county = links(&bottom).await?;
        let at_city = links(&top).await?;
        let up = link(&at_county, "parent")?.clone();
        let down = link(&at_city, "child")?.clone();
        Ok((up.refused_total >= 2 && down.refused_total >= 1).then_some((up, down)))
    })
    .await?;
    let by = |l: &Link, id: &str, side: &str| {
        l.refused
            .iter()
            .find(|r| r.device_id == id && r.refused_by == side)
            .map(|r| r.reason.clone())
    };
    let reason = by(&parent_side, &hostile, "parent").expect("city lists the refused entry");
    assert!(
        reason.contains("spec.name") && reason.contains("control"),
        "{reason}"
    );
    assert!(
        by(&child_side, &hostile, "parent").is_some(),
        "{child_side:?}"
    );
    let reason = by(&child_side, &huge, "child").expect("county lists the unsent entry");
    assert!(reason.contains("bytes"), "{reason}");
    // The refused entries kept their last accepted state at the city.
    let shown = get_device(&top, &hostile).await?.unwrap();
    assert!(!shown.spec.unwrap().name.contains('\u{1b}'));
    assert_eq!(
        link(&links(&top).await?, "child")?.state,
        LinkState::Up as i32
    );
    // Metrics carry the count at both ends.
    for node in [&county, &city] {
        let text = http_get(node.http_addr(), "/metrics").await?;
        assert!(
            text.lines()
                .any(|l| l.starts_with("vfed_link_refused_entries{") && !l.ends_with(" 0")),
            "no refused-entries metric at {}",
            node.id()
        );
    }
    Ok(())
}

/// A TCP proxy that can stop forwarding without closing anything: a
/// partition that drops every packet, as a firewall's DROP rule does.
struct BlackHole {
    addr: std::net::SocketAddr,
    dropping: Arc<AtomicBool>,
    _task: tokio::task::JoinHandle<()>,
}

impl BlackHole {
    async fn start(target: std::net::SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let dropping = Arc::new(AtomicBool::new(false));
        let flag = dropping.clone();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = TcpStream::connect(target).await else {
                    continue;
                };
                let (ri, wi) = inbound.into_split();
                let (ro, wo) = outbound.into_split();
                tokio::spawn(pump(ri, wo, flag.clone()));
                tokio::spawn(pump(ro, wi, flag.clone()));
            }
        });
        Ok(Self {
            addr,
            dropping,
            _task: task,
        })
    }

    fn drop_everything(&self, on: bool) {
        self.dropping.store(on, Ordering::SeqCst);
    }
}

/// Copies `from` to `to`; while dropping, what was read is held back (not
/// lost: TCP would retransmit it after the partition) and nothing closes.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    dropping: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while dropping.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn a_black_holed_link_is_down_within_two_heartbeats_with_lag_growing() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let heartbeat = Duration::from_millis(500);
    let city = TestNode::start(
        &pki,
        NodeOptions::new(CITY, "city")
            .children(&[NAIDONG])
            .heartbeat(heartbeat),
    )
    .await?;
    let hole = BlackHole::start(city.grpc_addr).await?;
    let county = TestNode::start(
        &pki,
        NodeOptions::new(NAIDONG, "county")
            .parent(CITY, hole.addr)
            .heartbeat(heartbeat),
    )
    .await?;
    let (top, bottom) = (city.channel(&pki)?, county.channel(&pki)?);
    let mut registry = RegistryClient::new(bottom.clone());
    registry
        .register_device(register_request(&naidong_camera(1), true))
        .await?;
    eventually("first device at the city", WAIT, || async {
        Ok(get_device(&top, &naidong_camera(1)).await?.map(|_| ()))
    })
    .await?;

    hole.drop_everything(true);
    let state = |l: &Link| LinkState::try_from(l.state).unwrap_or(LinkState::Unspecified);
    // Two periods after the last message, plus one of slack for a loaded
    // machine's scheduling: never the 40-50 s of TCP's own timeouts.
    let deadline = heartbeat * 3;
    eventually("county shows its parent link down", deadline, || async {
        let l = links(&bottom).await?;
        Ok((state(link(&l, "parent")?) == LinkState::Down).then_some(()))
    })
    .await?;
    eventually("city shows its child link down", deadline, || async {
        let l = links(&top).await?;
        Ok((state(link(&l, "child")?) == LinkState::Down).then_some(()))
    })
    .await?;

    // Lag counts what the parent has not acknowledged, and grows.
    let mut lags = Vec::new();
    for round in 0..2u32 {
        for n in 0..10 {
            registry
                .register_device(register_request(&naidong_camera(10 + round * 10 + n), true))
                .await?;
        }
        let floor = lags.last().copied().unwrap_or(0);
        let lag = eventually("lag at the county grows", WAIT, || async {
            let l = links(&bottom).await?;
            let parent = link(&l, "parent")?;
            anyhow::ensure!(state(parent) != LinkState::Up, "shown up during the outage");
            Ok((parent.lag_revisions >= floor + 10).then_some(parent.lag_revisions))
        })
        .await?;
        lags.push(lag);
    }
    assert!(lags[1] > lags[0], "{lags:?}");
    let metrics = http_get(county.http_addr(), "/metrics").await?;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("vfed_link_up{") && l.ends_with(" 0")),
        "{metrics}"
    );

    // Healed: everything arrives, the link is up with no lag.
    hole.drop_everything(false);
    eventually(
        "all devices at the city after the partition",
        WAIT,
        || async { Ok((remote_set(&top).await?.len() == 21).then_some(())) },
    )
    .await?;
    eventually("county link up with no lag", WAIT, || async {
        let l = links(&bottom).await?;
        let parent = link(&l, "parent")?;
        Ok((state(parent) == LinkState::Up && parent.lag_revisions == 0).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn control_and_bidi_characters_are_refused_in_display_fields() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let node = TestNode::start(&pki, NodeOptions::new(NAIDONG, "county")).await?;
    let channel = node.channel(&pki)?;
    let id = naidong_camera(1);
    type Edit = fn(&mut pb::DeviceSpec);
    let cases: [(&str, Edit); 7] = [
        ("spec.name", |s| s.name = "cam\u{1b}[31mred".into()),
        ("spec.name", |s| s.name = "nul\0byte".into()),
        ("spec.address", |s| s.address = "road \u{202E}evil".into()),
        ("spec.unit", |s| s.unit = "unit \u{2066}x\u{2069}".into()),
        ("spec.responsible.builder", |s| {
            s.responsible.as_mut().unwrap().builder = "b\u{85}c".into();
        }),
        ("spec.filing.design_unit", |s| {
            s.filing.get_or_insert_with(Default::default).design_unit = "del\u{7f}".into();
        }),
        ("spec.filing.operators[1]", |s| {
            s.filing.get_or_insert_with(Default::default).operators =
                vec!["ok".into(), "bad\u{1b}".into()];
        }),
    ];
    for (field, edit) in cases {
        let mut spec = device_spec(&id, true);
        edit(&mut spec);
        refused(&channel, spec, field, "control or bidirectional-override").await?;
    }
    assert!(
        get_device(&channel, &id).await?.is_none(),
        "a refused device was stored"
    );
    Ok(())
}

/// Sends pre-encoded request bytes, as a client with its own protobuf
/// encoder (or none) could.
#[derive(Clone, Default)]
struct RawCodec;

struct RawEncoder;

impl tonic::codec::Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut as _;
        dst.put_slice(&item);
        Ok(())
    }
}

struct DeviceDecoder;

impl tonic::codec::Decoder for DeviceDecoder {
    type Item = pb::Device;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<pb::Device>, tonic::Status> {
        use prost::Message as _;
        pb::Device::decode(src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = pb::Device;
    type Encoder = RawEncoder;
    type Decoder = DeviceDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> DeviceDecoder {
        DeviceDecoder
    }
}

#[tokio::test]
async fn non_utf8_strings_are_invalid_argument_naming_the_field() -> anyhow::Result<()> {
    use prost::Message as _;
    let pki = TestPki::new()?;
    let node = TestNode::start(&pki, NodeOptions::new(NAIDONG, "county")).await?;
    let channel = node.channel(&pki)?;
    let mut spec = device_spec(&naidong_camera(1), true);
    spec.name = "@@@@@@@@".into();
    let mut bytes = pb::RegisterDeviceRequest { spec: Some(spec) }.encode_to_vec();
    // Same length, so every length prefix stays right: only the UTF-8 breaks.
    let at = bytes
        .windows(8)
        .position(|w| w == b"@@@@@@@@")
        .ok_or_else(|| anyhow::anyhow!("placeholder not encoded"))?;
    bytes[at..at + 8].copy_from_slice(&[0xff, 0xfe, 0xc3, 0x28, 0x80, 0x80, 0xed, 0xa0]);

    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await?;
    let path = http::uri::PathAndQuery::from_static("/vfed.registry.v1.Registry/RegisterDevice");
    let status = grpc
        .unary(tonic::Request::new(bytes), path, RawCodec)
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("non-UTF-8 name accepted"))?;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("DeviceSpec.name") && status.message().contains("UTF-8"),
        "{}",
        status.message()
    );
    assert!(get_device(&channel, &naidong_camera(1)).await?.is_none());
    Ok(())
}

#[tokio::test]
async fn negative_revisions_and_year_minus_one_are_refused() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let node = TestNode::start(&pki, NodeOptions::new(NAIDONG, "county")).await?;
    let channel = node.channel(&pki)?;
    let id = naidong_camera(1);
    let stored = register(&channel, device_spec(&id, true)).await?;

    let mut client = RegistryClient::new(channel.clone());
    let mut spec = device_spec(&id, true);
    spec.name = "renamed".into();
    let status = client
        .update_device(pb::UpdateDeviceRequest {
            spec: Some(spec.clone()),
            expected_revision: -1,
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("expected_revision -1 accepted"))?;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("expected_revision"),
        "{}",
        status.message()
    );
    let unchanged = get_device(&channel, &id).await?.unwrap();
    assert_eq!(unchanged.revision, stored.revision);
    // 0 is "no check", documented in the proto.
    client
        .update_device(pb::UpdateDeviceRequest {
            spec: Some(spec),
            expected_revision: 0,
        })
        .await?;

    for (field, date) in [
        ("spec.acceptance.accepted_on", "-0001-01-01"),
        ("spec.acceptance.accepted_on", "+2024-01-01"),
        ("spec.acceptance.accepted_on", "1900-01-01"),
    ] {
        let mut spec = device_spec(&naidong_camera(2), true);
        spec.acceptance.as_mut().unwrap().accepted_on = date.into();
        refused(&channel, spec, field, "1970..=9999").await?;
    }
    let mut spec = device_spec(&naidong_camera(2), true);
    spec.filing = Some(pb::Filing {
        filed_on: "-0001-01-01".into(),
        ..Default::default()
    });
    refused(&channel, spec, "spec.filing.filed_on", "1970..=9999").await?;
    Ok(())
}
