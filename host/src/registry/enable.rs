//! Enablements: an approved version turned on for a set of regions with parameter values, a
//! schedule and an approved data scope (possibly narrower than requested); upgraded, rolled
//! back and disabled one command each, every change kept in the enablement's history and the
//! audit log.

use std::collections::BTreeMap;

use sqlx::Row;

use crate::datasets::{catalog, region, values};
use crate::runtime::{Manifest, Scope, Value};
use crate::store::{Store, audit, now_ms};

use super::keys::require_admin;
use super::review::{self, VersionRecord};
use super::{Actor, RegistryError, VersionRef};

/// What to enable.
#[derive(Debug, Clone)]
pub struct EnableRequest {
    /// The approved version.
    pub version: VersionRef,
    /// Region codes (province, cities, counties); none may lie under another.
    pub regions: Vec<String>,
    /// Parameter values as text, checked against the manifest's types.
    pub params: Vec<(String, String)>,
    /// Cron expression (`min hour day month weekday`), or none for by-hand runs only.
    pub schedule: Option<String>,
    /// Approved `dataset.column` entries; everything requested when `None`.
    pub scope: Option<Vec<String>>,
    /// Why.
    pub reason: String,
}

/// An enablement as stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Enablement {
    /// Id.
    pub id: i64,
    /// Model id.
    pub model: String,
    /// The version it runs.
    pub version: String,
    /// Registry id of that version.
    pub version_id: i64,
    /// Region codes.
    pub regions: Vec<String>,
    /// Parameter values as text.
    pub params: BTreeMap<String, String>,
    /// Cron schedule.
    pub schedule: Option<String>,
    /// Approved `dataset.column` entries.
    pub scope: Vec<String>,
    /// `enabled` or `disabled`.
    pub status: String,
}

impl Enablement {
    /// Typed parameter values for a run, against the manifest of the version it runs.
    pub fn typed_params(&self, m: &Manifest) -> Result<Vec<(String, Value)>, RegistryError> {
        typed_params(m, &self.params)
    }

    /// The runtime scope: the approved entries with the manifest's types.
    pub fn runtime_scope(&self, m: &Manifest) -> Scope {
        runtime_scope(m, &self.scope)
    }
}

/// Typed parameter values from their text, checked against a manifest.
pub fn typed_params(
    m: &Manifest,
    params: &BTreeMap<String, String>,
) -> Result<Vec<(String, Value)>, RegistryError> {
    parse_params(m, params.iter().map(|(k, v)| (k.clone(), v.clone())))
}

/// The runtime scope of approved `dataset.column` entries, with the manifest's types;
/// entries the manifest does not declare grant nothing.
pub fn runtime_scope(m: &Manifest, entries: &[String]) -> Scope {
    let mut scope = Scope::default();
    for entry in entries {
        if let Some((d, c)) = entry.split_once('.')
            && let Some(ty) = m
                .datasets
                .iter()
                .find(|x| x.name == d)
                .and_then(|x| x.columns.iter().find(|y| y.name == c))
                .map(|y| y.type_)
        {
            scope.allow(d, c, ty);
        }
    }
    scope
}

fn parse_params(
    m: &Manifest,
    raw: impl Iterator<Item = (String, String)>,
) -> Result<Vec<(String, Value)>, RegistryError> {
    raw.map(|(name, text)| {
        let spec = m
            .parameters
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = m.parameters.iter().map(|p| p.name.as_str()).collect();
                RegistryError::Invalid(format!(
                    "model `{}` has no parameter `{name}` (it has: {})",
                    m.id,
                    known.join(", ")
                ))
            })?;
        let v = values::parse_param(spec.type_, &text)
            .map_err(|e| RegistryError::Invalid(format!("parameter `{name}`: {e}")))?;
        Ok((name, v))
    })
    .collect()
}

/// Checks the schedule is a valid cron expression.
pub fn check_schedule(s: &str) -> Result<(), RegistryError> {
    s.parse::<croner::Cron>().map(|_| ()).map_err(|e| {
        RegistryError::Invalid(format!(
            "schedule `{s}` is not a cron expression (min hour day month weekday): {e}"
        ))
    })
}

