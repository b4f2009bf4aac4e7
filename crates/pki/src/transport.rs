//! Glue between vfed's rustls configurations and tonic 0.14 (whose own TLS
//! features are off): a TLS connection stream for servers and mutually
//! authenticated channels for clients.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::{ClientConfig, ServerConfig};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_stream::Stream;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::Connected;
use tonic::transport::{Channel, Endpoint, Uri};
use tracing::{debug, warn};

use crate::error::PkiError;
use crate::identity::Identity;
use crate::limits::{ConnectionSlots, LimitedStream, ListenerLimits};

/// Maximum duration of a server-side TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Maximum number of server-side handshakes in progress at once; further
/// connections are dropped until some finish.
pub const MAX_PENDING_HANDSHAKES: usize = 1024;
/// Client connect timeout (TCP connect and TLS handshake).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Interval of HTTP/2 keepalive pings on client channels.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// How long a client waits for a keepalive ping acknowledgement.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`connect`] waits for the server's first bytes after the TLS
/// handshake (to learn whether the server accepted our certificate).
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Pause after a failed `accept` (e.g. out of file descriptors).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// What a server knows about an authenticated peer. Tonic stores it in the
/// extensions of every request received on the connection; read it with
/// [`peer_info`] or [`peer_info_http`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's TCP address.
    pub remote_addr: SocketAddr,
    /// The identity named by the peer's (verified) certificate.
    pub identity: Identity,
}

/// The [`PeerInfo`] of the connection a tonic request arrived on, when the
/// server is fed by [`incoming`].
pub fn peer_info<T>(request: &tonic::Request<T>) -> Option<&PeerInfo> {
    request.extensions().get::<PeerInfo>()
}

/// The [`PeerInfo`] of the connection an HTTP request arrived on (for tower
/// layers placed in front of tonic services).
pub fn peer_info_http<B>(request: &http::Request<B>) -> Option<&PeerInfo> {
    request.extensions().get::<PeerInfo>()
}

/// An established, mutually authenticated server-side TLS connection.
pub struct TlsConnection {
    inner: tokio_rustls::server::TlsStream<LimitedStream<TcpStream>>,
    info: PeerInfo,
}

impl fmt::Debug for TlsConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnection")
            .field("peer", &self.info)
            .finish_non_exhaustive()
    }
}

impl TlsConnection {
    /// The authenticated peer.
    pub fn peer_info(&self) -> &PeerInfo {
        &self.info
    }

    /// The underlying TLS stream.
    pub fn get_ref(&self) -> &tokio_rustls::server::TlsStream<LimitedStream<TcpStream>> {
        &self.inner
    }
}

impl Connected for TlsConnection {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for TlsConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A stream of established TLS connections, for
/// `tonic::transport::Server::serve_with_incoming[_shutdown]`.
///
/// It never yields errors: failed handshakes are logged at `warn` and
/// dropped. It ends when its shutdown token is cancelled; dropping it stops
/// accepting, closes the listener and aborts handshakes in progress.
pub struct TlsIncoming {
    rx: mpsc::Receiver<TlsConnection>,
    local_addr: Option<SocketAddr>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl fmt::Debug for TlsIncoming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIncoming")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl TlsIncoming {
    /// The address the listener is bound to.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }
}

impl Stream for TlsIncoming {
    type Item = Result<TlsConnection, io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|conn| conn.map(Ok))
    }
}

impl Drop for TlsIncoming {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

/// Accepts TCP connections on `listener` and runs a TLS handshake with
/// `config` on each, in its own task with a [`HANDSHAKE_TIMEOUT`]; yields
/// only established connections. The stream ends when dropped (see
/// [`incoming_with_shutdown`] to end it with a token).
///
/// Must be called within a tokio runtime.
pub fn incoming(listener: TcpListener, config: Arc<ServerConfig>) -> TlsIncoming {
    incoming_with_shutdown(listener, config, CancellationToken::new())
}

/// Like [`incoming_with_limits`] with [`ListenerLimits::default`].
pub fn incoming_with_shutdown(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    shutdown: CancellationToken,
) -> TlsIncoming {
    incoming_with_limits(listener, config, shutdown, ListenerLimits::default())
}

/// Like [`incoming`], but the stream also ends (and the listener is
/// closed) when `shutdown` is cancelled, and connections are bounded by
/// `limits`: at most `max_connections` open (handshakes included; more are
/// closed on accept), each closed after `idle_timeout` without a byte
/// either way.
pub fn incoming_with_limits(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    shutdown: CancellationToken,
    limits: ListenerLimits,
) -> TlsIncoming {
    let (tx, rx) = mpsc::channel(64);
    let local_addr = listener.local_addr().ok();
    let accept_task = tokio::spawn(accept_loop(
        listener,
        TlsAcceptor::from(config),
        tx,
        shutdown,
        ConnectionSlots::new(limits),
    ));
    TlsIncoming {
        rx,
        local_addr,
        accept_task,
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<TlsConnection>,
    shutdown: CancellationToken,
    slots: ConnectionSlots,
) {
    let mut handshakes = JoinSet::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tx.closed() => break,
            Some(_) = handshakes.join_next(), if !handshakes.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, addr)) => {
                    if handshakes.len() >= MAX_PENDING_HANDSHAKES {
                        warn!(peer = %addr, "too many TLS handshakes in progress; connection dropped");
                        continue;
                    }
                    if let Err(e) = tcp.set_nodelay(true) {
                        debug!(peer = %addr, error = %e, "cannot set TCP_NODELAY");
                    }
                    let Some(tcp) = slots.admit(tcp) else {
                        warn!(peer = %addr, "connection limit reached; connection dropped");
                        continue;
                    };
                    handshakes.spawn(handshake(acceptor.clone(), tcp, addr, tx.clone()));
                }
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
                    }
                }
            },
        }
    }
    // Dropping `handshakes` aborts handshakes in progress; dropping `tx`
    // (and theirs) ends the stream.
}

