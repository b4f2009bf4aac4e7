//! Installing the global subscriber and tracer provider.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// What to install.
#[derive(Clone, Debug, Default)]
pub struct TelemetryOptions {
    /// Filter directives, e.g. `info,vfed_registry=debug` (`RUST_LOG` wins when set).
    pub log: String,
    /// One JSON object per line instead of text.
    pub json: bool,
    /// OTLP/gRPC endpoint; empty: no trace export.
    pub otlp_endpoint: String,
    /// `service.name` of exported spans.
    pub service_name: String,
}

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// Bad filter directives.
    #[error("telemetry.log: {0}")]
    Filter(String),
    /// The OTLP exporter could not be built.
    #[error("telemetry.otlp_endpoint: {0}")]
    Exporter(String),
    /// A global subscriber was installed already.
    #[error("a tracing subscriber is already installed")]
    AlreadyInstalled,
}

/// Installed telemetry; call [`Telemetry::shutdown`] to flush spans on exit.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Flushes and stops trace export.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown()
        {
            eprintln!("vfed: flushing traces failed: {e}");
        }
    }
}

/// Installs the global subscriber (and tracer provider when configured).
pub fn init(options: &TelemetryOptions) -> Result<Telemetry, TelemetryError> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.is_empty() => EnvFilter::try_new(directives),
        _ => EnvFilter::try_new(if options.log.is_empty() {
            "info"
        } else {
            &options.log
        }),
    }
    .map_err(|e| TelemetryError::Filter(e.to_string()))?;
    let provider = if options.otlp_endpoint.is_empty() {
        None
    } else {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(options.otlp_endpoint.clone())
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        let resource = Resource::builder()
            .with_service_name(options.service_name.clone())
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        opentelemetry::global::set_tracer_provider(provider.clone());
        Some(provider)
    };
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer().with_tracer(p.tracer(options.service_name.clone()))
    });
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let result = if options.json {
        registry
            .with(tracing_subscriber::fmt::layer().json())
            .try_init()
    } else {
        // Colour only for a person at a terminal: a log file or a pipe
        // (journald, `| tee`, CI) gets plain text, no ANSI escape codes.
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
        registry
            .with(tracing_subscriber::fmt::layer().with_ansi(ansi))
            .try_init()
    };
    result.map_err(|_| TelemetryError::AlreadyInstalled)?;
    Ok(Telemetry { provider })
}
