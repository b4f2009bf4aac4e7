//! Benchmark 2: time for a city node to hold a county's whole shared catalog
//! after the link was down while the county registered it.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use tonic::transport::Channel;
use vfed_config::ParentConfig;
use vfed_proto::federation::v1 as fed;
use vfed_proto::federation::v1::node_client::NodeClient;
use vfed_proto::registry::v1 as pb;
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_store::testing::EtcdServer;
use vfed_tests::{Backend, NodeOptions, TestNode, TestPki};

use crate::machine::CpuMark;
use crate::registrations::{CITY, COUNTY, clients, register_all};
use crate::report::{Goal, Row, Section, Stat, number, quantile};

/// How long one sync may take before the run is declared failed.
const SYNC_TIMEOUT: Duration = Duration::from_secs(300);
/// How often the city's links are polled.
const POLL_EVERY: Duration = Duration::from_millis(5);
/// Time given to the county's uplink to settle into its reconnect backoff.
const SETTLE: Duration = Duration::from_secs(2);

/// Sizes of this benchmark.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Devices in the county's catalog.
    pub n: usize,
    /// Runs with an embedded-store city.
    pub runs: usize,
    /// Runs with an etcd-backed city (0 to skip).
    pub etcd_runs: usize,
}

struct SyncRun {
    /// From `restart` of the city to the city holding everything.
    total: f64,
    /// From the city's start to the first poll that saw the county linked.
    link_seen: f64,
    /// The city's own start (open store, bind, serve).
    city_start: f64,
    /// ListLinks round trips, ms.
    poll_ms: Vec<f64>,
    /// Paging every remote device with ListDevices afterwards, seconds.
    verify: f64,
    process_cores: f64,
    machine_busy: f64,
}

fn city_options(backend: Backend) -> NodeOptions {
    NodeOptions::new(CITY, "city")
        .children(&[COUNTY])
        .backend(backend)
}

/// Counts the city's remote devices by paging `ListDevices`.
async fn count_remote(channel: Channel) -> anyhow::Result<usize> {
    let mut client = RegistryClient::new(channel).max_decoding_message_size(64 << 20);
    let mut token = String::new();
    let mut count = 0;
    loop {
        let page = client
            .list_devices(pb::ListDevicesRequest {
                scope: pb::Scope::Remote.into(),
                page_size: 1000,
                page_token: token,
                ..Default::default()
            })
            .await?
            .into_inner();
        count += page.devices.len();
        if page.next_page_token.is_empty() || page.devices.is_empty() {
            return Ok(count);
        }
        token = page.next_page_token;
    }
}

/// Starts the (stopped, fresh) `city` and waits until it has applied the
/// county's revision `target`.
async fn sync_once(
    pki: &TestPki,
    city: &mut TestNode,
    target: i64,
    n: usize,
) -> anyhow::Result<SyncRun> {
    let mark = CpuMark::now();
    let started = Instant::now();
    city.restart().await?;
    let city_start = started.elapsed().as_secs_f64();
    let mut links = NodeClient::new(city.channel(pki)?);
    let mut link_seen = None;
    let mut poll_ms = Vec::new();
    let mut last = String::from("no answer yet");
    loop {
        let sent = Instant::now();
        let answer = links.list_links(fed::ListLinksRequest {}).await;
        poll_ms.push(sent.elapsed().as_secs_f64() * 1e3);
        match answer {
            Ok(answer) => {
                let link = answer
                    .into_inner()
                    .links
                    .into_iter()
                    .find(|l| l.peer_id == COUNTY && l.role == "child");
                if let Some(l) = link {
                    let up = l.state == fed::LinkState::Up as i32;
                    if link_seen.is_none() && (up || l.state == fed::LinkState::Resyncing as i32) {
                        link_seen = Some(started.elapsed().as_secs_f64());
                    }
                    if up && l.applied_revision >= target && l.lag_revisions == 0 {
                        break;
                    }
                    last = format!(
                        "state {} applied {} lag {}",
                        l.state, l.applied_revision, l.lag_revisions
                    );
                }
            }
            Err(status) => last = status.to_string(),
        }
        anyhow::ensure!(
            started.elapsed() < SYNC_TIMEOUT,
            "city not in sync within {SYNC_TIMEOUT:?}: {last}"
        );
        tokio::time::sleep(POLL_EVERY).await;
    }
    let total = started.elapsed().as_secs_f64();
    let cpu = mark.used();
    let verify_started = Instant::now();
    let count = count_remote(city.channel(pki)?).await?;
    let verify = verify_started.elapsed().as_secs_f64();
    anyhow::ensure!(
        count == n,
        "city holds {count} remote devices, expected {n}"
    );
    Ok(SyncRun {
        total,
        link_seen: link_seen.unwrap_or(total),
        city_start,
        poll_ms,
        verify,
        process_cores: cpu.process_cores,
        machine_busy: cpu.machine_busy,
    })
}

