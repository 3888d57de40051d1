//! Writing a run's clues: deduplicated against the clue store by (model, dedup key), and
//! recorded per run by content hash so that a replay or a backtest can be compared with it.

use std::collections::{BTreeMap, HashMap};

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::runtime::bindings::Clue;
use crate::store::{Dialect, WriteTx};

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

/// The run's clues by dedup key, each with its content hash; a key emitted twice in one run
/// keeps its last clue.
fn by_key(clues: &[Clue]) -> Vec<(&str, &Clue, String)> {
    let last: BTreeMap<&str, &Clue> = clues.iter().map(|c| (c.dedup_key.as_str(), c)).collect();
    last.into_iter()
        .map(|(key, clue)| (key, clue, content_sha256(clue)))
        .collect()
}

/// Rows per multi-row statement: far below SQLite's and PostgreSQL's limits on bound values
/// (32,766 and 65,535) at the widest row written here (17 values).
const ROWS_PER_STATEMENT: usize = 500;

/// `($1, $2, $3{tail}), ($4, $5, $6{tail})` (SQLite: `?` each, see [`Dialect::param`]):
/// placeholders for `rows` rows of `width` bound values, each row ending in the same literal
/// SQL `tail`.
fn placeholders(dialect: Dialect, rows: usize, width: usize, tail: &str) -> String {
    (0..rows)
        .map(|r| {
            let row: Vec<String> = (1..=width).map(|c| dialect.param(r * width + c)).collect();
            format!("({}{tail})", row.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Records a run's clues without touching the clue store: for replays and backtests, whose
/// clues are kept apart from the reviewers' queue. `keep` stores each clue itself too.
pub async fn record_apart(
    tx: &mut WriteTx,
    run_id: i64,
    clues: &[Clue],
    keep: bool,
) -> Result<(), sqlx::Error> {
    write_run_clues(tx, run_id, &by_key(clues), keep).await
}

async fn write_run_clues(
    tx: &mut WriteTx,
    run_id: i64,
    keyed: &[(&str, &Clue, String)],
    keep: bool,
) -> Result<(), sqlx::Error> {
    for part in keyed.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO run_clues (run_id, dedup_key, content_sha256, clue_json) VALUES {}",
            placeholders(tx.dialect(), part.len(), 4, "")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (key, clue, sha) in part {
            let json = keep.then(|| serde_json::to_string(clue).unwrap_or_default());
            q = q.bind(run_id).bind(*key).bind(sha.as_str()).bind(json);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// The stored clues of `model` among `keys`: dedup key → (id, content hash).
async fn existing(
    tx: &mut WriteTx,
    model: &str,
    keys: &[&str],
) -> Result<HashMap<String, (i64, String)>, sqlx::Error> {
    let mut found = HashMap::new();
    for part in keys.chunks(ROWS_PER_STATEMENT) {
        let d = tx.dialect();
        let list: Vec<String> = (2..part.len() + 2).map(|i| d.param(i)).collect();
        let sql = format!(
            "SELECT dedup_key, id, content_sha256 FROM clues WHERE model_id = {} AND dedup_key IN ({})",
            d.param(1),
            list.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(model);
        for key in part {
            q = q.bind(*key);
        }
        for row in q.fetch_all(&mut **tx).await? {
            found.insert(row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?));
        }
    }
    Ok(found)
}

/// Writes a run's clues into the clue store, one clue per (model, dedup key), and records them
/// against the run. Call it in the transaction that finishes the run. New clues are written
/// many to a statement; a clue hit again is updated on its own.
pub async fn record(
    tx: &mut WriteTx,
    origin: &Origin<'_>,
    clues: &[Clue],
) -> Result<ClueCounts, sqlx::Error> {
    let mut counts = ClueCounts::default();
    let keyed = by_key(clues);
    write_run_clues(tx, origin.run_id, &keyed, false).await?;
    let keys: Vec<&str> = keyed.iter().map(|(k, _, _)| *k).collect();
    let stored = existing(tx, origin.model_id, &keys).await?;
    let mut fresh = Vec::new();
    for (key, clue, sha) in &keyed {
        let evidence = serde_json::to_string(&clue.evidence).unwrap_or_default();
        match stored.get(*key) {
            None => {
                fresh.push((*clue, sha.as_str(), evidence));
                counts.new += 1;
            }
            Some((id, old_sha)) => {
                let (id, changed) = (*id, old_sha != sha);
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
                .bind(sha.as_str())
                .bind(i64::from(changed))
                .bind(id)
                .execute(&mut **tx)
                .await?;
            }
        }
    }
    insert(tx, origin, &fresh).await?;
    Ok(counts)
}

/// Inserts new clues, many to a statement.
async fn insert(
    tx: &mut WriteTx,
    origin: &Origin<'_>,
    fresh: &[(&Clue, &str, String)],
) -> Result<(), sqlx::Error> {
    for part in fresh.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO clues (model_id, dedup_key, kind, region, subject_type, subject_id, subject_name, score, \
             reason, evidence_json, content_sha256, first_seen_ms, last_seen_ms, first_run_id, last_run_id, \
             version_id, snapshot_id, status, occurrences) VALUES {}",
            placeholders(tx.dialect(), part.len(), 17, ", 'new', 1")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (clue, sha, evidence) in part {
            q = q
                .bind(origin.model_id)
                .bind(&clue.dedup_key)
                .bind(&clue.kind)
                .bind(origin.region)
                .bind(&clue.subject.type_)
                .bind(&clue.subject.id)
                .bind(&clue.subject.display_name)
                .bind(clue.score)
                .bind(&clue.reason)
                .bind(evidence.as_str())
                .bind(*sha)
                .bind(origin.at_ms)
                .bind(origin.at_ms)
                .bind(origin.run_id)
                .bind(origin.run_id)
                .bind(origin.version_id)
                .bind(origin.snapshot_id);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}
