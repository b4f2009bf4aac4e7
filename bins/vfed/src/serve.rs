//! `vfed serve`: one node from its configuration.

use std::process::ExitCode;

use tokio_util::sync::CancellationToken;
use vfed_config::{Config, LogFormat};
use vfed_telemetry::TelemetryOptions;

use crate::EXIT_CONFIG;
use crate::cli::ServeArgs;

/// Loads and validates the configuration, or exits 64 naming the field.
pub fn load_config(args: &ServeArgs) -> Result<Config, ExitCode> {
    vfed_config::load(args.config.as_deref(), &args.set).map_err(|e| {
        eprintln!("vfed: {e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

/// Runs `vfed serve`.
pub fn main(args: ServeArgs) -> ExitCode {
    let config = match load_config(&args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if args.dump_config {
        return match toml::to_string_pretty(&config) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("vfed: cannot print the configuration: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vfed: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(config))
}

async fn run(config: Config) -> ExitCode {
    let telemetry = match vfed_telemetry::init(&TelemetryOptions {
        log: config.telemetry.log.clone(),
        json: config.telemetry.log_format == LogFormat::Json,
        otlp_endpoint: config.telemetry.otlp_endpoint.clone(),
        service_name: format!("vfed-{}", config.node.id),
    }) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("vfed: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let code = match serve(&config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "vfed stopped on an error");
            eprintln!("vfed: {e}");
            // Unusable settings or credentials are configuration errors (64);
            // anything else that stops a node is a runtime failure (1).
            match e {
                vfed_runtime::NodeError::Config(_)
                | vfed_runtime::NodeError::Tls(_)
                | vfed_runtime::NodeError::Exposed(_)
                | vfed_runtime::NodeError::Bind { .. } => ExitCode::from(EXIT_CONFIG),
                _ => ExitCode::FAILURE,
            }
        }
    };
    telemetry.shutdown();
    code
}

async fn serve(config: &Config) -> Result<(), vfed_runtime::NodeError> {
    let listeners = vfed_runtime::Listeners::bind(config).await?;
    let mut node = vfed_runtime::start(config, listeners).await?;
    let stop = CancellationToken::new();
    crate::signals::install(stop.clone());
    tokio::select! {
        () = stop.cancelled() => {}
        () = node.wait() => tracing::error!("a server task ended unexpectedly"),
    }
    node.stop().await;
    Ok(())
}
