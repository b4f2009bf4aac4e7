//! `vfed-evidence`: the evidence package a node exports for an approved
//! retrieval request (R16, R14.5), and its offline verifier.
//!
//! A package is a directory:
//!
//! ```text
//! manifest.json                                   what it holds (see [`manifest`])
//! media/<device>/<profile>/<start>.mp4            the recorded bytes: the init segment and
//!                                                 the fragments covering the range, as recorded
//! proofs/<device>/<profile>/<start>.entry.json    the file's `recording.file.closed` log entry
//! proofs/<device>/<profile>/<start>.proof         its inclusion proof (C2SP tlog-proof)
//! keys/node.vkey, keys/parent.vkey                the node's and its parent's checkpoint keys
//! ```
//!
//! The package's SHA-256 is the SHA-256 of `manifest.json`, which names
//! the SHA-256 of every other file: the node logs it with the export.
//!
//! This crate knows no service: the node builds packages with
//! [`manifest`] and [`proof`], `vfedctl evidence verify` checks them with
//! [`verify()`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod layout;
pub mod manifest;
pub mod proof;
pub mod verify;

pub use manifest::{FileEntry, FragmentRef, Manifest, Request, Signer, SourceFragment};
pub use verify::{Finding, Pins, Report, verify};

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}
