//! The vfed side of the relay benchmark: a county node (the origin, looping
//! the clip as its cameras) and a city node (the relay under test) in two
//! processes of their own, linked over QUIC with mutual TLS as in
//! production; viewers connect to the city from this process.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::relay_env::{Env, Window, measure, settle};
use crate::relay_latency::{Latency, Path};
use crate::relay_node::{CITY, COUNTY, stream_key};
use crate::relay_proc::Peer;
use crate::relay_viewer::{OnFrame, Viewer, wait_all_playing};

/// One case: `streams` looped at `speed` x real time at the county, and at
/// the city `viewers[i]` viewers of stream `i`. With `probe`, the first
/// viewer of stream 0 is a latency probe, paired with a probe pulling
/// stream 0 straight from the county.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Streams at the county.
    pub streams: usize,
    /// Viewers per stream at the city.
    pub viewers: Vec<usize>,
    /// Times real time.
    pub speed: f64,
    /// Whether to probe latency.
    pub probe: bool,
}

impl Layout {
    /// One stream to `n` viewers, probed.
    pub fn fanout(n: usize) -> Self {
        Self {
            streams: 1,
            viewers: vec![n],
            speed: 1.0,
            probe: true,
        }
    }

    /// `m` streams, one viewer each.
    pub fn one_to_one(m: usize) -> Self {
        Self {
            streams: m,
            viewers: vec![1; m],
            speed: 1.0,
            probe: false,
        }
    }
}

async fn node(env: &Env, name: &str, args: Vec<String>) -> anyhow::Result<Peer> {
    let mut all = vec![
        "relay-node".to_owned(),
        "--pki".to_owned(),
        env.pki.display().to_string(),
    ];
    all.extend(args);
    Peer::start_ready(name, &env.exe, &all, &env.log(name), env.start_timeout).await
}

/// Starts the city (optionally under `wrapper`, e.g. valgrind) and the county.
pub async fn start_nodes(
    env: &Env,
    layout: &Layout,
    wrapper: Option<(&str, Vec<String>)>,
) -> anyhow::Result<(Peer, Peer)> {
    let city_args = vec!["--role".to_owned(), "city".to_owned()];
    let city = match wrapper {
        None => node(env, "vfed-city", city_args).await?,
        Some((program, mut args)) => {
            args.push(env.exe.display().to_string());
            args.extend(["relay-node".to_owned(), "--pki".to_owned()]);
            args.push(env.pki.display().to_string());
            args.extend(city_args);
            Peer::start_ready(
                "vfed-city (profiled)",
                std::path::Path::new(program),
                &args,
                &env.log("vfed-city-profiled"),
                env.start_timeout * 4,
            )
            .await?
        }
    };
    let county = node(
        env,
        "vfed-county",
        vec![
            "--role".into(),
            "county".into(),
            "--city".into(),
            format!("127.0.0.1:{}", city.port),
            "--streams".into(),
            layout.streams.to_string(),
            "--clip".into(),
            env.clip.path.display().to_string(),
            "--speed".into(),
            layout.speed.to_string(),
        ],
    )
    .await?;
    Ok((city, county))
}

/// Waits until every stream plays at the city (the county has linked up and
/// the city's pulls are running), retrying while the city refuses for lack
/// of media (a profiled city is slow to start).
async fn wait_media(env: &Env, city: std::net::SocketAddr, streams: usize) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + env.start_timeout * 4;
    for i in 0..streams {
        loop {
            let viewer = Viewer::start(&env.viewer, CITY, city, &[stream_key(i)], None).await?;
            let playing =
                wait_all_playing(std::slice::from_ref(&viewer), Duration::from_secs(15)).await;
            if playing.is_ok() {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return playing;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// Connects the viewers of `layout` to the city (and the probes).
pub async fn start_viewers(
    env: &Env,
    layout: &Layout,
    city: &Peer,
    county: &Peer,
    latency: &Arc<Latency>,
) -> anyhow::Result<(Vec<Viewer>, Vec<Viewer>)> {
    let city_addr = std::net::SocketAddr::from(([127, 0, 0, 1], city.port));
    let county_addr = std::net::SocketAddr::from(([127, 0, 0, 1], county.port));
    wait_media(env, city_addr, layout.streams).await?;
    let mut probes = Vec::new();
    if layout.probe {
        for (path, node, addr) in [
            (Path::Direct, COUNTY, county_addr),
            (Path::Relayed, CITY, city_addr),
        ] {
            let latency = latency.clone();
            let on_frame: OnFrame = Arc::new(move |h, _, arrived| {
                latency.frame(path, h.pts as u64, arrived, Some(h.ingest_unix_us));
            });
            let material = env.viewer.clone();
            let keys = vec![stream_key(0)];
            let viewer =
                env.probes
                    .handle()
                    .spawn(async move {
                        Viewer::start(&material, node, addr, &keys, Some(on_frame)).await
                    })
                    .await??;
            probes.push(viewer);
        }
    }
    let mut wanted = Vec::new();
    for (stream, n) in layout.viewers.iter().enumerate() {
        let skip = usize::from(layout.probe && stream == 0);
        wanted.extend(std::iter::repeat_n(stream, n.saturating_sub(skip)));
    }
    let mut viewers = Vec::new();
    // Connect in batches: a hundred handshakes at once only measure the CPU queue.
    for batch in wanted.chunks(16) {
        let started = futures::future::join_all(batch.iter().map(|s| {
            let keys = vec![stream_key(*s)];
            let material = env.viewer.clone();
            async move { Viewer::start(&material, CITY, city_addr, &keys, None).await }
        }))
        .await;
        for v in started {
            viewers.push(v?);
        }
    }
    wait_all_playing(&probes, Duration::from_secs(20)).await?;
    wait_all_playing(&viewers, Duration::from_secs(30)).await?;
    Ok((viewers, probes))
}

/// Runs one case and measures one window.
pub async fn run(env: &Env, layout: &Layout) -> anyhow::Result<Window> {
    let (city, county) = start_nodes(env, layout, None).await?;
    // Let the link come up before the baseline is read.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_base_kib = city.rss_kib();
    let latency = Arc::new(Latency::default());
    let (viewers, probes) = start_viewers(env, layout, &city, &county, &latency).await?;
    tokio::time::sleep(env.warmup).await;
    let received = || {
        viewers
            .iter()
            .chain(probes.iter().skip(1))
            .map(Viewer::bytes)
            .sum::<u64>()
    };
    let cut = || {
        viewers
            .iter()
            .chain(probes.iter().skip(1))
            .map(|v| v.stats.gops_cut.load(Ordering::Relaxed))
            .sum::<u64>()
    };
    let expected =
        env.clip.mbps * 1e6 / 8.0 * layout.speed * layout.viewers.iter().sum::<usize>() as f64;
    // At more than real time the relay is meant to fall behind: nothing to settle.
    let settled = layout.speed > 1.0 || settle(&received, expected, Duration::from_secs(30)).await;
    let cut_before = cut();
    let mut window = measure(
        env,
        &city,
        &county,
        &received,
        layout.probe.then_some(&latency),
    )
    .await;
    window.rss_base_kib = rss_base_kib;
    window.settled = settled;
    window.gops_cut = cut() - cut_before;
    window.viewers_alive = viewers
        .iter()
        .chain(probes.iter().skip(1))
        .filter(|v| v.frames() > 0)
        .count();
    drop(viewers);
    drop(probes);
    let _ = city.finish(Duration::from_secs(5)).await;
    let _ = county.finish(Duration::from_secs(5)).await;
    Ok(window)
}
