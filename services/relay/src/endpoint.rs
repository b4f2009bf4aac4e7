//! QUIC endpoints with vfed's mutual TLS (ALPN `vfed-relay/1`): the same
//! certificates and identity checks as the gRPC links (R18.4).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use vfed_pki::{Identity, ServerExpectation, TlsMaterial};

use crate::RelayError;

/// The relay's ALPN protocol id.
pub const ALPN: &[u8] = b"vfed-relay/1";

/// How often an idle relay connection is kept alive.
pub const KEEPALIVE: Duration = Duration::from_secs(2);
/// A relay connection (or handshake) silent for this long is closed,
/// unless a server says otherwise ([`server_on_with`]).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

fn transport(idle_timeout: Duration) -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.keep_alive_interval(Some(KEEPALIVE));
    let idle = quinn::IdleTimeout::try_from(idle_timeout)
        .unwrap_or_else(|_| quinn::VarInt::from_u32(10_000).into());
    t.max_idle_timeout(Some(idle));
    // Bidirectional streams: the control stream only.
    t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(4));
    // One unidirectional stream per GOP: a few in flight per subscription.
    t.max_concurrent_uni_streams(quinn::VarInt::from_u32(1024));
    // A GOP of a 4K stream fits in a stream window; many fit in the connection's.
    t.stream_receive_window(quinn::VarInt::from_u32(8 * 1024 * 1024));
    t.receive_window(quinn::VarInt::from_u32(64 * 1024 * 1024));
    t.send_window(64 * 1024 * 1024);
    Arc::new(t)
}

/// A server endpoint on `addr` (also usable to dial out).
pub fn server(material: &TlsMaterial, addr: SocketAddr) -> Result<quinn::Endpoint, RelayError> {
    let tls = vfed_pki::server_config(material, &[ALPN])
        .map_err(|e| RelayError::Transport(e.to_string()))?;
    let crypto =
        QuicServerConfig::try_from(tls).map_err(|e| RelayError::Transport(e.to_string()))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(transport(IDLE_TIMEOUT));
    quinn::Endpoint::server(config, addr)
        .map_err(|e| RelayError::Transport(format!("relay listen {addr}: {e}")))
}

/// A client configuration that expects the server to be `expect`.
pub fn client_config(
    material: &TlsMaterial,
    expect: ServerExpectation,
) -> Result<quinn::ClientConfig, RelayError> {
    let tls = vfed_pki::client_config(material, expect, &[ALPN])
        .map_err(|e| RelayError::Transport(e.to_string()))?;
    let crypto =
        QuicClientConfig::try_from(tls).map_err(|e| RelayError::Transport(e.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(transport(IDLE_TIMEOUT));
    Ok(config)
}

/// A client-only endpoint on an ephemeral loopback or wildcard port.
pub fn client(bind: SocketAddr) -> Result<quinn::Endpoint, RelayError> {
    quinn::Endpoint::client(bind)
        .map_err(|e| RelayError::Transport(format!("relay client bind {bind}: {e}")))
}

/// The identity the peer's certificate names (its chain was verified by
/// the TLS handshake against our CA).
pub fn peer_identity(
    connection: &quinn::Connection,
    trust_domain: &str,
) -> Result<Identity, RelayError> {
    let certs = connection
        .peer_identity()
        .and_then(|any| {
            any.downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
                .ok()
        })
        .ok_or_else(|| RelayError::Unauthorized("peer presented no certificate (R18.4)".into()))?;
    let leaf = certs
        .first()
        .ok_or_else(|| RelayError::Unauthorized("empty certificate chain (R18.4)".into()))?;
    vfed_pki::identity_from_cert_der(leaf, trust_domain)
        .map_err(|e| RelayError::Unauthorized(e.to_string()))
}

/// A server endpoint on an already bound UDP socket (so that callers can
/// bind port 0 and learn the port before starting).
pub fn server_on(
    material: &TlsMaterial,
    socket: std::net::UdpSocket,
) -> Result<quinn::Endpoint, RelayError> {
    server_on_with(material, socket, IDLE_TIMEOUT, 1024)
}

/// Like [`server_on`], with the idle timeout of incoming connections and the
/// number of incoming connections quinn queues before the relay accepts
/// them (the relay's own limit is [`crate::RelayOptions::max_connections`]).
pub fn server_on_with(
    material: &TlsMaterial,
    socket: std::net::UdpSocket,
    idle_timeout: Duration,
    max_incoming: usize,
) -> Result<quinn::Endpoint, RelayError> {
    let tls = vfed_pki::server_config(material, &[ALPN])
        .map_err(|e| RelayError::Transport(e.to_string()))?;
    let crypto =
        QuicServerConfig::try_from(tls).map_err(|e| RelayError::Transport(e.to_string()))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(transport(idle_timeout));
    config.max_incoming(max_incoming.max(1));
    let runtime =
        quinn::default_runtime().ok_or_else(|| RelayError::Transport("no async runtime".into()))?;
    quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(config),
        socket,
        runtime,
    )
    .map_err(|e| RelayError::Transport(format!("relay listen: {e}")))
}
