//! The crate's one error type.

use std::fmt;
use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = AuditError> = std::result::Result<T, E>;

/// What [`crate::verify_file`] returns on failure; the same type as [`AuditError`], named
/// for readability at call sites.
pub type VerifyError = AuditError;

/// What [`crate::Witness::observe`] returns on failure; the same type as [`AuditError`].
pub type WitnessError = AuditError;

/// Everything that can go wrong in the audit log, its verifier and its witness.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A file operation failed.
    #[error("{context} {path}: {source}", path = path.display())]
    Io {
        /// What we were doing.
        context: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file header is missing, has the wrong magic or version, or names another origin.
    #[error("{path}: bad header: {reason}", path = path.display())]
    Header {
        /// The file involved.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// One entry of the log is not what the log (or its signed checkpoints) committed to.
    /// R18.6: tampering is named by the first bad index.
    #[error("entry {index}: {problem}")]
    Entry {
        /// The first bad index.
        index: u64,
        /// What is wrong with it.
        problem: EntryProblem,
    },
    /// The checkpoints file is damaged or contains a checkpoint that does not verify.
    #[error("checkpoint #{number}: {reason}")]
    CheckpointFile {
        /// Position of the checkpoint in the checkpoints file (0-based).
        number: u64,
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint note could not be parsed.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(String),
    /// No signature line of the expected key verified.
    #[error("checkpoint for {origin} carries no valid signature by {key}")]
    BadSignature {
        /// The checkpoint's origin.
        origin: String,
        /// The key name we looked for.
        key: String,
    },
    /// A key file or key string could not be parsed.
    #[error("bad key: {0}")]
    BadKey(String),
    /// A checkpoint names another log than expected.
    #[error("checkpoint origin {found:?} where {expected:?} was expected")]
    OriginMismatch {
        /// The origin we expected.
        expected: String,
        /// The origin found.
        found: String,
    },
    /// A witness saw a tree shrink: the child rolled its log back.
    #[error("rollback: checkpoint size {new} is smaller than the previously seen {previous}")]
    Rollback {
        /// Size previously seen.
        previous: u64,
        /// Size now presented.
        new: u64,
    },
    /// A witness saw two different roots for the same tree size: the child forked its log.
    #[error("equivocation: two different roots signed for tree size {size}")]
    Equivocation {
        /// The size both checkpoints claim.
        size: u64,
    },
    /// A Merkle proof did not verify.
    #[error("proof does not verify: {0}")]
    BadProof(String),
    /// A proof was requested for sizes or indices the tree does not have.
    #[error("no proof possible: {0}")]
    ProofRange(String),
    /// A record cannot be logged (too large, not encodable).
    #[error("record rejected: {0}")]
    RecordRejected(String),
    /// The log refuses to open because it has been tampered with; the inner error names how.
    #[error("refusing to open a tampered audit log: {0}")]
    Tampered(Box<AuditError>),
    /// The log has been closed, or its writer stopped after a write error.
    #[error("audit log is closed{}", reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    Closed {
        /// Why the writer stopped, when it stopped on an error.
        reason: Option<String>,
    },
}

impl AuditError {
    /// Wraps an I/O error with what we were doing and the file involved.
    pub fn io(context: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AuditError::Io {
            context,
            path: path.into(),
            source,
        }
    }

    /// The first bad index, when this error names one (also through [`AuditError::Tampered`]).
    pub fn first_bad_index(&self) -> Option<u64> {
        match self {
            AuditError::Entry { index, .. } => Some(*index),
            AuditError::Tampered(inner) => inner.first_bad_index(),
            _ => None,
        }
    }
}

/// How an entry differs from what the log committed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryProblem {
    /// The record bytes do not hash to the leaf hash stored beside them.
    LeafHashMismatch,
    /// The frame's length field is out of range.
    BadFrameLength(u32),
    /// The record bytes are not a record.
    Unparseable(String),
    /// The entry holds a record with another index (deleted, reordered or inserted entries).
    IndexMismatch {
        /// The index found in the record.
        found: u64,
    },
    /// The log ends (cleanly or with a partial frame) before a size a checkpoint signed.
    Missing {
        /// The largest signed tree size.
        checkpoint_size: u64,
    },
    /// The leaves from this index up to `size` do not hash to the root signed for `size`,
    /// although every frame is self-consistent: leaf hashes were recomputed.
    RootMismatch {
        /// The signed tree size whose root differs.
        size: u64,
    },
}

impl fmt::Display for EntryProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryProblem::LeafHashMismatch => {
                write!(f, "leaf hash does not match the log (byte changed)")
            }
            EntryProblem::BadFrameLength(len) => {
                write!(f, "frame length {len} is out of range (byte changed)")
            }
            EntryProblem::Unparseable(why) => write!(f, "record does not parse: {why}"),
            EntryProblem::IndexMismatch { found } => write!(
                f,
                "holds the record with index {found} (entry deleted, inserted or reordered)"
            ),
            EntryProblem::Missing { checkpoint_size } => write!(
                f,
                "missing: the log ends here but a signed checkpoint covers {checkpoint_size} entries (log truncated)"
            ),
            EntryProblem::RootMismatch { size } => write!(
                f,
                "entries from here up to {size} do not hash to the root signed for tree size {size} (rewritten with recomputed hashes)"
            ),
        }
    }
}
