//! Clues from people: a grid member or a partner agency reports a clue by hand. It has no
//! model and no run; its source and reporter are recorded, and it follows the same workflow,
//! deadlines and statistics as any clue.

use crate::datasets::region;
use crate::registry::Actor;
use crate::store::{Store, audit, now_ms};

use super::{ClueError, actor_region};

/// Who may report.
pub const SOURCES: [&str; 2] = ["grid_member", "agency"];

/// A clue reported by hand.
#[derive(Debug, Clone)]
pub struct Report {
    /// `grid_member` or `agency`.
    pub source: String,
    /// The person or agency reporting.
    pub reporter: String,
    /// County it concerns (within the recording office's region).
    pub region: String,
    /// Kind of clue, e.g. `pension-after-death` or `tip`.
    pub kind: String,
    /// Subject type.
    pub subject_type: String,
    /// Subject identifier.
    pub subject_id: String,
    /// Subject name.
    pub subject_name: String,
    /// One line: what was seen.
    pub reason: String,
    /// 0..1; 0.5 when unsure.
    pub score: f64,
}

/// Records a reported clue; returns its id.
pub async fn report(store: &Store, actor: &Actor, r: &Report) -> Result<i64, ClueError> {
    if !SOURCES.contains(&r.source.as_str()) {
        return Err(ClueError::Invalid(format!(
            "source `{}` is not one of: {}",
            r.source,
            SOURCES.join(", ")
        )));
    }
    for (what, v) in [
        ("reporter", &r.reporter),
        ("kind", &r.kind),
        ("subject type", &r.subject_type),
        ("subject id", &r.subject_id),
        ("reason", &r.reason),
    ] {
        if v.trim().is_empty() || v.len() > 1000 {
            return Err(ClueError::Invalid(format!(
                "the {what} must be 1 to 1000 bytes"
            )));
        }
    }
    if !(0.0..=1.0).contains(&r.score) {
        return Err(ClueError::Invalid(format!(
            "score {} is outside 0..1",
            r.score
        )));
    }
    region::level(&r.region).map_err(ClueError::Invalid)?;
    let scope = actor_region(store, actor).await?;
    if !region::covers(&scope, &r.region) {
        return Err(ClueError::Forbidden(format!(
            "office `{}` may not record clues for region {}",
            actor.office, r.region
        )));
    }
    let now = now_ms();
    let mut tag = [0u8; 8];
    let _ = getrandom::fill(&mut tag);
    let key = format!("report:{now}:{}", hex::encode(tag));
    let mut tx = store.begin().await?;
    let id: i64 = sqlx::Row::try_get(
        &sqlx::query(
            "INSERT INTO clues (model_id, dedup_key, kind, region, subject_type, subject_id, subject_name, score, reason, \
             evidence_json, content_sha256, status, occurrences, first_seen_ms, last_seen_ms, source, source_detail, updated_at_ms) \
             VALUES (NULL, $1, $2, $3, $4, $5, $6, $7, $8, '[]', '', 'new', 1, $9, $9, $10, $11, $9) RETURNING id",
        )
        .bind(&key)
        .bind(&r.kind)
        .bind(&r.region)
        .bind(&r.subject_type)
        .bind(&r.subject_id)
        .bind(&r.subject_name)
        .bind(r.score)
        .bind(&r.reason)
        .bind(now)
        .bind(&r.source)
        .bind(&r.reporter)
        .fetch_one(&mut *tx)
        .await?,
        0,
    )?;
    audit(&mut tx, &actor.user, "clue.report", &format!("clue {id}"), &serde_json::json!({
        "source": r.source, "reporter": r.reporter, "region": r.region, "kind": r.kind, "reason": r.reason,
    }))
    .await?;
    tx.commit().await?;
    Ok(id)
}
