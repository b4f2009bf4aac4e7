//! A refusal as structured data on a `tonic::Status`, so nothing parses the
//! field, the rule or the requirement back out of the message.
//!
//! The shape is the standard `google.rpc` error details in
//! `grpc-status-details-bin` (any gRPC client can read them):
//!
//! * an `ErrorInfo` with `domain: "vfed"`, `reason: "REFUSED"` and the
//!   metadata `field` (dotted path of the input, e.g. `spec.location_type`;
//!   absent when the refusal is about no single field), `rule` (in words)
//!   and `requirement` (the requirement ID, e.g. `R7`; absent when no
//!   regulation names it);
//! * when there is a field, a `BadRequest` with one field violation
//!   (`field`, `description` = the rule).
//!
//! The message stays human-readable and names the same things in words.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

/// `ErrorInfo.domain` of a vfed refusal.
pub const DOMAIN: &str = "vfed";
/// `ErrorInfo.reason` of a vfed refusal.
pub const REASON: &str = "REFUSED";

/// The field, rule and requirement a refusal rests on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RefusalDetails {
    /// The input refused, e.g. `spec.location_type`; empty: no single field.
    pub field: String,
    /// The rule, in words.
    pub rule: String,
    /// The requirement ID, e.g. `R7`; empty: none.
    pub requirement: String,
}

impl RefusalDetails {
    /// A refusal of `field` under `rule` from `requirement`.
    pub fn new(
        field: impl Into<String>,
        rule: impl Into<String>,
        requirement: impl Into<String>,
    ) -> Self {
        RefusalDetails {
            field: field.into(),
            rule: rule.into(),
            requirement: requirement.into(),
        }
    }

    /// A status with `code` and `message` carrying these details.
    pub fn to_status(&self, code: Code, message: impl Into<String>) -> Status {
        let mut metadata = HashMap::new();
        for (key, value) in [
            ("field", &self.field),
            ("rule", &self.rule),
            ("requirement", &self.requirement),
        ] {
            if !value.is_empty() {
                metadata.insert(key.to_owned(), value.clone());
            }
        }
        let mut details = ErrorDetails::with_error_info(REASON, DOMAIN, metadata);
        if !self.field.is_empty() {
            details.add_bad_request_violation(self.field.clone(), self.rule.clone());
        }
        Status::with_error_details(code, message, details)
    }

    /// The details a status carries, if it is a vfed refusal.
    pub fn of(status: &Status) -> Option<Self> {
        let info = status.get_details_error_info()?;
        if info.domain != DOMAIN || info.reason != REASON {
            return None;
        }
        let get = |key: &str| info.metadata.get(key).cloned().unwrap_or_default();
        Some(RefusalDetails {
            field: get("field"),
            rule: get("rule"),
            requirement: get("requirement"),
        })
    }

    /// The requirement of `status`'s details, else `fallback`.
    pub fn requirement_of(status: &Status, fallback: &str) -> String {
        Self::of(status)
            .map(|d| d.requirement)
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| fallback.to_owned())
    }
}

/// A status refusing `field` under `rule` from `requirement`, with the
/// human-readable `message`.
pub fn refused(
    code: Code,
    field: &str,
    rule: &str,
    requirement: &str,
    message: impl Into<String>,
) -> Status {
    RefusalDetails::new(field, rule, requirement).to_status(code, message)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn details_survive_the_wire() {
        let status = refused(
            Code::InvalidArgument,
            "spec.location_type",
            "toilet is a prohibited place",
            "R7",
            "spec.location_type: toilet is a prohibited place [R7]; nothing was changed",
        );
        // As a client sees it: through the response headers.
        let response = status.into_http::<tonic::body::Body>();
        let back = Status::from_header_map(response.headers()).unwrap();
        assert_eq!(back.code(), Code::InvalidArgument);
        assert_eq!(
            back.message(),
            "spec.location_type: toilet is a prohibited place [R7]; nothing was changed"
        );
        let details = RefusalDetails::of(&back).unwrap();
        assert_eq!(details.field, "spec.location_type");
        assert_eq!(details.rule, "toilet is a prohibited place");
        assert_eq!(details.requirement, "R7");
        let bad = back.get_details_bad_request().unwrap();
        assert_eq!(bad.field_violations[0].field, "spec.location_type");
    }

    #[test]
    fn plain_statuses_have_none() {
        let status = Status::permission_denied("no (R16)");
        assert_eq!(RefusalDetails::of(&status), None);
        assert_eq!(RefusalDetails::requirement_of(&status, "R15.1"), "R15.1");
        let status = refused(
            Code::PermissionDenied,
            "",
            "needs x",
            "R16",
            "needs x (R16)",
        );
        let details = RefusalDetails::of(&status).unwrap();
        assert_eq!(
            (details.field.as_str(), details.requirement.as_str()),
            ("", "R16")
        );
        assert!(status.get_details_bad_request().is_none());
    }
}
