//! SIGINT/SIGTERM: the first starts a graceful drain, a second exits at once.

use tokio_util::sync::CancellationToken;

/// Cancels `token` on the first signal; exits the process on the second.
pub fn install(token: CancellationToken) {
    tokio::spawn(async move {
        wait_for_signal().await;
        eprintln!("vfed: stopping (again to exit now)");
        token.cancel();
        wait_for_signal().await;
        eprintln!("vfed: second signal, exiting now");
        std::process::exit(130);
    });
}

async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops vfed");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
