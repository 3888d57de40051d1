//! Provincial review: what a version asks for (manifest, data scope and what changed since the
//! previous version, parameters, signer), and the decision to approve or reject it. No office
//! approves its own model.

use std::collections::BTreeSet;

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::runtime::Manifest;
use crate::store::{Store, audit, now_ms};

use super::keys::require_admin;
use super::{Actor, RegistryError, VersionRef};

/// A published version as the registry records it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VersionRecord {
    /// Registry id.
    pub id: i64,
    /// Model id.
    pub model: String,
    /// Version.
    pub version: String,
    /// sha256 of the component.
    pub sha256: String,
    /// Publishing office.
    pub office: String,
    /// Signing key fingerprint.
    pub key: String,
    /// `submitted`, `approved`, `rejected` or `deprecated`.
    pub status: String,
    /// The manifest read at publish time.
    pub manifest: Manifest,
    /// Who submitted it.
    pub submitted_by: String,
    /// Who reviewed it, and why.
    pub review: Option<(String, String)>,
}

/// The columns of a version record, of `model_versions` named `mv`, as [`record_at`] reads
/// them.
pub(crate) const COLUMNS: &str = "mv.id, mv.model_id, mv.version, mv.sha256, mv.office, \
    mv.key_fingerprint, mv.status, mv.manifest_json, mv.submitted_by, mv.reviewed_by, \
    mv.review_reason";

fn record(r: &AnyRow) -> Result<VersionRecord, RegistryError> {
    record_at(r, 0)
}

/// A version record from the [`COLUMNS`] of a row, starting at column `at`.
pub(crate) fn record_at(r: &AnyRow, at: usize) -> Result<VersionRecord, RegistryError> {
    let json: String = r.try_get(at + 7)?;
    let reviewed_by: Option<String> = r.try_get(at + 9)?;
    let reason: Option<String> = r.try_get(at + 10)?;
    Ok(VersionRecord {
        id: r.try_get(at)?,
        model: r.try_get(at + 1)?,
        version: r.try_get(at + 2)?,
        sha256: r.try_get(at + 3)?,
        office: r.try_get(at + 4)?,
        key: r.try_get(at + 5)?,
        status: r.try_get(at + 6)?,
        manifest: serde_json::from_str(&json)
            .map_err(|e| RegistryError::Invalid(format!("stored manifest is corrupt: {e}")))?,
        submitted_by: r.try_get(at + 8)?,
        review: reviewed_by.map(|by| (by, reason.unwrap_or_default())),
    })
}

/// A version by `model@version`.
pub async fn get(store: &Store, v: &VersionRef) -> Result<VersionRecord, RegistryError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM model_versions mv WHERE mv.model_id = $1 AND mv.version = $2"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&v.model)
        .bind(&v.version)
        .fetch_optional(store.pool())
        .await?
        .ok_or_else(|| RegistryError::NotFound(format!("model version {v}")))?;
    record(&row)
}

/// A version by registry id.
pub async fn get_by_id(store: &Store, id: i64) -> Result<VersionRecord, RegistryError> {
    let sql = format!("SELECT {COLUMNS} FROM model_versions mv WHERE mv.id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(store.pool())
        .await?
        .ok_or_else(|| RegistryError::NotFound(format!("model version #{id}")))?;
    record(&row)
}

/// Every version, of one model or all, newest first.
pub async fn list(store: &Store, model: Option<&str>) -> Result<Vec<VersionRecord>, RegistryError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM model_versions mv WHERE ($1 = '' OR mv.model_id = $1) ORDER BY mv.model_id, mv.id DESC"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(model.unwrap_or(""))
        .fetch_all(store.pool())
        .await?;
    rows.iter().map(record).collect()
}

/// The data scope of a manifest as `dataset.column (type)` entries.
pub fn scope_of(m: &Manifest) -> BTreeSet<String> {
    m.datasets
        .iter()
        .flat_map(|d| {
            d.columns
                .iter()
                .map(move |c| format!("{}.{} ({})", d.name, c.name, c.type_))
        })
        .collect()
}

