//! Finishing a batch's runs: what the runs that left the sandbox write, in the one transaction
//! that ends them. Their clues go into the clue store (a replay's or a backtest's beside it),
//! each run's record is written fenced by its lease, and each run's end is an audit event;
//! all of it many runs to a statement, so that a batch of counties costs a handful of
//! statements, not a handful each.

use std::collections::BTreeSet;

use sqlx::Row;

use crate::clues::dedup::{self, ClueCounts, Keyed, Origin};
use crate::runtime::{Outcome, RunOutcome};
use crate::store::{Entry, WriteTx, audit_all};

use super::execute::{Job, Prepared};
use super::queue::Lease;
use super::record::excerpt;
use super::{Kind, RunError, Status};

/// What one run's execution left to record.
pub(super) type Executed<'a> = (&'a Lease, Job, RunOutcome);

/// A run's status from its outcome.
pub(super) fn status_of(out: &RunOutcome) -> Status {
    match &out.outcome {
        Outcome::Succeeded => Status::Succeeded,
        Outcome::Failed(_) => Status::Failed,
        Outcome::TimedOut(_) => Status::TimedOut,
        Outcome::Cancelled => Status::Cancelled,
    }
}

/// Writes the clues of a batch's succeeded runs in the finishing transaction: a run's into
/// the clue store, all of the batch's together ([`dedup::record_batch`]); a replay's or a
/// backtest's beside it. Returns each run's counts in the clue store (none for a run that
/// failed, a replay or a backtest), in order.
pub(super) async fn record_clues(
    tx: &mut WriteTx,
    p: &Prepared,
    executed: &[Executed<'_>],
    keyed: &[Keyed<'_>],
    now: i64,
) -> Result<Vec<Option<ClueCounts>>, RunError> {
    let mut counts = vec![None; executed.len()];
    let mut origins = Vec::new();
    for (i, ((lease, job, out), keyed)) in executed.iter().zip(keyed).enumerate() {
        if status_of(out) != Status::Succeeded {
            continue;
        }
        match job.kind {
            Kind::Run => origins.push((
                i,
                Origin {
                    run_id: lease.run_id,
                    model_id: &job.model,
                    version_id: job.version_id,
                    snapshot_id: p.snapshot_id,
                    region: &job.region,
                    at_ms: now,
                },
                keyed,
            )),
            // Kept apart from the clue store, so nothing counted in it.
            Kind::Replay | Kind::Backtest => {
                let keep = job.kind == Kind::Backtest;
                dedup::record_apart(tx, lease.run_id, keyed, keep).await?;
                counts[i] = Some(ClueCounts::default());
            }
        }
    }
    let runs: Vec<_> = origins.iter().map(|(_, o, k)| (o, *k)).collect();
    let recorded = dedup::record_batch(tx, &runs).await?;
    for ((i, _, _), c) in origins.iter().zip(recorded) {
        counts[*i] = Some(c);
    }
    Ok(counts)
}

/// Values the runs of a batch share in their record: version, component hash, snapshot, as-of
/// day, finishing time.
const SHARED: usize = 5;

/// Values each run has of its own in its record.
const WIDTH: usize = 12;

/// Runs per UPDATE: far below SQLite's and PostgreSQL's limits on bound values.
const RUNS_PER_STATEMENT: usize = 500;

/// Writes the records of a batch's runs in the finishing transaction, with the counts of
/// their clues (written before them by [`record_clues`]), and an audit event for each. The
/// records are fenced by the runs' leases: if any lease was lost, the error names the first
/// such run and the caller drops the transaction, so nothing of the batch stays.
pub(super) async fn record_runs(
    tx: &mut WriteTx,
    p: &Prepared,
    executed: &[Executed<'_>],
    counts: &[Option<ClueCounts>],
    now: i64,
) -> Result<Vec<Status>, RunError> {
    let d = tx.dialect();
    let statuses: Vec<Status> = executed.iter().map(|(_, _, out)| status_of(out)).collect();
    let mut written = BTreeSet::new();
    for ((part, counts), statuses) in executed
        .chunks(RUNS_PER_STATEMENT)
        .zip(counts.chunks(RUNS_PER_STATEMENT))
        .zip(statuses.chunks(RUNS_PER_STATEMENT))
    {
        let s = d.params(SHARED);
        // The rows' columns are named column1, column2… in SQLite and PostgreSQL alike.
        let sql = format!(
            "UPDATE runs SET status = v.column3, version = {}, sha256 = {}, snapshot_id = {}, \
             as_of_days = {}, rows_read_json = v.column4, fuel_used = v.column5, \
             peak_memory_bytes = v.column6, wall_ms = v.column7, clues_emitted = v.column8, \
             error = v.column9, host_fault = 0, log_excerpt = v.column10, lease_expires_ms = NULL, \
             finished_at_ms = {}, clues_new = COALESCE(v.column11, clues_new), \
             clues_updated = COALESCE(v.column12, clues_updated) \
             FROM (VALUES {}) AS v \
             WHERE runs.id = v.column1 AND runs.lease_token = v.column2 AND runs.status = 'running' \
             RETURNING id",
            s[0],
            s[1],
            s[2],
            s[3],
            s[4],
            d.rows(SHARED, part.len(), WIDTH, "")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&p.version)
            .bind(&p.model.sha256)
            .bind(p.snapshot_id)
            .bind(p.as_of_days)
            .bind(now);
        for (((lease, _, out), counts), status) in part.iter().zip(counts).zip(statuses) {
            q = q
                .bind(lease.run_id)
                .bind(&lease.token)
                .bind(status.as_str())
                .bind(serde_json::to_string(&out.stats.rows_read).unwrap_or_default())
                .bind(i64::try_from(out.stats.fuel_used).unwrap_or(i64::MAX))
                .bind(i64::try_from(out.stats.peak_memory_bytes).unwrap_or(i64::MAX))
                .bind(i64::try_from(out.stats.wall_us / 1000).unwrap_or(i64::MAX))
                .bind(out.clues.len() as i64)
                .bind(out.outcome.failure().map(|f| f.to_string()))
                .bind(excerpt(out))
                .bind(counts.map(|c| c.new as i64))
                .bind(counts.map(|c| c.updated as i64));
        }
        for row in q.fetch_all(&mut **tx).await? {
            written.insert(row.try_get::<i64, _>(0)?);
        }
    }
    if let Some((lease, _, _)) = executed
        .iter()
        .find(|(lease, _, _)| !written.contains(&lease.run_id))
    {
        return Err(RunError::LeaseLost(lease.run_id));
    }
    let details: Vec<(String, serde_json::Value)> = executed
        .iter()
        .zip(counts)
        .zip(&statuses)
        .map(|(((lease, job, out), counts), status)| {
            let mut detail = serde_json::json!({
                "status": status, "model": job.model, "version": p.version,
                "region": job.region, "snapshot": p.snapshot_id, "emitted": out.clues.len(),
            });
            if let Some(counts) = counts {
                detail["clues"] = serde_json::json!(counts);
            }
            (format!("run {}", lease.run_id), detail)
        })
        .collect();
    let events: Vec<Entry<'_>> = executed
        .iter()
        .zip(&details)
        .map(|((lease, _, _), (subject, detail))| Entry {
            actor: &lease.owner,
            action: "run.finish",
            subject,
            detail,
        })
        .collect();
    audit_all(tx, &events).await?;
    for ((lease, _, out), status) in executed.iter().zip(&statuses) {
        tracing::info!(run_id = lease.run_id, status = %status, clues = out.clues.len(), "run recorded");
    }
    Ok(statuses)
}
