//! The registry's error type and its mapping to gRPC status codes.

use tonic::{Code, Status};
use vfed_authz::RefusalDetails;
use vfed_store::StoreError;

/// Why a registry call failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A field breaks a rule; nothing was changed.
    #[error("{field}: {rule}{}; nothing was changed", requirement.map(|r| format!(" [{r}]")).unwrap_or_default())]
    Invalid {
        /// Dotted field path, e.g. `spec.location_type`.
        field: String,
        /// The rule, in words.
        rule: String,
        /// The requirement the rule comes from (R7, R12...), if any.
        requirement: Option<&'static str>,
    },
    /// No such device.
    #[error("device {0} not found")]
    NotFound(String),
    /// The device is registered already.
    #[error("device {0} is already registered; use update")]
    AlreadyExists(String),
    /// An optimistic update lost a race.
    #[error("device {id} changed (revision {actual}, expected {expected}); re-read it and retry")]
    Conflict {
        /// The device.
        id: String,
        /// The revision the caller expected.
        expected: i64,
        /// The current revision.
        actual: i64,
    },
    /// The call is valid but not in this state.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The caller may not do this.
    #[error("{0}")]
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

impl RegistryError {
    /// An invalid field citing a requirement.
    pub fn invalid(
        field: impl Into<String>,
        rule: impl Into<String>,
        requirement: &'static str,
    ) -> Self {
        Self::Invalid {
            field: field.into(),
            rule: rule.into(),
            requirement: Some(requirement),
        }
    }

    /// An invalid field under a general rule.
    pub fn bad(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            rule: rule.into(),
            requirement: None,
        }
    }
}

impl From<RegistryError> for Status {
    fn from(err: RegistryError) -> Self {
        let code = match &err {
            RegistryError::Invalid { .. } => Code::InvalidArgument,
            RegistryError::NotFound(_) => Code::NotFound,
            RegistryError::AlreadyExists(_) => Code::AlreadyExists,
            RegistryError::Conflict { .. } => Code::Aborted,
            RegistryError::FailedPrecondition(_) => Code::FailedPrecondition,
            RegistryError::PermissionDenied(_) => Code::PermissionDenied,
            RegistryError::Store(e) if e.is_transient() => Code::Unavailable,
            RegistryError::Store(_) | RegistryError::Corrupt { .. } => Code::Internal,
        };
        match &err {
            RegistryError::Invalid {
                field,
                rule,
                requirement,
            } => RefusalDetails::new(field, rule, requirement.unwrap_or_default())
                .to_status(code, err.to_string()),
            _ => Status::new(code, err.to_string()),
        }
    }
}
