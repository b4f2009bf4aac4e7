//! One tracker of live views for every egress: HLS over the HTTP port and
//! the relay's QUIC subscriptions. A person's allowed looks at one stream
//! over one egress form a view: its start and stop go to the audit log
//! (R14.5) with the basis it stood on (the role, or the grant and its
//! purpose, R13), and every refusal too.
//!
//! A view stops when it is refused (its basis ended: a grant expired, was
//! revoked or shortened), when its looks stop coming (the egress decides
//! how long that takes), or when the node stops. HLS players make plain
//! requests, so the tracker itself re-checks HLS views every second; the
//! relay re-checks each QUIC subscription every second on its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use vfed_audit::AuditRecord;
use vfed_pki::Identity;

use crate::gate::Gate;
use crate::permission::Permission;
use crate::principal::Principal;
use crate::view::ViewBasis;

/// How often views are swept (and HLS views re-checked).
const SWEEP: Duration = Duration::from_secs(1);

/// A QUIC view with no check for this long has ended (the relay checks
/// every second).
const QUIC_ENDED_AFTER: Duration = Duration::from_secs(3);

/// How a view is watched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Egress {
    /// HLS requests on the HTTP port; a view with no request for `idle`
    /// ends (`auth.view_idle`).
    Hls {
        /// How long a view lasts without a request.
        idle: Duration,
    },
    /// The relay's QUIC subscriptions.
    Quic,
}

impl Egress {
    /// The audit log's destination (`hls`, `quic`).
    pub fn destination(self) -> &'static str {
        match self {
            Egress::Hls { .. } => "hls",
            Egress::Quic => "quic",
        }
    }

    fn idle(self) -> Duration {
        match self {
            Egress::Hls { idle } => idle,
            Egress::Quic => QUIC_ENDED_AFTER,
        }
    }

    fn idle_reason(self) -> String {
        match self {
            Egress::Hls { idle } => format!("no request for {} s", idle.as_secs()),
            Egress::Quic => "subscription ended".to_owned(),
        }
    }

    /// Whether the tracker re-checks the basis (the relay re-checks its own).
    fn rechecked_here(self) -> bool {
        matches!(self, Egress::Hls { .. })
    }
}

