//! Identities of certificate holders and their SPIFFE-style URI encoding.

use std::fmt;
use std::str::FromStr;

use crate::error::PkiError;

/// URI scheme of every vfed identity.
pub const SCHEME: &str = "spiffe://";

/// Length of a GB/T 28181 node or device code.
pub const NODE_ID_LEN: usize = 20;

/// Maximum length of a user or tool name.
pub const MAX_NAME_LEN: usize = 64;

/// What kind of holder a certificate names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdentityKind {
    /// A vfed node, named by its 20-digit GB/T 28181 code.
    Node,
    /// A human user.
    User,
    /// An operator tool (CLI, site simulator...).
    Tool,
}

impl IdentityKind {
    /// The path segment used in URIs and display forms: `node`, `user`, `tool`.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::Node => "node",
            IdentityKind::User => "user",
            IdentityKind::Tool => "tool",
        }
    }
}

impl fmt::Display for IdentityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IdentityKind {
    type Err = PkiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "node" => Ok(IdentityKind::Node),
            "user" => Ok(IdentityKind::User),
            "tool" => Ok(IdentityKind::Tool),
            other => Err(PkiError::InvalidIdentity {
                input: other.to_owned(),
                reason: "kind must be node, user or tool".to_owned(),
            }),
        }
    }
}

/// Who holds a certificate: a node, a user or a tool, with a validated name.
///
/// Displayed (and parsed by [`FromStr`]) as `node/<id>`, `user/<name>` or
/// `tool/<name>`; encoded in certificates as the URI returned by
/// [`Identity::to_uri`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    /// The kind of holder.
    pub kind: IdentityKind,
    /// The node ID (20 digits) or the user/tool name (`[a-z0-9._-]{1,64}`).
    pub name: String,
}

impl Identity {
    /// Builds and validates an identity of any kind.
    pub fn new(kind: IdentityKind, name: impl Into<String>) -> Result<Self, PkiError> {
        let name = name.into();
        validate_name(kind, &name)?;
        Ok(Identity { kind, name })
    }

    /// A node identity; `id` must be exactly 20 ASCII digits.
    pub fn node(id: impl Into<String>) -> Result<Self, PkiError> {
        Self::new(IdentityKind::Node, id)
    }

    /// A user identity; `name` must be 1..=64 chars of `[a-z0-9._-]`.
    pub fn user(name: impl Into<String>) -> Result<Self, PkiError> {
        Self::new(IdentityKind::User, name)
    }

    /// A tool identity; `name` must be 1..=64 chars of `[a-z0-9._-]`.
    pub fn tool(name: impl Into<String>) -> Result<Self, PkiError> {
        Self::new(IdentityKind::Tool, name)
    }

    /// True for node identities.
    pub fn is_node(&self) -> bool {
        self.kind == IdentityKind::Node
    }

    /// The URI SAN naming this identity in `trust_domain`:
    /// `spiffe://<trust_domain>/<kind>/<name>`.
    pub fn to_uri(&self, trust_domain: &str) -> String {
        format!("{SCHEME}{trust_domain}/{}/{}", self.kind, self.name)
    }

