//! A retrieval request as the workflow sees it and as it is stored (JSON,
//! readable with `etcdctl get` or in a redb dump).

use serde::{Deserialize, Serialize};

/// The legal document presented with a request (R16).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegalDocument {
    /// Its type, e.g. `case-filing`.
    pub kind: String,
    /// Its number.
    pub number: String,
    /// Who issued it.
    pub issuing_authority: String,
    /// SHA-256 of the scanned document, 64 lowercase hex digits.
    pub sha256: String,
}

/// A signature on a request: who, in which role and unit, when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// Account name.
    pub user: String,
    /// Role name when signing.
    pub role: String,
    /// The account's unit.
    pub unit: String,
    /// When (unix seconds).
    pub signed_unix: i64,
}

/// The step a request has reached, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Filed by one officer.
    Filed,
    /// Co-signed by a second, different officer.
    Cosigned,
    /// Approved by the custodian.
    Approved,
    /// Rejected by the custodian.
    Rejected,
}

/// The state a request is in at a given time: its [`Stage`], except that a
/// request that is not rejected is [`State::Expired`] from `expires_unix` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Needs a co-signature.
    Filed,
    /// Needs the custodian's decision.
    Cosigned,
    /// Access may be opened.
    Approved,
    /// Refused by the custodian.
    Rejected,
    /// Lapsed.
    Expired,
}

impl State {
    /// Lowercase name, e.g. `cosigned`.
    pub fn name(self) -> &'static str {
        match self {
            State::Filed => "filed",
            State::Cosigned => "cosigned",
            State::Approved => "approved",
            State::Rejected => "rejected",
            State::Expired => "expired",
        }
    }
}

/// A filed request's fields, validated (see [`crate::validate`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    /// The legal document.
    pub legal_document: LegalDocument,
    /// Why the video is needed.
    pub purpose: String,
    /// Where it goes.
    pub requesting_agency: String,
    /// Distinct device codes.
    pub device_ids: Vec<String>,
    /// Start of the recorded period (unix seconds).
    pub from_unix: i64,
    /// End of the recorded period (unix seconds).
    pub to_unix: i64,
    /// When the request lapses (unix seconds), resolved from the default.
    pub expires_unix: i64,
}

/// A retrieval request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Its ID.
    pub id: String,
    /// The legal document.
    pub legal_document: LegalDocument,
    /// Why the video is needed (R14.5).
    pub purpose: String,
    /// Where the video goes (R14.5).
    pub requesting_agency: String,
    /// The devices.
    pub device_ids: Vec<String>,
    /// Start of the recorded period (unix seconds).
    pub from_unix: i64,
    /// End of the recorded period (unix seconds).
    pub to_unix: i64,
    /// The step reached.
    pub stage: Stage,
    /// The filing officer.
    pub filed_by: Signature,
    /// The co-signing officer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cosigned_by: Option<Signature>,
    /// The custodian who approved or rejected it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<Signature>,
    /// When it was filed (unix seconds).
    pub filed_unix: i64,
    /// When it lapses (unix seconds).
    pub expires_unix: i64,
    /// Why it was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_reason: Option<String>,
}

impl Record {
    /// The state at `now` (unix seconds).
    pub fn state(&self, now: i64) -> State {
        match self.stage {
            Stage::Rejected => State::Rejected,
            _ if now >= self.expires_unix => State::Expired,
            Stage::Filed => State::Filed,
            Stage::Cosigned => State::Cosigned,
            Stage::Approved => State::Approved,
        }
    }

    /// Whether `user` signed it (as filer or co-signer).
    pub fn signed_by(&self, user: &str) -> bool {
        self.filed_by.user == user || self.cosigned_by.as_ref().is_some_and(|s| s.user == user)
    }
}

/// Access opened under an approved request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The request.
    pub request_id: String,
    /// The devices.
    pub device_ids: Vec<String>,
    /// Start of the recorded period.
    pub from_unix: i64,
    /// End of the recorded period.
    pub to_unix: i64,
    /// Until when (the request's expiry).
    pub valid_until_unix: i64,
    /// The officer it was opened for.
    pub granted_to: String,
    /// Where the video goes.
    pub requesting_agency: String,
    /// Why.
    pub purpose: String,
}
