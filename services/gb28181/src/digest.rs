//! HTTP digest (RFC 2617 / RFC 3261 §22) as GB/T 28181 devices send it,
//! checked the tolerant way: `algorithm` absent or `MD5`; `qop=auth` or no
//! qop; the `uri` whatever the device signed (Hikvision NVRs sign
//! `sip:<server id>@<domain>`); the username whatever the device sent
//! (devices without a username field send their own ID).
//!
//! Nonces are stateless: a timestamp and a keyed hash of it and the device
//! ID, so a REGISTER flood holds no memory.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use md5::{Digest as _, Md5};
use sha2::{Digest as _, Sha256};

/// Why an Authorization header cannot be checked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// Not `Digest` credentials.
    #[error("Authorization: scheme must be Digest")]
    Scheme,
    /// A parameter is malformed or missing.
    #[error("Authorization: parameter {name}: {reason}")]
    Param {
        /// The parameter.
        name: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// An algorithm other than MD5.
    #[error("Authorization: algorithm {0:?} is not supported (MD5 only)")]
    Algorithm(String),
    /// A qop other than auth.
    #[error("Authorization: qop {0:?} is not supported (auth only)")]
    Qop(String),
}

/// Digest credentials from an Authorization header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `username`.
    pub username: String,
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `uri` as the device signed it.
    pub uri: String,
    /// `response` (32 hex digits).
    pub response: String,
    /// `algorithm`, if given.
    pub algorithm: Option<String>,
    /// `qop`, if given.
    pub qop: Option<String>,
    /// `nc`, with qop.
    pub nc: Option<String>,
    /// `cnonce`, with qop.
    pub cnonce: Option<String>,
}

/// Longest Authorization value read.
const MAX_VALUE: usize = 2048;

impl Credentials {
    /// Parses `Digest username="..", realm="..", ...`.
    pub fn parse(value: &str) -> Result<Self, DigestError> {
        let value = value.trim();
        if value.len() > MAX_VALUE {
            return Err(DigestError::Param {
                name: "Authorization",
                reason: "longer than 2048 bytes",
            });
        }
        let (scheme, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("digest") {
            return Err(DigestError::Scheme);
        }
        let mut credentials = Self::default();
        for (key, val) in auth_params(rest) {
            let slot = match key.to_ascii_lowercase().as_str() {
                "username" => &mut credentials.username,
                "realm" => &mut credentials.realm,
                "nonce" => &mut credentials.nonce,
                "uri" => &mut credentials.uri,
                "response" => &mut credentials.response,
                "algorithm" => {
                    credentials.algorithm = Some(val);
                    continue;
                }
                "qop" => {
                    credentials.qop = Some(val);
                    continue;
                }
                "nc" => {
                    credentials.nc = Some(val);
                    continue;
                }
                "cnonce" => {
                    credentials.cnonce = Some(val);
                    continue;
                }
                _ => continue,
            };
            *slot = val;
        }
        for (name, value) in [
            ("username", &credentials.username),
            ("nonce", &credentials.nonce),
            ("uri", &credentials.uri),
            ("response", &credentials.response),
        ] {
            if value.is_empty() {
                return Err(DigestError::Param {
                    name,
                    reason: "required",
                });
            }
        }
        if credentials.response.len() != 32
            || !credentials.response.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(DigestError::Param {
                name: "response",
                reason: "must be 32 hex digits (MD5)",
            });
        }
        if let Some(algorithm) = &credentials.algorithm
            && !algorithm.eq_ignore_ascii_case("md5")
        {
            return Err(DigestError::Algorithm(algorithm.clone()));
        }
        match credentials.qop.as_deref() {
            None => {}
            Some(qop) if qop.eq_ignore_ascii_case("auth") => {}
            Some(other) => return Err(DigestError::Qop(other.to_owned())),
        }
        if credentials.qop.is_some() && (credentials.nc.is_none() || credentials.cnonce.is_none()) {
            return Err(DigestError::Param {
                name: "cnonce",
                reason: "nc and cnonce are required with qop=auth",
            });
        }
        Ok(credentials)
    }

    /// Whether these credentials prove `password` for `method`.
    pub fn verify(&self, method: &str, password: &str) -> bool {
        let expected = self.expected(method, password);
        constant_time_eq(
            expected.as_bytes(),
            self.response.to_ascii_lowercase().as_bytes(),
        )
    }

