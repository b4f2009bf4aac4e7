//! W3C trace context between nodes, so that one operation shows as one
//! trace through every node it touches:
//!
//! - gRPC: clients inject it into request metadata ([`inject`]), servers
//!   make it the parent of the request's span ([`server_span`]);
//! - any protocol that can carry a string map (the relay's QUIC `Subscribe`):
//!   [`inject_map`] on the sending side, [`extract_map`] + [`set_parent`] on
//!   the receiving side;
//! - HTTP requests (HLS viewers): [`extract_headers`].
//!
//! All of them use the global propagator, which [`crate::init`] sets to W3C
//! Trace Context; without one installed nothing is injected or extracted.

use std::collections::HashMap;

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// A tonic interceptor that adds the current span's trace context to a call.
pub fn inject(mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut MetadataInjector(request.metadata_mut()));
    });
    Ok(request)
}

/// The span of an incoming gRPC request, child of the caller's trace if any.
/// Use as `Server::builder().trace_fn(vfed_telemetry::propagation::server_span)`.
pub fn server_span(request: &http::Request<()>) -> tracing::Span {
    let span = tracing::info_span!("grpc", rpc = %request.uri().path());
    set_parent(&span, extract_headers(request.headers()));
    span
}

/// The trace context of `span` as string fields (`traceparent`, and
/// `tracestate` when there is one), for a message that carries a string map.
///
/// This starts `span`: call [`set_parent`] on it before, not after.
pub fn inject_map(span: &tracing::Span) -> HashMap<String, String> {
    let context = span.context();
    let mut fields = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut fields);
    });
    fields
}

/// The trace context carried in `fields` (see [`inject_map`]); an empty
/// context when there is none or it is malformed (the peer's input is not
/// trusted beyond the propagator's own parsing).
pub fn extract_map(fields: &HashMap<String, String>) -> Context {
    opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(fields))
}

/// The trace context of an incoming HTTP request's headers (`traceparent`,
/// `tracestate`); an empty context when there is none.
pub fn extract_headers(headers: &http::HeaderMap) -> Context {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(headers))
    })
}

/// Makes `span` a child of the remote span in `parent`, if `parent` carries
/// a valid one; otherwise `span` keeps its own parent (or stays a root).
/// Call it before the span is first entered.
pub fn set_parent(span: &tracing::Span, parent: Context) {
    if parent.span().span_context().is_valid() {
        // Fails only when no OpenTelemetry layer is installed, or the span
        // is disabled or already started: then there is nothing to link.
        let _ = span.set_parent(parent);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    fn traced<T>(f: impl FnOnce() -> T) -> (T, Vec<opentelemetry_sdk::trace::SpanData>) {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let out = tracing::subscriber::with_default(subscriber, f);
        provider.force_flush().unwrap();
        (out, exporter.get_finished_spans().unwrap())
    }

    #[test]
    fn a_string_map_carries_the_trace_to_a_child_span() {
        let (fields, spans) = traced(|| {
            let sender = tracing::info_span!("sender");
            let fields = inject_map(&sender);
            let receiver = tracing::info_span!("receiver");
            set_parent(&receiver, extract_map(&fields));
            drop(receiver.enter());
            fields
        });
        assert!(fields.contains_key("traceparent"), "{fields:?}");
        let sender = spans.iter().find(|s| s.name == "sender").unwrap();
        let receiver = spans.iter().find(|s| s.name == "receiver").unwrap();
        assert_eq!(
            receiver.span_context.trace_id(),
            sender.span_context.trace_id()
        );
        assert_eq!(receiver.parent_span_id, sender.span_context.span_id());
    }

    #[test]
    fn garbage_or_missing_context_leaves_a_root_span() {
        let (_, spans) = traced(|| {
            for fields in [
                HashMap::new(),
                HashMap::from([("traceparent".to_owned(), "00-zz-yy-01".to_owned())]),
            ] {
                let span = tracing::info_span!("receiver");
                set_parent(&span, extract_map(&fields));
                drop(span.enter());
            }
        });
        assert_eq!(spans.len(), 2);
        for span in spans {
            assert_eq!(span.parent_span_id, opentelemetry::trace::SpanId::INVALID);
        }
    }

    #[test]
    fn http_headers_carry_the_trace() {
        let (_, spans) = traced(|| {
            let viewer = tracing::info_span!("viewer");
            let mut headers = http::HeaderMap::new();
            for (k, v) in inject_map(&viewer) {
                headers.insert(
                    http::HeaderName::try_from(k).unwrap(),
                    http::HeaderValue::try_from(v).unwrap(),
                );
            }
            let server = tracing::info_span!("server");
            set_parent(&server, extract_headers(&headers));
            drop(server.enter());
        });
        let viewer = spans.iter().find(|s| s.name == "viewer").unwrap();
        let server = spans.iter().find(|s| s.name == "server").unwrap();
        assert_eq!(server.parent_span_id, viewer.span_context.span_id());
    }
}
