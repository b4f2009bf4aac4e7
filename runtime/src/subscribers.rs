//! Which persons may receive which stream over the relay's QUIC port: the
//! account their certificate names, its role, and for department viewers
//! an active grant of their department (R13). The relay asks when a person
//! subscribes and every second while they watch, so a grant that expires,
//! is revoked or shortened ends the subscription.
//!
//! The same checks make the audit trail of QUIC views (R14.5): the first
//! allowed check of a (person, stream) starts a view, a refusal or checks
//! that stop coming (the person left) stop it, and every refusal is logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use vfed_audit::AuditRecord;
use vfed_auditing::AuditTrail;
use vfed_auth::{Accounts, Permission, ViewBasis, ViewPolicy};
use vfed_pki::Identity;
use vfed_relay::{StreamKey, SubscriberPolicy};
use vfed_sharing::GrantBook;

/// A view with no check for this long has ended (the relay checks every second).
const ENDED_AFTER: Duration = Duration::from_secs(3);

struct View {
    actor: String,
    stream: String,
    basis: ViewBasis,
    last_check: Instant,
}

/// Accounts and grants, as the relay's subscriber policy.
pub struct Viewers {
    accounts: Accounts,
    grants: GrantBook,
    audit: AuditTrail,
    views: Arc<Mutex<HashMap<(String, String), View>>>,
}

fn stop_record(view: &View, reason: &str) -> AuditRecord {
    view.basis
        .stop_record(&view.actor, &view.stream, "quic", reason)
}

impl Viewers {
    /// The policy from the node's `accounts` and `grants`, logging views to
    /// `audit`; views whose checks stopped are closed until `shutdown`.
    pub fn new(
        accounts: Accounts,
        grants: GrantBook,
        audit: AuditTrail,
        shutdown: CancellationToken,
    ) -> Self {
        let viewers = Self {
            accounts,
            grants,
            audit,
            views: Arc::default(),
        };
        tokio::spawn(sweep(
            viewers.views.clone(),
            viewers.audit.clone(),
            shutdown,
        ));
        viewers
    }

    fn record(&self, record: AuditRecord) {
        let audit = self.audit.clone();
        tokio::spawn(async move {
            if let Err(e) = audit.record(record).await {
                tracing::error!(error = %e, "audit record of a QUIC view not written");
            }
        });
    }

    fn decide(
        &self,
        peer: &Identity,
        key: &StreamKey,
    ) -> Result<(String, ViewBasis), (String, String)> {
        let Some(principal) = self.accounts.principal_for_certificate(peer) else {
            return Err((
                peer.to_string(),
                format!("certificate identity {peer} has no enabled account on this node (R15.1)"),
            ));
        };
        let actor = principal.actor();
        if !principal.allows(Permission::LiveView) {
            return Err((
                actor,
                format!(
                    "{} ({}) does not hold permission {} ({})",
                    principal.actor(),
                    principal.role.map_or("no role", |r| r.name()),
                    Permission::LiveView,
                    Permission::LiveView.requirement()
                ),
            ));
        }
        match self.grants.check_live(&principal, &key.device_id) {
            Ok(basis) => Ok((actor, basis)),
            Err(refusal) => Err((actor, refusal.to_string())),
        }
    }
}

impl SubscriberPolicy for Viewers {
    fn check(&self, peer: &Identity, key: &StreamKey) -> Result<(), String> {
        let stream = key.to_string();
        match self.decide(peer, key) {
            Ok((actor, basis)) => {
                let started = {
                    let mut views = self
                        .views
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    match views.get_mut(&(actor.clone(), stream.clone())) {
                        Some(view) => {
                            view.last_check = Instant::now();
                            None
                        }
                        None => {
                            views.insert(
                                (actor.clone(), stream.clone()),
                                View {
                                    actor: actor.clone(),
                                    stream: stream.clone(),
                                    basis: basis.clone(),
                                    last_check: Instant::now(),
                                },
                            );
                            Some(basis)
                        }
                    }
                };
                if let Some(basis) = started {
                    self.record(basis.start_record(&actor, &stream, "quic"));
                }
                Ok(())
            }
            Err((actor, reason)) => {
                let ended = self
                    .views
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&(actor.clone(), stream.clone()));
                if let Some(view) = ended {
                    self.record(stop_record(&view, &reason));
                }
                let requirement = vfed_auth::requirement_in(&reason, "R13");
                self.record(
                    AuditRecord::new(actor, "live.view", stream)
                        .with_destination("quic")
                        .refused(reason.clone(), requirement),
                );
                Err(reason)
            }
        }
    }
}

/// Closes views whose checks stopped coming: the person unsubscribed or left.
async fn sweep(
    views: Arc<Mutex<HashMap<(String, String), View>>>,
    audit: AuditTrail,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let stopping = shutdown.is_cancelled();
        if !stopping {
            tokio::select! {
                () = shutdown.cancelled() => {}
                _ = tick.tick() => {}
            }
        }
        let ended: Vec<View> = {
            let mut views = views
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let keys: Vec<_> = views
                .iter()
                .filter(|(_, v)| stopping || v.last_check.elapsed() >= ENDED_AFTER)
                .map(|(k, _)| k.clone())
                .collect();
            keys.iter().filter_map(|k| views.remove(k)).collect()
        };
        for view in ended {
            let reason = if stopping {
                "node stopping"
            } else {
                "subscription ended"
            };
            if let Err(e) = audit.record(stop_record(&view, reason)).await {
                tracing::error!(error = %e, "audit record of a QUIC view not written");
            }
        }
        if stopping {
            return;
        }
    }
}
