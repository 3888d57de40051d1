//! Executing leased runs: re-verify and load the component, fix the snapshot, run the model
//! in the sandbox on a blocking thread while a heartbeat keeps the lease (and carries
//! cancellation), then finish the run in one transaction with its clues, fenced by the lease.
//!
//! A batch (see [`queue::lease_batch`]: the counties of one enablement, under one lease token)
//! shares all of that but the sandbox: the component is verified and the snapshot fixed once,
//! one heartbeat keeps every lease, each run gets its own fresh instance, limits and outcome,
//! and the runs that ended are finished together in one transaction.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::Row;
use tracing::Instrument;

use crate::clues::dedup::Keyed;
use crate::datasets::feed::StoreSource;
use crate::datasets::snapshot::Snapshot;
use crate::registry::RegistryError;
use crate::registry::enable::{
    self, ENABLEMENT_COLUMNS, ENABLEMENT_WIDTH, Enablement, enablement_at, runtime_scope,
    typed_params,
};
use crate::registry::load::{CHANGES, verify_and_load};
use crate::registry::review::{self, VersionRecord};
use crate::runtime::state::RunInfo;
use crate::runtime::{
    Cancel, LoadedModel, Outcome, RunLimits, RunOutcome, RunRequest, Runtime, RuntimeError, Scope,
    Value,
};
use crate::store::{Store, audit, now_ms};

use super::finish::{self, Executed};
use super::metrics::Metrics;
use super::queue::{self, Lease};
use super::{Kind, RunError, Status, quarantine};

/// Called once when a batch's runs have left the sandbox (see
/// [`Executor::execute_batch_then`]).
pub type Sandboxed = Box<dyn FnOnce() + Send>;

/// How runs are executed.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Limits for every run.
    pub limits: RunLimits,
    /// How long a lease lasts without a heartbeat; heartbeats come three times as often.
    pub lease_ms: i64,
    /// Model failures in a row that quarantine a model (0: never).
    pub quarantine_after: u32,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            limits: RunLimits::default(),
            lease_ms: 30_000,
            quarantine_after: quarantine::DEFAULT_AFTER,
        }
    }
}

/// Runs leased runs. Share it between a worker's tasks.
pub struct Executor {
    store: Store,
    runtime: Arc<Runtime>,
    config: ExecutorConfig,
    metrics: Arc<Metrics>,
}

/// A run as queued.
#[derive(Debug, Clone)]
pub(super) struct Job {
    pub(super) kind: Kind,
    enablement_id: Option<i64>,
    pub(super) model: String,
    pub(super) version_id: i64,
    pub(super) region: String,
    params: BTreeMap<String, String>,
    scope: Vec<String>,
    snapshot_id: Option<i64>,
    as_of_days: Option<i64>,
    cancel_requested: bool,
}

/// Columns of a run's row that [`job`] reads; the enablement's follow them.
const RUN_COLUMNS: usize = 11;

/// Where [`Executor::jobs`]'s rows give the store's count of component changes: after the
/// run's and the enablement's columns.
const CHANGES_AT: usize = RUN_COLUMNS + ENABLEMENT_WIDTH;

/// Where the version record's columns start in [`Executor::jobs`]'s rows.
const VERSION_AT: usize = CHANGES_AT + 1;

/// Leased runs as queued, the enablements they belong to and the version record the first
/// would run (see [`Executor::jobs`]).
#[derive(Default)]
struct Jobs {
    runs: BTreeMap<i64, Result<Job, RunError>>,
    enablements: BTreeMap<i64, Enablement>,
    version: Option<VersionRead>,
}

/// A version record read with a batch's runs, and the store's count of component changes as
/// that statement saw it ([`crate::registry::load::CHANGES`]).
#[derive(Clone)]
struct VersionRead {
    record: VersionRecord,
    changes: Option<i64>,
}

