//! The job queue in the `runs` table: queueing (deduplicated by trigger key), leasing
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer at a time), heartbeats,
//! re-queueing the runs of workers whose lease expired, retries with backoff, cancellation.

use std::collections::BTreeMap;

use sqlx::{Any, AnyConnection, Executor, Row};

use crate::datasets::region;
use crate::registry::Actor;
use crate::registry::enable::{self, Enablement};
use crate::store::{AnyQuery, Dialect, Store, StoreError, WriteGuard, WriteTx, audit, now_ms};

use super::{Kind, RunError, Status, quarantine};

/// Attempts a run gets before host faults fail it for good.
pub const DEFAULT_MAX_ATTEMPTS: i64 = 5;

/// Longest wait between retries.
const MAX_BACKOFF_MS: i64 = 5 * 60 * 1000;

/// A run to queue.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// What it is for.
    pub kind: Kind,
    /// The enablement it runs under (none for backtests).
    pub enablement_id: Option<i64>,
    /// Model id.
    pub model_id: String,
    /// Registry id of the version to run.
    pub version_id: i64,
    /// Region (a county, or whatever was asked for by hand).
    pub region: String,
    /// Parameter values as text.
    pub params: BTreeMap<String, String>,
    /// Approved `dataset.column` entries.
    pub scope: Vec<String>,
    /// `schedule`, `import`, `hand`, `replay` or `backtest`.
    pub trigger: &'static str,
    /// A key that makes queueing idempotent (one run per schedule slot, per import…).
    pub trigger_key: Option<String>,
    /// The run this one replays.
    pub replay_of: Option<i64>,
    /// The backtest this run belongs to.
    pub backtest_group: Option<String>,
    /// A fixed snapshot (replays, backtests); the current data when the run starts otherwise.
    pub snapshot_id: Option<i64>,
    /// A fixed as-of date, days since 1970-01-01 (replays).
    pub as_of_days: Option<i64>,
    /// Higher runs first.
    pub priority: i64,
    /// Who asked.
    pub requested_by: String,
}

impl NewRun {
    /// A run of an enablement in one region.
    pub fn of(e: &Enablement, region: &str, trigger: &'static str, by: &str) -> NewRun {
        NewRun {
            kind: Kind::Run,
            enablement_id: Some(e.id),
            model_id: e.model.clone(),
            version_id: e.version_id,
            region: region.to_string(),
            params: e.params.clone(),
            scope: e.scope.clone(),
            trigger,
            trigger_key: None,
            replay_of: None,
            backtest_group: None,
            snapshot_id: None,
            as_of_days: None,
            priority: 0,
            requested_by: by.to_string(),
        }
    }
}

/// The columns of a queued run: its own values first ([`RUN_VALUES`] of them, bound by
/// [`bind_run`]), then the status and attempts every new run starts with.
const RUN_INSERT: &str = "INSERT INTO runs (kind, enablement_id, model_id, version_id, region, \
    params_json, scope_json, trigger_kind, trigger_key, replay_of, backtest_group, priority, \
    max_attempts, not_before_ms, snapshot_id, as_of_days, requested_by, created_at_ms, status, attempts) VALUES";

/// Values bound per run.
const RUN_VALUES: usize = 18;

/// What every new run's row ends with: queued, no attempt yet.
const RUN_TAIL: &str = ", 'queued', 0";

/// Runs per INSERT: far below SQLite's and PostgreSQL's limits on bound values.
const RUNS_PER_INSERT: usize = 500;

/// Binds a run's [`RUN_VALUES`] values, in [`RUN_INSERT`]'s order, queued at `now`.
fn bind_run<'q>(q: AnyQuery<'q>, run: &'q NewRun, now: i64) -> AnyQuery<'q> {
    q.bind(run.kind.as_str())
        .bind(run.enablement_id)
        .bind(&run.model_id)
        .bind(run.version_id)
        .bind(&run.region)
        .bind(serde_json::to_string(&run.params).unwrap_or_default())
        .bind(serde_json::to_string(&run.scope).unwrap_or_default())
        .bind(run.trigger)
        .bind(run.trigger_key.clone())
        .bind(run.replay_of)
        .bind(run.backtest_group.clone())
        .bind(run.priority)
        .bind(DEFAULT_MAX_ATTEMPTS)
        .bind(now)
        .bind(run.snapshot_id)
        .bind(run.as_of_days)
        .bind(&run.requested_by)
        .bind(now)
}

