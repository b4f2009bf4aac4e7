//! The one error type of the media crate.

use std::path::PathBuf;

/// Why a media parser or muxer refused its input.
///
/// Parsers never panic on malformed input: they return one of these, naming
/// the structure (`what`) that was wrong.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The input ended inside a structure.
    #[error("truncated {what}")]
    Truncated {
        /// The structure being read (e.g. "H.264 SPS").
        what: &'static str,
    },
    /// A field holds a value the specification does not allow.
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// The structure being read.
        what: &'static str,
        /// Which field and why.
        detail: String,
    },
    /// Valid input that vfed does not handle (yet).
    #[error("unsupported {what}: {detail}")]
    Unsupported {
        /// The structure being read.
        what: &'static str,
        /// What is not supported.
        detail: String,
    },
    /// A stream lacks something the operation needs (e.g. no SPS).
    #[error("missing {0}")]
    Missing(&'static str),
    /// Reading a media file failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl MediaError {
    /// Shorthand for [`MediaError::Invalid`].
    pub(crate) fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        Self::Invalid {
            what,
            detail: detail.into(),
        }
    }

    /// Shorthand for [`MediaError::Unsupported`].
    pub(crate) fn unsupported(what: &'static str, detail: impl Into<String>) -> Self {
        Self::Unsupported {
            what,
            detail: detail.into(),
        }
    }
}