/// Every `dataset.column` entry a manifest requests.
pub fn requested_scope(m: &Manifest) -> Vec<String> {
    m.datasets
        .iter()
        .flat_map(|d| {
            d.columns
                .iter()
                .map(move |c| format!("{}.{}", d.name, c.name))
        })
        .collect()
}

/// The approved scope: all requested entries, or the given subset of them.
fn approved_scope(m: &Manifest, asked: Option<&[String]>) -> Result<Vec<String>, RegistryError> {
    let requested = requested_scope(m);
    let Some(asked) = asked else {
        return Ok(requested);
    };
    for a in asked {
        if !requested.contains(a) {
            return Err(RegistryError::Invalid(format!(
                "scope entry `{a}` is not something the model requested (it requested: {})",
                requested.join(", ")
            )));
        }
    }
    Ok(asked.to_vec())
}

/// Every approved column must exist in the catalogue with the type the model expects.
async fn check_catalogue(
    store: &Store,
    m: &Manifest,
    scope: &[String],
) -> Result<(), RegistryError> {
    let mut problems = Vec::new();
    for entry in scope {
        let Some((d, c)) = entry.split_once('.') else {
            continue;
        };
        let want = m
            .datasets
            .iter()
            .find(|x| x.name == d)
            .and_then(|x| x.columns.iter().find(|y| y.name == c))
            .map(|y| y.type_);
        match catalog::schema(store, d, None).await {
            Err(catalog::CatalogError::UnknownDataset(_)) => {
                problems.push(format!("dataset `{d}` is not defined"))
            }
            Err(e) => return Err(RegistryError::Invalid(e.to_string())),
            Ok((_, schema)) => match (schema.column(c), want) {
                (None, _) => problems.push(format!("dataset `{d}` has no column `{c}`")),
                (Some(col), Some(ty)) if col.model_type() != ty => problems.push(format!(
                    "column `{d}.{c}` is {}, the model expects {ty}",
                    col.model_type()
                )),
                _ => {}
            },
        }
    }
    problems.sort();
    problems.dedup();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(RegistryError::Invalid(format!(
            "the data the model needs is not all there: {}",
            problems.join("; ")
        )))
    }
}

async fn check_regions(store: &Store, regions: &[String]) -> Result<(), RegistryError> {
    if regions.is_empty() {
        return Err(RegistryError::Invalid("name at least one region".into()));
    }
    for r in regions {
        region::level(r).map_err(RegistryError::Invalid)?;
        let known: Option<String> = sqlx::query("SELECT code FROM regions WHERE code = $1")
            .bind(r)
            .fetch_optional(store.pool())
            .await?
            .map(|x| x.try_get(0))
            .transpose()?;
        if known.is_none() {
            return Err(RegistryError::NotFound(format!("region {r}")));
        }
        if let Some(outer) = regions.iter().find(|o| *o != r && region::covers(o, r)) {
            return Err(RegistryError::Invalid(format!(
                "region {r} lies under {outer}: list each area once"
            )));
        }
    }
    Ok(())
}

fn approved(v: &VersionRecord) -> Result<(), RegistryError> {
    if v.status != "approved" {
        return Err(RegistryError::Conflict(format!(
            "{}@{} is {}; only approved versions can run",
            v.model, v.version, v.status
        )));
    }
    Ok(())
}

