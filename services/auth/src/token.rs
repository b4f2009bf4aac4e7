//! Short-lived signed tokens: `vfed1.<claims>.<mac>`, both parts base64url
//! without padding; the claims are JSON, the MAC is HMAC-SHA256 under the
//! node's token key (kept in the store, so every replica of a node accepts
//! the tokens any of them issued). A token names its account and times; the
//! account itself (role, disabled) is read fresh on every call.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::AuthError;

const PREFIX: &str = "vfed1.";

/// What a token says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The account name.
    pub sub: String,
    /// Issuing node.
    pub iss: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
}

/// The key tokens are signed with.
#[derive(Clone)]
pub struct TokenKey {
    key: [u8; 32],
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        TokenKey {
            key: rand::random(),
        }
    }

    /// From its stored bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AuthError> {
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| AuthError::Internal("stored token key is not 32 bytes".into()))?;
        Ok(TokenKey { key })
    }

    /// Its bytes, for the store.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key
    }

    fn mac(&self, data: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length; 32 bytes cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(data);
        mac
    }

    /// Signs `claims` into a token.
    pub fn issue(&self, claims: &Claims) -> Result<String, AuthError> {
        let json = serde_json::to_vec(claims)
            .map_err(|e| AuthError::Internal(format!("encoding token claims: {e}")))?;
        let body = B64.encode(json);
        let tag = self.mac(body.as_bytes()).finalize().into_bytes();
        Ok(format!("{PREFIX}{body}.{}", B64.encode(tag)))
    }

    /// Checks a token's MAC and expiry at `now` and returns its claims.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, AuthError> {
        let bad = || AuthError::Unauthenticated("malformed or forged token".into());
        let rest = token.strip_prefix(PREFIX).ok_or_else(bad)?;
        let (body, tag) = rest.split_once('.').ok_or_else(bad)?;
        let tag = B64.decode(tag).map_err(|_| bad())?;
        self.mac(body.as_bytes())
            .verify_slice(&tag)
            .map_err(|_| bad())?;
        let json = B64.decode(body).map_err(|_| bad())?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| bad())?;
        if claims.exp <= now {
            return Err(AuthError::Unauthenticated(format!(
                "token expired {} s ago; log in again (vfedctl login)",
                now.saturating_sub(claims.exp)
            )));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: "alice".into(),
            iss: "node".into(),
            iat: 100,
            exp,
        }
    }

    #[test]
    fn round_trip_and_expiry() {
        let key = TokenKey::generate();
        let token = key.issue(&claims(200)).unwrap();
        assert_eq!(key.verify(&token, 150).unwrap(), claims(200));
        let e = key.verify(&token, 200).unwrap_err();
        assert!(e.to_string().contains("expired"), "{e}");
    }

    #[test]
    fn forgery_is_refused() {
        let key = TokenKey::generate();
        let token = key.issue(&claims(200)).unwrap();
        assert!(TokenKey::generate().verify(&token, 150).is_err());
        let body = B64.encode(
            serde_json::to_vec(&Claims {
                sub: "root".into(),
                ..claims(200)
            })
            .unwrap(),
        );
        let tag = token.rsplit('.').next().unwrap();
        let forged = format!("{PREFIX}{body}.{tag}");
        assert!(key.verify(&forged, 150).is_err());
        for junk in [
            "",
            "vfed1.",
            "vfed1.a.b",
            "x.y.z",
            &token[..token.len() - 2],
        ] {
            assert!(key.verify(junk, 150).is_err(), "{junk}");
        }
    }
}
