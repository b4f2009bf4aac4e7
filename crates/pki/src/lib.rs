//! vfed-pki: the public-key infrastructure of vfed.
//!
//! Every node-to-node and client-to-node gRPC link in vfed is mutual TLS
//! (requirement R18.4). This crate provides:
//!
//! * [`Identity`]: who holds a certificate, encoded as exactly one SPIFFE-style
//!   URI SAN (`spiffe://<trust-domain>/node/<20-digit id>`, `.../user/<name>`,
//!   `.../tool/<name>`);
//! * [`ca`]: a small file-based certificate authority (`init_ca`, `issue`);
//! * [`TlsMaterial`]: CA roots, certificate chain and key loaded from PEM files;
//! * [`server_config`] / [`client_config`]: rustls configurations (ring
//!   provider only) that verify the chain *and* the peer identity;
//! * [`transport`]: glue to serve and call tonic services over those configs.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ca;
pub mod config;
pub mod error;
pub mod identity;
pub mod limits;
pub mod material;
pub mod transport;
pub mod verify;

pub use ca::{
    CaFiles, CertificateAuthority, IssueOptions, IssuedCert, IssuedFiles, init_ca, issue,
};
pub use config::{GRPC_ALPN, client_config, crypto_provider, server_config};
pub use error::PkiError;
pub use identity::{Identity, IdentityKind, identity_from_cert_der, validate_trust_domain};
pub use limits::{ConnectionSlots, LimitedStream, ListenerLimits};
pub use material::TlsMaterial;
pub use transport::{
    PeerInfo, TlsConnection, TlsIncoming, channel, connect, incoming, incoming_with_limits,
    incoming_with_shutdown, peer_info, peer_info_http,
};
pub use verify::{IdentityClientVerifier, IdentityServerVerifier, ServerExpectation};