/// Queues a run. Returns its id, or `None` when a run with the same trigger key exists.
pub async fn enqueue<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    run: &NewRun,
) -> Result<Option<i64>, sqlx::Error> {
    // One row: `$n` placeholders, which both databases take (see `Dialect::param`).
    let sql = format!(
        "{RUN_INSERT} {} ON CONFLICT (trigger_key) DO NOTHING RETURNING id",
        Dialect::Postgres.rows(0, 1, RUN_VALUES, RUN_TAIL)
    );
    let row = bind_run(sqlx::query(sqlx::AssertSqlSafe(sql)), run, now_ms())
        .fetch_optional(exec)
        .await?;
    row.map(|r| r.try_get(0)).transpose()
}

/// Queues runs in the transaction `tx`, many to a statement. Returns the ids of the runs
/// queued, in the order given (ids rise with insertion); a run whose trigger key exists
/// already is skipped.
pub async fn enqueue_all(tx: &mut WriteTx, runs: &[NewRun]) -> Result<Vec<i64>, sqlx::Error> {
    let now = now_ms();
    let mut ids = Vec::with_capacity(runs.len());
    for part in runs.chunks(RUNS_PER_INSERT) {
        let sql = format!(
            "{RUN_INSERT} {} ON CONFLICT (trigger_key) DO NOTHING RETURNING id",
            tx.dialect().rows(0, part.len(), RUN_VALUES, RUN_TAIL)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for run in part {
            q = bind_run(q, run, now);
        }
        let mut queued: Vec<i64> = q
            .fetch_all(&mut **tx)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        queued.sort_unstable();
        ids.extend(queued);
    }
    Ok(ids)
}

/// The counties a run over `code` covers: the known counties under it, or the region itself
/// when it is a county or has none. Runs are per county so that every clue belongs to the
/// county whose reviewers handle it.
pub async fn counties(store: &Store, code: &str) -> Result<Vec<String>, RunError> {
    if region::level(code) == Ok(region::Level::County) {
        return Ok(vec![code.to_string()]);
    }
    let prefix = format!("{}%", region::prefix(code));
    let rows = sqlx::query(
        "SELECT code FROM regions WHERE level = 'county' AND code LIKE $1 ORDER BY code",
    )
    .bind(prefix)
    .fetch_all(store.pool())
    .await?;
    let found: Vec<String> = rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    Ok(if found.is_empty() {
        vec![code.to_string()]
    } else {
        found
    })
}

/// Queues a run of `model` by hand for every county of `code`, under the enablement that
/// covers it. Refused when the model is quarantined or not enabled there.
pub async fn by_hand(
    store: &Store,
    actor: &Actor,
    model: &str,
    code: &str,
) -> Result<Vec<i64>, RunError> {
    region::level(code).map_err(RunError::Invalid)?;
    super::authorize(store, actor, code).await?;
    if let Some(q) = quarantine::active(store, model).await? {
        return Err(RunError::Quarantined {
            model: model.to_string(),
            reason: q.reason,
        });
    }
    let enabled: Vec<Enablement> = enable::list(store, Some(model))
        .await?
        .into_iter()
        .filter(|e| e.status == "enabled")
        .collect();
    if enabled.is_empty() {
        return Err(RunError::Invalid(format!(
            "model `{model}` is not enabled anywhere: an admin enables it with `supervise model enable`"
        )));
    }
    let e = enabled
        .iter()
        .find(|e| e.regions.iter().any(|r| region::covers(r, code)))
        .ok_or_else(|| {
            let all: Vec<&str> = enabled
                .iter()
                .flat_map(|e| e.regions.iter().map(String::as_str))
                .collect();
            RunError::Invalid(format!(
                "model `{model}` is not enabled for region {code} (it is enabled for: {})",
                all.join(", ")
            ))
        })?;
    let runs: Vec<NewRun> = counties(store, code)
        .await?
        .iter()
        .map(|county| NewRun::of(e, county, "hand", &actor.user))
        .collect();
    let mut tx = store.begin().await?;
    let ids = enqueue_all(&mut tx, &runs).await?;
    audit(
        &mut tx,
        &actor.user,
        "run.queue",
        &format!("model {model}"),
        &serde_json::json!({"region": code, "enablement": e.id, "runs": ids}),
    )
    .await?;
    tx.commit().await?;
    store.ring_queued();
    Ok(ids)
}

/// A worker's hold on a running run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The run.
    pub run_id: i64,
    /// Who holds it.
    pub owner: String,
    /// Unique to this lease: every write of the run's result must present it.
    pub token: String,
    /// The attempt this lease is.
    pub attempt: i64,
}

