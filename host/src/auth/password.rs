//! Password hashing with argon2id (the argon2 crate's defaults: 19 MiB, 2 passes, 1 lane),
//! salts from the operating system, hashes in the PHC string format.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use super::AuthError;

/// Shortest password accepted.
pub const MIN_LEN: usize = 12;

/// Checks a new password against the policy.
pub fn check_policy(password: &str) -> Result<(), AuthError> {
    if password.chars().count() < MIN_LEN {
        return Err(AuthError::Invalid(format!(
            "a password needs at least {MIN_LEN} characters"
        )));
    }
    if password.len() > 1024 {
        return Err(AuthError::Invalid(
            "a password is at most 1024 bytes".into(),
        ));
    }
    Ok(())
}

/// The argon2id hash of a password, as a PHC string.
pub fn hash(password: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|e| AuthError::Invalid(format!("no randomness from the operating system: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Invalid(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Invalid(format!("cannot hash the password: {e}")))
}

/// Whether `password` matches the stored hash (a malformed hash never matches).
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_salted_argon2id_and_verify() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(verify("correct horse battery", &a));
        assert!(!verify("correct horse batterY", &a));
        assert!(!verify("x", "not a hash"));
        assert!(check_policy("short").is_err());
        assert!(check_policy("long enough pass").is_ok());
    }
}
