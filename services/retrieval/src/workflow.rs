//! The two-officer rule as a state machine (R16, R17). Pure: the caller,
//! the record and the time go in, the next record (or the refusal naming
//! the missing condition) comes out; nothing here reads or writes anything.
//!
//! ```text
//!  file (officer A) -> FILED -- co-sign (officer B != A) --> COSIGNED -- approve (custodian C) --> APPROVED -- open access (A or B)
//!                        \                                     \-- reject (C) --> REJECTED
//!                         \-- reject (C) --> REJECTED
//!  any state but REJECTED is EXPIRED from expires_unix on: nothing more can happen to it.
//! ```
//!
//! **Who may sign.** The filer and the co-signer are persons (never nodes)
//! whose account has the role `officer`, and they are two different
//! accounts. The layer already refuses callers without the step's
//! permission; the role is checked again here because R16 asks for two
//! officers specifically, whatever the permission table says.
//!
//! **The custodian** of the video is the node that holds it; a request is
//! approved or rejected by an account of this node with the role `admin`
//! that neither filed nor co-signed it. (Accounts are per node; a finer
//! rule, e.g. the admin's unit must be the devices' unit, is not made
//! because account units and device units are free text today.)
//!
//! **Access** is opened only for an approved, unexpired request, and only
//! to the officers who signed it.

use vfed_authz::{Principal, Role};

use crate::error::RetrievalError;
use crate::record::{Draft, Grant, Record, Signature, Stage, State};
use crate::time_text;

/// `file` in refusals.
pub const FILE: &str = "file";
/// `co-sign` in refusals.
pub const COSIGN: &str = "co-sign";
/// `approve` in refusals.
pub const APPROVE: &str = "approve";
/// `reject` in refusals.
pub const REJECT: &str = "reject";
/// `open access` in refusals.
pub const OPEN_ACCESS: &str = "open access";
/// `export` in refusals.
pub const EXPORT: &str = "export";

/// `name (role)`, `name (no role)` or `node/<id>`.
fn who(p: &Principal) -> String {
    if p.is_node() {
        return p.actor();
    }
    match p.role {
        Some(role) => format!("{} ({role})", p.name),
        None => format!("{} (no role)", p.name),
    }
}

/// Whether `p` is a person whose account has `role`.
fn is_person_with(p: &Principal, role: Role) -> bool {
    !p.is_node() && p.role == Some(role)
}

fn signature(p: &Principal, now: i64) -> Signature {
    Signature {
        user: p.name.clone(),
        role: p.role.map(Role::name).unwrap_or_default().to_owned(),
        unit: p.unit.clone(),
        signed_unix: now,
    }
}

/// The refusal for a request that cannot take `action` in `state`.
fn wrong_state(action: &'static str, record: &Record, state: State) -> RetrievalError {
    let id = &record.id;
    let by = |s: &Option<Signature>| s.as_ref().map_or_else(String::new, |s| s.user.clone());
    let condition = match state {
        State::Filed => format!(
            "request {id} is not co-signed: a second officer, different from the filer {}, must co-sign it first",
            record.filed_by.user
        ),
        State::Cosigned => match action {
            COSIGN => format!(
                "request {id} is already co-signed by {}",
                by(&record.cosigned_by)
            ),
            _ => format!(
                "request {id} is not approved: the custodian (an admin of this node) must approve it first"
            ),
        },
        State::Approved => format!(
            "request {id} was already approved by {}; the decision is final",
            by(&record.decided_by)
        ),
        State::Rejected => format!(
            "request {id} was rejected by {} ({}); the decision is final, file a new request",
            by(&record.decided_by),
            record.rejected_reason.as_deref().unwrap_or("no reason")
        ),
        State::Expired => format!(
            "request {id} expired at {}; file a new request",
            time_text::at(record.expires_unix)
        ),
    };
    RetrievalError::not_now(action, condition)
}

/// Whether `filer` may file a request: an officer with their own account.
pub fn may_file(filer: &Principal) -> Result<(), RetrievalError> {
    if is_person_with(filer, Role::Officer) {
        return Ok(());
    }
    Err(RetrievalError::not_allowed(
        FILE,
        format!(
            "a request is filed by an officer with their own account; {} is not an officer",
            who(filer)
        ),
    ))
}

/// Files a new request `id` from `draft` by `filer` at `now`.
pub fn file(
    id: String,
    draft: Draft,
    filer: &Principal,
    now: i64,
) -> Result<Record, RetrievalError> {
    may_file(filer)?;
    Ok(Record {
        id,
        legal_document: draft.legal_document,
        purpose: draft.purpose,
        requesting_agency: draft.requesting_agency,
        device_ids: draft.device_ids,
        from_unix: draft.from_unix,
        to_unix: draft.to_unix,
        stage: Stage::Filed,
        filed_by: signature(filer, now),
        cosigned_by: None,
        decided_by: None,
        filed_unix: now,
        expires_unix: draft.expires_unix,
        rejected_reason: None,
    })
}

