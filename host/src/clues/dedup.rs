//! Writing a run's clues: deduplicated against the clue store by (model, dedup key), and
//! recorded per run by content hash so that a replay or a backtest can be compared with it.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::runtime::bindings::Clue;
use crate::store::WriteTx;

/// The run that produced a set of clues.
#[derive(Debug, Clone)]
pub struct Origin<'a> {
    /// The run.
    pub run_id: i64,
    /// The model.
    pub model_id: &'a str,
    /// The registry id of the version that ran.
    pub version_id: i64,
    /// The snapshot it read.
    pub snapshot_id: i64,
    /// The run's region: the clue's region.
    pub region: &'a str,
    /// When, ms since the epoch.
    pub at_ms: i64,
}

/// What writing a run's clues did to the clue store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ClueCounts {
    /// Clues the store did not have.
    pub new: u64,
    /// Clues it had whose content (reason, score, subject, evidence) changed.
    pub updated: u64,
    /// Clues it had, hit again with the same content.
    pub unchanged: u64,
}

/// sha256 of a clue's content (everything but its dedup key), hex.
pub fn content_sha256(clue: &Clue) -> String {
    let content = serde_json::json!({
        "kind": clue.kind,
        "subject": clue.subject,
        "score": clue.score,
        "reason": clue.reason,
        "evidence": clue.evidence,
    });
    hex::encode(Sha256::digest(content.to_string().as_bytes()))
}

/// The run's clues by dedup key; a key emitted twice in one run keeps its last clue.
fn by_key(clues: &[Clue]) -> BTreeMap<&str, &Clue> {
    clues.iter().map(|c| (c.dedup_key.as_str(), c)).collect()
}

/// Records a run's clues without touching the clue store: for replays and backtests, whose
/// clues are kept apart from the reviewers' queue. `keep` stores each clue itself too.
pub async fn record_apart(
    tx: &mut WriteTx,
    run_id: i64,
    clues: &[Clue],
    keep: bool,
) -> Result<(), sqlx::Error> {
    for (key, clue) in by_key(clues) {
        let json = keep.then(|| serde_json::to_string(clue).unwrap_or_default());
        sqlx::query(
            "INSERT INTO run_clues (run_id, dedup_key, content_sha256, clue_json) VALUES ($1, $2, $3, $4)",
        )
        .bind(run_id)
        .bind(key)
        .bind(content_sha256(clue))
        .bind(json)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Writes a run's clues into the clue store, one clue per (model, dedup key), and records them
/// against the run. Call it in the transaction that finishes the run.
pub async fn record(
    tx: &mut WriteTx,
    origin: &Origin<'_>,
    clues: &[Clue],
) -> Result<ClueCounts, sqlx::Error> {
    let mut counts = ClueCounts::default();
    record_apart(tx, origin.run_id, clues, false).await?;
    for (key, clue) in by_key(clues) {
        let sha = content_sha256(clue);
        let existing = sqlx::query(
            "SELECT id, content_sha256 FROM clues WHERE model_id = $1 AND dedup_key = $2",
        )
        .bind(origin.model_id)
        .bind(key)
        .fetch_optional(&mut **tx)
        .await?;
        let evidence = serde_json::to_string(&clue.evidence).unwrap_or_default();
        match existing {
            None => {
                insert(tx, origin, clue, &sha, &evidence).await?;
                counts.new += 1;
            }
            Some(row) => {
                let (id, old_sha): (i64, String) = (row.try_get(0)?, row.try_get(1)?);
                let changed = old_sha != sha;
                if changed {
                    counts.updated += 1;
                } else {
                    counts.unchanged += 1;
                }
                sqlx::query(
                    "UPDATE clues SET occurrences = occurrences + 1, last_seen_ms = $1, last_run_id = $2, \
                     version_id = $3, snapshot_id = $4, kind = $5, subject_type = $6, subject_id = $7, \
                     subject_name = $8, score = $9, reason = $10, evidence_json = $11, content_sha256 = $12, \
                     evidence_changed = CASE WHEN $13 = 1 AND status = 'dismissed' THEN 1 ELSE evidence_changed END \
                     WHERE id = $14",
                )
                .bind(origin.at_ms)
                .bind(origin.run_id)
                .bind(origin.version_id)
                .bind(origin.snapshot_id)
                .bind(&clue.kind)
                .bind(&clue.subject.type_)
                .bind(&clue.subject.id)
                .bind(&clue.subject.display_name)
                .bind(clue.score)
                .bind(&clue.reason)
                .bind(&evidence)
                .bind(&sha)
                .bind(i64::from(changed))
                .bind(id)
                .execute(&mut **tx)
                .await?;
            }
        }
    }
    Ok(counts)
}

async fn insert(
    tx: &mut WriteTx,
    origin: &Origin<'_>,
    clue: &Clue,
    sha: &str,
    evidence: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO clues (model_id, dedup_key, kind, region, subject_type, subject_id, subject_name, score, reason, \
         evidence_json, content_sha256, status, occurrences, first_seen_ms, last_seen_ms, first_run_id, last_run_id, \
         version_id, snapshot_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'new', 1, $12, $12, $13, $13, $14, $15)",
    )
    .bind(origin.model_id)
    .bind(&clue.dedup_key)
    .bind(&clue.kind)
    .bind(origin.region)
    .bind(&clue.subject.type_)
    .bind(&clue.subject.id)
    .bind(&clue.subject.display_name)
    .bind(clue.score)
    .bind(&clue.reason)
    .bind(evidence)
    .bind(sha)
    .bind(origin.at_ms)
    .bind(origin.run_id)
    .bind(origin.version_id)
    .bind(origin.snapshot_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
