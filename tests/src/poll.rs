//! Bounded polling: eventual assertions without fixed sleeps.

use std::future::Future;
use std::time::Duration;

/// Polls `check` every 20 ms until it returns `Ok(Some(value))`, failing with
/// the last error (or "still none") once `timeout` has passed.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => "condition not met".to_owned(),
            Err(e) => format!("{e:#}"),
        };
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("{what}: not within {timeout:?}: {last}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
