//! The archive: continuous recording of every camera this node originates,
//! from the same frames the relay carries (one more reader of the relay's
//! local tracks), never re-encoded, kept complete and unaltered (R14.6,
//! R18.7).
//!
//! - Files: fragmented MP4 (CMAF), fragments of at most half a second, one file per
//!   `file_duration` (rotation staggered across streams), each fragment
//!   hashed (SHA-256) into a sidecar index ([`index`]); every fragment is
//!   fdatasync'ed as it is written ([`writer`]).
//! - When a file closes, its manifest (device, time range, fragment
//!   hashes) is appended to the node's audit Merkle log, and the file is
//!   sealed immutable where the process may ([`seal`]).
//! - At start a file a crash left open is cut back to its last whole
//!   fragment and logged ([`recovery`]); closed files are checked against
//!   their logged manifests ([`logged`]) and re-hashed in the background
//!   ([`scrub`]); [`verify()`] checks everything.
//! - Gaps are recorded with their cause ([`spans`]); the gRPC service
//!   ([`ArchiveService`]) lists spans and gaps and the archive's status;
//!   [`playback`] serves HLS VOD and one MP4 over the recorded files
//!   ([`vod`] plans them).
//!
//! - Past retention and not held by an approved retrieval request
//!   ([`holds`]), the node itself deletes a file, audited ([`retention`]);
//!   the volume is watched against its thresholds ([`disk`]): when it is
//!   critical or full, new recording stops and nothing is deleted to make
//!   room.
//! - [`EvidenceService`] exports the evidence package of an approved
//!   retrieval request ([`export`]: what it asks of the node).
//!
//! There is no API that deletes, truncates or rewrites a recording.
#![forbid(unsafe_code)]

mod archive;
pub mod disk;
mod error;
mod evidence_service;
pub mod export;
pub mod holds;
pub mod index;
pub mod layout;
pub mod logged;
pub mod mp4_cache;
pub mod playback;
mod recorder;
pub mod recovery;
mod remote_spans;
pub mod retention;
pub mod scrub;
pub mod seal;
mod service;
pub mod spans;
mod upkeep;
pub mod verify;
pub mod vod;
pub mod writer;

pub use archive::{Archive, ArchiveOptions, StreamStatus};
pub use error::ArchiveError;
pub use evidence_service::EvidenceService;
pub use recorder::FRAGMENT_TICKS;
pub use service::ArchiveService;
pub use verify::{Finding, Report, verify};
