//! Shared by the archive's integration tests: an audit sink that keeps
//! every record, a relay resolver with no routes, and polling.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use vfed_audit::AuditRecord;
use vfed_authz::{AuditSink, BoxFuture};
use vfed_media::AnnexBFile;
use vfed_relay::{Relay, RelayOptions, Resolver, Route, StreamKey};

/// The demo clip: real H.264, 720p at 25 fps.
pub const CLIP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../crates/media/assets/demo-720p25.h264"
);
/// The recording node.
pub const NODE: &str = "54050200002000000001";
/// The camera.
pub const DEVICE: &str = "54050200001320000001";

/// Keeps every record, as the node's audit trail would.
#[derive(Clone, Default)]
pub struct Records(pub Arc<Mutex<Vec<AuditRecord>>>);

impl Records {
    /// Every record, in order.
    pub fn actions(&self) -> Vec<AuditRecord> {
        self.0.lock().unwrap().clone()
    }

    /// The records of `action`, in order.
    pub fn with_action(&self, action: &str) -> Vec<AuditRecord> {
        let all = self.0.lock().unwrap();
        all.iter().filter(|r| r.action == action).cloned().collect()
    }
}

impl AuditSink for Records {
    fn record(&self, record: AuditRecord) -> BoxFuture<()> {
        self.0.lock().unwrap().push(record);
        Box::pin(async {})
    }

    fn scope(&self, _record: AuditRecord, call: BoxFuture<()>) -> BoxFuture<bool> {
        Box::pin(async move {
            call.await;
            false
        })
    }
}

/// A relay resolver that finds nothing (the archive records local streams).
pub struct NoRoutes;

impl Resolver for NoRoutes {
    fn resolve<'a>(&'a self, _device_id: &'a str) -> futures::future::BoxFuture<'a, Route> {
        Box::pin(async { Route::NotFound })
    }
}

/// Polls `check` every 100 ms until it holds, at most `limit`.
pub async fn poll_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A relay at [`NODE`] carrying [`DEVICE`]'s main stream, the demo clip
/// looped at real-time pace until the token is cancelled.
pub fn looping_camera() -> (Relay, CancellationToken) {
    let relay = Relay::new(
        NODE,
        "vfed.test",
        None,
        [],
        Arc::new(NoRoutes),
        RelayOptions::default(),
    );
    let (metadata, units) = AnnexBFile::read(CLIP).unwrap();
    let camera = CancellationToken::new();
    let key = StreamKey::new(DEVICE, "main").unwrap();
    vfed_relay::source::spawn_looping(relay.publish(&key), metadata, units, camera.clone());
    (relay, camera)
}
