//! One trace per subscribe: a viewer opens a county camera over HLS at the
//! province; the province, the city and the county handle the subscription
//! in spans of that one trace, each the child of the one before it across
//! the QUIC relay links (W3C trace context in `Subscribe`).
//!
//! Real nodes, real QUIC with mutual TLS; spans go through the OpenTelemetry
//! SDK into its in-memory exporter. All nodes share the process, so spans
//! are told apart by their `node` attribute.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use common::*;
use opentelemetry::trace::{SpanId, TraceContextExt, TraceId, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use vfed_proto::auth::v1::Role;
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_relay::StreamKey;
use vfed_tests::{NewUser, NodeOptions, TestNode, TestPki, eventually, register_request};

const WAIT: Duration = Duration::from_secs(20);

/// Installs (once) the process-wide subscriber: OpenTelemetry spans into an
/// in-memory exporter, W3C propagation, logs per `RUST_LOG`.
fn exporter() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("vfed-tests")))
            .with(
                tracing_subscriber::fmt::layer()
                    .with_test_writer()
                    .with_filter(tracing_subscriber::EnvFilter::from_default_env()),
            );
        tracing::subscriber::set_global_default(subscriber).unwrap();
        exporter
    })
}

/// A finished span, by what the test checks.
#[derive(Clone, Debug)]
struct Seen {
    name: String,
    trace: TraceId,
    id: SpanId,
    parent: SpanId,
    attributes: HashMap<String, String>,
}

impl Seen {
    fn of(span: &SpanData) -> Self {
        Self {
            name: span.name.to_string(),
            trace: span.span_context.trace_id(),
            id: span.span_context.span_id(),
            parent: span.parent_span_id,
            attributes: span
                .attributes
                .iter()
                .map(|kv| (kv.key.to_string(), kv.value.as_str().into_owned()))
                .collect(),
        }
    }

    fn attr(&self, key: &str) -> &str {
        self.attributes.get(key).map_or("", String::as_str)
    }
}

/// The finished span of `trace` named `name` at `node`, if there is one.
fn find(trace: TraceId, name: &str, node: &str) -> Option<Seen> {
    let spans = exporter().get_finished_spans().ok()?;
    spans
        .iter()
        .map(Seen::of)
        .find(|s| s.trace == trace && s.name == name && s.attr("node") == node)
}

