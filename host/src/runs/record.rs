//! The run record: what ran (model, version, component hash, parameters, region, snapshot),
//! what it read and used (rows per dataset, fuel, peak memory, wall time), what it produced
//! (clues emitted, new, updated) and how it ended (outcome, error, a capped log excerpt).

use std::collections::BTreeMap;

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::store::Store;

use super::{RunError, Status};

/// Bytes of run log kept in the record.
pub const LOG_EXCERPT_BYTES: usize = 8 * 1024;

/// One run as recorded.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct RunRecord {
    /// Id.
    pub id: i64,
    /// `run`, `replay` or `backtest`.
    pub kind: String,
    /// The enablement it ran under.
    pub enablement_id: Option<i64>,
    /// Model id.
    pub model: String,
    /// Version that ran (known once started).
    pub version: Option<String>,
    /// Registry id of that version.
    pub version_id: i64,
    /// sha256 of the component.
    pub sha256: Option<String>,
    /// Region.
    pub region: String,
    /// Parameter values as text.
    pub params: BTreeMap<String, String>,
    /// Approved `dataset.column` entries.
    pub scope: Vec<String>,
    /// What started it: schedule, import, hand, replay, backtest.
    pub trigger: String,
    /// The run this one replays.
    pub replay_of: Option<i64>,
    /// The backtest this run belongs to.
    pub backtest_group: Option<String>,
    /// Where it stands.
    pub status: Status,
    /// Attempts so far.
    pub attempts: i64,
    /// The snapshot it read.
    pub snapshot_id: Option<i64>,
    /// As-of date, days since 1970-01-01.
    pub as_of_days: Option<i64>,
    /// Rows read per dataset.
    pub rows_read: BTreeMap<String, u64>,
    /// Fuel used.
    pub fuel_used: Option<i64>,
    /// Peak linear memory, bytes.
    pub peak_memory_bytes: Option<i64>,
    /// Wall time of the model, ms.
    pub wall_ms: Option<i64>,
    /// Clues the model emitted.
    pub clues_emitted: Option<i64>,
    /// Of those, new to the clue store.
    pub clues_new: Option<i64>,
    /// Of those, already there with changed content.
    pub clues_updated: Option<i64>,
    /// Why it failed, or the last host fault it was retried after.
    pub error: Option<String>,
    /// Whether `error` was the host's fault rather than the model's.
    pub host_fault: bool,
    /// The start of the run log.
    pub log_excerpt: Option<String>,
    /// The worker holding it while running.
    pub lease_owner: Option<String>,
    /// Whether someone asked to cancel it.
    pub cancel_requested: bool,
    /// Who queued it.
    pub requested_by: String,
    /// When it was queued, ms since the epoch.
    pub created_at_ms: i64,
    /// When its last attempt started.
    pub started_at_ms: Option<i64>,
    /// When it ended.
    pub finished_at_ms: Option<i64>,
}

const COLUMNS: &str = "id, kind, enablement_id, model_id, version, version_id, sha256, region, params_json, \
    trigger_kind, replay_of, backtest_group, status, attempts, snapshot_id, as_of_days, rows_read_json, fuel_used, \
    peak_memory_bytes, wall_ms, clues_emitted, clues_new, clues_updated, error, host_fault, log_excerpt, \
    lease_owner, cancel_requested, requested_by, created_at_ms, started_at_ms, finished_at_ms, scope_json";

fn from_row(r: &AnyRow) -> Result<RunRecord, RunError> {
    let id: i64 = r.try_get(0)?;
    let corrupt =
        |what: &str, e: String| RunError::Invalid(format!("run {id}: corrupt {what}: {e}"));
    let params: String = r.try_get(8)?;
    let rows: Option<String> = r.try_get(16)?;
    let status: String = r.try_get(12)?;
    let scope: String = r.try_get(32)?;
    Ok(RunRecord {
        id,
        kind: r.try_get(1)?,
        enablement_id: r.try_get(2)?,
        model: r.try_get(3)?,
        version: r.try_get(4)?,
        version_id: r.try_get(5)?,
        sha256: r.try_get(6)?,
        region: r.try_get(7)?,
        params: serde_json::from_str(&params).map_err(|e| corrupt("parameters", e.to_string()))?,
        scope: serde_json::from_str(&scope).map_err(|e| corrupt("scope", e.to_string()))?,
        trigger: r.try_get(9)?,
        replay_of: r.try_get(10)?,
        backtest_group: r.try_get(11)?,
        status: status.parse()?,
        attempts: r.try_get(13)?,
        snapshot_id: r.try_get(14)?,
        as_of_days: r.try_get(15)?,
        rows_read: match rows {
            Some(j) => serde_json::from_str(&j).map_err(|e| corrupt("rows read", e.to_string()))?,
            None => BTreeMap::new(),
        },
        fuel_used: r.try_get(17)?,
        peak_memory_bytes: r.try_get(18)?,
        wall_ms: r.try_get(19)?,
        clues_emitted: r.try_get(20)?,
        clues_new: r.try_get(21)?,
        clues_updated: r.try_get(22)?,
        error: r.try_get(23)?,
        host_fault: r.try_get::<i64, _>(24)? != 0,
        log_excerpt: r.try_get(25)?,
        lease_owner: r.try_get(26)?,
        cancel_requested: r.try_get::<i64, _>(27)? != 0,
        requested_by: r.try_get(28)?,
        created_at_ms: r.try_get(29)?,
        started_at_ms: r.try_get(30)?,
        finished_at_ms: r.try_get(31)?,
    })
}

