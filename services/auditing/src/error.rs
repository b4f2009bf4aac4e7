//! The crate's error type and its one mapping to gRPC status codes.

use tonic::Status;
use vfed_audit::AuditError;
use vfed_authz::RefusalDetails;
use vfed_store::StoreError;

/// Why an audit trail operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditingError {
    /// The audit log refused or failed (closed, tampered, I/O).
    #[error("audit log: {0}")]
    Log(#[from] AuditError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A request field is unusable; names the field and the rule.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field, e.g. `tree_size`.
        field: &'static str,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// A concurrent change won a compare-and-swap; retrying may succeed.
    #[error("{0}")]
    Conflict(String),
    /// Something stored by this crate cannot be decoded.
    #[error("stored audit data corrupt: {0}")]
    Corrupt(String),
}

impl AuditingError {
    /// An invalid-field error.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        AuditingError::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            AuditingError::Store(e) => e.is_transient(),
            _ => false,
        }
    }
}

impl From<AuditingError> for Status {
    fn from(error: AuditingError) -> Self {
        match &error {
            AuditingError::Invalid { field, reason } => RefusalDetails::new(*field, reason, "")
                .to_status(tonic::Code::InvalidArgument, error.to_string()),
            AuditingError::Log(AuditError::ProofRange(_)) => {
                Status::out_of_range(error.to_string())
            }
            AuditingError::Log(AuditError::RecordRejected(_)) => {
                Status::invalid_argument(error.to_string())
            }
            AuditingError::Log(AuditError::Closed { .. }) => Status::unavailable(error.to_string()),
            AuditingError::Log(AuditError::Entry { .. } | AuditError::Tampered(_)) => {
                Status::data_loss(format!("{error} (R18.6)"))
            }
            AuditingError::Conflict(_) => Status::aborted(error.to_string()),
            AuditingError::Store(e) if e.is_transient() => Status::unavailable(error.to_string()),
            _ => Status::internal(error.to_string()),
        }
    }
}
