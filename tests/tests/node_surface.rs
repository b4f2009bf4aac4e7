//! What a node exposes besides its APIs: gRPC health, Prometheus metrics,
//! the etcd backend in a federation, and a drained stop.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_tests::{Backend, NodeOptions, TestNode, TestPki, eventually, register_request};

#[tokio::test]
async fn health_and_metrics() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let city = TestNode::start(&pki, NodeOptions::new(CITY, "city").children(&[NAIDONG])).await?;
    let county = TestNode::start(
        &pki,
        NodeOptions::new(NAIDONG, "county").parent(CITY, city.grpc_addr),
    )
    .await?;
    let mut health = HealthClient::new(county.channel(&pki)?);
    let status = health
        .check(HealthCheckRequest {
            service: "vfed.registry.v1.Registry".into(),
        })
        .await?
        .into_inner()
        .status;
    assert_eq!(status, i32::from(ServingStatus::Serving));

    RegistryClient::new(county.channel(&pki)?)
        .register_device(register_request(&naidong_camera(1), true))
        .await?;
    let city_channel = city.channel(&pki)?;
    let id = naidong_camera(1);
    eventually("device at the city", Duration::from_secs(10), || {
        get_device(&city_channel, &id)
    })
    .await?;

    let county_metrics = http_get(county.http_addr(), "/metrics").await?;
    assert!(
        county_metrics.contains("vfed_registrations_total{node=\"54050200002000000001\"} 1"),
        "{county_metrics}"
    );
    let city_metrics = eventually("city link metrics", Duration::from_secs(10), || async {
        let text = http_get(city.http_addr(), "/metrics").await?;
        let up = "vfed_link_up{node=\"54050000002000000001\",peer=\"54050200002000000001\",role=\"child\"} 1";
        Ok(text.lines().any(|l| l == up).then_some(text))
    })
    .await?;
    assert!(
        city_metrics.contains("vfed_link_lag_revisions"),
        "{city_metrics}"
    );
    assert!(
        http_get(city.http_addr(), "/healthz")
            .await?
            .ends_with("ok\n")
    );
    Ok(())
}

#[tokio::test]
async fn a_city_on_etcd_receives_and_resumes() -> anyhow::Result<()> {
    let etcd = vfed_store::testing::EtcdServer::start().await?;
    let pki = TestPki::new()?;
    let mut city = TestNode::start(
        &pki,
        NodeOptions::new(CITY, "city")
            .children(&[NAIDONG])
            .backend(Backend::Etcd(etcd.client_url().to_owned())),
    )
    .await?;
    let county = TestNode::start(
        &pki,
        NodeOptions::new(NAIDONG, "county").parent(CITY, city.grpc_addr),
    )
    .await?;
    let mut registry = RegistryClient::new(county.channel(&pki)?);
    for n in 0..300 {
        registry
            .register_device(register_request(&naidong_camera(n), true))
            .await?;
    }
    let city_channel = city.channel(&pki)?;
    eventually(
        "300 devices at the etcd-backed city",
        Duration::from_secs(30),
        || async { Ok((remote_set(&city_channel).await?.len() == 300).then_some(())) },
    )
    .await?;
    assert_eq!(city.store()?.backend(), "etcd");

    // The city restarts; the county resumes where it stopped (no resync).
    city.kill().await;
    for n in 300..400 {
        registry
            .register_device(register_request(&naidong_camera(n), true))
            .await?;
    }
    city.restart().await?;
    let city_channel = city.channel(&pki)?;
    eventually(
        "400 devices after the restart",
        Duration::from_secs(30),
        || async { Ok((remote_set(&city_channel).await?.len() == 400).then_some(())) },
    )
    .await?;
    let link = links(&city_channel)
        .await?
        .into_iter()
        .find(|l| l.peer_id == NAIDONG)
        .unwrap();
    assert_eq!(link.resyncs, 0, "the link resynced instead of resuming");
    Ok(())
}
