//! The archive: continuous recording of every camera this node originates,
//! from the same frames the relay carries (one more reader of the relay's
//! local tracks), never re-encoded, kept complete and unaltered (R14.6,
//! R18.7).
//!
//! - Files: fragmented MP4 (CMAF), one fragment per GOP, one file per
//!   `file_duration` (rotation staggered across streams), each fragment
//!   hashed (SHA-256) into a sidecar index ([`index`]); every fragment is
//!   fdatasync'ed as it is written ([`writer`]).
//! - When a file closes, its manifest (device, time range, fragment
//!   hashes) is appended to the node's audit Merkle log, and the file is
//!   sealed immutable where the process may ([`seal`]).
//! - At start a file a crash left open is cut back to its last whole
//!   fragment and logged ([`recovery`]); [`verify()`] checks everything.
//! - Gaps are recorded with their cause ([`spans`]); the gRPC service
//!   ([`ArchiveService`]) lists spans and gaps and the archive's status;
//!   [`playback`] serves HLS VOD over the recorded files.
//! - [`EvidenceService`] exports the evidence package of an approved
//!   retrieval request ([`export`]: what it asks of the node).
//!
//! There is no API that deletes, truncates or rewrites a recording.
#![forbid(unsafe_code)]

mod archive;
mod error;
mod evidence_service;
pub mod export;
pub mod index;
pub mod layout;
pub mod logged;
pub mod playback;
mod recorder;
pub mod recovery;
pub mod seal;
mod service;
pub mod spans;
pub mod verify;
pub mod writer;

pub use archive::{Archive, ArchiveOptions, StreamStatus};
pub use error::ArchiveError;
pub use evidence_service::EvidenceService;
pub use service::ArchiveService;
pub use verify::{Finding, Report, verify};
