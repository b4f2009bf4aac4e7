//! Logs, traces and metrics of a vfed node.
//!
//! - `tracing` logs (text or JSON) filtered like `RUST_LOG`;
//! - OpenTelemetry traces over OTLP/gRPC when an endpoint is configured, with
//!   W3C trace context carried in gRPC metadata between nodes
//!   ([`propagation`]);
//! - Prometheus text exposition of a `prometheus-client` registry ([`render`]).
#![forbid(unsafe_code)]

pub mod propagation;
mod setup;

pub use setup::{Telemetry, TelemetryError, TelemetryOptions, init};

/// Renders a metrics registry in the Prometheus text format.
pub fn render(registry: &prometheus_client::registry::Registry) -> String {
    let mut out = String::new();
    // Encoding into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}
