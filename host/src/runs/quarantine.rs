//! Quarantine: a model whose runs fail K times in a row (its own failures, not host faults)
//! stops being run until a provincial admin releases it. Queued runs wait; runs by hand are
//! refused with the reason.

use sqlx::Row;

use crate::registry::Actor;
use crate::registry::keys::require_admin;
use crate::store::{Store, audit, now_ms};

use super::RunError;

/// Failures in a row that quarantine a model, unless configured otherwise.
pub const DEFAULT_AFTER: u32 = 3;

/// An active quarantine.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Quarantine {
    /// The model.
    pub model: String,
    /// Why.
    pub reason: String,
    /// Since when, ms since the epoch.
    pub since_ms: i64,
}

/// The model's active quarantine, if any.
pub async fn active(store: &Store, model: &str) -> Result<Option<Quarantine>, RunError> {
    let row = sqlx::query(
        "SELECT reason, since_ms FROM quarantines WHERE model_id = $1 AND released_at_ms IS NULL",
    )
    .bind(model)
    .fetch_optional(store.pool())
    .await?;
    row.map(|r| {
        Ok(Quarantine {
            model: model.to_string(),
            reason: r.try_get(0)?,
            since_ms: r.try_get(1)?,
        })
    })
    .transpose()
}

/// Every active quarantine.
pub async fn list(store: &Store) -> Result<Vec<Quarantine>, RunError> {
    let rows = sqlx::query(
        "SELECT model_id, reason, since_ms FROM quarantines WHERE released_at_ms IS NULL ORDER BY model_id",
    )
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Quarantine {
                model: r.try_get(0)?,
                reason: r.try_get(1)?,
                since_ms: r.try_get(2)?,
            })
        })
        .collect()
}

/// After a run of `model` ended, quarantines it when its last `after` runs (since its last
/// release) all failed by its own fault. Returns whether it was quarantined now.
pub async fn check(store: &Store, model: &str, after: u32) -> Result<bool, RunError> {
    if after == 0 || active(store, model).await?.is_some() {
        return Ok(false);
    }
    let released: i64 =
        sqlx::query("SELECT COALESCE(MAX(released_at_ms), 0) FROM quarantines WHERE model_id = $1")
            .bind(model)
            .fetch_one(store.pool())
            .await?
            .try_get(0)?;
    let rows = sqlx::query(
        "SELECT status, error FROM runs WHERE model_id = $1 AND kind = 'run' AND finished_at_ms > $2 \
         AND status IN ('succeeded', 'failed', 'timed_out') AND host_fault = 0 \
         ORDER BY finished_at_ms DESC, id DESC LIMIT $3",
    )
    .bind(model)
    .bind(released)
    .bind(i64::from(after))
    .fetch_all(store.pool())
    .await?;
    let failed: Vec<(String, Option<String>)> = rows
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()?;
    if failed.len() < after as usize || failed.iter().any(|(s, _)| s == "succeeded") {
        return Ok(false);
    }
    let last = failed
        .first()
        .and_then(|(_, e)| e.clone())
        .unwrap_or_default();
    let reason = format!("failed {after} runs in a row; last: {last}");
    let mut tx = store.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO quarantines (model_id, reason, since_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(model)
    .bind(&reason)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        audit(
            &mut tx,
            "supervise",
            "model.quarantine",
            &format!("model {model}"),
            &serde_json::json!({"reason": reason}),
        )
        .await?;
        tracing::warn!(model, "quarantined: {reason}");
    }
    tx.commit().await?;
    Ok(inserted == 1)
}

/// Releases a quarantined model (provincial admins only); its waiting runs resume.
pub async fn release(
    store: &Store,
    actor: &Actor,
    model: &str,
    reason: &str,
) -> Result<(), RunError> {
    require_admin(store, actor).await?;
    if reason.trim().is_empty() {
        return Err(RunError::Invalid("say why (--reason)".into()));
    }
    let mut tx = store.begin().await?;
    let n = sqlx::query(
        "UPDATE quarantines SET released_by = $1, released_reason = $2, released_at_ms = $3 \
         WHERE model_id = $4 AND released_at_ms IS NULL",
    )
    .bind(&actor.user)
    .bind(reason)
    .bind(now_ms())
    .bind(model)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(RunError::Conflict(format!(
            "model `{model}` is not quarantined"
        )));
    }
    audit(
        &mut tx,
        &actor.user,
        "model.release",
        &format!("model {model}"),
        &serde_json::json!({"reason": reason}),
    )
    .await?;
    tx.commit().await?;
    // Its waiting runs can be leased again.
    store.ring_queued();
    Ok(())
}
