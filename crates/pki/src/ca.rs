//! A small file-based certificate authority (rcgen, ECDSA P-256, ring).
//!
//! Layout of a CA directory: `ca.pem` (CA certificate), `ca.key` (its
//! private key, mode 0600) and `trust-domain` (one line). Issued
//! certificates are written as `<kind>-<name>.pem` / `<kind>-<name>.key`.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use time::{Duration, OffsetDateTime};

use crate::error::PkiError;
use crate::identity::{Identity, IdentityKind, SCHEME, validate_trust_domain};

/// File name of the CA certificate inside a CA directory.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA private key inside a CA directory.
pub const CA_KEY_FILE: &str = "ca.key";
/// File name of the trust-domain file inside a CA directory.
pub const TRUST_DOMAIN_FILE: &str = "trust-domain";

/// Validity of a CA certificate created by [`init_ca`] (10 years).
pub const CA_VALIDITY_DAYS: i64 = 3650;

/// How far in the past `notBefore` is set, to tolerate clock skew.
const BACKDATE: Duration = Duration::minutes(5);

/// Paths written by [`init_ca`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaFiles {
    /// The CA certificate (`ca.pem`).
    pub cert: PathBuf,
    /// The CA private key (`ca.key`, mode 0600).
    pub key: PathBuf,
    /// The file holding the trust domain.
    pub trust_domain_file: PathBuf,
    /// The trust domain of the CA.
    pub trust_domain: String,
}

/// Paths written by [`issue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedFiles {
    /// The identity named by the certificate.
    pub identity: Identity,
    /// The certificate (`<kind>-<name>.pem`, the leaf only).
    pub cert: PathBuf,
    /// The private key (`<kind>-<name>.key`, mode 0600).
    pub key: PathBuf,
}

/// Options of an issued certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueOptions {
    /// DNS SANs besides the identity URI (default `["localhost"]`).
    pub dns_names: Vec<String>,
    /// IP SANs (default `[127.0.0.1, ::1]`).
    pub ip_addresses: Vec<IpAddr>,
    /// Validity in days from now (default 397; must be at least 1).
    pub validity_days: u32,
}

impl Default for IssueOptions {
    fn default() -> Self {
        IssueOptions {
            dns_names: vec!["localhost".to_owned()],
            ip_addresses: vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ],
            validity_days: 397,
        }
    }
}

/// A certificate and its private key, both PEM-encoded, held in memory.
#[derive(Clone)]
pub struct IssuedCert {
    /// The certificate (leaf only), PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
}

