//! Benchmark 1: device registrations per second through the gRPC
//! `RegisterDevice` API of one county node, embedded store and etcd, with C
//! concurrent clients, each on its own mutual-TLS connection.
//!
//! Also home of the load helpers the other benchmarks reuse.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use tonic::transport::Channel;
use vfed_proto::federation::v1 as fed;
use vfed_proto::federation::v1::node_client::NodeClient;
use vfed_proto::registry::v1 as pb;
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_store::testing::EtcdServer;
use vfed_store::{Compare, KeyValue, Op, SharedStore, Txn};
use vfed_tests::{Backend, NodeOptions, TestNode, TestPki, register_request};

use crate::machine::{CpuMark, CpuUse};
use crate::report::{Goal, Row, Section, Stat, number, quantile};

/// The city node of every benchmark.
pub const CITY: &str = "54050000002000000001";
/// The county node (child of [`CITY`]) of every benchmark.
pub const COUNTY: &str = "54050200002000000001";

/// The `n`th distinct valid camera ID in the county's area (n < 200,000).
pub fn device_id(n: usize) -> String {
    let (type_code, serial) = if n < 100_000 {
        (132, n)
    } else {
        (131, n - 100_000)
    };
    format!("5405020000{type_code}00{serial:05}")
}

/// `count` registry clients of `node`, each on its own connection, each
/// connected (TLS handshake done) before returning.
pub async fn clients(
    pki: &TestPki,
    node: &TestNode,
    count: usize,
) -> anyhow::Result<Vec<RegistryClient<Channel>>> {
    let mut channels = Vec::with_capacity(count);
    for _ in 0..count {
        channels.push(node.channel(pki)?);
    }
    connect(channels).await
}

/// Registry clients over `channels`, each connected before returning.
async fn connect(channels: Vec<Channel>) -> anyhow::Result<Vec<RegistryClient<Channel>>> {
    let mut clients = Vec::with_capacity(channels.len());
    for channel in channels {
        NodeClient::new(channel.clone())
            .get_node_info(fed::GetNodeInfoRequest {})
            .await
            .context("connecting a client")?;
        clients.push(RegistryClient::new(channel));
    }
    Ok(clients)
}

/// What a batch of registrations took.
pub struct Registered {
    /// Wall time from the first request sent to the last answer.
    pub elapsed: Duration,
    /// The highest store revision the node answered with.
    pub max_revision: i64,
    /// Per-request latency, milliseconds.
    pub latencies_ms: Vec<f64>,
}

/// Registers devices `first..first + n` (shared), spread round-robin over
/// `clients` which all run at once.
pub async fn register_all(
    clients: &[RegistryClient<Channel>],
    first: usize,
    n: usize,
) -> anyhow::Result<Registered> {
    anyhow::ensure!(!clients.is_empty(), "no clients");
    // Requests are built before the clock starts.
    let mut buckets: Vec<Vec<pb::RegisterDeviceRequest>> = vec![Vec::new(); clients.len()];
    for i in 0..n {
        buckets[i % clients.len()].push(register_request(&device_id(first + i), true));
    }
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients.len());
    for (client, bucket) in clients.iter().cloned().zip(buckets) {
        let mut client = client;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(bucket.len());
            let mut max_revision = 0;
            for request in bucket {
                let sent = Instant::now();
                let device = client.register_device(request).await?.into_inner();
                latencies.push(sent.elapsed().as_secs_f64() * 1e3);
                max_revision = max_revision.max(device.revision);
            }
            Ok::<_, tonic::Status>((latencies, max_revision))
        }));
    }
    let mut latencies_ms = Vec::with_capacity(n);
    let mut max_revision = 0;
    for task in tasks {
        let (latencies, revision) = task.await?.context("RegisterDevice")?;
        latencies_ms.extend(latencies);
        max_revision = max_revision.max(revision);
    }
    Ok(Registered {
        elapsed: started.elapsed(),
        max_revision,
        latencies_ms,
    })
}

/// Sizes of this benchmark.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Registrations per run at the high concurrency.
    pub n: usize,
    /// The high concurrency.
    pub concurrency: usize,
    /// Registrations per run with one client.
    pub n_serial: usize,
    /// Runs per case.
    pub runs: usize,
}

struct RunResult {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu: CpuUse,
    /// Comparison points measured in the same run (high concurrency only).
    floors: Option<Floors>,
}