/// A run's row as a job.
fn job(id: i64, r: &sqlx::any::AnyRow) -> Result<Job, RunError> {
    let kind: String = r.try_get(1)?;
    let corrupt = |e: serde_json::Error| RunError::Invalid(format!("run {id} is corrupt: {e}"));
    Ok(Job {
        kind: Kind::parse(&kind)
            .ok_or_else(|| RunError::Invalid(format!("run {id} has unknown kind `{kind}`")))?,
        model: r.try_get(2)?,
        version_id: r.try_get(3)?,
        region: r.try_get(4)?,
        params: serde_json::from_str(&r.try_get::<String, _>(5)?).map_err(corrupt)?,
        scope: serde_json::from_str(&r.try_get::<String, _>(6)?).map_err(corrupt)?,
        snapshot_id: r.try_get(7)?,
        as_of_days: r.try_get(8)?,
        cancel_requested: r.try_get::<i64, _>(9)? != 0,
        enablement_id: r.try_get(10)?,
    })
}

impl Job {
    /// Whether two runs would run the same way (and may share one preparation).
    fn same_setup(&self, other: &Job) -> bool {
        (self.kind, self.version_id, &self.params, &self.scope)
            == (other.kind, other.version_id, &other.params, &other.scope)
            && (self.snapshot_id, self.as_of_days) == (other.snapshot_id, other.as_of_days)
    }
}

/// Everything the runs of a batch need before the sandbox starts.
pub(super) struct Prepared {
    pub(super) model: Arc<LoadedModel>,
    pub(super) version: String,
    pub(super) snapshot_id: i64,
    pub(super) as_of_days: i64,
    params: Vec<(String, Value)>,
    scope: Scope,
    source: Arc<StoreSource>,
}

impl Prepared {
    /// The sandbox's request for one run of the batch.
    fn request(&self, run_id: i64, job: &Job, limits: &RunLimits, cancel: Cancel) -> RunRequest {
        RunRequest {
            info: RunInfo {
                region: job.region.clone(),
                as_of: i32::try_from(self.as_of_days).unwrap_or_default(),
                run_id: run_id.to_string(),
            },
            params: self.params.clone(),
            scope: Some(self.scope.clone()),
            limits: limits.clone(),
            source: self.source.clone(),
            cancel,
        }
    }
}

/// One run of a batch, ready to execute.
struct Ready<'a> {
    lease: &'a Lease,
    job: Job,
}

/// Why preparing failed: the host's fault (retry) or the run's (fail it).
enum PrepareError {
    Host(RunError),
    Run(String),
}

impl From<RunError> for PrepareError {
    fn from(e: RunError) -> Self {
        if e.is_host_fault() {
            PrepareError::Host(e)
        } else {
            PrepareError::Run(e.to_string())
        }
    }
}

impl From<sqlx::Error> for PrepareError {
    fn from(e: sqlx::Error) -> Self {
        PrepareError::Host(e.into())
    }
}

/// Today as days since 1970-01-01, in the server's local time zone.
pub fn today() -> i64 {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (chrono::Local::now().date_naive() - epoch).num_days()
}