async fn handshake(
    acceptor: TlsAcceptor,
    tcp: LimitedStream<TcpStream>,
    addr: SocketAddr,
    tx: mpsc::Sender<TlsConnection>,
) {
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Err(_) => {
            warn!(peer = %addr, timeout = ?HANDSHAKE_TIMEOUT, "TLS handshake timed out; connection dropped");
            return;
        }
        Ok(Err(e)) => {
            warn!(peer = %addr, reason = %e, "TLS handshake failed; connection dropped");
            return;
        }
        Ok(Ok(tls)) => tls,
    };
    match client_identity(&tls) {
        Ok(identity) => {
            debug!(peer = %addr, %identity, "TLS connection established");
            let conn = TlsConnection {
                inner: tls,
                info: PeerInfo {
                    remote_addr: addr,
                    identity,
                },
            };
            // Fails only when the stream is gone; the connection is dropped.
            let _ = tx.send(conn).await;
        }
        Err(reason) => {
            warn!(peer = %addr, %reason, "TLS peer has no usable identity; connection dropped");
        }
    }
}

/// The identity of the (already verified) client certificate.
fn client_identity(
    tls: &tokio_rustls::server::TlsStream<LimitedStream<TcpStream>>,
) -> Result<Identity, String> {
    let (_, conn) = tls.get_ref();
    let leaf = conn
        .peer_certificates()
        .and_then(|certs| certs.first())
        .ok_or_else(|| "no client certificate (server config does not require one?)".to_owned())?;
    // The trust domain was enforced by the client verifier during the
    // handshake; take it from the certificate itself here.
    let (uris, subject) = crate::identity::uri_sans(leaf).map_err(|e| e.to_string())?;
    let [uri] = uris.as_slice() else {
        return Err(format!(
            "certificate (subject {subject:?}) must carry exactly one URI SAN, has {}",
            uris.len()
        ));
    };
    let domain = Identity::trust_domain_of_uri(uri)
        .ok_or_else(|| format!("invalid identity URI {uri:?}"))?;
    Identity::from_uri(uri, domain).map_err(|e| e.to_string())
}

/// A parsed client endpoint.
#[derive(Debug, Clone)]
struct Target {
    /// `host:port` as written (IPv6 in brackets).
    authority: String,
}

fn parse_endpoint(endpoint: &str) -> Result<Target, PkiError> {
    let bad = |reason: &str| PkiError::InvalidEndpoint {
        endpoint: endpoint.to_owned(),
        reason: reason.to_owned(),
    };
    let rest = endpoint
        .strip_prefix("https://")
        .or_else(|| endpoint.strip_prefix("http://"))
        .unwrap_or(endpoint);
    if rest.contains("://") {
        return Err(bad("scheme must be https:// or http://"));
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') {
        return Err(bad("a path is not allowed; expected host:port"));
    }
    let authority: http::uri::Authority = rest
        .parse()
        .map_err(|_| bad("expected host:port, e.g. 127.0.0.1:7100"))?;
    if authority.port_u16().is_none() {
        return Err(bad("a port is required, e.g. 127.0.0.1:7100"));
    }
    if authority.as_str().contains('@') {
        return Err(bad("user info is not allowed"));
    }
    if authority.host().is_empty() {
        return Err(bad("a host is required"));
    }
    Ok(Target {
        authority: authority.as_str().to_owned(),
    })
}

/// The config with `h2` offered by ALPN (gRPC needs HTTP/2).
fn with_h2(config: Arc<ClientConfig>) -> Arc<ClientConfig> {
    if config.alpn_protocols.iter().any(|p| p == b"h2") {
        config
    } else {
        let mut c = (*config).clone();
        c.alpn_protocols = vec![b"h2".to_vec()];
        Arc::new(c)
    }
}

