//! Answering an upper's digest challenge (RFC 2617 / RFC 3261 §22.2):
//! MD5 only (absent `algorithm` means MD5), with `qop=auth` when the
//! challenge offers it, else the RFC 2069 form; `opaque` echoed.

use crate::digest::{Credentials, auth_params};

/// Why a challenge cannot be answered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    /// Not a Digest challenge, or no nonce.
    #[error("upper's challenge: {0}")]
    Malformed(&'static str),
    /// An algorithm other than MD5.
    #[error("upper's challenge asks algorithm {0:?} (MD5 only)")]
    Algorithm(String),
}

/// A digest challenge (WWW-Authenticate or Proxy-Authenticate).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Challenge {
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// Whether `qop` offers `auth`.
    pub qop_auth: bool,
    /// `opaque`, echoed.
    pub opaque: Option<String>,
}

impl Challenge {
    /// Reads a challenge header value (at most 2048 bytes).
    pub fn parse(value: &str) -> Result<Self, ChallengeError> {
        let value = value.trim();
        if value.len() > 2048 {
            return Err(ChallengeError::Malformed("longer than 2048 bytes"));
        }
        let (scheme, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("digest") {
            return Err(ChallengeError::Malformed("scheme must be Digest"));
        }
        let mut challenge = Self::default();
        for (key, val) in auth_params(rest) {
            match key.to_ascii_lowercase().as_str() {
                "realm" => challenge.realm = val,
                "nonce" => challenge.nonce = val,
                "opaque" => challenge.opaque = Some(val),
                "qop" => {
                    challenge.qop_auth = val
                        .split(',')
                        .any(|q| q.trim().eq_ignore_ascii_case("auth"));
                }
                "algorithm" if !val.eq_ignore_ascii_case("md5") => {
                    return Err(ChallengeError::Algorithm(val.chars().take(32).collect()));
                }
                _ => {}
            }
        }
        if challenge.nonce.is_empty() || challenge.nonce.len() > 256 {
            return Err(ChallengeError::Malformed(
                "nonce required, at most 256 bytes",
            ));
        }
        Ok(challenge)
    }

    /// The Authorization value for `method` `uri` as `username`.
    pub fn answer(&self, method: &str, uri: &str, username: &str, password: &str) -> String {
        let cnonce = format!("{:016x}", rand::random::<u64>());
        let credentials = Credentials {
            username: username.to_owned(),
            realm: self.realm.clone(),
            nonce: self.nonce.clone(),
            uri: uri.to_owned(),
            response: String::new(),
            algorithm: Some("MD5".into()),
            qop: self.qop_auth.then(|| "auth".to_owned()),
            nc: self.qop_auth.then(|| "00000001".to_owned()),
            cnonce: self.qop_auth.then(|| cnonce.clone()),
        };
        let response = credentials.expected(method, password);
        let mut value = format!(
            "Digest username=\"{username}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", \
             response=\"{response}\", algorithm=MD5",
            self.realm, self.nonce
        );
        if self.qop_auth {
            value.push_str(&format!(", cnonce=\"{cnonce}\", qop=auth, nc=00000001"));
        }
        if let Some(opaque) = &self.opaque {
            value.push_str(&format!(", opaque=\"{opaque}\""));
        }
        value
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn answers_verify_with_and_without_qop() {
        for header in [
            "Digest realm=\"4401000000\", nonce=\"abc123\", qop=\"auth\", algorithm=MD5, opaque=\"o1\"",
            "Digest realm=\"4401000000\", nonce=\"abc123\"",
        ] {
            let challenge = Challenge::parse(header).unwrap();
            let value = challenge.answer(
                "REGISTER",
                "sip:44010000002000000001@4401000000",
                "34020000002000000001",
                "pw",
            );
            let credentials = Credentials::parse(&value).unwrap();
            assert!(credentials.verify("REGISTER", "pw"), "{value}");
            assert!(!credentials.verify("REGISTER", "other"));
        }
        assert!(matches!(
            Challenge::parse("Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256"),
            Err(ChallengeError::Algorithm(_))
        ));
        assert!(Challenge::parse("Basic realm=\"r\"").is_err());
        assert!(Challenge::parse("Digest realm=\"r\"").is_err());
    }
}