impl Executor {
    /// An executor over a store and a runtime.
    pub fn new(
        store: Store,
        runtime: Arc<Runtime>,
        config: ExecutorConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        Executor {
            store,
            runtime,
            config,
            metrics,
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The sandbox it runs models in.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// The settings.
    pub fn config(&self) -> &ExecutorConfig {
        &self.config
    }

    /// The metrics it reports to.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The runs `ids` as queued, with the enablements they belong to and the version record
    /// the first would run (its enablement's version, else its own; a batch's runs share it,
    /// so it comes on the first run's row only) with the store's count of component changes,
    /// read in one query; a run that is not in the store is missing from the answer, and a
    /// corrupt one is an error in its place. An enablement or a version record that cannot be
    /// read here is left out (read again, and failed on, in [`Executor::follow_enablement`]
    /// and [`Executor::prepare`]).
    async fn jobs(&self, ids: &[i64]) -> Result<Jobs, RunError> {
        let d = self.store.dialect();
        let list: Vec<String> = (1..=ids.len()).map(|i| d.param(i)).collect();
        let sql = format!(
            "SELECT r.id, r.kind, r.model_id, r.version_id, r.region, r.params_json, r.scope_json, \
             r.snapshot_id, r.as_of_days, r.cancel_requested, r.enablement_id, {ENABLEMENT_COLUMNS}, \
             {CHANGES}, {} FROM runs r LEFT JOIN enablements e ON e.id = r.enablement_id \
             LEFT JOIN model_versions v ON v.id = e.version_id \
             LEFT JOIN model_versions mv ON mv.id = COALESCE(e.version_id, r.version_id) \
               AND r.id = $1 \
             WHERE r.id IN ({})",
            review::COLUMNS,
            list.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in ids {
            q = q.bind(*id);
        }
        let rows = q.fetch_all(self.store.pool()).await?;
        let mut jobs = Jobs::default();
        for r in &rows {
            let id: i64 = r.try_get(0)?;
            jobs.runs.insert(id, job(id, r));
            // A run of no enablement reads its columns as NULL, which is no enablement.
            if let Ok(e) = enablement_at(r, RUN_COLUMNS) {
                jobs.enablements.insert(e.id, e);
            }
            // Only the first run's row carries the version record.
            if ids.first() == Some(&id) {
                jobs.version = review::record_at(r, VERSION_AT)
                    .ok()
                    .map(|record| VersionRead {
                        record,
                        changes: r.try_get(CHANGES_AT).ok(),
                    });
            }
        }
        Ok(jobs)
    }

    /// Prepares the runs of `job`'s setup: `version` is its version record when read with
    /// the batch's runs; else it is read here.
    async fn prepare(
        &self,
        job: &Job,
        version: Option<VersionRead>,
    ) -> Result<Prepared, PrepareError> {
        let registry = |e: RegistryError| match e {
            RegistryError::Store(_) => PrepareError::Host(e.into()),
            e => PrepareError::Run(e.to_string()),
        };
        let (version, changes) = match version {
            Some(v) => (v.record, v.changes),
            None => {
                let record = review::get_by_id(&self.store, job.version_id)
                    .await
                    .map_err(registry)?;
                (record, None)
            }
        };
        // The snapshot is fixed (round trips to the store) on a task of its own while this one
        // re-verifies the component (unless the count read with the record says nothing it
        // reads has changed, a round trip, then hashing): from the datasets the
        // record names, which the verification checks are the component's.
        let datasets = version
            .manifest
            .datasets
            .iter()
            .map(|d| d.name.clone())
            .collect();
        let fixing = tokio::spawn(fix_snapshot(self.store.clone(), job.snapshot_id, datasets));
        let model = verify_and_load(&self.store, &self.runtime, &version, changes).await;
        let fixed = fixing
            .await
            .map_err(|e| PrepareError::Run(format!("fixing the run's snapshot failed: {e}")))?;
        let model = model.map_err(registry)?;
        let (snapshot_id, source) = fixed?;
        let m = &model.manifest;
        let params = typed_params(m, &job.params).map_err(|e| PrepareError::Run(e.to_string()))?;
        Ok(Prepared {
            scope: runtime_scope(m, &job.scope),
            model,
            version: version.version,
            snapshot_id,
            as_of_days: job.as_of_days.unwrap_or_else(today),
            params,
            source: Arc::new(source),
        })
    }

    /// Keeps the leases under `token` alive until the returned task is aborted; cancels a
    /// run when asked to, and every run when a lease is lost (sets `lost`).
    fn heartbeat(
        &self,
        token: &str,
        cancels: BTreeMap<i64, Cancel>,
        lost: Arc<AtomicBool>,
    ) -> tokio::task::JoinHandle<()> {
        let (store, token, lease_ms) =
            (self.store.clone(), token.to_string(), self.config.lease_ms);
        let every = Duration::from_millis(u64::try_from(lease_ms / 3).unwrap_or(1000).max(10));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let held = match queue::heartbeat(&store, &token, lease_ms).await {
                    Ok(held) => held,
                    Err(e) => {
                        tracing::warn!(runs = cancels.len(), "heartbeat failed: {e}");
                        continue;
                    }
                };
                for (id, cancel) in &cancels {
                    match held.get(id) {
                        Some(true) => cancel.cancel(),
                        Some(false) => {}
                        None => {
                            tracing::warn!(run_id = id, "lease lost");
                            lost.store(true, Ordering::Relaxed);
                            cancels.values().for_each(Cancel::cancel);
                            return;
                        }
                    }
                }
            }
        })
    }