fn token() -> String {
    let mut b = [0u8; 16];
    // Without OS randomness the time and a counter still make the token unique per lease.
    if getrandom::fill(&mut b).is_err() {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        b[..8].copy_from_slice(&now_ms().to_le_bytes());
        b[8..].copy_from_slice(&n.to_le_bytes());
    }
    hex::encode(b)
}

/// Leases the next runnable run (or run `only`, whenever it is due), for `lease_ms`. Runs of
/// quarantined models wait. On PostgreSQL concurrent workers skip each other's locked rows.
pub async fn lease(
    store: &Store,
    owner: &str,
    lease_ms: i64,
    only: Option<i64>,
) -> Result<Option<Lease>, RunError> {
    let token = token();
    let mut write = store.write_lock().await?;
    let leased = lease_next(&mut write, owner, &token, lease_ms, only).await;
    note_failure(&mut write, &leased);
    Ok(leased?.map(|(lease, _)| lease))
}

/// Notes `result`'s failure on the turn it was written in (see [`WriteGuard::note_failure`]).
fn note_failure<T>(write: &mut WriteGuard, result: &Result<T, RunError>) {
    if let Err(RunError::Store(StoreError::Db(e))) = result {
        write.note_failure(e);
    }
}

/// How a worker asks [`lease_batch`] for work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// First read whether anything is due, so that with nothing due the answer comes without
    /// queueing for the writer, whom a batch's record may hold for a while: a worker asks
    /// after every batch and before it stops. (A run queued just after the read is leased at
    /// the next ask, as one queued just after the lease would be.)
    IfDue,
    /// Lease at once: for a worker that expects runs to be due (it has just started, or its
    /// own process has just told it of runs queued), for whom the read would find them and
    /// only delay the lease.
    AtOnce,
}

/// Leases the next runnable run and, when it is a run of an enablement on the current data,
/// more queued runs of the same enablement, version, parameters and scope (its other
/// counties), all under one token: a batch that shares one preparation, one heartbeat and one
/// finishing transaction. A batch takes at most `max` runs, and at most its fair share among
/// the `slots` that lease such batches (see `lease_siblings`), so that a province's
/// counties are split evenly between the slots instead of the first slot taking them all.
/// Empty when nothing is runnable.
pub async fn lease_batch(
    store: &Store,
    owner: &str,
    lease_ms: i64,
    (max, slots): (usize, usize),
    ask: Ask,
) -> Result<Vec<Lease>, RunError> {
    if ask == Ask::IfDue && !anything_due(store).await? {
        return Ok(Vec::new());
    }
    lease_group(store, owner, lease_ms, None, (max, slots), None).await
}

