//! The rules of each step of a removal or relocation (R18.11), on the
//! stored request alone: who may take the step and in which stage. Every
//! refusal names the field, the rule and R18.11, and changes nothing.

use crate::RegistryError;

use super::record::{RemovalRecord, RemovalStage, Report, Step};

/// How far a report's time may lie ahead of this node's clock (ms).
const CLOCK_SKEW_MS: i64 = 60_000;

/// Who is taking a step.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Audit actor (`user/<name>`, `tool/<name>`).
    pub actor: String,
    /// Role name, for messages.
    pub role: String,
    /// Whether the caller is an administrator.
    pub is_admin: bool,
}

fn not_in_stage(record: &RemovalRecord, needed: &str) -> RegistryError {
    RegistryError::precondition(
        "id",
        format!(
            "request {} is {}; {needed}",
            record.id(),
            record.stage().name()
        ),
        "R18.11",
    )
}

/// Step 2: an administrator other than the requester approves a requested one.
pub fn approve(
    record: &mut RemovalRecord,
    caller: &Caller,
    now_ms: i64,
) -> Result<(), RegistryError> {
    if !caller.is_admin {
        return Err(RegistryError::denied(
            "id",
            format!(
                "approving a removal or relocation needs role admin; {} has role {}",
                caller.actor, caller.role
            ),
            "R18.11",
        ));
    }
    if record.stage() != RemovalStage::Requested {
        return Err(not_in_stage(record, "only a requested one can be approved"));
    }
    if record.requested.by == caller.actor {
        return Err(RegistryError::denied(
            "id",
            format!(
                "{} requested this and may not approve it: an administrator other than the requester approves",
                caller.actor
            ),
            "R18.11",
        ));
    }
    record.approved = Some(Step {
        by: caller.actor.clone(),
        at_ms: now_ms,
    });
    Ok(())
}

/// Step 3: the report to the filing police office, after the approval.
pub fn report(
    record: &mut RemovalRecord,
    caller: &Caller,
    office: String,
    reference: String,
    reported_ms: i64,
    now_ms: i64,
) -> Result<(), RegistryError> {
    let approved_ms = match (record.stage(), &record.approved) {
        (RemovalStage::Approved, Some(approved)) => approved.at_ms,
        (RemovalStage::Requested, _) => {
            return Err(not_in_stage(
                record,
                "the approval comes before the report to the filing police office",
            ));
        }
        _ => return Err(not_in_stage(record, "its report is recorded already")),
    };
    if reported_ms > now_ms + CLOCK_SKEW_MS {
        return Err(RegistryError::invalid(
            "reported_unix_ms",
            "is in the future: record a report once it was made",
            "R18.11",
        ));
    }
    if reported_ms < approved_ms {
        return Err(RegistryError::invalid(
            "reported_unix_ms",
            "is before the approval: the approved request is what is reported",
            "R18.11",
        ));
    }
    record.report = Some(Report {
        office,
        reference,
        reported_ms,
        recorded: Step {
            by: caller.actor.clone(),
            at_ms: now_ms,
        },
    });
    Ok(())
}

/// Step 4: the removal or move takes effect, only once reported.
pub fn complete(
    record: &mut RemovalRecord,
    caller: &Caller,
    now_ms: i64,
) -> Result<(), RegistryError> {
    match record.stage() {
        RemovalStage::Reported => {}
        RemovalStage::Completed => return Err(not_in_stage(record, "it took effect already")),
        RemovalStage::Requested | RemovalStage::Approved => {
            return Err(not_in_stage(
                record,
                "a device is removed or moved only after the report to the filing police office is recorded",
            ));
        }
    }
    record.completed = Some(Step {
        by: caller.actor.clone(),
        at_ms: now_ms,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::domain::LocationType;
    use crate::removal::record::{Place, RemovalKind};

    fn caller(name: &str, is_admin: bool) -> Caller {
        Caller {
            actor: format!("user/{name}"),
            role: if is_admin { "admin" } else { "operator" }.to_owned(),
            is_admin,
        }
    }

    fn requested_by(name: &str) -> RemovalRecord {
        RemovalRecord {
            device_id: "54050200001320000001".to_owned(),
            unit: "Naidong PSB".to_owned(),
            kind: RemovalKind::Remove,
            reason: "road works".to_owned(),
            old_place: Place {
                location_type: LocationType::Road,
                address: "1 Road".to_owned(),
                latitude: None,
                longitude: None,
            },
            new_place: None,
            requested: Step {
                by: format!("user/{name}"),
                at_ms: 1_000,
            },
            approved: None,
            report: None,
            completed: None,
        }
    }

    #[test]
    fn each_step_needs_the_one_before_and_refusals_change_nothing() {
        let admin = caller("ada", true);
        let mut r = requested_by("olga");
        let before = r.clone();
        assert!(complete(&mut r, &admin, 2_000).is_err());
        assert!(report(&mut r, &admin, "o".into(), "x".into(), 2_000, 2_000).is_err());
        assert!(approve(&mut r, &caller("otto", false), 2_000).is_err());
        assert_eq!(r, before);
        approve(&mut r, &admin, 2_000).unwrap();
        let approved = r.clone();
        assert!(approve(&mut r, &caller("bea", true), 2_500).is_err());
        assert!(complete(&mut r, &admin, 2_500).is_err());
        assert!(report(&mut r, &admin, "o".into(), "x".into(), 1_999, 3_000).is_err());
        assert!(report(&mut r, &admin, "o".into(), "x".into(), 200_000, 3_000).is_err());
        assert_eq!(r, approved);
        report(&mut r, &admin, "o".into(), "x".into(), 2_500, 3_000).unwrap();
        assert_eq!(r.stage(), RemovalStage::Reported);
        complete(&mut r, &caller("olga", false), 4_000).unwrap();
        assert_eq!(r.stage(), RemovalStage::Completed);
        assert!(complete(&mut r, &admin, 5_000).is_err());
    }

    #[test]
    fn the_requester_never_approves() {
        let mut r = requested_by("ada");
        let e = approve(&mut r, &caller("ada", true), 2_000).unwrap_err();
        assert!(e.to_string().contains("other than the requester"), "{e}");
        assert!(e.to_string().contains("[R18.11]"), "{e}");
        assert_eq!(r.stage(), RemovalStage::Requested);
    }
}
