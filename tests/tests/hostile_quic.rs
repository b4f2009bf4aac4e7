//! Hostile peers on a node's QUIC relay: a wrong identity, a silent
//! connection and a flood of connections, on loopback against a real node.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use vfed_config::{ConnectionsConfig, RelayLimits};
use vfed_pki::{Identity, ServerExpectation};
use vfed_tests::{NodeOptions, TestNode, TestPki};

fn relay_limits(max_connections: usize) -> ConnectionsConfig {
    ConnectionsConfig {
        relay: RelayLimits {
            idle_timeout: Duration::from_secs(3),
            max_connections,
        },
        ..ConnectionsConfig::default()
    }
}

async fn dial(pki: &TestPki, node: &TestNode) -> anyhow::Result<quinn::Connection> {
    let material = pki.material(&Identity::tool("vfed-test")?)?;
    let config = vfed_relay::endpoint::client_config(
        &material,
        ServerExpectation::Exactly(Identity::node(node.id())?),
    )?;
    let endpoint = vfed_relay::endpoint::client("127.0.0.1:0".parse()?)?;
    let connecting = endpoint.connect_with(config, node.relay_addr(), "vfed-relay")?;
    let connection = tokio::time::timeout(Duration::from_secs(5), connecting).await??;
    Ok(connection)
}

/// A certificate from another CA does not get a connection.
#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let node = TestNode::start(&pki, NodeOptions::new(CITY, "city")).await?;
    let stranger = TestPki::new()?;
    assert!(
        dial(&stranger, &node).await.is_err(),
        "a stranger got a relay connection"
    );
    dial(&pki, &node).await?;
    Ok(())
}

/// Beyond `max_connections` a handshake is refused; when the holders
/// leave, the relay admits again.
#[tokio::test]
async fn a_flood_beyond_the_limit_is_refused_and_the_relay_recovers() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let node = TestNode::start(
        &pki,
        NodeOptions::new(CITY, "city").connections(relay_limits(3)),
    )
    .await?;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(dial(&pki, &node).await?);
    }
    assert!(
        dial(&pki, &node).await.is_err(),
        "a fourth connection was admitted beyond the limit of 3"
    );
    for connection in &held {
        connection.close(0u32.into(), b"done");
    }
    drop(held);
    vfed_tests::eventually("relay admitting again", Duration::from_secs(10), || async {
        Ok(dial(&pki, &node).await.ok())
    })
    .await?;
    Ok(())
}

/// A connection that opens no control stream is closed by the relay.
#[tokio::test]
async fn a_silent_connection_is_closed() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let node = TestNode::start(
        &pki,
        NodeOptions::new(CITY, "city").connections(relay_limits(16)),
    )
    .await?;
    let connection = dial(&pki, &node).await?;
    let closed = tokio::time::timeout(Duration::from_secs(20), connection.closed()).await;
    assert!(closed.is_ok(), "a silent relay connection stayed open");
    Ok(())
}
