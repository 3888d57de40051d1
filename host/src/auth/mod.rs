//! Users, roles and credentials: argon2id password hashes, dashboard sessions with a CSRF
//! token, bearer API tokens (only their sha256 is stored; listable, revocable, expiring), and
//! a per-account limit on failed logins. A user acts for one office and sees that office's
//! region subtree; the role says what they may do there.

pub mod password;
pub mod sessions;
pub mod tokens;
pub mod users;

use sha2::{Digest, Sha256};

use crate::registry::RegistryError;
use crate::store::StoreError;

pub use users::{Principal, Role};

/// Why an authentication or user action failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong user name or password, or an unknown, expired or revoked credential. Never says
    /// which, so that accounts cannot be probed.
    #[error("unknown user name or wrong password, or the credential expired or was revoked")]
    Unauthenticated,
    /// Too many failed logins for this account; try again later.
    #[error("too many failed logins for `{0}`: try again in 15 minutes")]
    RateLimited(String),
    /// The actor may not do this.
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// It clashes with what exists (a name taken).
    #[error("{0}")]
    Conflict(String),
    /// A named thing does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AuthError {
    fn from(e: sqlx::Error) -> Self {
        AuthError::Store(StoreError::Db(e))
    }
}

impl From<RegistryError> for AuthError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::NotFound(s) => AuthError::NotFound(s),
            RegistryError::Forbidden(s) => AuthError::Forbidden(s),
            RegistryError::Store(s) => AuthError::Store(s),
            other => AuthError::Invalid(other.to_string()),
        }
    }
}

/// 32 random bytes as hex, with a prefix that says what the secret is.
pub(crate) fn secret(prefix: &str) -> Result<String, AuthError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b)
        .map_err(|e| AuthError::Invalid(format!("no randomness from the operating system: {e}")))?;
    Ok(format!("{prefix}{}", hex::encode(b)))
}

/// sha256 of a secret, hex: what the store keeps instead of the secret.
pub(crate) fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
