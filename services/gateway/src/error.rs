//! The gateway's one error type. Every URL in it is redacted.

use std::time::Duration;

/// Why a stream could not be pulled, or why the gateway refused a request.
///
/// URLs in these errors never carry credentials and the texts never quote a
/// password: they are meant for logs and for [`crate::PullEvent::Disconnected`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The stream URL cannot be used.
    #[error("invalid stream url {url}: {reason}")]
    InvalidUrl {
        /// The URL, redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two streams in one `set_streams` call have the same device and profile.
    #[error("stream {key} is listed twice")]
    DuplicateStream {
        /// The repeated device/profile.
        key: String,
    },
    /// The device refused the credentials (or asked for some and had none).
    #[error("rtsp {url}: {stage} refused: credentials rejected ({reason})")]
    Unauthorized {
        /// The URL, redacted.
        url: String,
        /// The RTSP step that failed.
        stage: &'static str,
        /// The device's answer.
        reason: String,
    },
    /// The device answered that the stream's path does not exist (404).
    #[error("rtsp {url}: {stage} refused: 404 path not found ({reason})")]
    NotFound {
        /// The URL, redacted.
        url: String,
        /// The RTSP step that failed.
        stage: &'static str,
        /// The device's answer.
        reason: String,
    },
    /// No connection to the device (refused, name not resolved, no route).
    #[error("rtsp {url}: {stage} failed: cannot connect: {reason}")]
    Connect {
        /// The URL, redacted.
        url: String,
        /// The RTSP step that failed.
        stage: &'static str,
        /// The system's answer, e.g. `Connection refused (os error 111)`.
        reason: String,
    },
    /// An RTSP step failed (bad answer, broken stream).
    #[error("rtsp {url}: {stage} failed: {reason}")]
    Rtsp {
        /// The URL, redacted.
        url: String,
        /// The RTSP step that failed.
        stage: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// An RTSP step took too long.
    #[error("rtsp {url}: {stage} timed out after {after:?}")]
    Timeout {
        /// The URL, redacted.
        url: String,
        /// The RTSP step that timed out.
        stage: &'static str,
        /// The limit.
        after: Duration,
    },
    /// The device offers no H.264 or H.265 video.
    #[error("rtsp {url}: no H.264/H.265 video stream (offered: {offered})")]
    NoVideo {
        /// The URL, redacted.
        url: String,
        /// The media the device offers, e.g. `video/jpeg, audio/pcma`.
        offered: String,
    },
    /// Playing, but no frame arrived for too long.
    #[error("rtsp {url}: no frame for {after:?}")]
    Stalled {
        /// The URL, redacted.
        url: String,
        /// The limit.
        after: Duration,
    },
    /// The device closed the stream.
    #[error("rtsp {url}: the device ended the stream")]
    Ended {
        /// The URL, redacted.
        url: String,
    },
}

/// Why a stream does not play, in a few words an operator acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureCause {
    /// Nothing listens on the camera's port.
    ConnectionRefused,
    /// The camera refused the user name or password (or wanted some).
    CredentialsRejected,
    /// The camera has no stream at the URL's path.
    PathNotFound,
    /// The camera's host name does not resolve.
    NameNotResolved,
    /// No route to the camera, or the connection failed otherwise.
    Unreachable,
    /// A step took too long.
    TimedOut,
    /// The camera offers no H.264/H.265 video.
    NoVideo,
    /// Playing, but frames stopped arriving.
    Stalled,
    /// The camera closed the stream.
    Ended,
    /// The camera answered something unexpected.
    Protocol,
    /// The configured URL cannot be used.
    InvalidUrl,
}

impl FailureCause {
    /// Whether the camera itself answered no: retrying at once does not
    /// help, and cameras may lock an account after repeated bad logins.
    pub fn is_refusal(self) -> bool {
        matches!(
            self,
            Self::CredentialsRejected | Self::PathNotFound | Self::NoVideo
        )
    }

    /// The cause in words, as the Streams API and `vfedctl streams` show it.
    pub fn words(self) -> &'static str {
        match self {
            Self::ConnectionRefused => "connection refused",
            Self::CredentialsRejected => "401 credentials rejected",
            Self::PathNotFound => "404 path not found",
            Self::NameNotResolved => "DNS failure: host name not resolved",
            Self::Unreachable => "host unreachable",
            Self::TimedOut => "timed out",
            Self::NoVideo => "no H.264/H.265 video",
            Self::Stalled => "stalled: no frames",
            Self::Ended => "stream ended by the camera",
            Self::Protocol => "RTSP error",
            Self::InvalidUrl => "invalid URL",
        }
    }
}

impl std::fmt::Display for FailureCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.words())
    }
}

impl GatewayError {
    /// Why, in a few words.
    pub fn cause(&self) -> FailureCause {
        match self {
            Self::InvalidUrl { .. } | Self::DuplicateStream { .. } => FailureCause::InvalidUrl,
            Self::Unauthorized { .. } => FailureCause::CredentialsRejected,
            Self::NotFound { .. } => FailureCause::PathNotFound,
            Self::Connect { reason, .. } => {
                // The io error's text is all retina keeps of it.
                let reason = reason.to_ascii_lowercase();
                if reason.contains("refused") {
                    FailureCause::ConnectionRefused
                } else if reason.contains("lookup") || reason.contains("resolve") {
                    FailureCause::NameNotResolved
                } else if reason.contains("timed out") {
                    FailureCause::TimedOut
                } else {
                    FailureCause::Unreachable
                }
            }
            Self::Rtsp { .. } => FailureCause::Protocol,
            Self::Timeout { .. } => FailureCause::TimedOut,
            Self::NoVideo { .. } => FailureCause::NoVideo,
            Self::Stalled { .. } => FailureCause::Stalled,
            Self::Ended { .. } => FailureCause::Ended,
        }
    }
}

impl From<GatewayError> for tonic::Status {
    fn from(err: GatewayError) -> Self {
        let message = err.to_string();
        match err {
            GatewayError::InvalidUrl { .. } | GatewayError::DuplicateStream { .. } => {
                tonic::Status::invalid_argument(message)
            }
            GatewayError::Unauthorized { .. } | GatewayError::NotFound { .. } => {
                tonic::Status::failed_precondition(message)
            }
            GatewayError::NoVideo { .. } => tonic::Status::failed_precondition(message),
            GatewayError::Timeout { .. } => tonic::Status::deadline_exceeded(message),
            GatewayError::Rtsp { .. }
            | GatewayError::Connect { .. }
            | GatewayError::Stalled { .. }
            | GatewayError::Ended { .. } => tonic::Status::unavailable(message),
        }
    }
}