/// What a reviewing admin sees.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Review {
    /// The version under review.
    pub version: VersionRecord,
    /// The previous version of the same model, if any.
    pub previous: Option<String>,
    /// Data scope entries this version asks for that the previous did not.
    pub scope_added: Vec<String>,
    /// Data scope entries the previous version had that this one drops.
    pub scope_removed: Vec<String>,
}

/// The review sheet of a version.
pub async fn review(store: &Store, v: &VersionRef) -> Result<Review, RegistryError> {
    let version = get(store, v).await?;
    let this = semver::Version::parse(&version.version).ok();
    let previous = list(store, Some(&v.model))
        .await?
        .into_iter()
        .filter(|p| semver::Version::parse(&p.version).ok() < this)
        .max_by_key(|p| semver::Version::parse(&p.version).ok());
    let now = scope_of(&version.manifest);
    let before = previous
        .as_ref()
        .map(|p| scope_of(&p.manifest))
        .unwrap_or_default();
    Ok(Review {
        scope_added: now.difference(&before).cloned().collect(),
        scope_removed: before.difference(&now).cloned().collect(),
        previous: previous.map(|p| p.version),
        version,
    })
}

/// Approves or rejects a submitted version (provincial admins only, never their own office's
/// model). A reason is required.
pub async fn decide(
    store: &Store,
    actor: &Actor,
    v: &VersionRef,
    approve: bool,
    reason: &str,
) -> Result<(), RegistryError> {
    let office = require_admin(store, actor).await?;
    if reason.trim().is_empty() {
        return Err(RegistryError::Invalid(
            "give a reason for the decision (--reason)".into(),
        ));
    }
    let version = get(store, v).await?;
    if version.office == office.id {
        return Err(RegistryError::Forbidden(format!(
            "office `{}` cannot review its own model",
            office.id
        )));
    }
    if version.status != "submitted" {
        return Err(RegistryError::Conflict(format!(
            "{v} is {}, not awaiting review",
            version.status
        )));
    }
    let status = if approve { "approved" } else { "rejected" };
    let mut tx = store.begin().await?;
    sqlx::query(
        "UPDATE model_versions SET status = $1, reviewed_by = $2, reviewed_office = $3, reviewed_at_ms = $4, review_reason = $5 \
         WHERE id = $6 AND status = 'submitted'",
    )
    .bind(status)
    .bind(&actor.user)
    .bind(&office.id)
    .bind(now_ms())
    .bind(reason)
    .bind(version.id)
    .execute(&mut *tx)
    .await?;
    let action = if approve {
        "model.approve"
    } else {
        "model.reject"
    };
    audit(
        &mut tx,
        &actor.user,
        action,
        &v.to_string(),
        &serde_json::json!({"office": office.id, "reason": reason}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Deprecates a version: it can no longer be enabled. Refused while an active enablement runs it.
pub async fn deprecate(
    store: &Store,
    actor: &Actor,
    v: &VersionRef,
    reason: &str,
) -> Result<(), RegistryError> {
    require_admin(store, actor).await?;
    if reason.trim().is_empty() {
        return Err(RegistryError::Invalid("give a reason (--reason)".into()));
    }
    let version = get(store, v).await?;
    let in_use: i64 = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM enablements WHERE version_id = $1 AND status = 'enabled'")
        .bind(version.id)
        .fetch_one(store.pool())
        .await?
        .try_get(0)?;
    if in_use > 0 {
        return Err(RegistryError::Conflict(format!(
            "{v} is enabled in {in_use} enablement(s): upgrade or disable them first"
        )));
    }
    let mut tx = store.begin().await?;
    sqlx::query("UPDATE model_versions SET status = 'deprecated' WHERE id = $1")
        .bind(version.id)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        &actor.user,
        "model.deprecate",
        &v.to_string(),
        &serde_json::json!({"reason": reason, "was": version.status}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
