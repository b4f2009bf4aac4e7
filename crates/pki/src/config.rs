//! rustls server and client configurations for vfed mutual TLS.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, ServerConfig};

use crate::error::PkiError;
use crate::material::TlsMaterial;
use crate::verify::{IdentityClientVerifier, IdentityServerVerifier, ServerExpectation};

/// ALPN protocol list for gRPC over HTTP/2.
pub const GRPC_ALPN: &[&[u8]] = &[b"h2"];

/// The crypto provider used everywhere in vfed: rustls' ring provider,
/// passed explicitly (the process-default provider is never consulted).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration that requires a client certificate chaining to
/// the CA of `material` and carrying a valid identity URI in its trust
/// domain (checked during the handshake), and presents `material`'s chain.
///
/// TLS 1.3 (and 1.2) are enabled; `alpn` is offered as given (use
/// [`GRPC_ALPN`] for gRPC; the config can be reused for QUIC).
pub fn server_config(
    material: &TlsMaterial,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, PkiError> {
    let provider = crypto_provider();
    let verifier = IdentityClientVerifier::new(
        material.roots(),
        material.trust_domain(),
        Arc::clone(&provider),
    )?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(material.chain().to_vec(), material.clone_key())?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// A client configuration that presents `material`'s chain and accepts a
/// server only if its chain verifies to the CA and its identity meets
/// `expect`. The DNS name used to reach the server is ignored.
pub fn client_config(
    material: &TlsMaterial,
    expect: ServerExpectation,
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>, PkiError> {
    let provider = crypto_provider();
    let verifier = IdentityServerVerifier::new(
        material.roots(),
        material.trust_domain(),
        expect,
        Arc::clone(&provider),
    );
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(material.chain().to_vec(), material.clone_key())?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
