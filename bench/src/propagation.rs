//! Benchmark 3: latency of a device status change at the county until the
//! city shows it (and, on the way, of a new registration until the city has it).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use tonic::Code;
use tonic::transport::Channel;
use vfed_proto::federation::v1 as fed;
use vfed_proto::federation::v1::node_client::NodeClient;
use vfed_proto::registry::v1 as pb;
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_tests::{NodeOptions, TestNode, TestPki, eventually, register_request};

use crate::machine::CpuMark;
use crate::registrations::{CITY, COUNTY, device_id};
use crate::report::{Goal, Row, Section, Stat, number, quantile};

/// Pause between two polls of the city.
const POLL_EVERY: Duration = Duration::from_millis(1);
/// Longest wait for one sample.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Sizes of this benchmark.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Samples per run.
    pub samples: usize,
    /// Runs.
    pub runs: usize,
}

#[derive(Default)]
struct RunSamples {
    /// Keepalive sent at the county -> city's GetDevice says online, ms.
    status_ms: Vec<f64>,
    /// RegisterDevice sent at the county -> city's GetDevice finds it, ms.
    register_ms: Vec<f64>,
    /// Keepalive round trip, ms.
    keepalive_rpc_ms: Vec<f64>,
    /// GetDevice round trip at the city, ms.
    poll_rpc_ms: Vec<f64>,
    process_cores: f64,
}

/// Polls the city until `done` accepts the device; returns the elapsed ms
/// since `since`.
async fn wait_at_city(
    city: &mut RegistryClient<Channel>,
    id: &str,
    since: Instant,
    poll_rpc_ms: &mut Vec<f64>,
    done: impl Fn(&pb::Device) -> bool,
) -> anyhow::Result<f64> {
    loop {
        let sent = Instant::now();
        let answer = city
            .get_device(pb::GetDeviceRequest { id: id.to_owned() })
            .await;
        poll_rpc_ms.push(sent.elapsed().as_secs_f64() * 1e3);
        match answer {
            Ok(device) if done(device.get_ref()) => return Ok(since.elapsed().as_secs_f64() * 1e3),
            Ok(_) => {}
            Err(status) if status.code() == Code::NotFound => {}
            Err(status) => return Err(status).context("GetDevice at the city"),
        }
        anyhow::ensure!(
            since.elapsed() < SAMPLE_TIMEOUT,
            "device {id} not at the city within {SAMPLE_TIMEOUT:?}"
        );
        tokio::time::sleep(POLL_EVERY).await;
    }
}