/// One run.
pub async fn get(store: &Store, id: i64) -> Result<RunRecord, RunError> {
    let sql = format!("SELECT {COLUMNS} FROM runs WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(store.pool())
        .await?
        .ok_or_else(|| RunError::NotFound(format!("run {id}")))?;
    from_row(&row)
}

/// The status of each of runs `ids`, in their order; an id with no run is an error.
pub async fn statuses(store: &Store, ids: &[i64]) -> Result<Vec<Status>, RunError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT id, status FROM runs WHERE id IN ({})",
        store.dialect().params(ids.len()).join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in ids {
        q = q.bind(*id);
    }
    let mut found = BTreeMap::new();
    for row in q.fetch_all(store.pool()).await? {
        let status: String = row.try_get(1)?;
        found.insert(row.try_get::<i64, _>(0)?, status.parse::<Status>()?);
    }
    ids.iter()
        .map(|id| {
            found
                .get(id)
                .copied()
                .ok_or_else(|| RunError::NotFound(format!("run {id}")))
        })
        .collect()
}

/// Which runs to list.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only this model.
    pub model: Option<String>,
    /// Only regions under this one.
    pub region: Option<String>,
    /// Only this status.
    pub status: Option<Status>,
    /// Only this kind (`run`, `replay`, `backtest`); all when `None`.
    pub kind: Option<String>,
    /// Only this backtest.
    pub backtest_group: Option<String>,
    /// At most this many, newest first.
    pub limit: i64,
}

/// Runs, newest first.
pub async fn list(store: &Store, f: &RunFilter) -> Result<Vec<RunRecord>, RunError> {
    let prefix = f
        .region
        .as_deref()
        .map(|r| format!("{}%", crate::datasets::region::prefix(r)))
        .unwrap_or_else(|| "%".into());
    let sql = format!(
        "SELECT {COLUMNS} FROM runs WHERE ($1 = '' OR model_id = $1) AND region LIKE $2 \
         AND ($3 = '' OR status = $3) AND ($4 = '' OR kind = $4) AND ($5 = '' OR backtest_group = $5) \
         ORDER BY id DESC LIMIT $6"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(f.model.clone().unwrap_or_default())
        .bind(prefix)
        .bind(f.status.map(|s| s.as_str()).unwrap_or(""))
        .bind(f.kind.clone().unwrap_or_default())
        .bind(f.backtest_group.clone().unwrap_or_default())
        .bind(if f.limit > 0 { f.limit } else { 50 })
        .fetch_all(store.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

/// The clues a run emitted: dedup key → content sha256.
pub async fn clue_hashes(store: &Store, id: i64) -> Result<BTreeMap<String, String>, RunError> {
    let rows = sqlx::query("SELECT dedup_key, content_sha256 FROM run_clues WHERE run_id = $1")
        .bind(id)
        .fetch_all(store.pool())
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// The start of a run's log: model log lines, then stdout and stderr, cut at
/// [`LOG_EXCERPT_BYTES`] on a character boundary.
pub fn excerpt(out: &crate::runtime::RunOutcome) -> String {
    let mut text = String::new();
    for l in &out.log {
        text.push_str(&format!("[{}] {}\n", l.level, l.message));
    }
    if out.log_dropped > 0 {
        text.push_str(&format!("({} log lines dropped)\n", out.log_dropped));
    }
    for (name, s) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        if !s.is_empty() {
            text.push_str(&format!("--- {name}\n{s}\n"));
        }
    }
    for d in &out.denied {
        text.push_str(&format!("denied: {d}\n"));
    }
    if text.len() > LOG_EXCERPT_BYTES {
        let mut cut = LOG_EXCERPT_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("\n… (cut)");
    }
    text
}
