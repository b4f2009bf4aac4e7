//! Ed25519 keys for signing checkpoints, in the C2SP signed-note key formats.
//!
//! - key name: the log's origin (the node id) for a node, the parent's id for a witness;
//! - key id: the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key);
//! - private key file (mode 0600): `PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || seed)>`;
//! - public (verifier) key: `<name>+<key id hex>+<base64(0x01 || public key)>`.

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer};
use sha2::{Digest, Sha256};

use crate::error::{AuditError, Result};

/// Signature-type byte of Ed25519 in signed notes.
const ALG_ED25519: u8 = 0x01;

/// Computes the 4-byte C2SP key id of an Ed25519 key.
pub fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public);
    let d: [u8; 32] = h.finalize().into();
    [d[0], d[1], d[2], d[3]]
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '+')
    {
        return Err(AuditError::BadKey(format!(
            "key name {name:?} must be non-empty, without spaces or '+'"
        )));
    }
    Ok(())
}

fn hex4(id: &[u8; 4]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes the `<base64(0x01 || 32 bytes)>` part of a key string; callers check the id.
fn decode_parts(name: &str, b64: &str) -> Result<[u8; 32]> {
    check_name(name)?;
    let raw = B64
        .decode(b64)
        .map_err(|e| AuditError::BadKey(format!("key material is not base64: {e}")))?;
    let (alg, key) = raw
        .split_first()
        .ok_or_else(|| AuditError::BadKey("empty key material".into()))?;
    if *alg != ALG_ED25519 {
        return Err(AuditError::BadKey(format!(
            "unsupported key type {alg:#04x}"
        )));
    }
    let key: [u8; 32] = key
        .try_into()
        .map_err(|_| AuditError::BadKey(format!("Ed25519 key of {} bytes", key.len())))?;
    Ok(key)
}

/// A node's or witness's checkpoint signing key.
#[derive(Clone)]
pub struct SigningKey {
    name: String,
    inner: ed25519_dalek::SigningKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("SigningKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a fresh key from the operating system's random source.
    pub fn generate(name: &str) -> Result<Self> {
        use rand::TryRngCore;
        check_name(name)?;
        let mut seed = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut seed)
            .map_err(|e| AuditError::BadKey(format!("no randomness: {e}")))?;
        Self::from_seed(name, seed)
    }

    /// Builds a key from a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self> {
        check_name(name)?;
        Ok(SigningKey {
            name: name.to_owned(),
            inner: ed25519_dalek::SigningKey::from_bytes(&seed),
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            name: self.name.clone(),
            inner: self.inner.verifying_key(),
        }
    }

    /// Signs `message` with Ed25519.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.inner.sign(message).to_bytes()
    }

    /// The private key in its text form (keep it secret).
    pub fn to_private_string(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.inner.as_bytes());
        let id = key_id(&self.name, &self.inner.verifying_key().to_bytes());
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            hex4(&id),
            B64.encode(raw)
        )
    }

    /// Parses the private key text form.
    pub fn parse_private(text: &str) -> Result<Self> {
        let text = text.trim();
        let rest = text
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| AuditError::BadKey("private key must start with PRIVATE+KEY+".into()))?;
        let parts: Vec<&str> = rest.splitn(3, '+').collect();
        let [name, id_hex, b64] = parts.as_slice() else {
            return Err(AuditError::BadKey(
                "private key must have name, id and key".into(),
            ));
        };
        let seed = decode_parts(name, b64)?;
        let key = Self::from_seed(name, seed)?;
        let id = key_id(name, &key.inner.verifying_key().to_bytes());
        if hex4(&id) != *id_hex {
            return Err(AuditError::BadKey("key id does not match the key".into()));
        }
        Ok(key)
    }

    /// Writes the key to a new file readable only by its owner (0600); refuses to overwrite.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut file = vfed_private_fs::create_new(path)
            .map_err(|e| AuditError::io("creating key file", path, e))?;
        file.write_all(format!("{}\n", self.to_private_string()).as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| AuditError::io("writing key file", path, e))
    }

    /// Reads a key file written by [`SigningKey::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| AuditError::io("reading key file", path, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = std::fs::metadata(path)
                && meta.permissions().mode() & 0o077 != 0
            {
                tracing::warn!(path = %path.display(), "audit signing key file is readable by others");
            }
        }
        Self::parse_private(&text)
    }

    /// Loads the key at `path`, or generates one named `name` and saves it there.
    pub fn load_or_generate(path: &Path, name: &str) -> Result<Self> {
        if path.exists() {
            let key = Self::load(path)?;
            if key.name != name {
                return Err(AuditError::BadKey(format!(
                    "key file {} is for {:?}, not {name:?}",
                    path.display(),
                    key.name
                )));
            }
            Ok(key)
        } else {
            let key = Self::generate(name)?;
            key.save(path)?;
            Ok(key)
        }
    }
}

/// The public (verifier) key of a [`SigningKey`].
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    name: String,
    inner: ed25519_dalek::VerifyingKey,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl PublicKey {
    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte key id used in signature lines.
    pub fn key_id(&self) -> [u8; 4] {
        key_id(&self.name, &self.inner.to_bytes())
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.inner.to_bytes()
    }

    /// Whether `signature` is a valid (strict) Ed25519 signature of `message` by this key.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = <[u8; 64]>::try_from(signature) else {
            return false;
        };
        self.inner
            .verify_strict(message, &Signature::from_bytes(&sig))
            .is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(&self.inner.to_bytes());
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex4(&self.key_id()),
            B64.encode(raw)
        )
    }
}

impl FromStr for PublicKey {
    type Err = AuditError;

    fn from_str(text: &str) -> Result<Self> {
        let parts: Vec<&str> = text.trim().splitn(3, '+').collect();
        let [name, id_hex, b64] = parts.as_slice() else {
            return Err(AuditError::BadKey(
                "public key must be <name>+<id>+<key>".into(),
            ));
        };
        let bytes = decode_parts(name, b64)?;
        let inner = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map_err(|e| AuditError::BadKey(format!("not an Ed25519 point: {e}")))?;
        let key = PublicKey {
            name: (*name).to_owned(),
            inner,
        };
        if hex4(&key.key_id()) != *id_hex {
            return Err(AuditError::BadKey("key id does not match the key".into()));
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys_round_trip_through_text_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        let key = SigningKey::load_or_generate(&path, "city-1").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = SigningKey::load_or_generate(&path, "city-1").unwrap();
        assert_eq!(again.public_key(), key.public_key());
        assert!(SigningKey::load_or_generate(&path, "other").is_err());
        assert!(key.save(&path).is_err(), "save must not overwrite");

        let public: PublicKey = key.public_key().to_string().parse().unwrap();
        assert_eq!(public, key.public_key());
        let sig = key.sign(b"hello");
        assert!(public.verify(b"hello", &sig));
        assert!(!public.verify(b"hellO", &sig));
        assert!(!format!("{key:?}").contains(&key.to_private_string()));
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(SigningKey::generate("has space").is_err());
        assert!("city+00000000+AQ==".parse::<PublicKey>().is_err());
        let key = SigningKey::generate("n").unwrap();
        let text = key.public_key().to_string().replace("n+", "m+");
        assert!(text.parse::<PublicKey>().is_err(), "id must match the name");
    }
}
