//! The sharing service's error type and its mapping to gRPC status codes.

use tonic::{Code, Status};
use vfed_authz::RefusalDetails;
use vfed_store::StoreError;

/// The requirement every sharing rule comes from.
pub const R13: &str = "R13";

/// Why a sharing call failed.
#[derive(Debug, thiserror::Error)]
pub enum SharingError {
    /// A field breaks a rule; nothing was changed.
    #[error("{field}: {rule} [{requirement}]; nothing was changed")]
    Invalid {
        /// Dotted field path, e.g. `grant.valid_to_unix`.
        field: String,
        /// The rule, in words.
        rule: String,
        /// The requirement the rule comes from.
        requirement: &'static str,
    },
    /// No such department or grant.
    #[error("{0} not found [R13]; nothing was changed")]
    NotFound(String),
    /// The department exists already.
    #[error("{0} already exists [R13]; nothing was changed")]
    AlreadyExists(String),
    /// The call is valid but not in this state (e.g. the grant is revoked).
    #[error("{0} [R13]; nothing was changed")]
    FailedPrecondition(String),
    /// The caller may not see or do this.
    #[error("{0} [R13]")]
    PermissionDenied(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A stored record could not be decoded.
    #[error("corrupt record {key}: {message}")]
    Corrupt {
        /// The key.
        key: String,
        /// The decode error.
        message: String,
    },
}

impl SharingError {
    /// A field breaking an R13 rule.
    pub fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            rule: rule.into(),
            requirement: R13,
        }
    }
}

impl From<SharingError> for Status {
    fn from(err: SharingError) -> Self {
        let details = match &err {
            SharingError::Invalid {
                field,
                rule,
                requirement,
            } => Some(RefusalDetails::new(field, rule, *requirement)),
            SharingError::NotFound(rule)
            | SharingError::AlreadyExists(rule)
            | SharingError::FailedPrecondition(rule)
            | SharingError::PermissionDenied(rule) => Some(RefusalDetails::new("", rule, R13)),
            SharingError::Store(_) | SharingError::Corrupt { .. } => None,
        };
        let code = match &err {
            SharingError::Invalid { .. } => Code::InvalidArgument,
            SharingError::NotFound(_) => Code::NotFound,
            SharingError::AlreadyExists(_) => Code::AlreadyExists,
            SharingError::FailedPrecondition(_) => Code::FailedPrecondition,
            SharingError::PermissionDenied(_) => Code::PermissionDenied,
            SharingError::Store(e) if e.is_transient() => Code::Unavailable,
            SharingError::Store(_) | SharingError::Corrupt { .. } => Code::Internal,
        };
        match details {
            Some(details) => details.to_status(code, err.to_string()),
            None => Status::new(code, err.to_string()),
        }
    }
}
