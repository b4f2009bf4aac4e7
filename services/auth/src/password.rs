//! Password hashing with Argon2id (the crate's default parameters, a fresh
//! random salt per hash, PHC string format).

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Argon2, PasswordHash};

use crate::error::AuthError;

/// Hashes `password` into a PHC string.
pub fn hash(password: &str) -> Result<String, AuthError> {
    let salt: [u8; 16] = rand::random();
    let hashed: PasswordHash = Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|e| AuthError::Internal(format!("hashing a password: {e}")))?;
    Ok(hashed.to_string())
}

/// Whether `password` matches the PHC string `phc`.
pub fn verify(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn hash_then_verify() {
        let phc = super::hash("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(super::verify("correct horse battery", &phc));
        assert!(!super::verify("wrong horse battery", &phc));
        assert!(!super::verify("x", "not a phc string"));
    }
}
