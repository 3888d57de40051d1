//! Dashboard sessions: a login checks the password (argon2id) under a per-account limit on
//! failures, and returns a session secret for an HttpOnly cookie plus a CSRF token the pages
//! send back in a header. Only the session secret's sha256 is stored.

use std::collections::HashMap;
use std::sync::Mutex;

use sqlx::Row;

use crate::store::{Store, now_ms};

use super::users::{self, Principal};
use super::{AuthError, digest, password, secret};

/// How long a session lasts.
pub const SESSION_MS: i64 = 12 * 3600 * 1000;
/// Failed logins per account within [`WINDOW_MS`] before logins are refused.
pub const MAX_FAILURES: usize = 5;
/// The failure window.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;

/// Failed logins per account, in this process.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Vec<i64>>>,
}

impl LoginLimiter {
    fn check(&self, username: &str, now: i64) -> Result<(), AuthError> {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let list = f.entry(username.to_string()).or_default();
        list.retain(|t| now - t < WINDOW_MS);
        if list.len() >= MAX_FAILURES {
            return Err(AuthError::RateLimited(username.to_string()));
        }
        Ok(())
    }

    fn fail(&self, username: &str, now: i64) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        f.entry(username.to_string()).or_default().push(now);
    }

    fn clear(&self, username: &str) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        f.remove(username);
    }
}

/// A new session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The secret for the session cookie.
    pub secret: String,
    /// The CSRF token the pages send in `X-CSRF-Token`.
    pub csrf: String,
    /// Who.
    pub principal: Principal,
}

/// Checks a user name and password; on success starts a session.
pub async fn login(
    store: &Store,
    limiter: &LoginLimiter,
    username: &str,
    pass: &str,
) -> Result<Session, AuthError> {
    let now = now_ms();
    limiter.check(username, now)?;
    let found = users::by_name(store, username).await?;
    // Without the user, verify against a throw-away hash anyway so both cases take as long.
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let ok = match &found {
        Some((_, hash)) => password::verify(pass, hash),
        None => {
            let dummy = DUMMY.get_or_init(|| {
                password::hash("no such user, no such password").unwrap_or_default()
            });
            password::verify(pass, dummy);
            false
        }
    };
    let Some((principal, _)) = found.filter(|_| ok) else {
        limiter.fail(username, now);
        return Err(AuthError::Unauthenticated);
    };
    limiter.clear(username);
    let (token, csrf) = (secret("svs_")?, secret("")?);
    sqlx::query("INSERT INTO sessions (token_hash, user_id, csrf, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5)")
        .bind(digest(&token))
        .bind(principal.id)
        .bind(&csrf)
        .bind(now)
        .bind(now + SESSION_MS)
        .execute(store.pool())
        .await?;
    Ok(Session {
        secret: token,
        csrf,
        principal,
    })
}

/// The user and CSRF token of a live session.
pub async fn authenticate(store: &Store, token: &str) -> Result<(Principal, String), AuthError> {
    let row = sqlx::query(
        "SELECT user_id, csrf FROM sessions WHERE token_hash = $1 AND expires_at_ms > $2",
    )
    .bind(digest(token))
    .bind(now_ms())
    .fetch_optional(store.pool())
    .await?
    .ok_or(AuthError::Unauthenticated)?;
    let (user, csrf): (i64, String) = (row.try_get(0)?, row.try_get(1)?);
    let p = users::by_id(store, user)
        .await?
        .ok_or(AuthError::Unauthenticated)?;
    Ok((p, csrf))
}

/// Ends a session.
pub async fn logout(store: &Store, token: &str) -> Result<(), AuthError> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(digest(token))
        .execute(store.pool())
        .await?;
    Ok(())
}
