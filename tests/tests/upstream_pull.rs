//! Issue 9.3: a city pull of a stream whose origin has no live source ends
//! after `relay.idle_grace` without viewers, whatever the origin answers,
//! and its refused attempts back off instead of repeating every 2 s.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use tokio::time::Instant;
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_tests::{NodeOptions, TestNode, TestPki, eventually, register_request};

/// The city's attempts to pull `key`, as counted by its relay
/// (`upstream_reconnects`), or `None` once the pull is gone.
fn attempts(city: &TestNode, key: &str) -> anyhow::Result<Option<u64>> {
    Ok(city
        .relay()?
        .streams()
        .into_iter()
        .find(|s| s.key == key)
        .map(|s| s.upstream_reconnects))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_of_a_stream_without_source_backs_off_and_ends_when_idle() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let city = TestNode::start(&pki, NodeOptions::new(CITY, "city").children(&[NAIDONG])).await?;
    let county = TestNode::start(&pki, NodeOptions::new(NAIDONG, "county").under(&city)).await?;
    let grace = city.config.relay.idle_grace;
    // A shared camera without any stream URL: the county has no source for it.
    let id = naidong_camera(31);
    RegistryClient::new(county.channel(&pki)?)
        .register_device(register_request(&id, true))
        .await?;
    let city_channel = city.channel(&pki)?;
    eventually("device at the city", Duration::from_secs(10), || async {
        get_device(&city_channel, &id).await
    })
    .await?;
    let key = format!("{id}/main");
    let relay = city.relay()?;
    eventually("relay uplink up", Duration::from_secs(10), || async {
        Ok(relay.link(NAIDONG).map(|_| ()))
    })
    .await?;

    // One viewer for 9 s: every refused attempt is counted, with its time.
    let viewer = relay.subscribe(&key).await?;
    let started = Instant::now();
    let mut seen: Vec<(u64, Instant)> = Vec::new();
    while started.elapsed() < Duration::from_secs(9) {
        let Some(n) = attempts(&city, &key)? else {
            anyhow::bail!("the pull ended while a viewer was still there");
        };
        if seen.last().is_none_or(|(last, _)| n > *last) {
            seen.push((n, Instant::now()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refusals = seen.last().map_or(0, |(n, _)| *n);
    let gaps: Vec<Duration> = seen.windows(2).map(|w| w[1].1 - w[0].1).collect();
    eprintln!("refused attempts in 9 s: {refusals}; gaps {gaps:?}");
    assert!(refusals >= 2, "the origin was asked only {refusals} times");
    // Backing off: 0.5 + 1 + 2 + 4 s waits fit in 9 s; a fixed 2 s cap
    // would have asked at least 7 times, never waiting longer than 2 s.
    assert!(
        refusals <= 5,
        "{refusals} refused attempts in 9 s: no backoff"
    );
    assert!(
        gaps.iter().any(|g| *g >= Duration::from_millis(3500)),
        "no wait between refusals reached 3.5 s: {gaps:?}"
    );

    // No viewer: the pull ends after the grace period, even in the middle
    // of a long backoff wait.
    drop(viewer);
    let gone = Instant::now();
    eventually(
        "the pull ends without viewers",
        grace + Duration::from_secs(1),
        || async { Ok(attempts(&city, &key)?.is_none().then_some(())) },
    )
    .await?;
    assert!(
        gone.elapsed() >= grace,
        "ended before the grace period ({:?} < {grace:?})",
        gone.elapsed()
    );
    Ok(())
}
