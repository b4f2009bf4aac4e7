//! Why a node could not start.

use std::net::SocketAddr;

/// A start-up failure; each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A configuration value is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An address could not be bound.
    #[error("{field}: cannot listen on {addr}: {source}")]
    Bind {
        /// The config field.
        field: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Credentials are unusable.
    #[error("tls: {0}")]
    Tls(vfed_pki::PkiError),
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(vfed_store::StoreError),
    /// Other I/O.
    #[error("io: {0}")]
    Io(std::io::Error),
    /// The audit log could not be opened (R18.6: a tampered log stops the node).
    #[error("audit: {0}")]
    Audit(vfed_auditing::AuditingError),
    /// The data directory or a key is readable by group or others.
    #[error("{0}")]
    Exposed(crate::data_dir::Exposed),
    /// Accounts could not be read or bootstrapped.
    #[error("auth: {0}")]
    Auth(vfed_auth::AuthError),
}
