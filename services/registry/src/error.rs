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
    /// No such removal or relocation request.
    #[error("removal request {0} not found")]
    NotFoundRequest(String),
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
    /// A compare-and-swap lost to a concurrent change every time it was retried.
    #[error("{0}")]
    Raced(String),
    /// The call is valid but not in this state.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A step refused under a requirement (a missing step, the wrong role):
    /// the field, the rule and the requirement travel as error details.
    #[error("{field}: {rule} [{requirement}]; nothing was changed")]
    Refused {
        /// `FailedPrecondition` (not in this state) or `PermissionDenied`.
        code: Code,
        /// The input the refusal is about, e.g. `id`.
        field: String,
        /// The rule, in words.
        rule: String,
        /// The requirement, e.g. `R18.11`.
        requirement: &'static str,
    },
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

    /// A call valid in itself that the state does not allow yet.
    pub fn precondition(
        field: impl Into<String>,
        rule: impl Into<String>,
        requirement: &'static str,
    ) -> Self {
        Self::Refused {
            code: Code::FailedPrecondition,
            field: field.into(),
            rule: rule.into(),
            requirement,
        }
    }

    /// A caller whose role may not take this step.
    pub fn denied(
        field: impl Into<String>,
        rule: impl Into<String>,
        requirement: &'static str,
    ) -> Self {
        Self::Refused {
            code: Code::PermissionDenied,
            field: field.into(),
            rule: rule.into(),
            requirement,
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
            RegistryError::NotFound(_) | RegistryError::NotFoundRequest(_) => Code::NotFound,
            RegistryError::AlreadyExists(_) => Code::AlreadyExists,
            RegistryError::Conflict { .. } | RegistryError::Raced(_) => Code::Aborted,
            RegistryError::FailedPrecondition(_) => Code::FailedPrecondition,
            RegistryError::Refused { code, .. } => *code,
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
            RegistryError::Refused {
                field,
                rule,
                requirement,
                ..
            } => RefusalDetails::new(field, rule, *requirement).to_status(code, err.to_string()),
            _ => Status::new(code, err.to_string()),
        }
    }
}
