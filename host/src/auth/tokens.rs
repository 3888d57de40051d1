//! Bearer API tokens for the CLI and scripts: shown once at creation, stored as their sha256,
//! listed without the secret, revocable, and expiring (90 days by default, at most a year).

use sqlx::Row;

use crate::store::{Store, audit, now_ms};

use super::users::{self, Principal, Role};
use super::{AuthError, digest, secret};

/// How finely "last used" is kept.
const USE_RESOLUTION_MS: i64 = 60_000;

/// Default lifetime in days.
pub const DEFAULT_DAYS: i64 = 90;

/// A token as listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    /// Id.
    pub id: i64,
    /// Whose.
    pub username: String,
    /// Its name.
    pub name: String,
    /// Created, ms since the epoch.
    pub created_at_ms: i64,
    /// Expires.
    pub expires_at_ms: i64,
    /// Revoked, if.
    pub revoked_at_ms: Option<i64>,
    /// Last used.
    pub last_used_ms: Option<i64>,
}

/// Creates a token for `by` (or, for admins, for another user); returns its id and the
/// secret, which is never shown again.
pub async fn create(
    store: &Store,
    by: &Principal,
    for_user: Option<&str>,
    name: &str,
    days: i64,
) -> Result<(i64, String), AuthError> {
    if name.trim().is_empty() || name.len() > 200 {
        return Err(AuthError::Invalid(
            "name the token (1 to 200 bytes), e.g. `nightly export`".into(),
        ));
    }
    if !(1..=365).contains(&days) {
        return Err(AuthError::Invalid(format!(
            "a token lives 1 to 365 days, not {days}"
        )));
    }
    let owner = match for_user {
        None => by.clone(),
        Some(u) if u == by.username => by.clone(),
        Some(u) if by.role == Role::Admin => users::by_name(store, u)
            .await?
            .map(|(p, _)| p)
            .ok_or_else(|| AuthError::NotFound(format!("active user `{u}`")))?,
        Some(_) => {
            return Err(AuthError::Forbidden(
                "only admins make tokens for other users".into(),
            ));
        }
    };
    let token = secret("svt_")?;
    let now = now_ms();
    let mut tx = store.begin().await?;
    let id: i64 = sqlx::query(
        "INSERT INTO api_tokens (user_id, name, token_hash, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(owner.id)
    .bind(name)
    .bind(digest(&token))
    .bind(now)
    .bind(now + days * 86_400_000)
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    audit(
        &mut tx,
        &by.username,
        "token.create",
        &format!("token {id}"),
        &serde_json::json!({"user": owner.username, "name": name, "days": days}),
    )
    .await?;
    tx.commit().await?;
    Ok((id, token))
}

/// The user behind a bearer token, if it is live.
pub async fn authenticate(store: &Store, token: &str) -> Result<Principal, AuthError> {
    let now = now_ms();
    let row = sqlx::query(
        "SELECT id, user_id, COALESCE(last_used_ms, 0) FROM api_tokens \
         WHERE token_hash = $1 AND revoked_at_ms IS NULL AND expires_at_ms > $2",
    )
    .bind(digest(token))
    .bind(now)
    .fetch_optional(store.pool())
    .await?
    .ok_or(AuthError::Unauthenticated)?;
    let (id, user, last): (i64, i64, i64) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    let p = users::by_id(store, user)
        .await?
        .ok_or(AuthError::Unauthenticated)?;
    // "Last used" to the minute: a write on every request would serialise them all.
    if now - last >= USE_RESOLUTION_MS {
        sqlx::query("UPDATE api_tokens SET last_used_ms = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(store.pool())
            .await?;
    }
    Ok(p)
}

/// Tokens: one's own, or everyone's for admins.
pub async fn list(store: &Store, by: &Principal) -> Result<Vec<TokenInfo>, AuthError> {
    let rows = sqlx::query(
        "SELECT t.id, u.username, t.name, t.created_at_ms, t.expires_at_ms, t.revoked_at_ms, t.last_used_ms \
         FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE ($1 = 1 OR t.user_id = $2) ORDER BY t.id",
    )
    .bind(i64::from(by.role == Role::Admin))
    .bind(by.id)
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(TokenInfo {
                id: r.try_get(0)?,
                username: r.try_get(1)?,
                name: r.try_get(2)?,
                created_at_ms: r.try_get(3)?,
                expires_at_ms: r.try_get(4)?,
                revoked_at_ms: r.try_get(5)?,
                last_used_ms: r.try_get(6)?,
            })
        })
        .collect()
}

/// Revokes a token (its owner or an admin).
pub async fn revoke(store: &Store, by: &Principal, id: i64) -> Result<(), AuthError> {
    let mut tx = store.begin().await?;
    let n = sqlx::query("UPDATE api_tokens SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL AND ($3 = 1 OR user_id = $4)")
        .bind(now_ms())
        .bind(id)
        .bind(i64::from(by.role == Role::Admin))
        .bind(by.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(AuthError::NotFound(format!("live token {id} of yours")));
    }
    audit(
        &mut tx,
        &by.username,
        "token.revoke",
        &format!("token {id}"),
        &serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
