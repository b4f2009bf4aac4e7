//! TLS material: the CA roots, this holder's certificate chain and key.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

use crate::config::crypto_provider;
use crate::error::PkiError;
use crate::identity::{Identity, SCHEME, identity_from_cert_der, uri_sans, validate_trust_domain};

/// Everything one holder needs for mutual TLS: the CA certificate(s) to
/// trust, its own certificate chain and private key, and the identity and
/// trust domain they establish.
///
/// Loading checks that the files are PEM, that the leaf chains to the CA,
/// that the key matches the leaf and that the leaf names exactly one valid
/// identity in the CA's trust domain.
pub struct TlsMaterial {
    trust_domain: String,
    identity: Identity,
    ca_certs: Vec<CertificateDer<'static>>,
    roots: Arc<RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Clone for TlsMaterial {
    fn clone(&self) -> Self {
        TlsMaterial {
            trust_domain: self.trust_domain.clone(),
            identity: self.identity.clone(),
            ca_certs: self.ca_certs.clone(),
            roots: Arc::clone(&self.roots),
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("trust_domain", &self.trust_domain)
            .field("identity", &self.identity)
            .field("ca_certs", &self.ca_certs.len())
            .field("chain", &self.chain.len())
            .finish_non_exhaustive()
    }
}

/// One PEM input: its bytes and a label (path) for messages.
struct Source<'a> {
    path: PathBuf,
    pem: &'a [u8],
}

impl TlsMaterial {
    /// Loads the CA certificate(s), the holder certificate chain and its
    /// private key from PEM files.
    ///
    /// Errors name the file and what is wrong with it: missing, unreadable,
    /// not PEM, no certificate, no key, not signed by that CA, key not
    /// matching, no valid identity.
    pub fn load(ca: &Path, cert: &Path, key: &Path) -> Result<TlsMaterial, PkiError> {
        let ca_pem = read(ca, "CA certificate")?;
        let cert_pem = read(cert, "certificate")?;
        let key_pem = read(key, "private key")?;
        Self::build(
            Source {
                path: ca.to_path_buf(),
                pem: &ca_pem,
            },
            Source {
                path: cert.to_path_buf(),
                pem: &cert_pem,
            },
            Source {
                path: key.to_path_buf(),
                pem: &key_pem,
            },
        )
    }

    /// Same as [`TlsMaterial::load`] from in-memory PEM data.
    pub fn from_pem(
        ca_pem: &[u8],
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<TlsMaterial, PkiError> {
        Self::build(
            Source {
                path: PathBuf::from("<in-memory CA certificate>"),
                pem: ca_pem,
            },
            Source {
                path: PathBuf::from("<in-memory certificate>"),
                pem: cert_pem,
            },
            Source {
                path: PathBuf::from("<in-memory private key>"),
                pem: key_pem,
            },
        )
    }

    fn build(ca: Source<'_>, cert: Source<'_>, key: Source<'_>) -> Result<TlsMaterial, PkiError> {
        let ca_certs = parse_certs(&ca, "CA certificate")?;
        let chain = parse_certs(&cert, "certificate")?;
        let key_der = parse_key(&key)?;

        let mut roots = RootCertStore::empty();
        for der in &ca_certs {
            roots.add(der.clone()).map_err(|e| PkiError::BadPem {
                what: "CA certificate",
                path: ca.path.clone(),
                reason: format!("not a usable CA certificate: {e}"),
            })?;
        }

        let trust_domain = trust_domain_of(&ca_certs, &chain[0]).map_err(|e| PkiError::InFile {
            path: ca.path.clone(),
            source: Box::new(e),
        })?;

        verify_chain(&ca_certs, &chain, &ca.path, &cert.path)?;

        let provider = crypto_provider();
        CertifiedKey::from_der(chain.clone(), key_der.clone_key(), &provider).map_err(|e| {
            PkiError::KeyMismatch {
                cert: cert.path.clone(),
                key: key.path.clone(),
                reason: e.to_string(),
            }
        })?;

        let identity =
            identity_from_cert_der(&chain[0], &trust_domain).map_err(|e| PkiError::InFile {
                path: cert.path.clone(),
                source: Box::new(e),
            })?;

        Ok(TlsMaterial {
            trust_domain,
            identity,
            ca_certs,
            roots: Arc::new(roots),
            chain,
            key: key_der,
        })
    }

    /// The identity named by this holder's certificate.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The trust domain of the CA.
    pub fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    /// The CA certificates, as a rustls root store.
    pub fn roots(&self) -> Arc<RootCertStore> {
        Arc::clone(&self.roots)
    }

    /// The CA certificates, DER.
    pub fn ca_certs(&self) -> &[CertificateDer<'static>] {
        &self.ca_certs
    }

    /// This holder's certificate chain, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// This holder's private key.
    pub fn key(&self) -> &PrivateKeyDer<'static> {
        &self.key
    }

