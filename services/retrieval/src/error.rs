//! The retrieval error type and its mapping to gRPC status codes.
//!
//! Every refusal names what is missing and the requirement it comes from,
//! and says that nothing was changed: the auth layer logs the message as
//! the refusal's reason in the audit log (R17), and reads the requirement
//! from the status's details (field, rule, requirement:
//! [`vfed_authz::RefusalDetails`]).

use tonic::{Code, Status};
use vfed_authz::RefusalDetails;
use vfed_store::StoreError;

/// The requirement a workflow refusal cites: R16 sets the conditions (R17
/// asks that anything short of them be refused and logged, which the auth
/// layer does with every refusal).
pub const WORKFLOW: &str = "R16";

/// Why a retrieval call failed.
#[derive(Debug, thiserror::Error)]
pub enum RetrievalError {
    /// A field breaks a rule.
    #[error("{field}: {rule}; nothing was changed ({requirement})")]
    Invalid {
        /// Dotted field path, e.g. `request.legal_document.sha256`.
        field: String,
        /// The rule, in words.
        rule: String,
        /// The requirement the rule comes from, e.g. `R16`.
        requirement: &'static str,
    },
    /// The caller is not who this step needs (the wrong role, the same
    /// officer twice, an approver who signed).
    #[error("{action} refused: {condition}; nothing was changed ({requirement})")]
    NotAllowed {
        /// The step, e.g. `co-sign`.
        action: &'static str,
        /// The missing condition, in words.
        condition: String,
        /// The requirement it comes from, e.g. `R16`.
        requirement: &'static str,
    },
    /// The request is not in a state that allows this step (not co-signed,
    /// already decided, expired).
    #[error("{action} refused: {condition}; nothing was changed ({requirement})")]
    NotNow {
        /// The step, e.g. `approve`.
        action: &'static str,
        /// The missing condition, in words.
        condition: String,
        /// The requirement it comes from, e.g. `R16`.
        requirement: &'static str,
    },
    /// No such request.
    #[error("retrieval request {0} not found")]
    NotFound(String),
    /// Concurrent changes kept winning the compare-and-swap.
    #[error("retrieval request {0} is changing too fast; nothing was changed, retry")]
    Busy(String),
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

impl RetrievalError {
    /// An invalid field.
    pub fn invalid(
        field: impl Into<String>,
        rule: impl Into<String>,
        requirement: &'static str,
    ) -> Self {
        Self::Invalid {
            field: field.into(),
            rule: rule.into(),
            requirement,
        }
    }

    /// The caller may not take this step (R16).
    pub fn not_allowed(action: &'static str, condition: impl Into<String>) -> Self {
        Self::NotAllowed {
            action,
            condition: condition.into(),
            requirement: WORKFLOW,
        }
    }

    /// The request's state does not allow this step (R16).
    pub fn not_now(action: &'static str, condition: impl Into<String>) -> Self {
        Self::NotNow {
            action,
            condition: condition.into(),
            requirement: WORKFLOW,
        }
    }

    /// The gRPC code of this error.
    pub fn code(&self) -> Code {
        match self {
            Self::Invalid { .. } => Code::InvalidArgument,
            Self::NotAllowed { .. } => Code::PermissionDenied,
            Self::NotNow { .. } => Code::FailedPrecondition,
            Self::NotFound(_) => Code::NotFound,
            Self::Busy(_) => Code::Aborted,
            Self::Store(e) if e.is_transient() => Code::Unavailable,
            Self::Store(_) | Self::Corrupt { .. } => Code::Internal,
        }
    }

    /// Whether this is a refusal of the request (as opposed to a failure).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::Invalid { .. } | Self::NotAllowed { .. } | Self::NotNow { .. }
        )
    }
}

impl From<RetrievalError> for Status {
    fn from(err: RetrievalError) -> Self {
        let details = match &err {
            RetrievalError::Invalid {
                field,
                rule,
                requirement,
            } => Some(RefusalDetails::new(field, rule, *requirement)),
            RetrievalError::NotAllowed {
                action,
                condition,
                requirement,
            }
            | RetrievalError::NotNow {
                action,
                condition,
                requirement,
            } => Some(RefusalDetails::new(
                "",
                format!("{action}: {condition}"),
                *requirement,
            )),
            RetrievalError::NotFound(_)
            | RetrievalError::Busy(_)
            | RetrievalError::Store(_)
            | RetrievalError::Corrupt { .. } => None,
        };
        match details {
            Some(details) => details.to_status(err.code(), err.to_string()),
            None => Status::new(err.code(), err.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_condition_and_requirement() {
        let e = RetrievalError::not_allowed("co-sign", "the co-signer must be another officer");
        assert_eq!(e.code(), Code::PermissionDenied);
        assert_eq!(
            e.to_string(),
            "co-sign refused: the co-signer must be another officer; nothing was changed (R16)"
        );
        let e = RetrievalError::invalid("request.purpose", "is required", "R14.5");
        assert_eq!(e.code(), Code::InvalidArgument);
        assert_eq!(
            e.to_string(),
            "request.purpose: is required; nothing was changed (R14.5)"
        );
        assert_eq!(
            RetrievalError::not_now("approve", "x").code(),
            Code::FailedPrecondition
        );
    }
}
