//! Domain records to wire messages (the only place prost types meet them).

use vfed_proto::retrieval::v1 as pb;

use crate::record::{Grant, Record, Signature, State};

/// The wire state.
pub fn state_to_wire(state: State) -> pb::State {
    match state {
        State::Filed => pb::State::Filed,
        State::Cosigned => pb::State::Cosigned,
        State::Approved => pb::State::Approved,
        State::Rejected => pb::State::Rejected,
        State::Expired => pb::State::Expired,
    }
}

fn signature(s: &Signature) -> pb::Signature {
    pb::Signature {
        user: s.user.clone(),
        role: s.role.clone(),
        unit: s.unit.clone(),
        signed_unix: s.signed_unix,
    }
}

/// A record read at `revision`, as it stands at `now`.
pub fn request_to_wire(record: &Record, revision: i64, now: i64) -> pb::RetrievalRequest {
    let doc = &record.legal_document;
    pb::RetrievalRequest {
        id: record.id.clone(),
        legal_document: Some(pb::LegalDocument {
            r#type: doc.kind.clone(),
            number: doc.number.clone(),
            issuing_authority: doc.issuing_authority.clone(),
            sha256: doc.sha256.clone(),
        }),
        purpose: record.purpose.clone(),
        requesting_agency: record.requesting_agency.clone(),
        device_ids: record.device_ids.clone(),
        from_unix: record.from_unix,
        to_unix: record.to_unix,
        state: state_to_wire(record.state(now)).into(),
        filed_by: Some(signature(&record.filed_by)),
        cosigned_by: record.cosigned_by.as_ref().map(signature),
        approved_by: record.decided_by.as_ref().map(signature),
        expires_unix: record.expires_unix,
        filed_unix: record.filed_unix,
        rejected_reason: record.rejected_reason.clone().unwrap_or_default(),
        revision,
    }
}

/// A grant on the wire.
pub fn grant_to_wire(grant: Grant) -> pb::AccessGrant {
    pb::AccessGrant {
        request_id: grant.request_id,
        device_ids: grant.device_ids,
        from_unix: grant.from_unix,
        to_unix: grant.to_unix,
        valid_until_unix: grant.valid_until_unix,
        granted_to: grant.granted_to,
        requesting_agency: grant.requesting_agency,
        purpose: grant.purpose,
    }
}
