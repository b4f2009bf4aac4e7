//! The `vfed.violations.v1.Violations` gRPC service (R24).
//!
//! The auth layer in front has checked `devices.read`, logs every error
//! these handlers return as a refusal and commits each change's audit record
//! in the change's transaction. Setting a deadline and closing are the
//! police's: the handler refuses every role but officer, naming R24.

use std::collections::HashMap;
use std::sync::Arc;

use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime};
use tonic::{Code, Request, Response, Status};
use vfed_authz::{Role, principal_of, refused};
use vfed_proto::bounds;
use vfed_proto::violations::v1 as pb;
use vfed_proto::violations::v1::violations_server::Violations;

use crate::deadlines::{BookError, Deadlines, Decision, Signed};
use crate::detect::{Finding, Kind, detect};
use crate::sources::{DeviceRecords, Refusals};

/// Audit log entries scanned for refusals (the newest).
pub const AUDIT_WINDOW: u64 = 100_000;
/// Most violations in one answer (a page stays far below the 4 MiB message limit).
pub const MAX_LISTED: usize = 2000;
/// Longest note.
const NOTE_CHARS: usize = 256;
/// Furthest deadline, in days from today.
const MAX_DEADLINE_DAYS: i64 = 366;

/// The violations service of one node.
#[derive(Clone)]
pub struct ViolationsService {
    devices: Arc<dyn DeviceRecords>,
    refusals: Arc<dyn Refusals>,
    deadlines: Deadlines,
}

fn store_error(error: BookError) -> Status {
    match error {
        BookError::Store(e) if e.is_transient() => Status::unavailable(format!("store: {e}")),
        BookError::Store(e) => Status::internal(format!("store: {e}")),
        BookError::Corrupt(e) => Status::internal(format!("corrupt violation record {e}")),
        BookError::Raced => Status::aborted(
            "id: the violation changed while this ran; re-read and retry; nothing was changed",
        ),
    }
}

fn bad(field: &str, rule: &str) -> Status {
    refused(
        Code::InvalidArgument,
        field,
        rule,
        "R24",
        format!("{field}: {rule} [R24]; nothing was changed"),
    )
}

fn kind_to_wire(kind: Kind) -> pb::ViolationKind {
    match kind {
        Kind::ProhibitedLocationAttempt => pb::ViolationKind::ProhibitedLocationAttempt,
        Kind::MissingSignage => pb::ViolationKind::MissingSignage,
        Kind::OverdueFiling => pb::ViolationKind::OverdueFiling,
        Kind::OverdueVerification => pb::ViolationKind::OverdueVerification,
        Kind::UnacceptedInUse => pb::ViolationKind::UnacceptedInUse,
        Kind::NoResponsibleUnit => pb::ViolationKind::NoResponsibleUnit,
        Kind::AccessRefused => pb::ViolationKind::AccessRefused,
    }
}

fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

/// The state of a violation found now (`found`) or only decided on.
fn state(decision: &Decision, found: bool, today: Date) -> pb::ViolationState {
    if decision.closed.is_some() {
        return pb::ViolationState::Closed;
    }
    match (&decision.deadline, found) {
        (None, _) => pb::ViolationState::Open,
        (Some(_), false) => pb::ViolationState::Rectified,
        (Some(deadline), true) if deadline.as_str() < today.to_string().as_str() => {
            pb::ViolationState::Overdue
        }
        (Some(_), true) => pb::ViolationState::Rectifying,
    }
}

fn to_wire(id: &str, finding: Option<&Finding>, decision: &Decision, today: Date) -> pb::Violation {
    let kind = finding.map(|f| f.kind).or_else(|| Kind::of_id(id));
    pb::Violation {
        id: id.to_owned(),
        kind: kind
            .map_or(pb::ViolationKind::Unspecified, kind_to_wire)
            .into(),
        requirement: kind.map_or("", Kind::requirement).to_owned(),
        unit: finding.map_or_else(|| decision.unit.clone(), |f| f.unit.clone()),
        device_id: finding.map_or_else(|| decision.device_id.clone(), |f| f.device_id.clone()),
        description: finding
            .map_or_else(|| decision.description.clone(), |f| f.description.clone()),
        observed_unix_ms: finding.map_or(0, |f| f.observed_unix_ms),
        state: state(decision, finding.is_some(), today).into(),
        deadline: decision.deadline.clone().unwrap_or_default(),
        deadline_set_by: decision
            .deadline_set
            .as_ref()
            .map(|s| s.by.clone())
            .unwrap_or_default(),
        deadline_set_unix_ms: decision.deadline_set.as_ref().map_or(0, |s| s.at_ms),
        note: decision
            .closed
            .as_ref()
            .or(decision.deadline_set.as_ref())
            .map(|s| s.note.clone())
            .unwrap_or_default(),
        closed_by: decision
            .closed
            .as_ref()
            .map(|s| s.by.clone())
            .unwrap_or_default(),
        closed_unix_ms: decision.closed.as_ref().map_or(0, |s| s.at_ms),
    }
}

fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The caller, if an officer; else the refusal naming R24.
fn officer<T>(request: &Request<T>, what: &str) -> Result<String, Status> {
    let principal = principal_of(request)?;
    if principal.role == Some(Role::Officer) {
        return Ok(principal.actor());
    }
    let rule = format!(
        "{what} is the police's: it needs role officer; {} has role {}",
        principal.actor(),
        principal.role.map_or("node", Role::name)
    );
    Err(refused(
        Code::PermissionDenied,
        "caller",
        &rule,
        "R24",
        format!("{rule} [R24]; nothing was changed"),
    ))
}

fn note(value: &str, required: bool) -> Result<String, Status> {
    let value = value.trim();
    if required && value.is_empty() {
        return Err(bad("note", "is required: why the violation is closed"));
    }
    bounds::free_text(value, NOTE_CHARS).map_err(|fault| bad("note", &fault.to_string()))?;
    Ok(value.to_owned())
}

impl ViolationsService {
    /// Over the node's registry and audit log, decisions in `store` (the
    /// node's audited store).
    pub fn new(
        devices: impl DeviceRecords,
        refusals: impl Refusals,
        store: vfed_store::SharedStore,
    ) -> Self {
        Self {
            devices: Arc::new(devices),
            refusals: Arc::new(refusals),
            deadlines: Deadlines::new(store),
        }
    }

    /// Every violation found now, and how many log entries were scanned.
    async fn findings(&self) -> Result<(Vec<Finding>, u64), Status> {
        let devices = self.devices.devices().await?;
        let overdue = self.devices.overdue_filings().await?;
        let signage = self.devices.missing_signage().await?;
        let (refused, scanned) = self
            .refusals
            .refused(&["R7", "R16", "R17"], AUDIT_WINDOW)
            .await?;
        Ok((detect(&devices, &overdue, &signage, &refused), scanned))
    }

    /// The violation `id` as found now, with its decision and revision.
    async fn decided(&self, id: &str) -> Result<(Option<Finding>, Decision, i64), Status> {
        if Kind::of_id(id).is_none() {
            return Err(bad(
                "id",
                "is not a violation ID (<kind>:<device ID or audit index>)",
            ));
        }
        let (findings, _) = self.findings().await?;
        let finding = findings.into_iter().find(|f| f.id == id);
        let (decision, revision) = self.deadlines.get(id).await.map_err(store_error)?;
        if finding.is_none() && revision == 0 {
            return Err(Status::not_found(format!(
                "violation {id} is not found now; nothing was changed"
            )));
        }
        if decision.closed.is_some() {
            let rule = format!("violation {id} is closed");
            return Err(refused(
                Code::FailedPrecondition,
                "id",
                &rule,
                "R24",
                format!("id: {rule} [R24]; nothing was changed"),
            ));
        }
        Ok((finding, decision, revision))
    }

    /// Applies the police's `change` to the violation `id` in one
    /// compare-and-swap; the violation as it now stands.
    async fn decide(
        &self,
        id: &str,
        change: impl FnOnce(&mut Decision),
    ) -> Result<pb::Violation, Status> {
        let (finding, mut decision, revision) = self.decided(id).await?;
        remember(&mut decision, finding.as_ref());
        change(&mut decision);
        self.deadlines
            .put(id, &decision, revision)
            .await
            .map_err(store_error)?;
        Ok(to_wire(id, finding.as_ref(), &decision, today()))
    }
}

fn remember(decision: &mut Decision, finding: Option<&Finding>) {
    if let Some(f) = finding {
        decision.unit = f.unit.clone();
        decision.device_id = f.device_id.clone();
        decision.description = f.description.clone();
    }
}

