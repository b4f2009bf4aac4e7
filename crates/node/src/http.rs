//! The HTTP port of a node: Prometheus `/metrics`, `/healthz`, and media
//! egress for viewers (`/live/...`, HLS).

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    metrics: Registry,
    media: Router,
    guard: vfed_auth::HttpGuard,
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
    let result = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    if let Err(e) = result {
        tracing::error!(node = %node_id, error = %e, "HTTP server failed");
    }
}
