//! Users and roles. A user acts for one office and sees its region subtree:
//! - `admin`: the province (a provincial office): review, enable, settings, everything;
//! - `auditor`: the province, read-only;
//! - `reviewer`: their office's region subtree: clues and triage;
//! - `author`: their office's models.
//!
//! The first user is an admin made with `supervise admin create`; admins make the rest.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::registry::Actor;
use crate::registry::keys;
use crate::store::{Store, audit, now_ms};

use super::{AuthError, password};

/// What a user may do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Writes and publishes their office's models.
    Author,
    /// The provincial office: reviews, enables, configures.
    Admin,
    /// Triages the clues of their region subtree.
    Reviewer,
    /// Reads everything in the province, changes nothing.
    Auditor,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Author, Role::Admin, Role::Reviewer, Role::Auditor];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Author => "author",
            Role::Admin => "admin",
            Role::Reviewer => "reviewer",
            Role::Auditor => "auditor",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self, AuthError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                AuthError::Invalid(format!(
                    "unknown role `{s}` (one of: author, admin, reviewer, auditor)"
                ))
            })
    }
}

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Principal {
    /// User id.
    pub id: i64,
    /// User name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Office they act for.
    pub office: String,
    /// That office's region: what they see.
    pub region: String,
    /// `zh-CN` or `en`.
    pub locale: String,
}

impl Principal {
    /// The actor recorded in the audit log and checked by the registry.
    pub fn actor(&self) -> Actor {
        Actor {
            user: self.username.clone(),
            office: self.office.clone(),
        }
    }

    /// Whether the role may change anything.
    pub fn can_write(&self) -> bool {
        self.role != Role::Auditor
    }
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// User name: 3 to 64 of `a-z 0-9 . _ @ -`.
    pub username: String,
    /// Password (checked against the policy).
    pub password: String,
    /// Role.
    pub role: Role,
    /// Office.
    pub office: String,
}

fn check_username(u: &str) -> Result<(), AuthError> {
    let ok = (2..=64).contains(&u.len())
        && u.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(AuthError::Invalid(format!(
            "user name `{u}` must be 2 to 64 of a-z, 0-9, . _ @ -"
        )))
    }
}

const COLUMNS: &str = "u.id, u.username, u.role, u.office, o.region, u.locale";

fn principal(r: &AnyRow) -> Result<Principal, AuthError> {
    let role: String = r.try_get(2)?;
    Ok(Principal {
        id: r.try_get(0)?,
        username: r.try_get(1)?,
        role: role.parse()?,
        office: r.try_get(3)?,
        region: r.try_get(4)?,
        locale: r.try_get(5)?,
    })
}

/// An active user by id.
pub async fn by_id(store: &Store, id: i64) -> Result<Option<Principal>, AuthError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM users u JOIN offices o ON o.id = u.office WHERE u.id = $1 AND u.status = 'active'"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(store.pool())
        .await?;
    row.as_ref().map(principal).transpose()
}

