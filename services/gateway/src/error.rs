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
    /// An RTSP step failed (connection refused, bad answer, broken stream).
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

impl From<GatewayError> for tonic::Status {
    fn from(err: GatewayError) -> Self {
        let message = err.to_string();
        match err {
            GatewayError::InvalidUrl { .. } | GatewayError::DuplicateStream { .. } => {
                tonic::Status::invalid_argument(message)
            }
            GatewayError::Unauthorized { .. } => tonic::Status::failed_precondition(message),
            GatewayError::NoVideo { .. } => tonic::Status::failed_precondition(message),
            GatewayError::Timeout { .. } => tonic::Status::deadline_exceeded(message),
            GatewayError::Rtsp { .. }
            | GatewayError::Stalled { .. }
            | GatewayError::Ended { .. } => tonic::Status::unavailable(message),
        }
    }
}