/// GET `path` (HTTP/1.0) with extra request headers; the whole response.
async fn get_with(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &HashMap<String, String>,
) -> anyhow::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let mut request = format!("GET {path} HTTP/1.0\r\nHost: x\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    Ok(response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribe_at_the_top_is_one_trace_through_city_and_county() -> anyhow::Result<()> {
    exporter();
    let pki = TestPki::new()?;
    let province = TestNode::start(
        &pki,
        NodeOptions::new(PROVINCE, "province").children(&[CITY]),
    )
    .await?;
    let city = TestNode::start(
        &pki,
        NodeOptions::new(CITY, "city")
            .under(&province)
            .children(&[NAIDONG]),
    )
    .await?;
    let county = TestNode::start(&pki, NodeOptions::new(NAIDONG, "county").under(&city)).await?;
    let camera = naidong_camera(1);
    RegistryClient::new(county.channel(&pki)?)
        .register_device(register_request(&camera, true))
        .await?;
    let top = province.channel(&pki)?;
    eventually("camera in the province catalog", WAIT, || {
        get_device(&top, &camera)
    })
    .await?;

    // The county's source: the demo clip, published as the gateway publishes
    // a camera (it pulls cameras continuously, whether watched or not).
    let clip = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/media/assets/demo-720p25.h264"
    );
    let (metadata, units) = vfed_media::AnnexBFile::read(clip)?;
    let key = StreamKey::new(&camera, "main")?;
    let stop = tokio_util::sync::CancellationToken::new();
    vfed_relay::source::spawn_looping(county.relay()?.publish(&key), metadata, units, stop.clone());
    let (province_relay, city_relay) = (province.relay()?, city.relay()?);
    eventually("relay links up the tree", WAIT, || async {
        Ok(
            (province_relay.link(CITY).is_some() && city_relay.link(NAIDONG).is_some())
                .then_some(()),
        )
    })
    .await?;

    // A duty officer at the province, with their own trace context, opens the stream.
    let password = "watch-the-square-123";
    province
        .create_user(
            &pki,
            NewUser {
                name: "pema",
                role: Role::Operator,
                unit: "province command centre",
                department: "",
                password,
            },
        )
        .await?;
    let token = province.login(&pki, "pema", password).await?;
    let viewer = tracing::info_span!("viewer", node = "viewer");
    let mut headers = vfed_telemetry::propagation::inject_map(&viewer);
    headers.insert("authorization".into(), format!("Bearer {token}"));
    let trace = viewer.context().span().span_context().trace_id();
    let viewer_id = viewer.context().span().span_context().span_id();
    let path = format!("/live/{camera}/main/index.m3u8");
    let playlist = get_with(province.http_addr(), &path, &headers).await?;
    assert!(
        playlist.starts_with("HTTP/1.0 200") && playlist.contains("#EXTM3U"),
        "{playlist}"
    );
    drop(viewer);

    // province: hls.open -> relay.subscribe -> relay.pull ~QUIC~>
    // city: relay.subscribe -> relay.pull ~QUIC~> county: relay.subscribe.
    let chain = [
        ("hls.open", PROVINCE),
        ("relay.subscribe", PROVINCE),
        ("relay.pull", PROVINCE),
        ("relay.subscribe", CITY),
        ("relay.pull", CITY),
        ("relay.subscribe", NAIDONG),
    ];
    let spans = eventually("the subscribe's spans at every level", WAIT, || async {
        Ok(chain
            .iter()
            .map(|(name, node)| find(trace, name, node))
            .collect::<Option<Vec<Seen>>>())
    })
    .await?;
    let mut parent = viewer_id;
    for (span, (name, node)) in spans.iter().zip(chain) {
        assert_eq!(
            span.parent, parent,
            "{name} at {node} is the child of the span before it: {spans:#?}"
        );
        parent = span.id;
    }
    let [
        _,
        province_sub,
        province_pull,
        city_sub,
        city_pull,
        county_sub,
    ] = &spans[..]
    else {
        unreachable!()
    };
    assert_eq!(province_sub.attr("key"), key.to_string());
    assert_eq!(
        (province_sub.attr("peer"), province_sub.attr("source")),
        ("hls", format!("node/{CITY}").as_str())
    );
    assert_eq!(
        (
            province_pull.attr("upstream"),
            province_pull.attr("outcome")
        ),
        (format!("node/{CITY}").as_str(), "ok")
    );
    assert_eq!(
        (city_sub.attr("peer"), city_sub.attr("source")),
        (
            format!("node/{PROVINCE}").as_str(),
            format!("node/{NAIDONG}").as_str()
        )
    );
    assert_eq!(
        (city_pull.attr("upstream"), city_pull.attr("outcome")),
        (format!("node/{NAIDONG}").as_str(), "ok")
    );
    // The trace ends at the origin's track lookup: the camera is pulled
    // whether anyone watches or not.
    assert_eq!(
        (county_sub.attr("peer"), county_sub.attr("source")),
        (format!("node/{CITY}").as_str(), "local")
    );
    assert!(
        spans.iter().all(|s| s.attr("error").is_empty()),
        "{spans:#?}"
    );

    // A second subscriber joins the running pull: its trace ends at the
    // province, which opens nothing upstream.
    let second = tracing::info_span!("second viewer", node = "viewer");
    let second_trace = second.context().span().span_context().trace_id();
    let reader = province_relay
        .subscribe_for(&key.to_string(), "test")
        .instrument(second.clone())
        .await?;
    drop(second);
    let joined = eventually("the second subscribe's span", WAIT, || async {
        Ok(find(second_trace, "relay.subscribe", PROVINCE))
    })
    .await?;
    assert_eq!(joined.attr("source"), format!("node/{CITY}"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let spans = exporter().get_finished_spans()?;
    let mut in_second: Vec<String> = spans
        .iter()
        .map(Seen::of)
        .filter(|s| s.trace == second_trace)
        .map(|s| format!("{} at {}", s.name, s.attr("node")))
        .collect();
    in_second.sort();
    assert_eq!(
        in_second,
        [
            format!("relay.subscribe at {PROVINCE}"),
            "second viewer at viewer".to_owned()
        ],
        "nothing upstream for a subscriber that joins a running pull"
    );
    drop(reader);
    stop.cancel();
    Ok(())
}