/// (actor, `<device>/<profile>`, destination).
type ViewKey = (String, String, &'static str);

struct View {
    principal: Arc<Principal>,
    /// The device ID (what grants cover).
    device: String,
    /// `<device>/<profile>` (what the audit log names).
    stream: String,
    egress: Egress,
    basis: ViewBasis,
    last_seen: Instant,
}

impl View {
    fn stop_record(&self, reason: &str) -> AuditRecord {
        self.basis.stop_record(
            &self.principal.actor(),
            &self.stream,
            self.egress.destination(),
            reason,
        )
    }
}

/// The node's live views (cheap to clone).
#[derive(Clone)]
pub struct LiveViews {
    gate: Arc<Gate>,
    views: Arc<Mutex<HashMap<ViewKey, View>>>,
}

impl LiveViews {
    /// Views decided by `gate`'s credentials and view policy, logged to its audit sink.
    pub fn new(gate: Arc<Gate>) -> Self {
        LiveViews {
            gate,
            views: Arc::default(),
        }
    }

    /// The gate deciding the views.
    pub fn gate(&self) -> &Arc<Gate> {
        &self.gate
    }

    /// Views open now over `destination` (`hls`, `quic`).
    pub fn open(&self, destination: &str) -> usize {
        self.lock()
            .keys()
            .filter(|(_, _, d)| *d == destination)
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ViewKey, View>> {
        self.views
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `principal` (who holds `live.view`) may watch `stream` of
    /// `device` now. Allowed: the view starts or goes on, and the start's
    /// record is returned for a new one. Refused: an open view stops, and
    /// the stop's record is returned with the refusal.
    pub fn look(
        &self,
        principal: &Arc<Principal>,
        device: &str,
        stream: &str,
        egress: Egress,
    ) -> Result<Option<AuditRecord>, (crate::view::Refusal, Option<Box<AuditRecord>>)> {
        let actor = principal.actor();
        let key = (actor.clone(), stream.to_owned(), egress.destination());
        match self.gate.views.check_live(principal, device) {
            Ok(basis) => {
                let mut views = self.lock();
                if let Some(view) = views.get_mut(&key) {
                    view.last_seen = Instant::now();
                    view.basis = basis;
                    return Ok(None);
                }
                let record = basis.start_record(&actor, stream, egress.destination());
                tracing::info!(%actor, %stream, destination = egress.destination(), "live view started");
                views.insert(
                    key,
                    View {
                        principal: principal.clone(),
                        device: device.to_owned(),
                        stream: stream.to_owned(),
                        egress,
                        basis,
                        last_seen: Instant::now(),
                    },
                );
                Ok(Some(record))
            }
            Err(refusal) => {
                let stop = self.lock().remove(&key).map(|view| {
                    let reason = refusal.to_string();
                    tracing::info!(%actor, %stream, %reason, "live view stopped");
                    Box::new(view.stop_record(&reason))
                });
                Err((refusal, stop))
            }
        }
    }

    /// The relay's question for a person's QUIC subscription to `stream`
    /// of `device`, asked when they subscribe and every second while they
    /// watch: the account their certificate names, its role, and the view
    /// policy (R13). `Err` says why not, naming the requirement. Records
    /// are written in the background (the relay asks synchronously).
    pub fn check_subscriber(
        &self,
        peer: &Identity,
        device: &str,
        stream: &str,
    ) -> Result<(), String> {
        let refused =
            |actor: String, reason: String, requirement: &str, stop: Option<Box<AuditRecord>>| {
                if let Some(stop) = stop {
                    self.record_later(*stop);
                }
                self.record_later(
                    AuditRecord::new(actor, "live.view", stream)
                        .with_destination(Egress::Quic.destination())
                        .refused(reason.clone(), requirement),
                );
                Err(reason)
            };
        let Some(principal) = self.gate.credentials.principal_for_certificate(peer) else {
            return refused(
                peer.to_string(),
                format!("certificate identity {peer} has no enabled account on this node (R15.1)"),
                "R15.1",
                None,
            );
        };
        if !principal.allows(Permission::LiveView) {
            let reason = format!(
                "{} ({}) does not hold permission {} ({})",
                principal.actor(),
                principal.role.map_or("no role", |r| r.name()),
                Permission::LiveView,
                Permission::LiveView.requirement()
            );
            return refused(
                principal.actor(),
                reason,
                Permission::LiveView.requirement(),
                None,
            );
        }
        let principal = Arc::new(principal);
        match self.look(&principal, device, stream, Egress::Quic) {
            Ok(start) => {
                if let Some(start) = start {
                    self.record_later(start);
                }
                Ok(())
            }
            Err((refusal, stop)) => refused(
                principal.actor(),
                refusal.to_string(),
                refusal.requirement,
                stop,
            ),
        }
    }

    fn record_later(&self, record: AuditRecord) {
        tokio::spawn(self.gate.audit.record(record));
    }

    /// Ends views whose looks stopped coming or, for HLS, whose basis ended
    /// (a grant expired or was revoked), recording each stop, until
    /// `shutdown`; then stops every view open ("node stopping").
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(SWEEP);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            for (view, reason) in self.sweep() {
                self.record_stop(&view, &reason).await;
            }
        }
        let ended: Vec<View> = self.lock().drain().map(|(_, v)| v).collect();
        for view in ended {
            self.record_stop(&view, "node stopping").await;
        }
    }

    fn sweep(&self) -> Vec<(View, String)> {
        let mut views = self.lock();
        let mut ended = Vec::new();
        let keys: Vec<_> = views.keys().cloned().collect();
        for key in keys {
            let Some(view) = views.get(&key) else {
                continue;
            };
            let reason = if view.last_seen.elapsed() >= view.egress.idle() {
                Some(view.egress.idle_reason())
            } else if view.egress.rechecked_here() {
                self.gate
                    .views
                    .check_live(&view.principal, &view.device)
                    .err()
                    .map(|r| r.to_string())
            } else {
                None
            };
            if let Some(reason) = reason
                && let Some(view) = views.remove(&key)
            {
                ended.push((view, reason));
            }
        }
        ended
    }

    async fn record_stop(&self, view: &View, reason: &str) {
        tracing::info!(actor = %view.principal.actor(), stream = %view.stream, reason, "live view stopped");
        self.gate.audit.record(view.stop_record(reason)).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::audit_sink::{AuditSink, BoxFuture};
    use crate::credentials::Credentials;
    use crate::principal::AuthenticatedBy;
    use crate::role::Role;
    use crate::view::{Refusal, ViewPolicy};

    /// A node without accounts: these tests hand the tracker principals.
    struct NoAccounts;

    impl Credentials for NoAccounts {
        fn authenticate_token(&self, _token: &str) -> Result<Principal, String> {
            Err("no accounts".into())
        }

        fn principal_for_certificate(&self, _identity: &Identity) -> Option<Principal> {
            None
        }
    }

    /// The records written, in order.
    #[derive(Default)]
    struct Kept(Mutex<Vec<AuditRecord>>);

    impl AuditSink for Arc<Kept> {
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

    /// Allows every view until the grant is revoked.
    #[derive(Default)]
    struct Grant(AtomicBool);

    impl ViewPolicy for Arc<Grant> {
        fn check_live(&self, _principal: &Principal, device: &str) -> Result<ViewBasis, Refusal> {
            if self.0.load(Ordering::SeqCst) {
                return Err(Refusal {
                    reason: format!("the grant covering {device} was revoked"),
                    requirement: "R13",
                });
            }
            Ok(ViewBasis {
                grant_id: Some("g-000000000001".into()),
                purpose: "festival".into(),
                valid_to_unix: None,
            })
        }
    }

    fn tracker() -> (LiveViews, Arc<Kept>, Arc<Grant>) {
        let kept = Arc::new(Kept::default());
        let grant = Arc::new(Grant::default());
        let gate = Gate::new(
            Arc::new(NoAccounts),
            Arc::new(kept.clone()),
            Arc::new(grant.clone()),
        )
        .unwrap();
        (LiveViews::new(gate), kept, grant)
    }

    fn viewer() -> Arc<Principal> {
        Arc::new(Principal {
            name: "dawa".into(),
            role: Some(Role::DepartmentViewer),
            unit: String::new(),
            department: "traffic".into(),
            authenticated_by: AuthenticatedBy::Token,
            token_expires_unix: None,
        })
    }

    const DEVICE: &str = "54050200001320000001";
    const STREAM: &str = "54050200001320000001/main";

    #[tokio::test]
    async fn one_view_per_person_stream_and_egress_from_start_to_stop() {
        let (views, kept, grant) = tracker();
        let person = viewer();
        let hls = Egress::Hls {
            idle: Duration::from_secs(30),
        };

        // Repeated looks are one view; the same stream over QUIC is another.
        let start = views.look(&person, DEVICE, STREAM, hls).unwrap().unwrap();
        assert_eq!(
            (start.action.as_str(), start.destination.as_str()),
            ("live.view.start", "hls")
        );
        assert_eq!(start.purpose, "festival");
        assert!(views.look(&person, DEVICE, STREAM, hls).unwrap().is_none());
        let quic = views
            .look(&person, DEVICE, STREAM, Egress::Quic)
            .unwrap()
            .unwrap();
        assert_eq!(quic.destination, "quic");
        assert_eq!((views.open("hls"), views.open("quic")), (1, 1));

        // Revoked: the HLS sweep ends the HLS view with the refusal; the
        // QUIC view waits for the relay's own re-check.
        grant.0.store(true, Ordering::SeqCst);
        let ended = views.sweep();
        assert_eq!(ended.len(), 1, "only the HLS view is re-checked here");
        assert!(ended[0].1.contains("revoked") && ended[0].1.contains("R13"));
        assert_eq!((views.open("hls"), views.open("quic")), (0, 1));
        let (refusal, stop) = views
            .look(&person, DEVICE, STREAM, Egress::Quic)
            .unwrap_err();
        assert_eq!(refusal.requirement, "R13");
        let stop = stop.unwrap();
        assert_eq!(
            (stop.action.as_str(), stop.destination.as_str()),
            ("live.view.stop", "quic")
        );
        assert!(stop.details.to_string().contains("revoked"));
        assert_eq!(views.open("quic"), 0);
        // Refused again: no view is open, so no second stop.
        assert!(
            views
                .look(&person, DEVICE, STREAM, Egress::Quic)
                .unwrap_err()
                .1
                .is_none()
        );
        assert!(
            kept.0.lock().unwrap().is_empty(),
            "look returns, never writes"
        );
    }

    #[tokio::test]
    async fn idle_views_end_and_shutdown_stops_the_rest() {
        let (views, kept, _grant) = tracker();
        let person = viewer();
        let idle = Egress::Hls {
            idle: Duration::ZERO,
        };
        views.look(&person, DEVICE, STREAM, idle).unwrap();
        views.look(&person, DEVICE, STREAM, Egress::Quic).unwrap();
        let ended = views.sweep();
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].1, "no request for 0 s");

        let shutdown = CancellationToken::new();
        shutdown.cancel();
        views.clone().run(shutdown).await;
        let records = kept.0.lock().unwrap().clone();
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[0].action, "live.view.stop");
        assert_eq!(records[0].destination, "quic");
        assert!(records[0].details.to_string().contains("node stopping"));
        assert_eq!(views.open("quic"), 0);
    }
}