async fn one_run(pki: &TestPki, samples: usize) -> anyhow::Result<RunSamples> {
    let mut city = TestNode::start(pki, NodeOptions::new(CITY, "city").children(&[COUNTY])).await?;
    let mut county = TestNode::start(
        pki,
        NodeOptions::new(COUNTY, "county").parent(CITY, city.grpc_addr),
    )
    .await?;
    let mut links = NodeClient::new(city.channel(pki)?);
    eventually("county linked to the city", Duration::from_secs(30), || {
        let mut links = links.clone();
        async move {
            let answer = links
                .list_links(fed::ListLinksRequest {})
                .await?
                .into_inner();
            Ok(answer
                .links
                .iter()
                .any(|l| l.peer_id == COUNTY && l.state == fed::LinkState::Up as i32)
                .then_some(()))
        }
    })
    .await?;
    let _ = links.list_links(fed::ListLinksRequest {}).await?;
    let mut at_county = RegistryClient::new(county.channel(pki)?);
    let mut at_city = RegistryClient::new(city.channel(pki)?);
    let mut out = RunSamples::default();
    let mark = CpuMark::now();
    for i in 0..samples {
        let id = device_id(i);
        // A new device: registered (status unknown), then seen at the city.
        let since = Instant::now();
        at_county
            .register_device(register_request(&id, true))
            .await
            .context("RegisterDevice")?;
        out.register_ms
            .push(wait_at_city(&mut at_city, &id, since, &mut out.poll_rpc_ms, |_| true).await?);
        // Its first keepalive: unknown -> online, at the county then the city.
        let since = Instant::now();
        let answer = at_county
            .keepalive(pb::KeepaliveRequest {
                device_ids: vec![id.clone()],
                ..Default::default()
            })
            .await
            .context("Keepalive")?
            .into_inner();
        out.keepalive_rpc_ms
            .push(since.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(answer.unknown_ids.is_empty(), "county does not know {id}");
        let online = pb::DeviceStatus::Online as i32;
        out.status_ms.push(
            wait_at_city(&mut at_city, &id, since, &mut out.poll_rpc_ms, |d| {
                d.status == online
            })
            .await?,
        );
    }
    out.process_cores = mark.used().process_cores;
    county.stop().await;
    city.stop().await;
    Ok(out)
}

/// Runs the benchmark.
pub async fn run(pki: &TestPki, sizes: Sizes) -> anyhow::Result<Section> {
    const NAME: &str = "propagation";
    let mut section = Section {
        name: "Status-change propagation latency county -> city".into(),
        method: format!(
            "A county and a city (embedded stores) linked over mutual TLS, fresh per run. Per sample: register a \
             new shared device at the county and poll the city's `GetDevice` until it is there (registration \
             latency), then send the device's first `Keepalive` to the county (unknown -> online) and poll the \
             city's `GetDevice` until it says online (status latency). The clock starts before the county call is \
             sent and stops when the city's answer arrives; polls are back to back with a {POLL_EVERY:?} sleep \
             between them, and nothing is subtracted (the numbers include the county RPC and up to one poll \
             interval plus one poll round trip). {} samples per run, {} runs; the table gives the median over runs \
             of each run's p50 and p99.",
            sizes.samples, sizes.runs
        ),
        ..Section::default()
    };
    let mut runs = Vec::with_capacity(sizes.runs);
    for run in 1..=sizes.runs {
        let r = one_run(pki, sizes.samples)
            .await
            .with_context(|| format!("propagation run {run}"))?;
        eprintln!(
            "  propagation run {run}/{}: status p50 {} ms p99 {} ms; registration p50 {} ms p99 {} ms; keepalive rpc \
             p50 {} ms; poll rpc p50 {} ms",
            sizes.runs,
            number(quantile(&r.status_ms, 0.5)),
            number(quantile(&r.status_ms, 0.99)),
            number(quantile(&r.register_ms, 0.5)),
            number(quantile(&r.register_ms, 0.99)),
            number(quantile(&r.keepalive_rpc_ms, 0.5)),
            number(quantile(&r.poll_rpc_ms, 0.5)),
        );
        runs.push(r);
    }
    let per_run = |f: &dyn Fn(&RunSamples) -> f64| Stat::of(runs.iter().map(f).collect());
    let case = format!("embedded, {} samples/run", sizes.samples);
    section.rows.push(Row::new(
        NAME,
        case.clone(),
        "status change p50",
        "ms",
        per_run(&|r| quantile(&r.status_ms, 0.5))?,
    ));
    section.rows.push(
        Row::new(
            NAME,
            case.clone(),
            "status change p99",
            "ms",
            per_run(&|r| quantile(&r.status_ms, 0.99))?,
        )
        .goal(Goal::AtMost(1000.0)),
    );
    section.rows.push(Row::new(
        NAME,
        case.clone(),
        "new device p50",
        "ms",
        per_run(&|r| quantile(&r.register_ms, 0.5))?,
    ));
    section.rows.push(Row::new(
        NAME,
        case.clone(),
        "new device p99",
        "ms",
        per_run(&|r| quantile(&r.register_ms, 0.99))?,
    ));
    let keepalive = per_run(&|r| quantile(&r.keepalive_rpc_ms, 0.5))?;
    let poll = per_run(&|r| quantile(&r.poll_rpc_ms, 0.5))?;
    let poll99 = per_run(&|r| quantile(&r.poll_rpc_ms, 0.99))?;
    let cores = per_run(&|r| r.process_cores)?;
    let all_status: Vec<f64> = runs
        .iter()
        .flat_map(|r| r.status_ms.iter().copied())
        .collect();
    section.notes.push(format!(
        "Of a status sample, the county's Keepalive round trip alone (read-modify-write of the entry, one durable \
         commit) takes {} ms p50; a city GetDevice poll round trip takes {} ms p50 / {} ms p99 (medians over runs); \
         this process kept {} cores busy. Over all {} status samples: max {} ms.",
        number(keepalive.median),
        number(poll.median),
        number(poll99.median),
        number(cores.median),
        all_status.len(),
        number(all_status.iter().copied().fold(0.0, f64::max))
    ));
    Ok(section)
}
