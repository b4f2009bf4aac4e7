//! The relay's error type.

use vfed_proto::relay::v1::ErrorCode;

/// Why a relay operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RelayError {
    /// The key is not `<20-digit device id>/<main|sub>`.
    #[error("stream key {0:?} is not <device id>/<main|sub>")]
    BadKey(String),
    /// No such stream below this node.
    #[error("stream {0} not found: no device with that ID is visible from this node")]
    NotFound(String),
    /// Known, but its source is down or unreachable now.
    #[error("stream {key} unavailable: {reason}")]
    Unavailable {
        /// The stream.
        key: String,
        /// Why.
        reason: String,
    },
    /// The peer may not do this.
    #[error("{0}")]
    Unauthorized(String),
    /// The peer broke the protocol.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// TLS or QUIC set-up failed.
    #[error("transport: {0}")]
    Transport(String),
}

impl RelayError {
    /// The wire code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadKey(_) => ErrorCode::BadRequest,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Unavailable { .. } | Self::Transport(_) => ErrorCode::Unavailable,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::Protocol(_) => ErrorCode::Protocol,
        }
    }

    /// An error received from a peer.
    pub fn from_wire(key: &str, code: i32, message: String) -> Self {
        match ErrorCode::try_from(code) {
            Ok(ErrorCode::NotFound) => Self::NotFound(key.to_owned()),
            Ok(ErrorCode::Unauthorized) => Self::Unauthorized(message),
            Ok(ErrorCode::BadRequest) => Self::BadKey(key.to_owned()),
            Ok(ErrorCode::Protocol) => Self::Protocol(message),
            _ => Self::Unavailable {
                key: key.to_owned(),
                reason: message,
            },
        }
    }
}

impl From<RelayError> for tonic::Status {
    fn from(e: RelayError) -> Self {
        let message = e.to_string();
        match e {
            RelayError::BadKey(_) => tonic::Status::invalid_argument(message),
            RelayError::NotFound(_) => tonic::Status::not_found(message),
            RelayError::Unauthorized(_) => tonic::Status::permission_denied(message),
            _ => tonic::Status::unavailable(message),
        }
    }
}