impl std::fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCert")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// An in-memory certificate authority: its certificate, its signing key and
/// its trust domain. [`init_ca`] and [`issue`] are file-based wrappers.
pub struct CertificateAuthority {
    trust_domain: String,
    cert_pem: String,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("trust_domain", &self.trust_domain)
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Generates a new self-signed CA for `trust_domain` (ECDSA P-256).
    ///
    /// The CA certificate carries the URI SAN `spiffe://<trust_domain>`
    /// so that the trust domain can be recovered from `ca.pem` alone.
    pub fn generate(trust_domain: &str) -> Result<Self, PkiError> {
        validate_trust_domain(trust_domain)?;
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        // A per-key suffix keeps the subjects of two CAs of one trust domain
        // distinct, so a foreign certificate fails as "unknown issuer".
        let key_id: String = params
            .key_identifier(&key)
            .iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "vfed");
        dn.push(
            DnType::CommonName,
            format!("vfed CA {trust_domain} {key_id}"),
        );
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.subject_alt_names =
            vec![SanType::URI(format!("{SCHEME}{trust_domain}").try_into()?)];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = now + Duration::days(CA_VALIDITY_DAYS);
        let cert = params.self_signed(&key)?;
        let key_pem = key.serialize_pem();
        Ok(CertificateAuthority {
            trust_domain: trust_domain.to_owned(),
            cert_pem: cert.pem(),
            key_pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// Builds a CA from its PEM certificate and key and its trust domain.
    pub fn from_pem(cert_pem: &str, key_pem: &str, trust_domain: &str) -> Result<Self, PkiError> {
        validate_trust_domain(trust_domain)?;
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        Ok(CertificateAuthority {
            trust_domain: trust_domain.to_owned(),
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
            issuer,
        })
    }

    /// Loads a CA directory written by [`init_ca`] / [`CertificateAuthority::save`].
    pub fn load(dir: &Path) -> Result<Self, PkiError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        let td_path = dir.join(TRUST_DOMAIN_FILE);
        let cert_pem = read_text(&cert_path, "CA certificate")?;
        let key_pem = read_text(&key_path, "CA private key")?;
        let trust_domain = read_text(&td_path, "trust domain")?.trim().to_owned();
        validate_trust_domain(&trust_domain)?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| PkiError::BadPem {
            what: "CA private key",
            path: key_path.clone(),
            reason: e.to_string(),
        })?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key).map_err(|e| PkiError::BadPem {
            what: "CA certificate",
            path: cert_path.clone(),
            reason: e.to_string(),
        })?;
        Ok(CertificateAuthority {
            trust_domain,
            cert_pem,
            key_pem,
            issuer,
        })
    }

    /// Writes `ca.pem`, `ca.key` (mode 0600) and `trust-domain` into `dir`,
    /// creating it if needed. Refuses to overwrite existing files unless
    /// `force`.
    pub fn save(&self, dir: &Path, force: bool) -> Result<CaFiles, PkiError> {
        let files = CaFiles {
            cert: dir.join(CA_CERT_FILE),
            key: dir.join(CA_KEY_FILE),
            trust_domain_file: dir.join(TRUST_DOMAIN_FILE),
            trust_domain: self.trust_domain.clone(),
        };
        if !force {
            for path in [&files.cert, &files.key, &files.trust_domain_file] {
                if path.exists() {
                    return Err(PkiError::AlreadyExists { path: path.clone() });
                }
            }
        }
        vfed_private_fs::create_dir_all(dir).map_err(|source| PkiError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        write_file(&files.key, self.key_pem.as_bytes())?;
        write_file(&files.cert, self.cert_pem.as_bytes())?;
        write_file(
            &files.trust_domain_file,
            format!("{}\n", self.trust_domain).as_bytes(),
        )?;
        Ok(files)
    }

    /// The trust domain of this CA.
    pub fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issues a certificate for `identity` with a fresh ECDSA P-256 key.
    ///
    /// The certificate carries exactly one URI SAN (the identity), the
    /// DNS/IP SANs of `options`, and the EKUs serverAuth + clientAuth for
    /// nodes, clientAuth only for users and tools.
    pub fn issue(
        &self,
        identity: &Identity,
        options: &IssueOptions,
    ) -> Result<IssuedCert, PkiError> {
        if options.validity_days == 0 {
            return Err(PkiError::InvalidIdentity {
                input: identity.to_string(),
                reason: "validity_days must be at least 1".to_owned(),
            });
        }
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "vfed");
        dn.push(DnType::CommonName, identity.to_string());
        params.distinguished_name = dn;
        params.subject_alt_names = vec![SanType::URI(
            identity.to_uri(&self.trust_domain).try_into()?,
        )];
        for dns in &options.dns_names {
            params
                .subject_alt_names
                .push(SanType::DnsName(dns.clone().try_into()?));
        }
        for ip in &options.ip_addresses {
            params.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = match identity.kind {
            IdentityKind::Node => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            IdentityKind::User | IdentityKind::Tool => vec![ExtendedKeyUsagePurpose::ClientAuth],
        };
        let now = OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = now + Duration::days(i64::from(options.validity_days));
        self.issue_custom(params)
    }

    /// Signs arbitrary parameters with this CA and a fresh P-256 key,
    /// without any identity checks. Meant for tests and special cases
    /// (e.g. a certificate with no URI SAN); use [`CertificateAuthority::issue`]
    /// for real certificates.
    pub fn issue_custom(&self, mut params: CertificateParams) -> Result<IssuedCert, PkiError> {
        params.is_ca = IsCa::NoCa;
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Creates a new CA in `dir`: `ca.pem`, `ca.key` (mode 0600) and
/// `trust-domain`. Refuses to overwrite an existing CA unless `force`.
pub fn init_ca(dir: &Path, trust_domain: &str, force: bool) -> Result<CaFiles, PkiError> {
    CertificateAuthority::generate(trust_domain)?.save(dir, force)
}

/// Issues a certificate for `identity` signed by the CA in `ca_dir`, writing
/// `<kind>-<name>.pem` and `<kind>-<name>.key` (mode 0600) into `out_dir`
/// (created if needed; existing files for the same identity are replaced).
pub fn issue(
    ca_dir: &Path,
    out_dir: &Path,
    identity: &Identity,
    options: &IssueOptions,
) -> Result<IssuedFiles, PkiError> {
    let ca = CertificateAuthority::load(ca_dir)?;
    let issued = ca.issue(identity, options)?;
    write_issued(out_dir, identity, &issued)
}

/// Writes an in-memory certificate and key as `<kind>-<name>.pem` / `.key`.
pub fn write_issued(
    out_dir: &Path,
    identity: &Identity,
    issued: &IssuedCert,
) -> Result<IssuedFiles, PkiError> {
    vfed_private_fs::create_dir_all(out_dir).map_err(|source| PkiError::Write {
        path: out_dir.to_path_buf(),
        source,
    })?;
    let stem = identity.file_stem();
    let files = IssuedFiles {
        identity: identity.clone(),
        cert: out_dir.join(format!("{stem}.pem")),
        key: out_dir.join(format!("{stem}.key")),
    };
    write_file(&files.key, issued.key_pem.as_bytes())?;
    write_file(&files.cert, issued.cert_pem.as_bytes())?;
    Ok(files)
}

fn read_text(path: &Path, what: &'static str) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(|source| {
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

/// Writes `contents` to `path` through a temporary file and a rename, so a
/// crash never leaves a half-written key. Every file is mode 0600 from the
/// start (certificates too: vfed creates no file others can read; copy a
/// certificate to whoever needs it).
fn write_file(path: &Path, contents: &[u8]) -> Result<(), PkiError> {
    vfed_private_fs::write_atomic(path, contents).map_err(|source| PkiError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn init_refuses_overwrite_and_key_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let files = init_ca(dir.path(), "vfed.test", false).unwrap();
        assert_eq!(files.trust_domain, "vfed.test");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&files.key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let err = init_ca(dir.path(), "vfed.test", false).unwrap_err();
        assert!(matches!(err, PkiError::AlreadyExists { .. }), "{err}");
        let before = fs::read_to_string(&files.cert).unwrap();
        init_ca(dir.path(), "vfed.test", true).unwrap();
        assert_ne!(before, fs::read_to_string(&files.cert).unwrap());
    }

    #[test]
    fn init_rejects_bad_trust_domain() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            init_ca(dir.path(), "Bad Domain", false),
            Err(PkiError::InvalidTrustDomain { .. })
        ));
    }

    #[test]
    fn issue_writes_named_files() {
        let dir = tempfile::tempdir().unwrap();
        let ca_dir = dir.path().join("ca");
        init_ca(&ca_dir, "vfed.test", false).unwrap();
        let id = Identity::node("54050000001320000001").unwrap();
        let out = dir.path().join("out");
        let files = issue(&ca_dir, &out, &id, &IssueOptions::default()).unwrap();
        assert_eq!(files.cert, out.join("node-54050000001320000001.pem"));
        assert_eq!(files.key, out.join("node-54050000001320000001.key"));
        let pem = fs::read(&files.cert).unwrap();
        let der = rustls_pemfile::certs(&mut pem.as_slice())
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(
            crate::identity::identity_from_cert_der(&der, "vfed.test").unwrap(),
            id
        );
    }

    #[test]
    fn issue_without_ca_names_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let id = Identity::tool("vfedctl").unwrap();
        let err = issue(dir.path(), dir.path(), &id, &IssueOptions::default()).unwrap_err();
        assert!(err.to_string().contains("ca.pem"), "{err}");
    }
}
