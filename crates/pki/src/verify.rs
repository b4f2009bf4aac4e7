//! Certificate verifiers that check the chain *and* the peer identity.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::server::ParsedCertificate;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    DigitallySignedStruct, DistinguishedName, Error as TlsError, RootCertStore, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::error::PkiError;
use crate::identity::{Identity, identity_from_cert_der};

/// What a client requires of the server identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerExpectation {
    /// The server must present exactly this identity.
    Exactly(Identity),
    /// The server may be any node of the trust domain.
    AnyNode,
}

impl ServerExpectation {
    /// Checks a presented server identity against this expectation.
    pub fn check(&self, actual: &Identity) -> Result<(), PkiError> {
        match self {
            ServerExpectation::Exactly(expected) if expected != actual => {
                Err(PkiError::IdentityMismatch {
                    expected: expected.clone(),
                    actual: actual.clone(),
                })
            }
            ServerExpectation::AnyNode if !actual.is_node() => Err(PkiError::NotANode {
                actual: actual.clone(),
            }),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for ServerExpectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerExpectation::Exactly(id) => write!(f, "{id}"),
            ServerExpectation::AnyNode => f.write_str("any node"),
        }
    }
}

/// A rustls error carrying `message` so that it reaches the caller's
/// handshake error text.
fn general(message: String) -> TlsError {
    TlsError::General(message)
}

/// Client-side verifier of server certificates.
///
/// Verifies the chain to the configured CA with webpki (ring algorithms),
/// ignores the DNS server name (nodes are addressed by IP and port; the
/// identity is what counts) and checks the identity URI SAN against a
/// [`ServerExpectation`].
pub struct IdentityServerVerifier {
    roots: Arc<RootCertStore>,
    trust_domain: String,
    expect: ServerExpectation,
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for IdentityServerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityServerVerifier")
            .field("trust_domain", &self.trust_domain)
            .field("expect", &self.expect)
            .finish_non_exhaustive()
    }
}

impl IdentityServerVerifier {
    /// Builds a verifier trusting `roots`, for identities in `trust_domain`.
    pub fn new(
        roots: Arc<RootCertStore>,
        trust_domain: impl Into<String>,
        expect: ServerExpectation,
        provider: Arc<CryptoProvider>,
    ) -> Self {
        IdentityServerVerifier {
            roots,
            trust_domain: trust_domain.into(),
            expect,
            provider,
        }
    }
}

impl ServerCertVerifier for IdentityServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        let parsed = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        let actual = identity_from_cert_der(end_entity, &self.trust_domain)
            .map_err(|e| general(format!("server certificate rejected: {e}")))?;
        self.expect
            .check(&actual)
            .map_err(|e| general(e.to_string()))?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Server-side verifier of client certificates.
///
/// Delegates chain verification to rustls' `WebPkiClientVerifier` (client
/// authentication mandatory) and additionally requires the client
/// certificate to carry exactly one valid identity URI in the trust domain.
pub struct IdentityClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    trust_domain: String,
}

impl fmt::Debug for IdentityClientVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityClientVerifier")
            .field("trust_domain", &self.trust_domain)
            .finish_non_exhaustive()
    }
}

impl IdentityClientVerifier {
    /// Builds a verifier requiring client certificates chaining to `roots`,
    /// verified with `provider`'s algorithms.
    pub fn new(
        roots: Arc<RootCertStore>,
        trust_domain: impl Into<String>,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, PkiError> {
        let inner = rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|e| PkiError::Verifier(e.to_string()))?;
        Ok(IdentityClientVerifier {
            inner,
            trust_domain: trust_domain.into(),
        })
    }
}

impl ClientCertVerifier for IdentityClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, TlsError> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        identity_from_cert_der(end_entity, &self.trust_domain)
            .map_err(|e| general(format!("client certificate rejected: {e}")))?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
