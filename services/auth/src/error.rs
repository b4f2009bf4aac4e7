//! Errors of accounts and authentication, each mapped to one gRPC status.

use std::borrow::Cow;

use vfed_authz::{RefusalDetails, refused};

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A field breaks a rule.
    #[error("{field}: {rule} ({requirement})")]
    Invalid {
        /// The field, e.g. `user.name`.
        field: Cow<'static, str>,
        /// The rule it breaks.
        rule: String,
        /// The requirement ID.
        requirement: &'static str,
    },
    /// No valid credentials (missing, unknown, expired, wrong password).
    #[error("{0}")]
    Unauthenticated(String),
    /// The account or thing named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// It exists already.
    #[error("{0}")]
    AlreadyExists(String),
    /// Someone changed it meanwhile.
    #[error("{0}")]
    Conflict(String),
    /// Too many failed logins: try again after `retry_after_secs`.
    #[error("{message}")]
    Throttled {
        /// What is throttled and why.
        message: String,
        /// Seconds to wait (also sent as `retry-after` metadata).
        retry_after_secs: u64,
    },
    /// The account is locked after failed logins until an admin unlocks it.
    #[error("{0}")]
    Locked(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] vfed_store::StoreError),
    /// Anything else (a bug or the environment).
    #[error("{0}")]
    Internal(String),
}

impl AuthError {
    /// A field error with a static field name.
    pub fn invalid(
        field: &'static str,
        rule: impl Into<String>,
        requirement: &'static str,
    ) -> Self {
        AuthError::Invalid {
            field: Cow::Borrowed(field),
            rule: rule.into(),
            requirement,
        }
    }

    /// A field error with a computed field name.
    pub fn invalid_owned(
        field: String,
        rule: impl Into<String>,
        requirement: &'static str,
    ) -> Self {
        AuthError::Invalid {
            field: Cow::Owned(field),
            rule: rule.into(),
            requirement,
        }
    }
}

impl From<AuthError> for tonic::Status {
    fn from(e: AuthError) -> Self {
        let message = e.to_string();
        match e {
            AuthError::Invalid {
                field,
                rule,
                requirement,
            } => RefusalDetails::new(field, rule, requirement)
                .to_status(tonic::Code::InvalidArgument, message),
            AuthError::Unauthenticated(_) => tonic::Status::unauthenticated(message),
            AuthError::NotFound(_) => tonic::Status::not_found(message),
            AuthError::AlreadyExists(_) => tonic::Status::already_exists(message),
            AuthError::Conflict(_) => tonic::Status::aborted(message),
            AuthError::Throttled {
                retry_after_secs, ..
            } => {
                let mut status = tonic::Status::resource_exhausted(message);
                if let Ok(value) = retry_after_secs.to_string().parse() {
                    status.metadata_mut().insert("retry-after", value);
                }
                status
            }
            AuthError::Locked(_) => refused(
                tonic::Code::PermissionDenied,
                "",
                &message,
                "R15.1",
                &message,
            ),
            AuthError::Store(_) => tonic::Status::unavailable(message),
            AuthError::Internal(_) => tonic::Status::internal(message),
        }
    }
}