/// An active user and their password hash, by name.
pub async fn by_name(
    store: &Store,
    username: &str,
) -> Result<Option<(Principal, String)>, AuthError> {
    let sql = format!(
        "SELECT {COLUMNS}, u.password_hash FROM users u JOIN offices o ON o.id = u.office WHERE u.username = $1 AND u.status = 'active'"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(username)
        .fetch_optional(store.pool())
        .await?;
    match row {
        None => Ok(None),
        Some(r) => Ok(Some((principal(&r)?, r.try_get(6)?))),
    }
}

/// Creates a user. `by` is the admin creating it; `None` only for the very first user, which
/// must be an admin (`supervise admin create`).
pub async fn create(
    store: &Store,
    by: Option<&Principal>,
    new: &NewUser,
) -> Result<i64, AuthError> {
    check_username(&new.username)?;
    password::check_policy(&new.password)?;
    let office = keys::office(store, &new.office).await?;
    if matches!(new.role, Role::Admin | Role::Auditor) && !office.is_provincial() {
        return Err(AuthError::Invalid(format!(
            "an {} acts for the province: office `{}` is not a provincial office",
            new.role.as_str(),
            office.id
        )));
    }
    let existing: i64 = sqlx::query("SELECT COUNT(*) FROM users")
        .fetch_one(store.pool())
        .await?
        .try_get(0)?;
    let creator = match by {
        Some(p) if p.role == Role::Admin => p.username.clone(),
        Some(p) => {
            return Err(AuthError::Forbidden(format!(
                "`{}` is not an admin; only admins make users",
                p.username
            )));
        }
        None if existing == 0 && new.role == Role::Admin => "bootstrap".to_string(),
        None if existing == 0 => {
            return Err(AuthError::Invalid("the first user must be an admin".into()));
        }
        None => {
            return Err(AuthError::Forbidden(
                "users exist already: an admin makes new ones".into(),
            ));
        }
    };
    let hash = password::hash(&new.password)?;
    let mut tx = store.begin().await?;
    let taken: i64 = sqlx::query("SELECT COUNT(*) FROM users WHERE username = $1")
        .bind(&new.username)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    if taken > 0 {
        return Err(AuthError::Conflict(format!(
            "user name `{}` is taken",
            new.username
        )));
    }
    let id: i64 = sqlx::query(
        "INSERT INTO users (username, password_hash, role, office, status, created_by, created_at_ms) \
         VALUES ($1, $2, $3, $4, 'active', $5, $6) RETURNING id",
    )
    .bind(&new.username)
    .bind(&hash)
    .bind(new.role.as_str())
    .bind(&new.office)
    .bind(&creator)
    .bind(now_ms())
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    audit(
        &mut tx,
        &creator,
        "user.create",
        &format!("user {}", new.username),
        &serde_json::json!({"role": new.role, "office": new.office}),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// A user as listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct UserInfo {
    /// User name.
    pub username: String,
    /// Role.
    pub role: String,
    /// Office.
    pub office: String,
    /// active or disabled.
    pub status: String,
}

/// The languages the dashboard speaks.
pub const LOCALES: [&str; 2] = ["zh-CN", "en"];

/// Sets a user's dashboard language (`zh-CN` or `en`).
pub async fn set_locale(store: &Store, who: &Principal, locale: &str) -> Result<(), AuthError> {
    if !LOCALES.contains(&locale) {
        return Err(AuthError::Invalid(format!(
            "locale `{locale}`: one of {}",
            LOCALES.join(", ")
        )));
    }
    let mut tx = store.begin().await?;
    sqlx::query("UPDATE users SET locale = $1 WHERE id = $2")
        .bind(locale)
        .bind(who.id)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        &who.username,
        "user.locale",
        &who.username,
        &serde_json::json!({"old": who.locale, "new": locale}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Every user.
pub async fn list(store: &Store) -> Result<Vec<UserInfo>, AuthError> {
    let rows = sqlx::query("SELECT username, role, office, status FROM users ORDER BY username")
        .fetch_all(store.pool())
        .await?;
    rows.iter()
        .map(|r| {
            Ok(UserInfo {
                username: r.try_get(0)?,
                role: r.try_get(1)?,
                office: r.try_get(2)?,
                status: r.try_get(3)?,
            })
        })
        .collect()
}

/// Disables a user (admins); their sessions end and their tokens stop working.
pub async fn disable(
    store: &Store,
    by: &Principal,
    username: &str,
    reason: &str,
) -> Result<(), AuthError> {
    if by.role != Role::Admin {
        return Err(AuthError::Forbidden("only admins disable users".into()));
    }
    if reason.trim().is_empty() {
        return Err(AuthError::Invalid("say why (--reason)".into()));
    }
    let mut tx = store.begin().await?;
    let n = sqlx::query(
        "UPDATE users SET status = 'disabled' WHERE username = $1 AND status = 'active'",
    )
    .bind(username)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(AuthError::NotFound(format!("active user `{username}`")));
    }
    sqlx::query("DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE username = $1)")
        .bind(username)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        &by.username,
        "user.disable",
        &format!("user {username}"),
        &serde_json::json!({"reason": reason}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
