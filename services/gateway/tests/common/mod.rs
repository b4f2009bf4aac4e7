//! Helpers shared by the gateway's integration tests.
#![allow(dead_code)]

use std::time::Duration;

use anyhow::{Context, bail};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;
use vfed_gateway::{PullEvent, Subscription};
use vfed_media::{AccessUnit, StreamMetadata};

/// Serialises the tests of one binary that run cameras: encoding eats CPU
/// on a small shared machine, and a starved encoder falls behind real time.
pub static CAMERA: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The next event before `deadline`, skipping over lag.
pub async fn next_event(sub: &mut Subscription, deadline: Instant) -> anyhow::Result<PullEvent> {
    loop {
        match tokio::time::timeout_at(deadline, sub.events.recv()).await {
            Err(_) => bail!("no event before the deadline"),
            Ok(Ok(event)) => return Ok(event),
            Ok(Err(RecvError::Lagged(n))) => eprintln!("subscriber lagged by {n} events"),
            Ok(Err(RecvError::Closed)) => bail!("the stream's channel closed"),
        }
    }
}

/// Waits for the first event matching `pick`, failing on a deadline; events
/// skipped on the way are returned too.
pub async fn wait_for<T>(
    sub: &mut Subscription,
    within: Duration,
    what: &str,
    mut pick: impl FnMut(&PullEvent) -> Option<T>,
) -> anyhow::Result<(T, Vec<PullEvent>)> {
    let deadline = Instant::now() + within;
    let mut skipped = Vec::new();
    loop {
        let event = next_event(sub, deadline)
            .await
            .with_context(|| format!("waiting {within:?} for {what}; saw {}", summary(&skipped)))?;
        if let Some(found) = pick(&event) {
            return Ok((found, skipped));
        }
        skipped.push(event);
    }
}

/// The metadata (from the subscription or the first event) and the next `n`
/// access units, all within `within`.
pub async fn metadata_and_units(
    sub: &mut Subscription,
    n: usize,
    within: Duration,
) -> anyhow::Result<(StreamMetadata, Vec<AccessUnit>)> {
    let deadline = Instant::now() + within;
    let mut metadata = sub.metadata.clone();
    let mut units = Vec::new();
    let mut seen = Vec::new();
    while units.len() < n {
        let event = next_event(sub, deadline).await.with_context(|| {
            format!(
                "{} of {n} access units; other events: {}",
                units.len(),
                summary(&seen)
            )
        })?;
        match event {
            PullEvent::Metadata { metadata: m, .. } => metadata = Some(m),
            PullEvent::AccessUnit(au) if metadata.is_some() => units.push(au),
            other => seen.push(other),
        }
    }
    Ok((metadata.context("no metadata")?, units))
}

/// A short description of events, for failure messages.
pub fn summary(events: &[PullEvent]) -> String {
    let items: Vec<String> = events
        .iter()
        .map(|e| match e {
            PullEvent::Metadata { new_session, .. } => {
                format!("Metadata(new_session={new_session})")
            }
            PullEvent::AccessUnit(au) => format!("AU(pts={}, key={})", au.pts, au.keyframe),
            PullEvent::Disconnected { reason } => format!("Disconnected({reason})"),
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// Checks that `data` is 4-byte length-prefixed NAL units without parameter
/// sets, and returns the NAL unit types.
pub fn nal_types(data: &[u8], h265: bool) -> anyhow::Result<Vec<u8>> {
    let mut types = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        anyhow::ensure!(rest.len() >= 5, "truncated length prefix");
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        anyhow::ensure!(len > 0 && rest.len() >= 4 + len, "bad NAL length {len}");
        let header = rest[4];
        let kind = if h265 {
            (header >> 1) & 0x3f
        } else {
            header & 0x1f
        };
        let parameter_set = if h265 {
            (32..=34).contains(&kind)
        } else {
            kind == 7 || kind == 8
        };
        anyhow::ensure!(
            !parameter_set,
            "parameter set NAL (type {kind}) inside an access unit"
        );
        types.push(kind);
        rest = &rest[4 + len..];
    }
    Ok(types)
}