async fn history(
    tx: &mut crate::store::WriteTx,
    id: i64,
    action: &str,
    version: i64,
    actor: &Actor,
    reason: &str,
) -> Result<(), RegistryError> {
    sqlx::query("INSERT INTO enablement_history (enablement_id, action, version_id, actor, reason, at_ms) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id)
        .bind(action)
        .bind(version)
        .bind(&actor.user)
        .bind(reason)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn need_reason(reason: &str) -> Result<(), RegistryError> {
    if reason.trim().is_empty() {
        return Err(RegistryError::Invalid("say why (--reason)".into()));
    }
    Ok(())
}

/// Enables an approved version (provincial admins only).
pub async fn enable(
    store: &Store,
    actor: &Actor,
    req: &EnableRequest,
) -> Result<i64, RegistryError> {
    require_admin(store, actor).await?;
    need_reason(&req.reason)?;
    let v = review::get(store, &req.version).await?;
    approved(&v)?;
    check_regions(store, &req.regions).await?;
    parse_params(&v.manifest, req.params.iter().cloned())?;
    if let Some(s) = &req.schedule {
        check_schedule(s)?;
    }
    let scope = approved_scope(&v.manifest, req.scope.as_deref())?;
    check_catalogue(store, &v.manifest, &scope).await?;
    let params: BTreeMap<&String, &String> = req.params.iter().map(|(k, v)| (k, v)).collect();
    let mut tx = store.begin().await?;
    let id: i64 = sqlx::query(
        "INSERT INTO enablements (model_id, version_id, regions_json, params_json, schedule, scope_json, status, created_by, created_at_ms, updated_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, 'enabled', $7, $8, $8) RETURNING id",
    )
    .bind(&v.model)
    .bind(v.id)
    .bind(serde_json::to_string(&req.regions).unwrap_or_default())
    .bind(serde_json::to_string(&params).unwrap_or_default())
    .bind(req.schedule.clone())
    .bind(serde_json::to_string(&scope).unwrap_or_default())
    .bind(&actor.user)
    .bind(now_ms())
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    history(&mut tx, id, "enable", v.id, actor, &req.reason).await?;
    let detail = serde_json::json!({"version": req.version.to_string(), "regions": req.regions, "params": params, "schedule": req.schedule, "scope": scope, "reason": req.reason});
    audit(
        &mut tx,
        &actor.user,
        "enablement.enable",
        &format!("enablement {id}"),
        &detail,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// An enablement by id.
pub async fn get(store: &Store, id: i64) -> Result<Enablement, RegistryError> {
    let sql = format!("{} WHERE e.id = $1", select_enablement());
    let r = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(store.pool())
        .await?
        .ok_or_else(|| RegistryError::NotFound(format!("enablement {id}")))?;
    enablement(&r)
}

/// Every enablement, of one model or all.
pub async fn list(store: &Store, model: Option<&str>) -> Result<Vec<Enablement>, RegistryError> {
    let sql = format!(
        "{} WHERE ($1 = '' OR e.model_id = $1) ORDER BY e.id",
        select_enablement()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(model.unwrap_or(""))
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(enablement)
        .collect()
}

/// The columns [`enablement_at`] reads, of `enablements e` joined with `model_versions v` on
/// the enablement's version: for queries that read enablements beside other rows.
pub(crate) const ENABLEMENT_COLUMNS: &str = "e.id, e.model_id, v.version, e.version_id, \
     e.regions_json, e.params_json, e.schedule, e.scope_json, e.status";

/// How many columns [`ENABLEMENT_COLUMNS`] names: where a query's next columns start.
pub(crate) const ENABLEMENT_WIDTH: usize = 9;

/// The query every enablement's row is read from, one whatever the filter appended.
fn select_enablement() -> String {
    format!(
        "SELECT {ENABLEMENT_COLUMNS} FROM enablements e JOIN model_versions v ON v.id = e.version_id"
    )
}

/// An enablement from a row of [`select_enablement`].
fn enablement(r: &sqlx::any::AnyRow) -> Result<Enablement, RegistryError> {
    enablement_at(r, 0)
}

/// An enablement from the [`ENABLEMENT_COLUMNS`] of a row, starting at column `at`.
pub(crate) fn enablement_at(r: &sqlx::any::AnyRow, at: usize) -> Result<Enablement, RegistryError> {
    let id: i64 = r.try_get(at)?;
    let json = |i: usize| -> Result<String, RegistryError> { Ok(r.try_get::<String, _>(at + i)?) };
    let bad =
        |e: serde_json::Error| RegistryError::Invalid(format!("enablement {id} is corrupt: {e}"));
    Ok(Enablement {
        id,
        model: r.try_get(at + 1)?,
        version: r.try_get(at + 2)?,
        version_id: r.try_get(at + 3)?,
        regions: serde_json::from_str(&json(4)?).map_err(bad)?,
        params: serde_json::from_str(&json(5)?).map_err(bad)?,
        schedule: r.try_get(at + 6)?,
        scope: serde_json::from_str(&json(7)?).map_err(bad)?,
        status: r.try_get(at + 8)?,
    })
}

async fn switch(
    store: &Store,
    actor: &Actor,
    e: &Enablement,
    to: &VersionRecord,
    action: &str,
    reason: &str,
) -> Result<(), RegistryError> {
    approved(to)?;
    let params = e.params.iter().map(|(k, v)| (k.clone(), v.clone()));
    parse_params(&to.manifest, params).map_err(|err| {
        RegistryError::Invalid(format!(
            "the enablement's parameters do not fit {}@{}: {err}",
            to.model, to.version
        ))
    })?;
    let scope: Vec<String> = e.scope.clone();
    approved_scope(&to.manifest, Some(&scope)).map_err(|err| {
        RegistryError::Invalid(format!(
            "the approved scope does not fit {}@{}: {err}",
            to.model, to.version
        ))
    })?;
    check_catalogue(store, &to.manifest, &scope).await?;
    let mut tx = store.begin().await?;
    sqlx::query("UPDATE enablements SET version_id = $1, updated_at_ms = $2 WHERE id = $3")
        .bind(to.id)
        .bind(now_ms())
        .bind(e.id)
        .execute(&mut *tx)
        .await?;
    history(&mut tx, e.id, action, to.id, actor, reason).await?;
    let detail = serde_json::json!({"from": e.version, "to": to.version, "reason": reason});
    audit(
        &mut tx,
        &actor.user,
        &format!("enablement.{action}"),
        &format!("enablement {}", e.id),
        &detail,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The enablement an admin is about to change, once the actor and the reason are checked.
async fn changeable(
    store: &Store,
    actor: &Actor,
    id: i64,
    reason: &str,
) -> Result<Enablement, RegistryError> {
    require_admin(store, actor).await?;
    need_reason(reason)?;
    get(store, id).await
}

/// Moves an enablement to another approved version of the same model.
pub async fn upgrade(
    store: &Store,
    actor: &Actor,
    id: i64,
    to_version: &str,
    reason: &str,
) -> Result<(), RegistryError> {
    let e = changeable(store, actor, id, reason).await?;
    if e.version == to_version {
        return Err(RegistryError::Conflict(format!(
            "enablement {id} already runs {}@{to_version}",
            e.model
        )));
    }
    let to = review::get(
        store,
        &VersionRef {
            model: e.model.clone(),
            version: to_version.to_string(),
        },
    )
    .await?;
    switch(store, actor, &e, &to, "upgrade", reason).await
}

/// Returns an enablement to the version it ran before its last change of version.
pub async fn rollback(
    store: &Store,
    actor: &Actor,
    id: i64,
    reason: &str,
) -> Result<(), RegistryError> {
    let e = changeable(store, actor, id, reason).await?;
    let versions: Vec<i64> = sqlx::query("SELECT version_id FROM enablement_history WHERE enablement_id = $1 AND action <> 'disable' ORDER BY id")
        .bind(id)
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let previous = versions
        .iter()
        .rev()
        .find(|v| **v != e.version_id)
        .copied()
        .ok_or_else(|| {
            RegistryError::Conflict(format!(
                "enablement {id} has run only {}@{}: nothing to roll back to",
                e.model, e.version
            ))
        })?;
    let to = review::get_by_id(store, previous).await?;
    switch(store, actor, &e, &to, "rollback", reason).await
}

/// Turns an enablement off.
pub async fn disable(
    store: &Store,
    actor: &Actor,
    id: i64,
    reason: &str,
) -> Result<(), RegistryError> {
    let e = changeable(store, actor, id, reason).await?;
    if e.status != "enabled" {
        return Err(RegistryError::Conflict(format!(
            "enablement {id} is already {}",
            e.status
        )));
    }
    let mut tx = store.begin().await?;
    sqlx::query("UPDATE enablements SET status = 'disabled', updated_at_ms = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    history(&mut tx, id, "disable", e.version_id, actor, reason).await?;
    audit(
        &mut tx,
        &actor.user,
        "enablement.disable",
        &format!("enablement {id}"),
        &serde_json::json!({"reason": reason}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_width_counts_the_columns() {
        let named = super::ENABLEMENT_COLUMNS.split(',').count();
        assert_eq!(named, super::ENABLEMENT_WIDTH);
    }
}