/// `signer` co-signs `record` at `now`.
pub fn cosign(record: &Record, signer: &Principal, now: i64) -> Result<Record, RetrievalError> {
    if !is_person_with(signer, Role::Officer) {
        return Err(RetrievalError::not_allowed(
            COSIGN,
            format!(
                "the co-signer must be a second officer with their own account; {} is not an officer",
                who(signer)
            ),
        ));
    }
    if signer.name == record.filed_by.user {
        return Err(RetrievalError::not_allowed(
            COSIGN,
            format!(
                "the co-signer must be a different officer than the filer: {} filed request {} and cannot sign it twice",
                signer.name, record.id
            ),
        ));
    }
    match record.state(now) {
        State::Filed => {}
        state => return Err(wrong_state(COSIGN, record, state)),
    }
    let mut next = record.clone();
    next.stage = Stage::Cosigned;
    next.cosigned_by = Some(signature(signer, now));
    Ok(next)
}

/// Checks that `custodian` may decide on `record`.
fn check_custodian(
    action: &'static str,
    record: &Record,
    custodian: &Principal,
) -> Result<(), RetrievalError> {
    if !is_person_with(custodian, Role::Admin) {
        return Err(RetrievalError::not_allowed(
            action,
            format!(
                "only the custodian of the video (an admin of this node) decides on a request; {} is not an admin",
                who(custodian)
            ),
        ));
    }
    if record.signed_by(&custodian.name) {
        return Err(RetrievalError::not_allowed(
            action,
            format!(
                "the custodian must be neither the filer nor the co-signer; {} signed request {}",
                custodian.name, record.id
            ),
        ));
    }
    Ok(())
}

/// `custodian` approves `record` at `now`.
pub fn approve(record: &Record, custodian: &Principal, now: i64) -> Result<Record, RetrievalError> {
    check_custodian(APPROVE, record, custodian)?;
    match record.state(now) {
        State::Cosigned => {}
        state => return Err(wrong_state(APPROVE, record, state)),
    }
    let mut next = record.clone();
    next.stage = Stage::Approved;
    next.decided_by = Some(signature(custodian, now));
    Ok(next)
}

/// `custodian` rejects `record` at `now` for `reason` (validated).
pub fn reject(
    record: &Record,
    custodian: &Principal,
    reason: String,
    now: i64,
) -> Result<Record, RetrievalError> {
    check_custodian(REJECT, record, custodian)?;
    match record.state(now) {
        State::Filed | State::Cosigned => {}
        state => return Err(wrong_state(REJECT, record, state)),
    }
    let mut next = record.clone();
    next.stage = Stage::Rejected;
    next.decided_by = Some(signature(custodian, now));
    next.rejected_reason = Some(reason);
    Ok(next)
}

/// Opens access under `record` for `caller` at `now`.
pub fn open_access(record: &Record, caller: &Principal, now: i64) -> Result<Grant, RetrievalError> {
    if !is_person_with(caller, Role::Officer) || !record.signed_by(&caller.name) {
        let cosigner = record
            .cosigned_by
            .as_ref()
            .map_or("nobody yet", |s| s.user.as_str());
        return Err(RetrievalError::not_allowed(
            OPEN_ACCESS,
            format!(
                "access is opened only to the officers who signed request {} (filer {}, co-signer {}); {} did not",
                record.id,
                record.filed_by.user,
                cosigner,
                who(caller)
            ),
        ));
    }
    match record.state(now) {
        State::Approved => {}
        state => return Err(wrong_state(OPEN_ACCESS, record, state)),
    }
    Ok(Grant {
        request_id: record.id.clone(),
        device_ids: record.device_ids.clone(),
        from_unix: record.from_unix,
        to_unix: record.to_unix,
        valid_until_unix: record.expires_unix,
        granted_to: caller.name.clone(),
        requesting_agency: record.requesting_agency.clone(),
        purpose: record.purpose.clone(),
    })
}

/// Whether `caller` may export the recorded video of `record` at `now`:
/// one of the two officers who signed it, the request approved and not
/// expired (R16). A refusal names the condition and R17 (nothing short of
/// R16 is released).
pub fn may_export(record: &Record, caller: &Principal, now: i64) -> Result<(), RetrievalError> {
    let released = |e: RetrievalError| match e {
        RetrievalError::NotAllowed { condition, .. } => RetrievalError::NotAllowed {
            action: EXPORT,
            condition: format!("{condition} (R16)"),
            requirement: "R17",
        },
        RetrievalError::NotNow { condition, .. } => RetrievalError::NotNow {
            action: EXPORT,
            condition: format!("{condition} (R16)"),
            requirement: "R17",
        },
        other => other,
    };
    open_access(record, caller, now).map(drop).map_err(released)
}

#[cfg(test)]
#[path = "workflow_tests.rs"]
mod tests;