    /// Executes a leased run to its end and records it. Returns the run's status afterwards
    /// (`Queued` when a host fault sent it back for a retry).
    pub async fn execute(&self, lease: &Lease) -> Result<Status, RunError> {
        let mut results = self.execute_batch(std::slice::from_ref(lease)).await;
        results
            .pop()
            .unwrap_or(Err(RunError::NotFound(format!("run {}", lease.run_id))))
    }

    /// Executes leased runs (a batch from [`queue::lease_batch`]) to their end and records
    /// them. Returns each run's status afterwards, in the order of `leases` (`Queued` when a
    /// host fault sent it back for a retry, or the batch stopped before it).
    pub async fn execute_batch(&self, leases: &[Lease]) -> Vec<Result<Status, RunError>> {
        self.execute_batch_then(leases, Box::new(|| {})).await
    }

    /// As [`Executor::execute_batch`], calling `sandboxed` once: when the batch's last runs
    /// have left the sandbox, all succeeded, before they wait for the store to record them;
    /// otherwise (a failure, which may quarantine the model, or no run started) when the
    /// batch is done. A worker frees its slot there, so that its next batch runs while this
    /// one's records wait for the writer.
    pub async fn execute_batch_then(
        &self,
        leases: &[Lease],
        sandboxed: Sandboxed,
    ) -> Vec<Result<Status, RunError>> {
        let Some(first) = leases.first() else {
            sandboxed();
            return Vec::new();
        };
        let span = tracing::info_span!("runs", run_id = first.run_id, runs = leases.len());
        self.execute_leased(leases, sandboxed)
            .instrument(span)
            .await
    }

    async fn execute_leased(
        &self,
        leases: &[Lease],
        sandboxed: Sandboxed,
    ) -> Vec<Result<Status, RunError>> {
        let mut sandboxed = Some(sandboxed);
        let mut results: BTreeMap<i64, Result<Status, RunError>> = BTreeMap::new();
        let ids: Vec<i64> = leases.iter().map(|l| l.run_id).collect();
        let Jobs {
            runs: mut jobs,
            mut enablements,
            version,
        } = match self.jobs(&ids).await {
            Ok(jobs) => jobs,
            Err(e) => {
                // The store is unreachable: every run goes back for a retry.
                let why = e.to_string();
                let mut out = Vec::with_capacity(leases.len());
                for lease in leases {
                    out.push(self.retry(lease, &why).await);
                }
                return out;
            }
        };
        let mut ready: Vec<Ready<'_>> = Vec::new();
        for lease in leases {
            let job = match jobs.remove(&lease.run_id) {
                Some(Ok(job)) => job,
                Some(Err(e)) => {
                    results.insert(lease.run_id, Err(e));
                    continue;
                }
                None => {
                    let missing = RunError::NotFound(format!("run {}", lease.run_id));
                    results.insert(lease.run_id, Err(missing));
                    continue;
                }
            };
            if let Some(ended) = self
                .before_start(lease, job, &mut enablements, &mut ready)
                .await
            {
                results.insert(lease.run_id, ended);
            }
        }
        // Runs that would run the same way share a preparation; a batch is one such group.
        while let Some(head) = ready.first().map(|r| r.job.clone()) {
            let (group, rest): (Vec<Ready<'_>>, Vec<Ready<'_>>) =
                ready.into_iter().partition(|r| r.job.same_setup(&head));
            ready = rest;
            // The last group gets the hook; a batch of one setup (the usual) is one group.
            let hook = if ready.is_empty() {
                &mut sandboxed
            } else {
                &mut None
            };
            let version = version
                .as_ref()
                .filter(|v| v.record.id == head.version_id)
                .cloned();
            for (id, result) in self.run_group(group, version, hook).await {
                results.insert(id, result);
            }
        }
        if let Some(hook) = sandboxed.take() {
            hook();
        }
        leases
            .iter()
            .map(|l| {
                results
                    .remove(&l.run_id)
                    .unwrap_or(Err(RunError::NotFound(format!("run {}", l.run_id))))
            })
            .collect()
    }