#[tonic::async_trait]
impl Violations for ViolationsService {
    #[tracing::instrument(skip_all)]
    async fn list_violations(
        &self,
        request: Request<pb::ListViolationsRequest>,
    ) -> Result<Response<pb::ListViolationsResponse>, Status> {
        let request = request.into_inner();
        bounds::display_text(&request.unit, bounds::NAME_CHARS)
            .map_err(|fault| bad("unit", &fault.to_string()))?;
        let (findings, scanned) = self.findings().await?;
        let mut decisions: HashMap<String, Decision> = self
            .deadlines
            .all()
            .await
            .map_err(store_error)?
            .into_iter()
            .collect();
        let today = today();
        let mut violations: Vec<pb::Violation> = findings
            .iter()
            .map(|f| {
                let decision = decisions.remove(&f.id).unwrap_or_default();
                to_wire(&f.id, Some(f), &decision, today)
            })
            .collect();
        violations.extend(
            decisions
                .iter()
                .map(|(id, decision)| to_wire(id, None, decision, today)),
        );
        violations.retain(|v| {
            (request.unit.is_empty() || v.unit == request.unit)
                && (request.include_closed
                    || !matches!(
                        v.state(),
                        pb::ViolationState::Closed | pb::ViolationState::Rectified
                    ))
        });
        violations.sort_by(|a, b| (&a.unit, a.kind, &a.id).cmp(&(&b.unit, b.kind, &b.id)));
        let truncated = violations.len() > MAX_LISTED;
        violations.truncate(MAX_LISTED);
        Ok(Response::new(pb::ListViolationsResponse {
            violations,
            audit_entries_scanned: scanned,
            truncated,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn set_deadline(
        &self,
        request: Request<pb::SetDeadlineRequest>,
    ) -> Result<Response<pb::Violation>, Status> {
        let actor = officer(&request, "setting a rectification deadline")?;
        let request = request.into_inner();
        let today = today();
        let deadline = Date::parse(
            &request.deadline,
            format_description!("[year]-[month]-[day]"),
        )
        .ok()
        .filter(|_| request.deadline.len() == 10)
        .ok_or_else(|| bad("deadline", "is not a date YYYY-MM-DD"))?;
        if deadline < today || deadline > today + Duration::days(MAX_DEADLINE_DAYS) {
            return Err(bad(
                "deadline",
                &format!("must lie between today ({today}) and {MAX_DEADLINE_DAYS} days ahead"),
            ));
        }
        let note = note(&request.note, false)?;
        let decision = |d: &mut Decision| {
            d.deadline = Some(deadline.to_string());
            d.deadline_set = Some(Signed {
                by: actor,
                at_ms: now_ms(),
                note,
            });
        };
        Ok(Response::new(self.decide(&request.id, decision).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn close_violation(
        &self,
        request: Request<pb::CloseViolationRequest>,
    ) -> Result<Response<pb::Violation>, Status> {
        let actor = officer(&request, "closing a violation")?;
        let request = request.into_inner();
        let note = note(&request.note, true)?;
        let decision = |d: &mut Decision| {
            d.closed = Some(Signed {
                by: actor,
                at_ms: now_ms(),
                note,
            });
        };
        Ok(Response::new(self.decide(&request.id, decision).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_follow_the_deadline_the_finding_and_the_closing() {
        let today = time::macros::date!(2026 - 12 - 07);
        let signed = Signed {
            by: "user/zhuoma".into(),
            at_ms: 1,
            note: String::new(),
        };
        let mut decision = Decision::default();
        assert_eq!(state(&decision, true, today), pb::ViolationState::Open);
        decision.deadline = Some("2026-12-07".into());
        assert_eq!(
            state(&decision, true, today),
            pb::ViolationState::Rectifying
        );
        decision.deadline = Some("2026-12-06".into());
        assert_eq!(state(&decision, true, today), pb::ViolationState::Overdue);
        assert_eq!(
            state(&decision, false, today),
            pb::ViolationState::Rectified
        );
        decision.closed = Some(signed);
        assert_eq!(state(&decision, true, today), pb::ViolationState::Closed);
        assert_eq!(state(&decision, false, today), pb::ViolationState::Closed);
    }
}