    /// Parses an identity URI, requiring it to be in `trust_domain`.
    pub fn from_uri(uri: &str, trust_domain: &str) -> Result<Self, PkiError> {
        let bad = |reason: &str| PkiError::InvalidIdentityUri {
            uri: uri.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = uri
            .strip_prefix(SCHEME)
            .ok_or_else(|| bad("scheme must be spiffe://"))?;
        let (domain, path) = rest
            .split_once('/')
            .ok_or_else(|| bad("missing path (expected /<kind>/<name>)"))?;
        if domain != trust_domain {
            return Err(PkiError::WrongTrustDomain {
                uri: uri.to_owned(),
                expected: trust_domain.to_owned(),
            });
        }
        let (kind, name) = path
            .split_once('/')
            .ok_or_else(|| bad("path must be /<kind>/<name>"))?;
        let kind: IdentityKind = kind
            .parse()
            .map_err(|_| bad("kind must be node, user or tool"))?;
        Identity::new(kind, name).map_err(|e| match e {
            PkiError::InvalidIdentity { reason, .. } => bad(&reason),
            other => other,
        })
    }

    /// The trust domain named by an identity URI, without validating the rest.
    pub fn trust_domain_of_uri(uri: &str) -> Option<&str> {
        uri.strip_prefix(SCHEME)
            .and_then(|rest| rest.split_once('/'))
            .map(|(domain, _)| domain)
    }

    /// The file stem used by [`crate::ca::issue`]: `<kind>-<name>`.
    pub fn file_stem(&self) -> String {
        format!("{}-{}", self.kind, self.name)
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

impl FromStr for Identity {
    type Err = PkiError;

    /// Parses the display form `node/<id>`, `user/<name>` or `tool/<name>`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, name) = s.split_once('/').ok_or_else(|| PkiError::InvalidIdentity {
            input: s.to_owned(),
            reason: "expected <kind>/<name>, e.g. node/54050000001320000001".to_owned(),
        })?;
        let kind: IdentityKind = kind.parse().map_err(|_| PkiError::InvalidIdentity {
            input: s.to_owned(),
            reason: "kind must be node, user or tool".to_owned(),
        })?;
        Identity::new(kind, name).map_err(|e| match e {
            PkiError::InvalidIdentity { reason, .. } => PkiError::InvalidIdentity {
                input: s.to_owned(),
                reason,
            },
            other => other,
        })
    }
}

fn validate_name(kind: IdentityKind, name: &str) -> Result<(), PkiError> {
    let bad = |reason: String| PkiError::InvalidIdentity {
        input: format!("{kind}/{name}"),
        reason,
    };
    match kind {
        IdentityKind::Node => {
            if name.len() != NODE_ID_LEN || !name.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(format!(
                    "a node ID must be exactly {NODE_ID_LEN} ASCII digits (GB/T 28181 code), got {} characters",
                    name.chars().count()
                )));
            }
        }
        IdentityKind::User | IdentityKind::Tool => {
            if name.is_empty() || name.len() > MAX_NAME_LEN {
                return Err(bad(format!(
                    "a {kind} name must be 1 to {MAX_NAME_LEN} characters long"
                )));
            }
            if let Some(c) = name.chars().find(|c| !is_name_char(*c)) {
                return Err(bad(format!(
                    "character {c:?} is not allowed (use a-z, 0-9, '.', '_', '-')"
                )));
            }
        }
    }
    Ok(())
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
}

/// Checks a trust domain: 1..=255 chars of `[a-z0-9.-_]`, not starting or
/// ending with `.` or `-`.
pub fn validate_trust_domain(domain: &str) -> Result<(), PkiError> {
    let bad = |reason: &str| PkiError::InvalidTrustDomain {
        domain: domain.to_owned(),
        reason: reason.to_owned(),
    };
    if domain.is_empty() || domain.len() > 255 {
        return Err(bad("must be 1 to 255 characters long"));
    }
    if !domain
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'))
    {
        return Err(bad("only a-z, 0-9, '.', '-' and '_' are allowed"));
    }
    if domain.starts_with(['.', '-']) || domain.ends_with(['.', '-']) {
        return Err(bad("must not start or end with '.' or '-'"));
    }
    Ok(())
}