/// Leases run `first` (queued, due or not, as [`lease`] with `only` does) and, when it is a
/// run of an enablement on the current data, up to `max - 1` more of the runs `among` that
/// would run exactly as it does and are due, under one token: a batch of runs asked for by
/// name (`supervise run --wait`), as [`lease_batch`] leases one of whatever is due. Empty
/// when `first` is not queued (another worker took it, or it ended).
pub async fn lease_batch_among(
    store: &Store,
    owner: &str,
    lease_ms: i64,
    first: i64,
    among: &[i64],
    max: usize,
) -> Result<Vec<Lease>, RunError> {
    lease_group(store, owner, lease_ms, Some(first), (max, 1), Some(among)).await
}

/// Leases run `only` (else the next runnable one) and up to `max - 1` of its siblings (of
/// `among` only, when given) under one token, in the writer's turn: the batch of
/// [`lease_batch`] and [`lease_batch_among`].
async fn lease_group(
    store: &Store,
    owner: &str,
    lease_ms: i64,
    only: Option<i64>,
    (max, slots): (usize, usize),
    among: Option<&[i64]>,
) -> Result<Vec<Lease>, RunError> {
    let token = token();
    let mut write = store.write_lock().await?;
    let leased = async {
        let Some((first, setup)) = lease_next(&mut write, owner, &token, lease_ms, only).await?
        else {
            return Ok(Vec::new());
        };
        let siblings = match setup {
            Some(setup) if max > 1 => {
                let limits = (max - 1, slots.max(1));
                lease_siblings(&mut write, &first, &setup, lease_ms, limits, among).await?
            }
            _ => Vec::new(),
        };
        Ok(std::iter::once(first).chain(siblings).collect())
    }
    .await;
    note_failure(&mut write, &leased);
    leased
}

/// Whether any queued run is due: the runs [`lease_next`] picks from, quarantined models'
/// included (so never false when it would lease one). A read, on the `runs_queue` index.
async fn anything_due(store: &Store) -> Result<bool, RunError> {
    let row =
        sqlx::query("SELECT id FROM runs WHERE status = 'queued' AND not_before_ms <= $1 LIMIT 1")
            .bind(now_ms())
            .fetch_optional(store.pool())
            .await?;
    Ok(row.is_some())
}

fn row_lock(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
        Dialect::Sqlite => "",
    }
}

/// What a leased run of an enablement on the current data shares with the runs that would
/// run exactly as it does (see [`same_setup`]), and how many such runs are queued or
/// running, itself included.
struct Setup {
    enablement: i64,
    version: i64,
    params: String,
    scope: String,
    queued_or_running: i64,
}

/// Leases the next runnable run (or run `only`), with its [`Setup`] when it is a run of an
/// enablement on the current data: one statement, which counts the run's siblings as it
/// leases it, written through `conn` (the connection of this process's turn to write, see
/// [`Store::write_lock`]).
async fn lease_next(
    conn: &mut AnyConnection,
    owner: &str,
    token: &str,
    lease_ms: i64,
    only: Option<i64>,
) -> Result<Option<(Lease, Option<Setup>)>, RunError> {
    // The count's subquery reads runs as SQLite leaves them after the update and as
    // PostgreSQL found them before it: either way the leased run is counted once, as queued
    // or as running.
    let sql = format!(
        "UPDATE runs SET status = 'running', lease_owner = $1, lease_token = $2, lease_expires_ms = $3, \
         attempts = attempts + 1, started_at_ms = $4 \
         WHERE status = 'queued' AND id = (SELECT id FROM runs WHERE status = 'queued' \
           AND (($5 = 0 AND not_before_ms <= $4) OR id = $5) \
           AND (kind <> 'run' OR model_id NOT IN (SELECT model_id FROM quarantines WHERE released_at_ms IS NULL)) \
           ORDER BY priority DESC, id LIMIT 1 {}) \
         RETURNING id, attempts, enablement_id, version_id, params_json, scope_json, \
           CASE WHEN kind = 'run' AND enablement_id IS NOT NULL AND snapshot_id IS NULL \
             AND as_of_days IS NULL \
           THEN (SELECT COUNT(*) FROM runs s WHERE s.status IN ('queued', 'running') AND {}) END",
        row_lock(Dialect::of(conn)),
        same_setup(SIBLING_OF_LEASED),
    );
    let now = now_ms();
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(owner)
        .bind(token)
        .bind(now + lease_ms)
        .bind(now)
        .bind(only.unwrap_or(0))
        .fetch_optional(conn)
        .await?;
    let Some(r) = row else {
        return Ok(None);
    };
    let lease = Lease {
        run_id: r.try_get(0)?,
        owner: owner.to_string(),
        token: token.to_string(),
        attempt: r.try_get(1)?,
    };
    let setup = match r.try_get::<Option<i64>, _>(6)? {
        Some(queued_or_running) => Some(Setup {
            enablement: r.try_get(2)?,
            version: r.try_get(3)?,
            params: r.try_get(4)?,
            scope: r.try_get(5)?,
            queued_or_running,
        }),
        None => None,
    };
    Ok(Some((lease, setup)))
}

