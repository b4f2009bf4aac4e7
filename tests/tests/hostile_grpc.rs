//! Hostile peers on a node's gRPC port: silent before and after the TLS
//! handshake, a wrong identity, and a flood of connections, on loopback
//! against a real node with short timeouts.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use rustls_pki_types::ServerName;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use vfed_config::{ConnectionsConfig, GrpcLimits};
use vfed_pki::{Identity, ServerExpectation};
use vfed_tests::{NodeOptions, TestNode, TestPki, eventually};

const CLOSE_BOUND: Duration = Duration::from_secs(15);

fn short_grpc(max_connections: usize, idle: Duration) -> ConnectionsConfig {
    ConnectionsConfig {
        grpc: GrpcLimits {
            keepalive_interval: Duration::from_millis(500),
            keepalive_timeout: Duration::from_millis(500),
            idle_timeout: idle,
            max_connections,
            ..GrpcLimits::default()
        },
        ..ConnectionsConfig::default()
    }
}

async fn closed_by_server<S: AsyncReadExt + Unpin>(
    stream: &mut S,
    bound: Duration,
) -> anyhow::Result<()> {
    let mut sink = Vec::new();
    match tokio::time::timeout(bound, stream.read_to_end(&mut sink)).await {
        Ok(_) => Ok(()),
        Err(_) => anyhow::bail!("the server kept the connection open for {bound:?}"),
    }
}

async fn grpc_health(pki: &TestPki, node: &TestNode) -> anyhow::Result<()> {
    let mut health = HealthClient::new(node.channel(pki)?);
    let check = health.check(HealthCheckRequest {
        service: String::new(),
    });
    tokio::time::timeout(Duration::from_secs(5), check).await??;
    Ok(())
}

/// A client that completes the TLS handshake (a valid certificate) and then
/// sends nothing is closed; before, it held its connection for ever.
#[tokio::test]
async fn silent_after_the_handshake_is_closed() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let node = TestNode::start(
        &pki,
        NodeOptions::new(CITY, "city").connections(short_grpc(64, Duration::from_secs(1))),
    )
    .await?;
    let material = pki.material(&Identity::tool("vfed-test")?)?;
    let config = vfed_pki::client_config(
        &material,
        ServerExpectation::Exactly(Identity::node(CITY)?),
        vfed_pki::GRPC_ALPN,
    )?;
    let tcp = TcpStream::connect(node.grpc_addr).await?;
    let mut tls = tokio_rustls::TlsConnector::from(Arc::clone(&config))
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    closed_by_server(&mut tls, CLOSE_BOUND).await?;
    grpc_health(&pki, &node).await
}

/// A TCP client that never starts the handshake is closed by the idle
/// timeout (1 s here), not only by the 10 s handshake timeout.
#[tokio::test]
async fn silent_before_the_handshake_is_closed_by_the_idle_timeout() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let node = TestNode::start(
        &pki,
        NodeOptions::new(CITY, "city").connections(short_grpc(64, Duration::from_secs(1))),
    )
    .await?;
    let mut tcp = TcpStream::connect(node.grpc_addr).await?;
    closed_by_server(&mut tcp, Duration::from_secs(6)).await
}

/// A certificate from another CA is refused at the handshake; the port
/// keeps serving.
#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let node = TestNode::start(&pki, NodeOptions::new(CITY, "city")).await?;
    let stranger = TestPki::new()?;
    let material = stranger.material(&Identity::tool("vfed-test")?)?;
    let config = vfed_pki::client_config(
        &material,
        ServerExpectation::Exactly(Identity::node(CITY)?),
        vfed_pki::GRPC_ALPN,
    )?;
    let refused = vfed_pki::connect(&format!("https://{}", node.grpc_addr), config).await;
    assert!(refused.is_err(), "a stranger's certificate was accepted");
    grpc_health(&pki, &node).await
}

/// Beyond `max_connections` a connection is closed at once; when the
/// silent ones time out, real clients are served again.
#[tokio::test]
async fn a_flood_beyond_the_limit_is_closed_and_the_port_recovers() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let node = TestNode::start(
        &pki,
        NodeOptions::new(CITY, "city").connections(short_grpc(20, Duration::from_secs(3))),
    )
    .await?;
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(TcpStream::connect(node.grpc_addr).await?);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = TcpStream::connect(node.grpc_addr).await?;
    // At once: far below both the idle (3 s) and handshake (10 s) timeouts.
    closed_by_server(&mut extra, Duration::from_millis(1500)).await?;
    for stream in &mut held {
        closed_by_server(stream, CLOSE_BOUND).await?;
    }
    eventually(
        "gRPC serving after the flood",
        Duration::from_secs(10),
        || async { Ok(grpc_health(&pki, &node).await.ok()) },
    )
    .await
}
