//! Whether a principal may watch a device's live video now (R13). The
//! layer asks the node's [`ViewPolicy`] on every HLS request and the relay on
//! every QUIC subscription; the sharing service implements it from its
//! grants.

use vfed_audit::AuditRecord;

use crate::principal::Principal;

/// On what basis a view is allowed: recorded with the view's audit entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewBasis {
    /// The sharing grant, for department viewers; `None` when the role
    /// alone allows it.
    pub grant_id: Option<String>,
    /// The grant's purpose (R14.5).
    pub purpose: String,
    /// When the basis ends (the grant's end), Unix seconds.
    pub valid_to_unix: Option<i64>,
}

impl ViewBasis {
    /// Allowed by the principal's role, not by a grant.
    pub fn by_role() -> Self {
        ViewBasis {
            grant_id: None,
            purpose: String::new(),
            valid_to_unix: None,
        }
    }

    /// The audit record of a view starting on this basis (R14.5);
    /// `destination` is the egress (`hls`, `quic`).
    pub fn start_record(&self, actor: &str, stream: &str, destination: &str) -> AuditRecord {
        AuditRecord::new(actor, "live.view.start", stream)
            .with_purpose(self.purpose.clone())
            .with_destination(destination)
            .with_details(serde_json::json!({
                "grant_id": self.grant_id,
                "valid_to_unix": self.valid_to_unix,
            }))
    }

    /// The audit record of a playback of `[start_ms, end_ms)` on this
    /// basis (R14.5); `destination` is the form (`hls`, `mp4`).
    pub fn playback_record(
        &self,
        actor: &str,
        stream: &str,
        destination: &str,
        (start_ms, end_ms): (i64, i64),
    ) -> AuditRecord {
        AuditRecord::new(actor, "recording.view", stream)
            .with_purpose(self.purpose.clone())
            .with_destination(destination)
            .with_details(serde_json::json!({
                "grant_id": self.grant_id,
                "start_unix_ms": start_ms,
                "end_unix_ms": end_ms,
            }))
    }

    /// The audit record of a view on this basis stopping, and why.
    pub fn stop_record(
        &self,
        actor: &str,
        stream: &str,
        destination: &str,
        reason: &str,
    ) -> AuditRecord {
        AuditRecord::new(actor, "live.view.stop", stream)
            .with_purpose(self.purpose.clone())
            .with_destination(destination)
            .with_details(serde_json::json!({
                "grant_id": self.grant_id,
                "reason": reason,
            }))
    }
}

/// Why a view is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason} ({requirement})")]
pub struct Refusal {
    /// In words, naming what is missing (e.g. "no live grant to department traffic covers device ...").
    pub reason: String,
    /// The requirement, e.g. `R13`.
    pub requirement: &'static str,
}

/// Decides live viewing; must be cheap (called per HLS request).
pub trait ViewPolicy: Send + Sync + 'static {
    /// Whether `principal` (who holds `live.view`) may watch `device_id` now.
    fn check_live(&self, principal: &Principal, device_id: &str) -> Result<ViewBasis, Refusal>;

    /// Whether `principal` (who holds `recordings.view`) may play back
    /// `device_id`'s recording of `[start_ms, end_ms)` (Unix ms) now. By
    /// default: by role only, as [`RoleOnlyPolicy`] does for live video.
    fn check_recorded(
        &self,
        principal: &Principal,
        device_id: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<ViewBasis, Refusal> {
        let _ = (start_ms, end_ms);
        RoleOnlyPolicy.check_live(principal, device_id)
    }
}

/// The policy without sharing: a role that holds `live.view` and does not
/// need a grant may watch; department viewers may not.
#[derive(Clone, Copy, Debug, Default)]
pub struct RoleOnlyPolicy;

impl ViewPolicy for RoleOnlyPolicy {
    fn check_live(&self, principal: &Principal, device_id: &str) -> Result<ViewBasis, Refusal> {
        match principal.role {
            Some(role) if !role.needs_grant_to_view() => Ok(ViewBasis::by_role()),
            _ => Err(Refusal {
                reason: format!("no sharing grant covers device {device_id}"),
                requirement: "R13",
            }),
        }
    }
}