fn endpoint_for(target: &Target, original: &str) -> Result<Endpoint, PkiError> {
    // The scheme is cosmetic: the connector below always does TLS.
    Endpoint::from_shared(format!("http://{}", target.authority))
        .map(|e| {
            e.connect_timeout(CONNECT_TIMEOUT)
                .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
                .keep_alive_timeout(KEEPALIVE_TIMEOUT)
                .keep_alive_while_idle(true)
                .tcp_nodelay(true)
        })
        .map_err(|e| PkiError::InvalidEndpoint {
            endpoint: original.to_owned(),
            reason: e.to_string(),
        })
}

/// TCP connect (TCP_NODELAY) + TLS handshake to `uri`'s host and port.
async fn connect_tls(
    uri: &Uri,
    config: Arc<ClientConfig>,
) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let host = uri
        .host()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "endpoint has no host"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = uri
        .port_u16()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "endpoint has no port"))?;
    let tcp = TcpStream::connect((host, port)).await?;
    tcp.set_nodelay(true)?;
    // Identity, not name, is verified; the name only matters for SNI.
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    TlsConnector::from(config).connect(name, tcp).await
}

fn connector(
    config: Arc<ClientConfig>,
) -> impl tower::Service<
    Uri,
    Response = TokioIo<tokio_rustls::client::TlsStream<TcpStream>>,
    Error = io::Error,
    Future = impl Future<Output = io::Result<TokioIo<tokio_rustls::client::TlsStream<TcpStream>>>>
             + Send,
> + Clone
+ Send
+ 'static {
    tower::service_fn(move |uri: Uri| {
        let config = Arc::clone(&config);
        async move { connect_tls(&uri, config).await.map(TokioIo::new) }
    })
}

/// A lazy mutually authenticated channel to `endpoint` (`https://host:port`,
/// `http://host:port` or `host:port`): it connects on first use and
/// reconnects automatically. ALPN `h2` is offered whatever `config` says.
///
/// Must be called within a tokio runtime.
pub fn channel(endpoint: &str, config: Arc<ClientConfig>) -> Result<Channel, PkiError> {
    let target = parse_endpoint(endpoint)?;
    let ep = endpoint_for(&target, endpoint)?;
    Ok(ep.connect_with_connector_lazy(connector(with_h2(config))))
}

/// Connects to `endpoint` now and returns the channel, or the reason the
/// connection failed: TCP error, TLS handshake error (unknown issuer,
/// identity mismatch...) or the server rejecting our certificate.
pub async fn connect(endpoint: &str, config: Arc<ClientConfig>) -> Result<Channel, PkiError> {
    let target = parse_endpoint(endpoint)?;
    let ep = endpoint_for(&target, endpoint)?;
    let config = with_h2(config);
    let fail = |reason: String| PkiError::Connect {
        endpoint: endpoint.to_owned(),
        reason,
    };
    probe(ep.uri(), Arc::clone(&config)).await.map_err(&fail)?;
    ep.connect_with_connector(connector(config))
        .await
        .map_err(|e| fail(error_chain(&e)))
}

/// Opens one TLS connection and waits for the server's first bytes: in TLS
/// 1.3 the server checks our certificate only after our side of the
/// handshake is complete, so a rejection arrives as an alert right after.
async fn probe(uri: &Uri, config: Arc<ClientConfig>) -> Result<(), String> {
    let mut tls = tokio::time::timeout(CONNECT_TIMEOUT, connect_tls(uri, config))
        .await
        .map_err(|_| format!("timed out after {CONNECT_TIMEOUT:?}"))?
        .map_err(|e| error_chain(&e))?;
    let mut byte = [0u8; 1];
    let result = match tokio::time::timeout(PROBE_TIMEOUT, tls.read(&mut byte)).await {
        // The server spoke first (HTTP/2 SETTINGS): it accepted us.
        Ok(Ok(n)) if n > 0 => Ok(()),
        Ok(Ok(_)) => Err(
            "the server closed the connection right after the TLS handshake (did it reject our certificate?)"
                .to_owned(),
        ),
        Ok(Err(e)) => Err(error_chain(&e)),
        // A silent server: nothing says it rejected us.
        Err(_) => Ok(()),
    };
    let _ = tls.shutdown().await;
    result
}

/// An error and its sources, joined with `: `, skipping repeated texts.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn endpoints() {
        for (input, authority) in [
            ("https://127.0.0.1:7400", "127.0.0.1:7400"),
            ("http://node.example:7400/", "node.example:7400"),
            ("127.0.0.1:7400", "127.0.0.1:7400"),
            ("[::1]:7400", "[::1]:7400"),
        ] {
            assert_eq!(parse_endpoint(input).unwrap().authority, authority);
        }
        for bad in [
            "",
            "127.0.0.1",
            "https://127.0.0.1",
            "ftp://h:1",
            "h:1/path",
            "u@h:1",
            "h:port",
        ] {
            let err = parse_endpoint(bad).unwrap_err();
            assert!(matches!(err, PkiError::InvalidEndpoint { .. }), "{bad}");
        }
    }
}