/// All URI SANs of a DER certificate, plus its subject (for messages).
pub(crate) fn uri_sans(der: &[u8]) -> Result<(Vec<String>, String), PkiError> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| PkiError::BadCertificate {
            reason: e.to_string(),
        })?;
    let subject = cert.subject().to_string();
    let sans = cert
        .subject_alternative_name()
        .map_err(|e| PkiError::BadCertificate {
            reason: format!("bad subjectAltName extension: {e}"),
        })?;
    let uris = sans
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|gn| match gn {
                    x509_parser::extensions::GeneralName::URI(u) => Some((*u).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok((uris, subject))
}

/// Extracts the holder identity from a DER certificate: it must carry
/// exactly one URI SAN, and that URI must be a valid identity in
/// `trust_domain`.
pub fn identity_from_cert_der(der: &[u8], trust_domain: &str) -> Result<Identity, PkiError> {
    let (uris, subject) = uri_sans(der)?;
    match uris.as_slice() {
        [] => Err(PkiError::NoIdentity { subject }),
        [uri] => Identity::from_uri(uri, trust_domain),
        many => Err(PkiError::MultipleIdentities {
            subject,
            count: many.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const TD: &str = "vfed.test";

    #[test]
    fn node_ids() {
        assert!(Identity::node("54050000001320000001").is_ok());
        for bad in [
            "",
            "5405000000132000000",
            "540500000013200000011",
            "5405000000132000000a",
            "54050000001320000001 ",
            "５４050000001320000001",
        ] {
            let err = Identity::node(bad).unwrap_err();
            assert!(
                matches!(err, PkiError::InvalidIdentity { .. }),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn names() {
        assert!(Identity::user("alice").is_ok());
        assert!(Identity::tool("vfedctl").is_ok());
        assert!(Identity::tool("site-sim_1.2").is_ok());
        assert!(Identity::user("a".repeat(64)).is_ok());
        for bad in ["", "Alice", "a b", "a/b", "é", &"a".repeat(65)] {
            assert!(Identity::user(bad).is_err(), "{bad:?}");
            assert!(Identity::tool(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn uri_round_trip() {
        let id = Identity::node("54050000001320000001").unwrap();
        let uri = id.to_uri(TD);
        assert_eq!(uri, "spiffe://vfed.test/node/54050000001320000001");
        assert_eq!(Identity::from_uri(&uri, TD).unwrap(), id);
        let u = Identity::user("bob").unwrap();
        assert_eq!(Identity::from_uri(&u.to_uri(TD), TD).unwrap(), u);
    }

    #[test]
    fn bad_uris() {
        let wrong_domain = Identity::from_uri("spiffe://other/node/54050000001320000001", TD);
        assert!(matches!(
            wrong_domain,
            Err(PkiError::WrongTrustDomain { .. })
        ));
        for bad in [
            "https://vfed.test/node/54050000001320000001",
            "spiffe://vfed.test",
            "spiffe://vfed.test/node",
            "spiffe://vfed.test/node/123",
            "spiffe://vfed.test/admin/bob",
            "spiffe://vfed.test/user/bob/extra",
            "spiffe://vfed.test/user/Bob",
            "spiffe://vfed.test/user/",
        ] {
            let err = Identity::from_uri(bad, TD).unwrap_err();
            assert!(
                matches!(err, PkiError::InvalidIdentityUri { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn display_and_from_str() {
        let id: Identity = "node/54050000001320000001".parse().unwrap();
        assert_eq!(id.kind, IdentityKind::Node);
        assert_eq!(id.to_string(), "node/54050000001320000001");
        let t: Identity = "tool/vfedctl".parse().unwrap();
        assert_eq!(t, Identity::tool("vfedctl").unwrap());
        assert_eq!(t.file_stem(), "tool-vfedctl");
        for bad in ["node", "node/1", "admin/x", "/x", "user/", "user/A"] {
            let err = bad.parse::<Identity>().unwrap_err();
            assert!(err.to_string().contains(bad), "{bad}: {err}");
        }
    }

    #[test]
    fn trust_domains() {
        assert!(validate_trust_domain("vfed.example").is_ok());
        assert!(validate_trust_domain("lab_1").is_ok());
        for bad in ["", "Vfed", "a/b", ".a", "a-", "a b"] {
            assert!(validate_trust_domain(bad).is_err(), "{bad:?}");
        }
    }
}
