//! Password and robot-token hashing: argon2id with a random salt, PHC string format.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::accounts::Secret;

/// Hashes a secret with argon2id (the crate's default parameters: 19 MiB, 2 passes).
///
/// # Errors
/// Only if argon2 refuses its own parameters, which would be a bug.
pub fn hash(secret: &Secret) -> Result<String, String> {
    let salt: [u8; 16] = rand::random();
    Argon2::default()
        .hash_password_with_salt(secret.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `secret` matches the PHC `hash` (constant-time comparison inside argon2).
#[must_use]
pub fn verify(secret: &Secret, hash: &str) -> bool {
    Argon2::default().verify_password(secret.expose().as_bytes(), hash).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let s = Secret::password("correct horse".replace(' ', "-").as_str()).expect("valid");
        let h = hash(&s).expect("hash");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify(&s, &h));
        assert!(!verify(&Secret::presented("wrong-password"), &h));
        assert!(!verify(&s, "not a hash"));
        assert_ne!(hash(&s).expect("hash"), h, "salted");
    }
}
