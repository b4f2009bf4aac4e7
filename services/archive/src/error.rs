//! The archive's error type and its mapping to gRPC status codes.

use tonic::{Code, Status};
use vfed_authz::RefusalDetails;

/// Why an archive call failed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A field breaks a rule.
    #[error("{field}: {rule}")]
    Invalid {
        /// Dotted field path, e.g. `request.device_id`.
        field: &'static str,
        /// The rule, in words.
        rule: String,
    },
    /// Nothing recorded for this device here.
    #[error("no recording of {0} at this node")]
    NotFound(String),
    /// The disk failed.
    #[error("archive storage: {0}")]
    Io(#[from] std::io::Error),
}

impl ArchiveError {
    /// An invalid field.
    pub fn invalid(field: &'static str, rule: impl Into<String>) -> Self {
        ArchiveError::Invalid {
            field,
            rule: rule.into(),
        }
    }
}

impl From<ArchiveError> for Status {
    fn from(error: ArchiveError) -> Self {
        let code = match &error {
            ArchiveError::Invalid { .. } => Code::InvalidArgument,
            ArchiveError::NotFound(_) => Code::NotFound,
            ArchiveError::Io(_) => Code::Unavailable,
        };
        match &error {
            ArchiveError::Invalid { field, rule } => {
                RefusalDetails::new(*field, rule, "").to_status(code, error.to_string())
            }
            _ => Status::new(code, error.to_string()),
        }
    }
}

/// Checks a 20-digit device ID.
pub fn check_device_id(field: &'static str, id: &str) -> Result<(), ArchiveError> {
    if id.len() == 20 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ArchiveError::invalid(
            field,
            format!(
                "{:?} is not a 20-digit GB/T 28181 device ID",
                id.chars().take(40).collect::<String>()
            ),
        ))
    }
}

/// Checks a profile (`main` or `sub`; empty is `main`).
pub fn check_profile(field: &'static str, profile: &str) -> Result<&'static str, ArchiveError> {
    match profile {
        "" | "main" => Ok("main"),
        "sub" => Ok("sub"),
        other => Err(ArchiveError::invalid(
            field,
            format!(
                "{:?} is not a profile: main or sub",
                other.chars().take(40).collect::<String>()
            ),
        )),
    }
}