    /// Ends a run that must not start (its enablement was disabled, or it was cancelled),
    /// or adds it to `ready`. `enablements` keeps the enablements read with the batch's runs
    /// and since.
    async fn before_start<'a>(
        &self,
        lease: &'a Lease,
        mut job: Job,
        enablements: &mut BTreeMap<i64, Enablement>,
        ready: &mut Vec<Ready<'a>>,
    ) -> Option<Result<Status, RunError>> {
        match self.follow_enablement(lease, &mut job, enablements).await {
            Err(e) => Some(Err(e)),
            Ok(Some(stop)) => Some(
                self.end_without_running(lease, Status::Cancelled, &stop)
                    .await,
            ),
            Ok(None) if job.cancel_requested => Some(
                self.end_without_running(lease, Status::Cancelled, "cancelled before it started")
                    .await,
            ),
            Ok(None) => {
                ready.push(Ready { lease, job });
                None
            }
        }
    }

    /// A run of an enablement runs what the enablement says when it starts: after an upgrade
    /// or a rollback, the version it has then, with its parameters and scope. Returns why it
    /// must not run when the enablement was disabled.
    async fn follow_enablement(
        &self,
        lease: &Lease,
        job: &mut Job,
        enablements: &mut BTreeMap<i64, Enablement>,
    ) -> Result<Option<String>, RunError> {
        let (Kind::Run, Some(id)) = (job.kind, job.enablement_id) else {
            return Ok(None);
        };
        let e = match enablements.get(&id) {
            Some(e) => e,
            None => enablements
                .entry(id)
                .or_insert(enable::get(&self.store, id).await?),
        };
        if e.status != "enabled" {
            return Ok(Some(format!(
                "enablement {id} was {} before the run started",
                e.status
            )));
        }
        if e.version_id != job.version_id {
            sqlx::query(
                "UPDATE runs SET version_id = $1, params_json = $2, scope_json = $3 WHERE id = $4 AND lease_token = $5",
            )
            .bind(e.version_id)
            .bind(serde_json::to_string(&e.params).unwrap_or_default())
            .bind(serde_json::to_string(&e.scope).unwrap_or_default())
            .bind(lease.run_id)
            .bind(&lease.token)
            .execute(self.store.pool())
            .await?;
            job.version_id = e.version_id;
            job.params = e.params.clone();
            job.scope = e.scope.clone();
        }
        Ok(None)
    }

    /// Runs a group of runs that share one setup: prepared once (its version record
    /// `version` when read with the batch's runs), one heartbeat for all, each
    /// run in its own sandbox instance one after another, then those that ended recorded
    /// together. Stops early, giving the rest back to the queue, when the model has failed as
    /// many runs in a row as quarantine it. Takes and calls `sandboxed` when the runs have
    /// left the sandbox and all succeeded; otherwise the caller calls it once the group is
    /// done (after the quarantine check).
    async fn run_group(
        &self,
        group: Vec<Ready<'_>>,
        version: Option<VersionRead>,
        sandboxed: &mut Option<Sandboxed>,
    ) -> Vec<(i64, Result<Status, RunError>)> {
        let mut results = Vec::with_capacity(group.len());
        let Some(head) = group.first().map(|r| r.job.clone()) else {
            return results;
        };
        let started = std::time::Instant::now();
        let prepared = self.prepare(&head, version).await;
        self.metrics.observe_phase("prepare", started.elapsed());
        let prepared = match prepared {
            Ok(p) => p,
            Err(PrepareError::Host(e)) => {
                for r in &group {
                    results.push((r.lease.run_id, self.retry(r.lease, &e.to_string()).await));
                }
                return results;
            }
            Err(PrepareError::Run(text)) => {
                for r in &group {
                    let ended = self
                        .end_without_running(r.lease, Status::Failed, &text)
                        .await;
                    results.push((r.lease.run_id, ended));
                }
                self.after_failure(&head).await;
                return results;
            }
        };
        let cancels: BTreeMap<i64, Cancel> = group
            .iter()
            .map(|r| (r.lease.run_id, Cancel::default()))
            .collect();
        let requests: Vec<RunRequest> = group
            .iter()
            .map(|r| {
                let cancel = cancels[&r.lease.run_id].clone();
                prepared.request(r.lease.run_id, &r.job, &self.config.limits, cancel)
            })
            .collect();
        let lost = Arc::new(AtomicBool::new(false));
        let beat = self.heartbeat(&group[0].lease.token, cancels, lost.clone());
        let stop_after = match head.kind {
            Kind::Run => self.config.quarantine_after as usize,
            Kind::Replay | Kind::Backtest => 0,
        };
        let (runtime, model) = (self.runtime.clone(), prepared.model.clone());
        let started = std::time::Instant::now();
        let outs =
            tokio::task::spawn_blocking(move || run_all(&runtime, &model, requests, stop_after))
                .await;
        self.metrics.observe_phase("sandbox", started.elapsed());
        beat.abort();
        if lost.load(Ordering::Relaxed) {
            return group
                .iter()
                .map(|r| (r.lease.run_id, Err(RunError::LeaseLost(r.lease.run_id))))
                .collect();
        }
        let outs = match outs {
            Ok(outs) => outs,
            Err(e) => {
                let why = format!("the run's thread died: {e}");
                for r in &group {
                    results.push((r.lease.run_id, self.retry(r.lease, &why).await));
                }
                return results;
            }
        };
        let mut failed = false;
        let mut executed: Vec<Executed<'_>> = Vec::new();
        let mut group = group.into_iter();
        for out in outs {
            let Some(Ready { lease, job }) = group.next() else {
                break;
            };
            match out {
                Err(e) => {
                    failed = true;
                    let ended = self
                        .end_without_running(lease, Status::Failed, &e.to_string())
                        .await;
                    results.push((lease.run_id, ended));
                }
                Ok(out) if out.outcome.failure().is_some_and(|f| f.is_host_fault()) => {
                    let why = out.outcome.failure().map(ToString::to_string);
                    let retried = self.retry(lease, &why.unwrap_or_default()).await;
                    results.push((lease.run_id, retried));
                }
                Ok(out) => executed.push((lease, job, out)),
            }
        }
        let not_run: Vec<Lease> = group.map(|r| r.lease.clone()).collect();
        if !not_run.is_empty() {
            tracing::warn!(
                runs = not_run.len(),
                "the model failed {stop_after} runs in a row: the rest of the batch goes back to the queue"
            );
            let given = queue::give_back(&self.store, &not_run).await;
            for lease in &not_run {
                let status = match &given {
                    Ok(()) => Ok(Status::Queued),
                    Err(e) => Err(RunError::Invalid(format!("cannot give the run back: {e}"))),
                };
                results.push((lease.run_id, status));
            }
        }
        // A batch that went cleanly frees its slot now; one with a failure keeps it until the
        // quarantine check below, so that the worker leases nothing more of a model about to
        // be quarantined.
        let clean = !failed
            && not_run.is_empty()
            && executed
                .iter()
                .all(|(_, _, out)| out.outcome == Outcome::Succeeded);
        if let Some(hook) = sandboxed.take_if(|_| clean) {
            hook();
        }
        match self.finish(&prepared, &executed).await {
            Ok(statuses) => {
                for ((lease, _, out), status) in executed.iter().zip(statuses) {
                    self.metrics.observe_run(
                        status,
                        Duration::from_micros(out.stats.wall_us),
                        out.stats.fuel_used,
                    );
                    failed |= matches!(status, Status::Failed | Status::TimedOut);
                    results.push((lease.run_id, Ok(status)));
                }
            }
            Err(e) => {
                tracing::warn!("runs not recorded: {e}");
                for (lease, _, _) in &executed {
                    results.push((lease.run_id, Err(RunError::LeaseLost(lease.run_id))));
                }
            }
        }
        if failed {
            self.after_failure(&head).await;
        }
        results
    }

    async fn after_failure(&self, job: &Job) {
        if job.kind != Kind::Run {
            return;
        }
        if let Err(e) =
            quarantine::check(&self.store, &job.model, self.config.quarantine_after).await
        {
            tracing::warn!(model = %job.model, "quarantine check failed: {e}");
        }
    }

    async fn retry(&self, lease: &Lease, error: &str) -> Result<Status, RunError> {
        tracing::warn!("host fault, giving the run back: {error}");
        self.metrics.retried();
        let status = queue::retry(&self.store, lease, error).await?;
        if status.is_final() {
            self.metrics.observe_run(status, Duration::ZERO, 0);
        }
        Ok(status)
    }

    async fn end_without_running(
        &self,
        lease: &Lease,
        status: Status,
        error: &str,
    ) -> Result<Status, RunError> {
        tracing::warn!("run ends {status}: {error}");
        let mut tx = self.store.begin().await?;
        let done = sqlx::query(
            "UPDATE runs SET status = $1, error = $2, host_fault = 0, lease_expires_ms = NULL, finished_at_ms = $3 \
             WHERE id = $4 AND lease_token = $5 AND status = 'running'",
        )
        .bind(status.as_str())
        .bind(error)
        .bind(now_ms())
        .bind(lease.run_id)
        .bind(&lease.token)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(RunError::LeaseLost(lease.run_id));
        }
        let detail = serde_json::json!({"status": status, "error": error});
        audit(
            &mut tx,
            &lease.owner,
            "run.finish",
            &format!("run {}", lease.run_id),
            &detail,
        )
        .await?;
        tx.commit().await?;
        self.metrics.observe_run(status, Duration::ZERO, 0);
        Ok(status)
    }

    /// Writes the records of runs that ended, and their clues, in one transaction, if every
    /// lease still holds (else nothing of it is written, and the error names the first run
    /// whose lease was lost).
    async fn finish(
        &self,
        p: &Prepared,
        executed: &[Executed<'_>],
    ) -> Result<Vec<Status>, RunError> {
        if executed.is_empty() {
            return Ok(Vec::new());
        }
        // Hashing and serialising the clues happens before the transaction takes the writer.
        let keying = std::time::Instant::now();
        let keyed: Vec<Keyed<'_>> = executed
            .iter()
            .map(|(_, _, out)| Keyed::new(&out.clues))
            .collect();
        self.metrics.observe_phase("key", keying.elapsed());
        let now = now_ms();
        let waited = std::time::Instant::now();
        let mut tx = self.store.begin().await?;
        self.metrics.observe_phase("record_wait", waited.elapsed());
        let started = std::time::Instant::now();
        let counts = finish::record_clues(&mut tx, p, executed, &keyed, now).await?;
        let statuses = finish::record_runs(&mut tx, p, executed, &counts, now).await?;
        tx.commit().await?;
        self.metrics.observe_phase("record", started.elapsed());
        tracing::info!(runs = executed.len(), "runs recorded");
        Ok(statuses)
    }
}