/// Runs the benchmark.
pub async fn run(pki: &TestPki, sizes: Sizes) -> anyhow::Result<Section> {
    const NAME: &str = "catalog sync";
    let n = sizes.n;
    let mut section = Section {
        name: format!(
            "Time to sync a {}-device catalog county -> city",
            number(n as f64)
        ),
        method: format!(
            "A county (embedded store) registers {n} shared devices (64 clients) while its parent city is not \
             running. For each run a fresh city (new store) is created and stopped, the county is restarted \
             pointing at it and given {SETTLE:?} to settle into its reconnect backoff (harness: 100 ms doubling, \
             capped at 500 ms; production default caps at 5 s), then the clock starts, the city starts, and its \
             `Node.ListLinks` is polled every {POLL_EVERY:?} until the county's link is up with \
             applied_revision >= the county's last registration revision and lag 0 (the county resyncs in full: \
             the new city has no record of it). The city's remote devices are then counted by paging \
             `ListDevices` (not timed in the total; reported as the verify cost)."
        ),
        ..Section::default()
    };

    // A city that is not running, to get the address the county points at.
    let mut first_city = TestNode::start(pki, city_options(Backend::Embedded)).await?;
    first_city.stop().await;
    let mut county = TestNode::start(
        pki,
        NodeOptions::new(COUNTY, "county").parent(CITY, first_city.grpc_addr),
    )
    .await?;
    eprintln!("catalog sync: registering {n} devices at the county (link down)");
    let loaders = clients(pki, &county, 64).await?;
    let registered = register_all(&loaders, 0, n).await?;
    drop(loaders);
    eprintln!(
        "catalog sync: registered {n} in {:.1} s; county head revision {}",
        registered.elapsed.as_secs_f64(),
        registered.max_revision
    );
    let snapshot_started = Instant::now();
    let snapshot = county.store()?.snapshot(b"").await?;
    let snapshot_read = snapshot_started.elapsed().as_secs_f64();
    let snapshot_bytes: usize = snapshot
        .kvs
        .iter()
        .map(|kv| kv.key.len() + kv.value.len())
        .sum();
    drop(snapshot);
    drop(first_city);

    let mut etcd_note = None;
    for (variant, runs) in [("embedded", sizes.runs), ("etcd", sizes.etcd_runs)] {
        if runs == 0 {
            continue;
        }
        let mut results = Vec::with_capacity(runs);
        for run in 1..=runs {
            let etcd = if variant == "etcd" {
                Some(EtcdServer::start().await?)
            } else {
                None
            };
            let backend = etcd.as_ref().map_or(Backend::Embedded, |e| {
                Backend::Etcd(e.client_url().to_owned())
            });
            let mut city = TestNode::start(pki, city_options(backend)).await?;
            city.stop().await;
            county.config.node.parent = Some(ParentConfig {
                id: CITY.into(),
                endpoint: format!("https://{}", city.grpc_addr),
                relay_endpoint: String::new(),
            });
            county.restart().await?;
            tokio::time::sleep(SETTLE).await;
            let r = sync_once(pki, &mut city, registered.max_revision, n)
                .await
                .with_context(|| format!("catalog sync, {variant} city, run {run}"))?;
            eprintln!(
                "  catalog sync {variant} city N={n} run {run}/{runs}: {:.2} s (city start {:.3} s, link seen at \
                 {:.3} s, process {:.2} cores, machine {:.0}% busy; verify paging {:.2} s)",
                r.total,
                r.city_start,
                r.link_seen,
                r.process_cores,
                r.machine_busy * 100.0,
                r.verify
            );
            city.stop().await;
            drop(city);
            drop(etcd);
            results.push(r);
        }
        let pick = |f: fn(&SyncRun) -> f64| Stat::of(results.iter().map(f).collect());
        let case = format!("{variant} city, N={n}");
        let total = pick(|r| r.total)?;
        section.rows.push(
            Row::new(NAME, case.clone(), "city start -> all applied", "s", total)
                .goal(Goal::AtMost(5.0)),
        );
        section.rows.push(Row::new(
            NAME,
            case.clone(),
            "link seen -> all applied",
            "s",
            pick(|r| r.total - r.link_seen)?,
        ));
        section.rows.push(Row::new(
            NAME,
            case.clone(),
            "city start -> link seen",
            "s",
            pick(|r| r.link_seen)?,
        ));
        let all_polls: Vec<f64> = results
            .iter()
            .flat_map(|r| r.poll_ms.iter().copied())
            .collect();
        let cores = pick(|r| r.process_cores)?;
        let busy = pick(|r| r.machine_busy * 100.0)?;
        let verify = pick(|r| r.verify)?;
        section.notes.push(format!(
            "{case}: during the sync this process (county + city + poller) kept {} cores busy and the machine was {}% \
             busy (medians); the city's own start took {} s (median); ListLinks polls took {} ms p50 / {} ms p99 \
             ({} polls), so polling adds at most about {} ms to a measurement; counting the {} remote devices \
             afterwards by paging ListDevices (1000 per page) took {} s (median), which is why the clock stops on \
             ListLinks and not on a paged count.",
            number(cores.median),
            number(busy.median),
            number(pick(|r| r.city_start)?.median),
            number(quantile(&all_polls, 0.5)),
            number(quantile(&all_polls, 0.99)),
            all_polls.len(),
            number(POLL_EVERY.as_secs_f64() * 1e3 + quantile(&all_polls, 0.5)),
            number(n as f64),
            number(verify.median)
        ));
        if variant == "etcd" {
            etcd_note = Some(total_ratio(&section));
        }
    }
    section.notes.push(format!(
        "Reading the county's whole store as one snapshot (what the uplink does before a full resync: {} keys, {} MB \
         of JSON values) takes {} s on its own; registering the {} devices took {} s at the county.",
        number(n as f64),
        number(snapshot_bytes as f64 / 1e6),
        number(snapshot_read),
        number(n as f64),
        number(registered.elapsed.as_secs_f64())
    ));
    if let Some(Some(note)) = etcd_note {
        section.notes.push(note);
    }
    county.stop().await;
    Ok(section)
}

fn total_ratio(section: &Section) -> Option<String> {
    let totals: Vec<f64> = section
        .rows
        .iter()
        .filter(|r| r.metric == "city start -> all applied")
        .map(|r| r.stat.median)
        .collect();
    match totals[..] {
        [embedded, etcd] => Some(format!(
            "An etcd-backed city takes {:.1}x as long as an embedded one (medians).",
            etcd / embedded
        )),
        _ => None,
    }
}
