//! `vfed-audit`: the tamper-evident, append-only audit log every vfed node keeps.
//!
//! R14.5 asks that every view, copy, retrieval and export is logged with who, when, purpose
//! and where it went; R18.6 asks that these running records are tamper-evident: no silent
//! deletion or change. This crate provides:
//!
//! - [`AuditRecord`]: one logged event, with a canonical byte encoding (the Merkle leaf data);
//! - [`merkle`]: RFC 6962 / RFC 9162 Merkle tree hashing, inclusion and consistency proofs;
//! - [`AuditLog`]: an append-only file with group commit (one fsync per group) and a signed
//!   checkpoint after every group;
//! - [`Checkpoint`], [`SigningKey`], [`PublicKey`]: C2SP signed-note checkpoints and keys;
//! - [`verify_file`]: an offline verifier that names the first bad entry;
//! - [`LogReader`]: random access to the entries of a log file (tailing, recovery);
//! - [`Witness`]: the checks the parent level runs on a child's checkpoints.
//!
//! File formats are documented in [`format`] and [`log`].
#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod error;
pub mod format;
pub mod keys;
pub mod log;
pub mod merkle;
pub mod reader;
pub mod record;
pub mod verify;
pub mod witness;

pub use checkpoint::{Checkpoint, NoteSignature};
pub use error::{AuditError, EntryProblem, Result, VerifyError, WitnessError};
pub use keys::{PublicKey, SigningKey};
pub use log::{AppendReceipt, AuditLog, CHECKPOINTS_FILE, LOG_FILE};
pub use merkle::{Hash, MerkleTree};
pub use reader::{LogReader, StoredEntry};
pub use record::{AuditRecord, Outcome};
pub use verify::{VerifyReport, verify_file};
pub use witness::Witness;