/// The setup's values of [`same_setup`] in [`lease_next`]'s count: the leased run's own.
const SIBLING_OF_LEASED: [&str; 4] = [
    "runs.enablement_id",
    "runs.version_id",
    "runs.params_json",
    "runs.scope_json",
];

/// The runs that would run exactly as a batch's first does: runs of the same enablement,
/// version, parameters and scope on the current data. `values`: the enablement, the
/// version, the parameters and the scope they must have (bound parameters or the first run's
/// columns).
fn same_setup([enablement, version, params, scope]: [&str; 4]) -> String {
    format!(
        "kind = 'run' AND enablement_id = {enablement} AND version_id = {version} \
         AND params_json = {params} AND scope_json = {scope} \
         AND snapshot_id IS NULL AND as_of_days IS NULL"
    )
}

/// Leases, under `first`'s token, up to `max` runnable runs that would run exactly as it does
/// (see [`same_setup`]), and no more than its fair share among `slots`: the runs of its setup
/// queued or running (its own and other slots' included) divided by `slots`, rounded up.
/// With `among`, only runs of those ids. Written through `conn`, as [`lease_next`] is.
async fn lease_siblings(
    conn: &mut AnyConnection,
    first: &Lease,
    setup: &Setup,
    lease_ms: i64,
    (max, slots): (usize, usize),
    among: Option<&[i64]>,
) -> Result<Vec<Lease>, RunError> {
    let all = usize::try_from(setup.queued_or_running).unwrap_or(0);
    let share = all.div_ceil(slots).max(1);
    let max = max.min(share - 1);
    if max == 0 || among.is_some_and(<[i64]>::is_empty) {
        return Ok(Vec::new());
    }
    let now = now_ms();
    // The runs are picked once, in a materialised CTE: PostgreSQL may evaluate a LIMIT … FOR
    // UPDATE SKIP LOCKED subquery inside `id IN (…)` more than once and update more rows than
    // its LIMIT (seen: two siblings leased under a limit of one).
    let sql = format!(
        "WITH picked AS MATERIALIZED (SELECT id FROM runs \
           WHERE status = 'queued' AND not_before_ms <= $4 AND {}{} \
           ORDER BY priority DESC, id LIMIT $9 {}) \
         UPDATE runs SET status = 'running', lease_owner = $1, lease_token = $2, lease_expires_ms = $3, \
         attempts = attempts + 1, started_at_ms = $4 \
         WHERE status = 'queued' AND id IN (SELECT id FROM picked) \
         RETURNING id, attempts",
        same_setup(["$5", "$6", "$7", "$8"]),
        among.map_or(String::new(), |ids| {
            // Numbers, so written into the statement rather than bound one by one.
            let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
            format!(" AND id IN ({})", ids.join(", "))
        }),
        row_lock(Dialect::of(conn))
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&first.owner)
        .bind(&first.token)
        .bind(now + lease_ms)
        .bind(now)
        .bind(setup.enablement)
        .bind(setup.version)
        .bind(&setup.params)
        .bind(&setup.scope)
        .bind(i64::try_from(max).unwrap_or(i64::MAX))
        .fetch_all(conn)
        .await?;
    let mut leases = rows
        .iter()
        .map(|r| {
            Ok(Lease {
                run_id: r.try_get(0)?,
                owner: first.owner.clone(),
                token: first.token.clone(),
                attempt: r.try_get(1)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    leases.sort_by_key(|l| l.run_id);
    Ok(leases)
}

/// Gives leased runs back to the queue untouched, as if never leased (their attempt is not
/// counted): a batch stopped early, when its model was about to be quarantined.
pub async fn give_back(store: &Store, leases: &[Lease]) -> Result<(), RunError> {
    for lease in leases {
        sqlx::query(
            "UPDATE runs SET status = 'queued', lease_owner = NULL, lease_token = NULL, \
             lease_expires_ms = NULL, started_at_ms = NULL, attempts = attempts - 1 \
             WHERE id = $1 AND lease_token = $2 AND status = 'running'",
        )
        .bind(lease.run_id)
        .bind(&lease.token)
        .execute(store.pool())
        .await?;
    }
    if !leases.is_empty() {
        store.ring_queued();
    }
    Ok(())
}

/// Extends every lease held under `token` by `lease_ms`. Returns the runs still held, each
/// with whether someone asked to cancel it; a run missing from the answer was lost (it
/// expired and was re-queued or taken).
pub async fn heartbeat(
    store: &Store,
    token: &str,
    lease_ms: i64,
) -> Result<BTreeMap<i64, bool>, RunError> {
    let rows = sqlx::query(
        "UPDATE runs SET lease_expires_ms = $1 WHERE lease_token = $2 AND status = 'running' \
         RETURNING id, cancel_requested",
    )
    .bind(now_ms() + lease_ms)
    .bind(token)
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get::<i64, _>(1)? != 0)))
        .collect()
}

/// Backoff before retry `attempt` (1-based): 2 s, 4 s, 8 s… up to five minutes.
pub fn backoff_ms(attempt: i64) -> i64 {
    let exp = u32::try_from(attempt.clamp(1, 20) - 1).unwrap_or(0);
    (2000i64 << exp).min(MAX_BACKOFF_MS)
}

/// Re-queues (with backoff) the runs whose lease expired: their worker died or lost the
/// database. A run that has used all its attempts fails; one asked to cancel is cancelled.
/// Returns how many leases expired.
pub async fn requeue_expired(store: &Store) -> Result<u64, RunError> {
    let now = now_ms();
    let expired = sqlx::query(
        "SELECT id, attempts, max_attempts, cancel_requested, lease_owner FROM runs \
         WHERE status = 'running' AND lease_expires_ms < $1",
    )
    .bind(now)
    .fetch_all(store.pool())
    .await?;
    let mut n = 0;
    for r in expired {
        let (id, attempts, max, cancel, owner): (i64, i64, i64, i64, Option<String>) = (
            r.try_get(0)?,
            r.try_get(1)?,
            r.try_get(2)?,
            r.try_get(3)?,
            r.try_get(4)?,
        );
        let owner = owner.unwrap_or_default();
        let (status, error) = if cancel != 0 {
            (
                Status::Cancelled,
                format!("cancelled; worker {owner} stopped answering"),
            )
        } else if attempts >= max {
            (
                Status::Failed,
                format!(
                    "host fault: worker {owner} stopped answering (lease expired) on attempt {attempts} of {max}; giving up"
                ),
            )
        } else {
            (
                Status::Queued,
                format!(
                    "worker {owner} stopped answering (lease expired) on attempt {attempts}; re-queued"
                ),
            )
        };
        let finished = status.is_final().then_some(now);
        let done = sqlx::query(
            "UPDATE runs SET status = $1, error = $2, host_fault = 1, lease_owner = NULL, lease_token = NULL, \
             lease_expires_ms = NULL, not_before_ms = $3, finished_at_ms = $4 \
             WHERE id = $5 AND status = 'running' AND lease_expires_ms < $6",
        )
        .bind(status.as_str())
        .bind(&error)
        .bind(now + backoff_ms(attempts))
        .bind(finished)
        .bind(id)
        .bind(now)
        .execute(store.pool())
        .await?;
        if done.rows_affected() == 1 {
            tracing::warn!(run_id = id, "{error}");
            n += 1;
        }
    }
    if n > 0 {
        store.ring_queued();
    }
    Ok(n)
}

/// Gives a leased run back after a host fault: queued again with backoff, or failed when its
/// attempts are used up. Fenced by the lease.
pub async fn retry(store: &Store, lease: &Lease, error: &str) -> Result<Status, RunError> {
    let row = sqlx::query("SELECT max_attempts FROM runs WHERE id = $1")
        .bind(lease.run_id)
        .fetch_one(store.pool())
        .await?;
    let max: i64 = row.try_get(0)?;
    let now = now_ms();
    let (status, text) = if lease.attempt >= max {
        (
            Status::Failed,
            format!(
                "host fault on attempt {} of {max}, giving up: {error}",
                lease.attempt
            ),
        )
    } else {
        (
            Status::Queued,
            format!(
                "host fault on attempt {}, will retry: {error}",
                lease.attempt
            ),
        )
    };
    let done = sqlx::query(
        "UPDATE runs SET status = $1, error = $2, host_fault = 1, lease_owner = NULL, lease_token = NULL, \
         lease_expires_ms = NULL, not_before_ms = $3, finished_at_ms = $4 \
         WHERE id = $5 AND lease_token = $6 AND status = 'running'",
    )
    .bind(status.as_str())
    .bind(&text)
    .bind(now + backoff_ms(lease.attempt))
    .bind(status.is_final().then_some(now))
    .bind(lease.run_id)
    .bind(&lease.token)
    .execute(store.pool())
    .await?;
    if done.rows_affected() != 1 {
        return Err(RunError::LeaseLost(lease.run_id));
    }
    if status == Status::Queued {
        store.ring_queued();
    }
    Ok(status)
}

/// Cancels a run: a queued one at once, a running one at its worker's next heartbeat.
pub async fn cancel(
    store: &Store,
    actor: &Actor,
    id: i64,
    reason: &str,
) -> Result<Status, RunError> {
    if reason.trim().is_empty() {
        return Err(RunError::Invalid("say why (--reason)".into()));
    }
    let region = super::record::get(store, id).await?.region;
    super::authorize(store, actor, &region).await?;
    let mut tx = store.begin().await?;
    let status: String = sqlx::query("SELECT status FROM runs WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| RunError::NotFound(format!("run {id}")))?
        .try_get(0)?;
    let now = now_ms();
    let result = match status.as_str() {
        "queued" => {
            sqlx::query(
                "UPDATE runs SET status = 'cancelled', cancel_requested = 1, error = $1, finished_at_ms = $2 \
                 WHERE id = $3 AND status = 'queued'",
            )
            .bind(format!("cancelled by {} before it ran: {reason}", actor.user))
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            Status::Cancelled
        }
        "running" => {
            sqlx::query("UPDATE runs SET cancel_requested = 1 WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            Status::Running
        }
        other => {
            return Err(RunError::Conflict(format!(
                "run {id} has already ended ({other}); nothing to cancel"
            )));
        }
    };
    audit(
        &mut tx,
        &actor.user,
        "run.cancel",
        &format!("run {id}"),
        &serde_json::json!({"reason": reason, "was": status}),
    )
    .await?;
    tx.commit().await?;
    Ok(result)
}

/// Runs waiting and running, by status: the queue depth.
pub async fn depth(store: &Store) -> Result<Vec<(String, i64)>, RunError> {
    let rows = sqlx::query(
        "SELECT status, COUNT(*) FROM runs WHERE status IN ('queued', 'running') GROUP BY status",
    )
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}
