//! The token key's file. The key that signs login tokens is kept outside the
//! store (docs/security.md, "where the token key lives"): whoever reads the
//! store (a backup, an etcd client, a local user if the store file's mode is
//! wrong) must not be able to sign an admin token.
//!
//! Format: one line `vfed-token-key-v1 <32 bytes, base64url>`; mode 0600.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use crate::error::AuthError;
use crate::token::TokenKey;

const TAG: &str = "vfed-token-key-v1";

/// Reads the key at `path`, or creates one there (mode 0600) on first start.
pub fn load_or_create_token_key(path: &Path) -> Result<TokenKey, AuthError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(path),
        Err(e) => Err(unusable(path, &e.to_string())),
    }
}

fn unusable(path: &Path, why: &str) -> AuthError {
    AuthError::Internal(format!("auth.token_key: {}: {why}", path.display()))
}

fn parse(path: &Path, text: &str) -> Result<TokenKey, AuthError> {
    let encoded = text
        .trim_end()
        .strip_prefix(TAG)
        .and_then(|rest| rest.strip_prefix(' '))
        .ok_or_else(|| {
            unusable(
                path,
                &format!("not a token key file (expected `{TAG} <key>`)"),
            )
        })?;
    let bytes = B64
        .decode(encoded)
        .map_err(|e| unusable(path, &format!("key is not base64url: {e}")))?;
    TokenKey::from_bytes(&bytes).map_err(|_| unusable(path, "key is not 32 bytes"))
}

fn create(path: &Path) -> Result<TokenKey, AuthError> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        vfed_private_fs::create_dir_all(dir).map_err(|e| unusable(path, &e.to_string()))?;
    }
    let key = TokenKey::generate();
    let line = format!("{TAG} {}\n", B64.encode(key.to_bytes()));
    let written = vfed_private_fs::create_new(path).and_then(|mut file| {
        use std::io::Write as _;
        file.write_all(line.as_bytes())?;
        file.sync_all()
    });
    match written {
        Ok(()) => {
            tracing::info!(path = %path.display(), "token key created");
            Ok(key)
        }
        // Another process of this node made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path).map_err(|e| unusable(path, &e.to_string()))?;
            parse(path, &text)
        }
        Err(e) => Err(unusable(path, &e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn created_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/token.key");
        let key = load_or_create_token_key(&path).unwrap();
        assert_eq!(vfed_private_fs::mode_of(&path).unwrap(), 0o600);
        let again = load_or_create_token_key(&path).unwrap();
        assert_eq!(key.to_bytes(), again.to_bytes());
        std::fs::write(&path, "junk\n").unwrap();
        let e = load_or_create_token_key(&path).unwrap_err().to_string();
        assert!(
            e.contains("auth.token_key") && e.contains("not a token key file"),
            "{e}"
        );
    }
}