    /// The response a device knowing `password` sends.
    pub fn expected(&self, method: &str, password: &str) -> String {
        let ha1 = md5_hex(&format!("{}:{}:{}", self.username, self.realm, password));
        let ha2 = md5_hex(&format!("{method}:{}", self.uri));
        match (&self.qop, &self.nc, &self.cnonce) {
            (Some(qop), Some(nc), Some(cnonce)) => {
                md5_hex(&format!("{ha1}:{}:{nc}:{cnonce}:{qop}:{ha2}", self.nonce))
            }
            _ => md5_hex(&format!("{ha1}:{}:{ha2}", self.nonce)),
        }
    }
}

/// Splits `a="x, y", b=z` into pairs, honouring quotes and escapes.
pub(crate) fn auth_params(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    while pairs.len() < 32 {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() && chars.peek().is_none() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(escaped) = chars.next() {
                                value.push(escaped);
                            }
                        }
                        '"' => break,
                        other => value.push(other),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        pairs.push((key.trim().to_owned(), value.trim().to_owned()));
    }
    pairs
}

/// Lower-case hex MD5 of `text`.
pub fn md5_hex(text: &str) -> String {
    hex(&Md5::digest(text.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Issues and checks stateless nonces bound to one device.
#[derive(Clone)]
pub struct Nonces {
    secret: [u8; 32],
    max_age: Duration,
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nonces")
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

impl Nonces {
    /// Nonces valid for `max_age`, keyed by a fresh random secret.
    pub fn new(max_age: Duration) -> Self {
        Self {
            secret: rand::random(),
            max_age,
        }
    }

    /// A nonce for `device_id`, now.
    pub fn issue(&self, device_id: &str) -> String {
        self.issue_at(device_id, unix_now())
    }

    fn issue_at(&self, device_id: &str, at: u64) -> String {
        format!("{at:016x}{}", self.mac(device_id, at))
    }

    /// Whether `nonce` was issued by this node for `device_id` and is fresh.
    pub fn check(&self, device_id: &str, nonce: &str) -> bool {
        if nonce.len() != 48 || !nonce.is_ascii() {
            return false;
        }
        let Ok(at) = u64::from_str_radix(&nonce[..16], 16) else {
            return false;
        };
        let now = unix_now();
        if at > now.saturating_add(5) || now.saturating_sub(at) > self.max_age.as_secs() {
            return false;
        }
        constant_time_eq(self.mac(device_id, at).as_bytes(), &nonce.as_bytes()[16..])
    }

    fn mac(&self, device_id: &str, at: u64) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.secret);
        hasher.update(at.to_be_bytes());
        hasher.update(device_id.as_bytes());
        hex(&hasher.finalize()[..16])
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn rfc2617_example() {
        // RFC 2617 §3.5.
        let credentials = Credentials::parse(
            "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", \
             qop=auth, nc=00000001, cnonce=\"0a4f113b\", \
             response=\"6629fae49393a05397450978507c4ef1\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        assert!(credentials.verify("GET", "Circle Of Life"));
        assert!(!credentials.verify("GET", "circle of life"));
    }

    #[test]
    fn refuses_what_it_cannot_check() {
        let base = "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"00000000000000000000000000000000\"";
        assert!(Credentials::parse(base).is_ok());
        assert_eq!(
            Credentials::parse(&format!("{base}, algorithm=SHA-256")),
            Err(DigestError::Algorithm("SHA-256".into()))
        );
        assert!(Credentials::parse("Basic abc").is_err());
        assert!(Credentials::parse("Digest username=\"a\"").is_err());
        assert!(Credentials::parse(&format!("{base}, qop=auth")).is_err());
    }

    #[test]
    fn nonces_bind_the_device_and_expire() {
        let nonces = Nonces::new(Duration::from_secs(60));
        let nonce = nonces.issue("34020000001320000001");
        assert!(nonces.check("34020000001320000001", &nonce));
        assert!(!nonces.check("34020000001320000002", &nonce));
        let old = nonces.issue_at("34020000001320000001", unix_now() - 120);
        assert!(!nonces.check("34020000001320000001", &old));
        assert!(!nonces.check("34020000001320000001", "garbage"));
    }
}
