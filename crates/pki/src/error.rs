//! The single error type of this crate.

use std::path::PathBuf;

use crate::identity::Identity;

/// Everything that can go wrong in vfed's PKI: creating a CA, issuing,
/// loading material, building TLS configs, connecting.
///
/// Messages name the file, the identity or the endpoint concerned so that
/// they can be printed to an operator as they are.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// A file that should exist does not.
    #[error("{what} file {} does not exist", path.display())]
    Missing {
        /// What the file should hold ("CA certificate", "private key"...).
        what: &'static str,
        /// The path looked at.
        path: PathBuf,
    },
    /// Reading a file failed.
    #[error("cannot read {what} file {}: {source}", path.display())]
    Read {
        /// What the file should hold.
        what: &'static str,
        /// The path read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Writing a file (or creating its directory) failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The path written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file exists and overwriting it was not asked for.
    #[error("{} already exists (pass --force to overwrite it)", path.display())]
    AlreadyExists {
        /// The existing path.
        path: PathBuf,
    },
    /// A file is not valid PEM, or holds no item of the expected kind.
    #[error("{what} file {} is not valid: {reason}", path.display())]
    BadPem {
        /// What the file should hold.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The leaf certificate does not chain to the given CA.
    #[error("certificate {} is not signed by the CA in {}: {reason}", cert.display(), ca.display())]
    NotSignedByCa {
        /// The leaf certificate file.
        cert: PathBuf,
        /// The CA certificate file.
        ca: PathBuf,
        /// What verification said.
        reason: String,
    },
    /// The certificate is otherwise unusable (expired, wrong usage...).
    #[error("certificate {} is not usable: {reason}", path.display())]
    InvalidCertificate {
        /// The certificate file.
        path: PathBuf,
        /// What verification said.
        reason: String,
    },
    /// An error about the content of a specific file.
    #[error("{}: {source}", path.display())]
    InFile {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: Box<PkiError>,
    },
    /// The private key does not belong to the certificate.
    #[error("private key {} does not match certificate {}: {reason}", key.display(), cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        reason: String,
    },
    /// A trust domain is malformed.
    #[error("invalid trust domain {domain:?}: {reason}")]
    InvalidTrustDomain {
        /// The offending trust domain.
        domain: String,
        /// Why it is invalid.
        reason: String,
    },
    /// An identity (display form or parts) is malformed.
    #[error("invalid identity {input:?}: {reason}")]
    InvalidIdentity {
        /// The offending input.
        input: String,
        /// Why it is invalid.
        reason: String,
    },
    /// An identity URI is malformed.
    #[error("invalid identity URI {uri:?}: {reason}")]
    InvalidIdentityUri {
        /// The offending URI.
        uri: String,
        /// Why it is invalid.
        reason: String,
    },
    /// An identity URI names another trust domain.
    #[error("identity URI {uri:?} is not in trust domain {expected:?}")]
    WrongTrustDomain {
        /// The URI found.
        uri: String,
        /// The trust domain expected.
        expected: String,
    },
    /// A certificate cannot be parsed as X.509.
    #[error("cannot parse certificate: {reason}")]
    BadCertificate {
        /// What the parser said.
        reason: String,
    },
    /// A certificate carries no URI SAN naming its holder.
    #[error("certificate (subject {subject:?}) has no URI SAN identity")]
    NoIdentity {
        /// The certificate subject, for the operator.
        subject: String,
    },
    /// A certificate carries more than one URI SAN.
    #[error(
        "certificate (subject {subject:?}) has {count} URI SANs, exactly one identity is required"
    )]
    MultipleIdentities {
        /// The certificate subject.
        subject: String,
        /// How many URI SANs were found.
        count: usize,
    },
    /// A peer's identity is not the expected one.
    #[error("server identity {actual} is not the expected {expected}")]
    IdentityMismatch {
        /// The identity required by the caller.
        expected: Identity,
        /// The identity the peer presented.
        actual: Identity,
    },
    /// A peer's identity is not a node identity although a node was expected.
    #[error("server identity {actual} is not a node identity")]
    NotANode {
        /// The identity the peer presented.
        actual: Identity,
    },
    /// Certificate generation failed.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// Building a TLS configuration failed.
    #[error("TLS configuration error: {0}")]
    Tls(#[from] rustls::Error),
    /// Building a certificate verifier failed.
    #[error("cannot build certificate verifier: {0}")]
    Verifier(String),
    /// An endpoint string is malformed.
    #[error("invalid endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// The endpoint given.
        endpoint: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Connecting (TCP, TLS handshake or HTTP/2) to an endpoint failed.
    #[error("cannot connect to {endpoint}: {reason}")]
    Connect {
        /// The endpoint.
        endpoint: String,
        /// The reason, including the TLS alert or verification error.
        reason: String,
    },
}