/// What the same load costs without parts of the path.
struct Floors {
    /// The same key/values written straight into a fresh store of the same
    /// backend, one create-if-absent transaction each, C at a time (no gRPC).
    store_only: f64,
    /// `Node.GetNodeInfo` calls/s over the same C connections (gRPC, TLS and
    /// HTTP/2 with no store and no JSON).
    rpc_only: f64,
}

/// Writes `kvs` into `store` as one create-if-absent transaction each from
/// `concurrency` tasks; returns transactions/s.
async fn store_only_rate(
    store: SharedStore,
    kvs: Vec<KeyValue>,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let n = kvs.len();
    let mut buckets: Vec<Vec<Txn>> = vec![Vec::new(); concurrency.max(1)];
    for (i, kv) in kvs.into_iter().enumerate() {
        let txn = Txn::new()
            .when(Compare::absent(kv.key.clone()))
            .then(Op::put(kv.key, kv.value));
        buckets[i % concurrency.max(1)].push(txn);
    }
    let started = Instant::now();
    let tasks: Vec<_> = buckets
        .into_iter()
        .map(|bucket| {
            let store = store.clone();
            tokio::spawn(async move {
                for txn in bucket {
                    store.txn(txn).await?;
                }
                Ok::<_, vfed_store::StoreError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// `n` `GetNodeInfo` calls spread over `clients`' connections; returns calls/s.
async fn rpc_only_rate(channels: &[Channel], n: usize) -> anyhow::Result<f64> {
    let per_client = n.div_ceil(channels.len().max(1));
    let started = Instant::now();
    let tasks: Vec<_> = channels
        .iter()
        .map(|channel| {
            let mut client = NodeClient::new(channel.clone());
            tokio::spawn(async move {
                for _ in 0..per_client {
                    client.get_node_info(fed::GetNodeInfoRequest {}).await?;
                }
                Ok::<_, tonic::Status>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok((per_client * channels.len()) as f64 / started.elapsed().as_secs_f64())
}

async fn one_run(
    pki: &TestPki,
    backend: &Backend,
    etcd: &EtcdServer,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<RunResult> {
    // A fresh node (and store) per run: every run inserts into the same size.
    let mut node = TestNode::start(
        pki,
        NodeOptions::new(COUNTY, "county").backend(backend.clone()),
    )
    .await?;
    let mut channels = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        channels.push(node.channel(pki)?);
    }
    let clients = connect(channels.clone()).await?;
    let mark = CpuMark::now();
    let done = register_all(&clients, 0, n).await;
    let cpu = mark.used();
    let floors = if concurrency > 1 && done.is_ok() {
        let kvs = node.store()?.snapshot(b"").await?.kvs;
        let rpc_only = rpc_only_rate(&channels, n).await?;
        let store_only = match backend {
            Backend::Embedded => {
                let (store, _dir) = vfed_store::testing::temp_embedded_store()?;
                store_only_rate(store, kvs, concurrency).await?
            }
            Backend::Etcd(_) => store_only_rate(etcd.store().await?, kvs, concurrency).await?,
        };
        Some(Floors {
            store_only,
            rpc_only,
        })
    } else {
        None
    };
    drop(clients);
    node.stop().await;
    let done = done?;
    Ok(RunResult {
        rate: n as f64 / done.elapsed.as_secs_f64(),
        p50_ms: quantile(&done.latencies_ms, 0.5),
        p99_ms: quantile(&done.latencies_ms, 0.99),
        cpu,
        floors,
    })
}

struct CaseResult {
    label: String,
    rate: Stat,
    p50: Stat,
    p99: Stat,
    cores: Stat,
    busy: Stat,
    store_only: Option<Stat>,
    rpc_only: Option<Stat>,
}

async fn case(
    pki: &TestPki,
    (name, backend): (&str, &Backend),
    etcd: &EtcdServer,
    n: usize,
    c: usize,
    runs: usize,
) -> anyhow::Result<CaseResult> {
    let mut results = Vec::with_capacity(runs);
    for run in 1..=runs {
        let r = one_run(pki, backend, etcd, n, c)
            .await
            .with_context(|| format!("registrations {name} C={c}"))?;
        let floors = r.floors.as_ref().map_or_else(String::new, |f| {
            format!(
                "; store alone {} txn/s, GetNodeInfo {} /s",
                number(f.store_only),
                number(f.rpc_only)
            )
        });
        eprintln!(
            "  registrations {name} C={c} N={n} run {run}/{runs}: {} /s (p50 {} ms, p99 {} ms, process {:.2} cores, \
             machine {:.0}% busy{floors})",
            number(r.rate),
            number(r.p50_ms),
            number(r.p99_ms),
            r.cpu.process_cores,
            r.cpu.machine_busy * 100.0
        );
        results.push(r);
    }
    let pick = |f: fn(&RunResult) -> f64| Stat::of(results.iter().map(f).collect());
    let floor = |f: fn(&Floors) -> f64| {
        let values: Vec<f64> = results
            .iter()
            .filter_map(|r| r.floors.as_ref().map(f))
            .collect();
        (!values.is_empty()).then(|| Stat::of(values)).transpose()
    };
    Ok(CaseResult {
        label: format!("{name}, C={c}, N={n}"),
        rate: pick(|r| r.rate)?,
        p50: pick(|r| r.p50_ms)?,
        p99: pick(|r| r.p99_ms)?,
        cores: pick(|r| r.cpu.process_cores)?,
        busy: pick(|r| r.cpu.machine_busy * 100.0)?,
        store_only: floor(|f| f.store_only)?,
        rpc_only: floor(|f| f.rpc_only)?,
    })
}

/// Runs the benchmark.
pub async fn run(pki: &TestPki, sizes: Sizes) -> anyhow::Result<Section> {
    const NAME: &str = "registrations";
    eprintln!("registrations: starting etcd");
    let etcd = EtcdServer::start().await?;
    let backends = [
        ("embedded", Backend::Embedded),
        ("etcd", Backend::Etcd(etcd.client_url().to_owned())),
    ];
    let mut section = Section {
        name: "Device registrations/s".into(),
        method: format!(
            "N `RegisterDevice` calls (valid shared road cameras, distinct IDs) to one county node over mutual TLS on \
             loopback, spread round-robin over C clients, each its own TLS connection (handshake done before the \
             clock starts), all in this process on the same tokio runtime as the node. A fresh node and store per \
             run. Rate = N / wall time from the first request to the last answer. {} runs per case. For context, \
             each high-concurrency run also measures (after the timed part) the same key/values written straight \
             into a fresh store of the same backend, one create-if-absent transaction each, C at a time, with no \
             gRPC (\"store alone\"), and N `Node.GetNodeInfo` calls over the same C connections (\"RPC alone\": \
             TLS, HTTP/2 and tonic with no store and no JSON).",
            sizes.runs
        ),
        ..Section::default()
    };
    let mut high = Vec::new();
    for (name, backend) in &backends {
        for (n, c) in [(sizes.n, sizes.concurrency), (sizes.n_serial, 1)] {
            let r = case(pki, (name, backend), &etcd, n, c, sizes.runs).await?;
            let rate = Row::new(NAME, r.label.clone(), "throughput", "reg/s", r.rate.clone());
            let rate = if *name == "embedded" && c > 1 {
                rate.goal(Goal::AtLeast(10_000.0))
            } else {
                rate
            };
            section.rows.push(rate);
            section.rows.push(Row::new(
                NAME,
                r.label.clone(),
                "request latency p50",
                "ms",
                r.p50,
            ));
            section.rows.push(Row::new(
                NAME,
                r.label.clone(),
                "request latency p99",
                "ms",
                r.p99,
            ));
            if let Some(store_only) = r.store_only.clone() {
                section.rows.push(Row::new(
                    NAME,
                    r.label.clone(),
                    "store alone (no gRPC)",
                    "txn/s",
                    store_only,
                ));
            }
            if let Some(rpc_only) = r.rpc_only.clone() {
                section.rows.push(Row::new(
                    NAME,
                    r.label.clone(),
                    "RPC alone (GetNodeInfo)",
                    "calls/s",
                    rpc_only,
                ));
            }
            section.notes.push(format!(
                "{}: this process (node + clients) kept {} of {} cores busy and the whole machine was {}% busy \
                 (medians over runs; the rest is etcd, kernel threads and other users of this shared machine).",
                r.label,
                number(r.cores.median),
                std::thread::available_parallelism().map_or(0, usize::from),
                number(r.busy.median)
            ));
            if c > 1 {
                high.push((*name, r.rate.median));
            }
        }
    }
    if let [(_, embedded), (_, etcd_rate)] = high[..] {
        section.notes.push(format!(
            "Ratio embedded / etcd at C={}: {:.2}x (medians).",
            sizes.concurrency,
            embedded / etcd_rate
        ));
    }
    drop(etcd);
    Ok(section)
}
