//! The HTTP port of a node: Prometheus `/metrics`, `/healthz`, and media
//! egress for viewers (`/live/...`, HLS).
//!
//! The port is open to viewers, so it is bounded against slow, silent and
//! flooding clients (`[connections.http]`): a request head must arrive
//! within `header_timeout`, a connection with no byte either way for
//! `idle_timeout` is closed, and at most `max_connections` are open at
//! once (further ones are closed on accept), so that they cannot take the
//! file descriptors of the gRPC port and of the other nodes in the process.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use vfed_config::HttpLimits;
use vfed_pki::{ConnectionSlots, ListenerLimits};

/// Pause after a failed `accept` (e.g. out of file descriptors).
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// At most one "limit reached" warning per this period.
const WARN_PERIOD: Duration = Duration::from_secs(10);

/// Serves until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    metrics: Registry,
    media: Router,
    guard: vfed_authz::HttpGuard,
    limits: HttpLimits,
    shutdown: CancellationToken,
    node_id: String,
) {
    let metrics = Arc::new(metrics);
    let router = Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        vfed_telemetry::render(&metrics),
                    )
                }
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(media);
    let router = guard.wrap(router);
    accept_loop(listener, router, &limits, shutdown, &node_id).await;
}

async fn accept_loop(
    listener: TcpListener,
    router: Router,
    limits: &HttpLimits,
    shutdown: CancellationToken,
    node_id: &str,
) {
    let slots = ConnectionSlots::new(ListenerLimits {
        max_connections: limits.max_connections,
        idle_timeout: limits.idle_timeout,
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    // Connections are tasks of this one, so that aborting the server (a
    // node's kill, or the end of its grace period) closes them all.
    let mut connections = JoinSet::new();
    let mut refused: u64 = 0;
    let mut last_warning: Option<Instant> = None;
    loop {
        let (tcp, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(node = %node_id, %error, "HTTP accept failed");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                    }
                }
            },
        };
        let Some(io) = slots.admit(tcp) else {
            refused += 1;
            if last_warning.is_none_or(|at| at.elapsed() >= WARN_PERIOD) {
                last_warning = Some(Instant::now());
                tracing::warn!(node = %node_id, %peer, max_connections = limits.max_connections, refused, "HTTP connection limit reached; connection closed");
            }
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = builder
            .serve_connection(TokioIo::new(io), service)
            .into_owned();
        let connection = graceful.watch(connection);
        connections.spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "HTTP connection ended");
            }
        });
    }
    drop(listener);
    // In-flight requests finish; idle connections close now. The node
    // bounds this by its grace period.
    graceful.shutdown().await;
}