/// The snapshot a run reads (a replay's own, `replay`, else the current data of `datasets`,
/// stored) and the source serving it.
async fn fix_snapshot(
    store: Store,
    replay: Option<i64>,
    datasets: Vec<String>,
) -> Result<(i64, StoreSource), PrepareError> {
    let (snapshot_id, snapshot) = match replay {
        Some(id) => {
            let snapshot = Snapshot::load(&store, id)
                .await
                .map_err(RunError::from)?
                .ok_or_else(|| PrepareError::Run(format!("snapshot {id} is missing")))?;
            (id, snapshot)
        }
        None => {
            let snapshot = Snapshot::current(&store, &datasets)
                .await
                .map_err(RunError::from)?;
            let id = snapshot.save(&store).await.map_err(RunError::from)?;
            (id, snapshot)
        }
    };
    let source = StoreSource::new(&store, &snapshot)
        .await
        .map_err(RunError::from)?;
    Ok((snapshot_id, source))
}

/// Runs each request in turn in a fresh instance; stops after `stop_after` model failures in
/// a row (0: never), so that fewer outcomes than requests may come back.
fn run_all(
    runtime: &Runtime,
    model: &LoadedModel,
    requests: Vec<RunRequest>,
    stop_after: usize,
) -> Vec<Result<RunOutcome, RuntimeError>> {
    let mut outs = Vec::with_capacity(requests.len());
    let mut failures_in_a_row = 0;
    for request in requests {
        if stop_after > 0 && failures_in_a_row >= stop_after {
            break;
        }
        let out = runtime.run(model, request);
        let model_failed = match &out {
            Err(_) => true,
            Ok(o) => o
                .outcome
                .failure()
                .is_some_and(|f| !f.is_host_fault() && !matches!(o.outcome, Outcome::Cancelled)),
        };
        failures_in_a_row = if model_failed {
            failures_in_a_row + 1
        } else {
            0
        };
        outs.push(out);
    }
    outs
}