    /// An owned copy of the private key (rustls consumes keys by value).
    pub fn clone_key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, PkiError> {
    fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            PkiError::Missing {
                what,
                path: path.to_path_buf(),
            }
        } else {
            PkiError::Read {
                what,
                path: path.to_path_buf(),
                source,
            }
        }
    })
}

fn parse_certs(
    src: &Source<'_>,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let bad = |reason: String| PkiError::BadPem {
        what,
        path: src.path.clone(),
        reason,
    };
    let certs = rustls_pemfile::certs(&mut &*src.pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(bad(
            "no PEM CERTIFICATE block found (is it a PEM file? is it the key?)".to_owned(),
        ));
    }
    Ok(certs)
}

fn parse_key(src: &Source<'_>) -> Result<PrivateKeyDer<'static>, PkiError> {
    let bad = |reason: String| PkiError::BadPem {
        what: "private key",
        path: src.path.clone(),
        reason,
    };
    rustls_pemfile::private_key(&mut &*src.pem)
        .map_err(|e| bad(format!("not PEM: {e}")))?
        .ok_or_else(|| {
            bad("no PEM private key found (expected PKCS#8, SEC1 or PKCS#1; is it the certificate?)"
                .to_owned())
        })
}

/// The trust domain: from the CA certificate's `spiffe://<domain>` URI SAN
/// (written by [`crate::ca::init_ca`]), else from the leaf's identity URI.
fn trust_domain_of(
    ca_certs: &[CertificateDer<'static>],
    leaf: &CertificateDer<'static>,
) -> Result<String, PkiError> {
    for der in ca_certs {
        let (uris, _) = uri_sans(der)?;
        if let Some(domain) = uris
            .iter()
            .filter_map(|u| u.strip_prefix(SCHEME))
            .find(|rest| !rest.is_empty() && !rest.contains('/'))
        {
            validate_trust_domain(domain)?;
            return Ok(domain.to_owned());
        }
    }
    let (uris, subject) = uri_sans(leaf)?;
    let uri = match uris.as_slice() {
        [uri] => uri,
        [] => return Err(PkiError::NoIdentity { subject }),
        many => {
            return Err(PkiError::MultipleIdentities {
                subject,
                count: many.len(),
            });
        }
    };
    let domain =
        Identity::trust_domain_of_uri(uri).ok_or_else(|| PkiError::InvalidIdentityUri {
            uri: uri.clone(),
            reason: "scheme must be spiffe://".to_owned(),
        })?;
    validate_trust_domain(domain)?;
    Ok(domain.to_owned())
}

/// Verifies that the leaf chains to one of the CA certificates, now.
fn verify_chain(
    ca_certs: &[CertificateDer<'static>],
    chain: &[CertificateDer<'static>],
    ca_path: &Path,
    cert_path: &Path,
) -> Result<(), PkiError> {
    let invalid = |reason: String| PkiError::InvalidCertificate {
        path: cert_path.to_path_buf(),
        reason,
    };
    let anchors = ca_certs
        .iter()
        .map(|der| webpki::anchor_from_trusted_cert(der).map(|a| a.to_owned()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::BadPem {
            what: "CA certificate",
            path: ca_path.to_path_buf(),
            reason: format!("not a usable trust anchor: {e}"),
        })?;
    let leaf = webpki::EndEntityCert::try_from(&chain[0])
        .map_err(|e| invalid(format!("cannot parse: {e}")))?;
    let provider = crypto_provider();
    let algs = provider.signature_verification_algorithms.all;
    let now = UnixTime::now();
    let check = |usage: webpki::KeyUsage| {
        leaf.verify_for_usage(algs, &anchors, &chain[1..], now, usage, None, None)
            .map(|_| ())
    };
    // Client certificates (all of ours) carry clientAuth; accept a
    // server-only certificate too.
    match check(webpki::KeyUsage::client_auth()) {
        Ok(()) => Ok(()),
        Err(client_err) => match check(webpki::KeyUsage::server_auth()) {
            Ok(()) => Ok(()),
            Err(_) => match client_err {
                webpki::Error::UnknownIssuer | webpki::Error::InvalidSignatureForPublicKey => {
                    Err(PkiError::NotSignedByCa {
                        cert: cert_path.to_path_buf(),
                        ca: ca_path.to_path_buf(),
                        reason: format!("{client_err:?}"),
                    })
                }
                other => Err(invalid(format!("{other:?}"))),
            },
        },
    }
}
