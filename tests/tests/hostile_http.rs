//! Hostile peers on a node's HTTP port (issue 9.4): silent, slow, flooding,
//! oversize and malformed clients, on loopback against a real node with
//! short timeouts. None of them may stop `/healthz` or gRPC from answering,
//! and the timeouts must close what they hold.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use vfed_config::{ConnectionsConfig, HttpLimits};
use vfed_tests::{NodeOptions, TestNode, TestPki};

/// Longest a test waits for the node to close a connection: several times
/// the configured timeouts, far below "never".
const CLOSE_BOUND: Duration = Duration::from_secs(15);

fn short_http(max_connections: usize) -> ConnectionsConfig {
    ConnectionsConfig {
        http: HttpLimits {
            header_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(2),
            max_connections,
        },
        ..ConnectionsConfig::default()
    }
}

async fn node(pki: &TestPki, connections: ConnectionsConfig) -> anyhow::Result<TestNode> {
    TestNode::start(pki, NodeOptions::new(CITY, "city").connections(connections)).await
}

/// Waits until the server closes `stream` (EOF or reset), reading and
/// discarding whatever it sends first; fails after `bound`.
async fn closed_by_server(stream: &mut TcpStream, bound: Duration) -> anyhow::Result<()> {
    let mut sink = Vec::new();
    match tokio::time::timeout(bound, stream.read_to_end(&mut sink)).await {
        Ok(_) => Ok(()),
        Err(_) => anyhow::bail!("the server kept the connection open for {bound:?}"),
    }
}

async fn healthz(addr: SocketAddr) -> anyhow::Result<()> {
    let answer = tokio::time::timeout(Duration::from_secs(5), http_get(addr, "/healthz")).await??;
    anyhow::ensure!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    anyhow::ensure!(answer.ends_with("ok\n"), "{answer}");
    Ok(())
}

async fn grpc_health(pki: &TestPki, node: &TestNode) -> anyhow::Result<()> {
    let mut health = HealthClient::new(node.channel(pki)?);
    let check = health.check(HealthCheckRequest {
        service: String::new(),
    });
    tokio::time::timeout(Duration::from_secs(5), check).await??;
    Ok(())
}

/// The done-means: 1,000 idle connections do not stop `/healthz` or
/// gRPC from answering, and they are closed by the timeouts.
#[tokio::test]
async fn a_thousand_idle_connections_neither_block_health_nor_stay_open() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let node = node(&pki, short_http(4096)).await?;
    let addr = node.http_addr();
    let mut idle = Vec::with_capacity(1000);
    for _ in 0..1000 {
        idle.push(TcpStream::connect(addr).await?);
    }
    healthz(addr).await?;
    grpc_health(&pki, &node).await?;
    let closes = idle
        .iter_mut()
        .map(|stream| closed_by_server(stream, CLOSE_BOUND));
    let closed = futures::future::join_all(closes).await;
    let open = closed.iter().filter(|c| c.is_err()).count();
    assert_eq!(open, 0, "{open} of 1000 idle connections were never closed");
    healthz(addr).await?;
    Ok(())
}

/// Slowloris: a request head dribbled a byte at a time is cut off by the
/// header timeout, however long the client keeps dribbling.
#[tokio::test]
async fn a_head_sent_a_byte_at_a_time_is_cut_off() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let node = node(&pki, short_http(64)).await?;
    let mut stream = TcpStream::connect(node.http_addr()).await?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await?;
    let started = tokio::time::Instant::now();
    let mut cut_off = false;
    // Each byte is progress for the idle timeout: only the header timeout
    // can stop this client.
    while started.elapsed() < CLOSE_BOUND {
        if stream.write_all(b"X").await.is_err() {
            cut_off = true;
            break;
        }
        let mut byte = [0u8; 1];
        // A timeout here only means the server said nothing yet.
        let read = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut byte)).await;
        if let Ok(Ok(0) | Err(_)) = read {
            cut_off = true;
            break;
        }
    }
    assert!(
        cut_off,
        "a slowloris client held its connection for {CLOSE_BOUND:?}"
    );
    healthz(node.http_addr()).await?;
    Ok(())
}

/// A kept-alive connection idle after its first request is closed.
#[tokio::test]
async fn a_kept_alive_connection_left_idle_is_closed() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let node = node(&pki, short_http(64)).await?;
    let mut stream = TcpStream::connect(node.http_addr()).await?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await?;
    let mut answer = [0u8; 512];
    let n = stream.read(&mut answer).await?;
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    closed_by_server(&mut stream, CLOSE_BOUND).await
}

/// A silent HTTP/2 client (prior knowledge preface, then nothing) is closed
/// by the idle timeout.
#[tokio::test]
async fn a_silent_http2_client_is_closed() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let node = node(&pki, short_http(64)).await?;
    let mut stream = TcpStream::connect(node.http_addr()).await?;
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await?;
    closed_by_server(&mut stream, CLOSE_BOUND).await
}

/// Beyond `max_connections`, a connection is closed at once; when the
/// idle ones time out, the port serves again.
#[tokio::test]
async fn a_flood_beyond_the_limit_is_closed_and_the_port_recovers() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let node = node(&pki, short_http(50)).await?;
    let addr = node.http_addr();
    let mut held = Vec::new();
    for _ in 0..50 {
        held.push(TcpStream::connect(addr).await?);
    }
    // The server admits connections in order; wait until all 50 are in.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = TcpStream::connect(addr).await?;
    // Closed at once: well before the 1 s header timeout would.
    closed_by_server(&mut extra, Duration::from_millis(900)).await?;
    grpc_health(&pki, &node).await?;
    for stream in &mut held {
        closed_by_server(stream, CLOSE_BOUND).await?;
    }
    healthz(addr).await?;
    Ok(())
}

/// Oversize heads and malformed requests are refused with a status (or a
/// close) and leave the port serving.
#[tokio::test]
async fn oversize_and_malformed_requests_are_refused() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let node = node(&pki, short_http(64)).await?;
    let addr = node.http_addr();
    let huge = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let garbage: &[&[u8]] = &[
        huge.as_bytes(),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n",
        b"GET /healthz HTTP/9.9\r\n\r\n",
        b"GET /live/\xff\xfe/index.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ];
    for request in garbage {
        let mut stream = TcpStream::connect(addr).await?;
        // The server may close before reading everything.
        let _ = stream.write_all(request).await;
        let mut answer = Vec::new();
        let read = tokio::time::timeout(CLOSE_BOUND, stream.read_to_end(&mut answer)).await;
        assert!(read.is_ok(), "connection held after a bad request");
        let text = String::from_utf8_lossy(&answer);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 4"),
            "a bad request was answered with {text:?}"
        );
    }
    healthz(addr).await?;
    Ok(())
}
