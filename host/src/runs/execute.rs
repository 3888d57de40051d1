//! Executing one leased run: re-verify and load the component, fix the snapshot, run the
//! model in the sandbox on a blocking thread while a heartbeat keeps the lease (and carries
//! cancellation), then finish the run in one transaction with its clues, fenced by the lease.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::Row;
use tracing::Instrument;

use crate::clues::dedup::{self, Origin};
use crate::datasets::feed::StoreSource;
use crate::datasets::snapshot::Snapshot;
use crate::registry::RegistryError;
use crate::registry::enable::{self, runtime_scope, typed_params};
use crate::registry::load::load_verified;
use crate::runtime::state::RunInfo;
use crate::runtime::{Cancel, LoadedModel, Outcome, RunLimits, RunOutcome, RunRequest, Runtime};
use crate::store::{Store, audit, now_ms};

use super::metrics::Metrics;
use super::queue::{self, Beat, Lease};
use super::record::excerpt;
use super::{Kind, RunError, Status, quarantine};

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
struct Job {
    kind: Kind,
    enablement_id: Option<i64>,
    model: String,
    version_id: i64,
    region: String,
    params: BTreeMap<String, String>,
    scope: Vec<String>,
    snapshot_id: Option<i64>,
    as_of_days: Option<i64>,
    cancel_requested: bool,
}

/// Everything a run needs before the sandbox starts.
struct Prepared {
    model: Arc<LoadedModel>,
    version: String,
    snapshot_id: i64,
    as_of_days: i64,
    request: RunRequest,
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

    async fn job(&self, id: i64) -> Result<Job, RunError> {
        let r = sqlx::query(
            "SELECT kind, model_id, version_id, region, params_json, scope_json, snapshot_id, as_of_days, cancel_requested, \
             enablement_id \
             FROM runs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.store.pool())
        .await?
        .ok_or_else(|| RunError::NotFound(format!("run {id}")))?;
        let kind: String = r.try_get(0)?;
        let corrupt = |e: serde_json::Error| RunError::Invalid(format!("run {id} is corrupt: {e}"));
        Ok(Job {
            kind: Kind::parse(&kind)
                .ok_or_else(|| RunError::Invalid(format!("run {id} has unknown kind `{kind}`")))?,
            model: r.try_get(1)?,
            version_id: r.try_get(2)?,
            region: r.try_get(3)?,
            params: serde_json::from_str(&r.try_get::<String, _>(4)?).map_err(corrupt)?,
            scope: serde_json::from_str(&r.try_get::<String, _>(5)?).map_err(corrupt)?,
            snapshot_id: r.try_get(6)?,
            as_of_days: r.try_get(7)?,
            cancel_requested: r.try_get::<i64, _>(8)? != 0,
            enablement_id: r.try_get(9)?,
        })
    }

    async fn prepare(&self, id: i64, job: &Job, cancel: Cancel) -> Result<Prepared, PrepareError> {
        let (version, model) = load_verified(&self.store, &self.runtime, job.version_id)
            .await
            .map_err(|e| match e {
                RegistryError::Store(_) => PrepareError::Host(e.into()),
                e => PrepareError::Run(e.to_string()),
            })?;
        let m = &model.manifest;
        // A replay reads the snapshot it is given; any other run fixes the current one.
        let (snapshot_id, snapshot) = match job.snapshot_id {
            Some(id) => {
                let snapshot = Snapshot::load(&self.store, id)
                    .await
                    .map_err(RunError::from)?
                    .ok_or_else(|| PrepareError::Run(format!("snapshot {id} is missing")))?;
                (id, snapshot)
            }
            None => {
                let datasets: Vec<&str> = m.datasets.iter().map(|d| d.name.as_str()).collect();
                let snapshot = Snapshot::current(&self.store, &datasets)
                    .await
                    .map_err(RunError::from)?;
                let id = snapshot.save(&self.store).await.map_err(RunError::from)?;
                (id, snapshot)
            }
        };
        let source = StoreSource::new(&self.store, &snapshot)
            .await
            .map_err(RunError::from)?;
        let params = typed_params(m, &job.params).map_err(|e| PrepareError::Run(e.to_string()))?;
        let as_of_days = job.as_of_days.unwrap_or_else(today);
        let request = RunRequest {
            info: RunInfo {
                region: job.region.clone(),
                as_of: i32::try_from(as_of_days).unwrap_or_default(),
                run_id: id.to_string(),
            },
            params,
            scope: Some(runtime_scope(m, &job.scope)),
            limits: self.config.limits.clone(),
            source: Arc::new(source),
            cancel,
        };
        Ok(Prepared {
            model,
            version: version.version,
            snapshot_id,
            as_of_days,
            request,
        })
    }

    /// Keeps the lease alive until the returned flag's owner aborts the task; cancels the run
    /// when asked to, or when the lease is lost (sets `lost`).
    fn heartbeat(
        &self,
        lease: &Lease,
        cancel: Cancel,
        lost: Arc<AtomicBool>,
    ) -> tokio::task::JoinHandle<()> {
        let (store, lease, lease_ms) = (self.store.clone(), lease.clone(), self.config.lease_ms);
        let every = Duration::from_millis(u64::try_from(lease_ms / 3).unwrap_or(1000).max(10));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match queue::heartbeat(&store, &lease, lease_ms).await {
                    Ok(Beat::Held) => {}
                    Ok(Beat::CancelRequested) => cancel.cancel(),
                    Ok(Beat::Lost) => {
                        lost.store(true, Ordering::Relaxed);
                        cancel.cancel();
                        return;
                    }
                    Err(e) => tracing::warn!(run_id = lease.run_id, "heartbeat failed: {e}"),
                }
            }
        })
    }

    /// Executes a leased run to its end and records it. Returns the run's status afterwards
    /// (`Queued` when a host fault sent it back for a retry).
    pub async fn execute(&self, lease: &Lease) -> Result<Status, RunError> {
        let span = tracing::info_span!("run", run_id = lease.run_id, attempt = lease.attempt);
        self.execute_leased(lease).instrument(span).await
    }

    async fn execute_leased(&self, lease: &Lease) -> Result<Status, RunError> {
        let mut job = self.job(lease.run_id).await?;
        if let Some(stop) = self.follow_enablement(lease, &mut job).await? {
            return self
                .end_without_running(lease, Status::Cancelled, &stop)
                .await;
        }
        let cancel = Cancel::default();
        if job.cancel_requested {
            return self
                .end_without_running(lease, Status::Cancelled, "cancelled before it started")
                .await;
        }
        let prepared = match self.prepare(lease.run_id, &job, cancel.clone()).await {
            Ok(p) => p,
            Err(PrepareError::Host(e)) => return self.retry(lease, &e.to_string()).await,
            Err(PrepareError::Run(text)) => {
                let status = self
                    .end_without_running(lease, Status::Failed, &text)
                    .await?;
                self.after_failure(&job).await;
                return Ok(status);
            }
        };
        let lost = Arc::new(AtomicBool::new(false));
        let beat = self.heartbeat(lease, cancel, lost.clone());
        let (runtime, model, request) = (
            self.runtime.clone(),
            prepared.model.clone(),
            prepared.request.clone(),
        );
        let result = tokio::task::spawn_blocking(move || runtime.run(&model, request)).await;
        beat.abort();
        if lost.load(Ordering::Relaxed) {
            return Err(RunError::LeaseLost(lease.run_id));
        }
        let out = match result {
            Err(e) => {
                return self
                    .retry(lease, &format!("the run's thread died: {e}"))
                    .await;
            }
            Ok(Err(e)) => {
                let status = self
                    .end_without_running(lease, Status::Failed, &e.to_string())
                    .await?;
                self.after_failure(&job).await;
                return Ok(status);
            }
            Ok(Ok(out)) => out,
        };
        if let Some(f) = out.outcome.failure()
            && f.is_host_fault()
        {
            return self.retry(lease, &f.to_string()).await;
        }
        let status = self.finish(lease, &job, &prepared, &out).await?;
        self.metrics.observe_run(
            status,
            Duration::from_micros(out.stats.wall_us),
            out.stats.fuel_used,
        );
        if matches!(status, Status::Failed | Status::TimedOut) {
            self.after_failure(&job).await;
        }
        Ok(status)
    }

    /// A run of an enablement runs what the enablement says when it starts: after an upgrade
    /// or a rollback, the version it has then, with its parameters and scope. Returns why it must not run
    /// when the enablement was disabled.
    async fn follow_enablement(
        &self,
        lease: &Lease,
        job: &mut Job,
    ) -> Result<Option<String>, RunError> {
        let (Kind::Run, Some(id)) = (job.kind, job.enablement_id) else {
            return Ok(None);
        };
        let e = enable::get(&self.store, id).await?;
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
            job.params = e.params;
            job.scope = e.scope;
        }
        Ok(None)
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

    /// Writes the run's record and its clues in one transaction, if the lease still holds.
    async fn finish(
        &self,
        lease: &Lease,
        job: &Job,
        p: &Prepared,
        out: &RunOutcome,
    ) -> Result<Status, RunError> {
        let status = match &out.outcome {
            Outcome::Succeeded => Status::Succeeded,
            Outcome::Failed(_) => Status::Failed,
            Outcome::TimedOut(_) => Status::TimedOut,
            Outcome::Cancelled => Status::Cancelled,
        };
        let now = now_ms();
        let mut tx = self.store.begin().await?;
        // The clues first, so that the run's one UPDATE carries their counts; if that UPDATE
        // finds the lease lost, the transaction is dropped and nothing of it stays.
        let counts = if status == Status::Succeeded {
            Some(match job.kind {
                Kind::Run => {
                    let origin = Origin {
                        run_id: lease.run_id,
                        model_id: &job.model,
                        version_id: job.version_id,
                        snapshot_id: p.snapshot_id,
                        region: &job.region,
                        at_ms: now,
                    };
                    dedup::record(&mut tx, &origin, &out.clues).await?
                }
                Kind::Replay => {
                    dedup::record_apart(&mut tx, lease.run_id, &out.clues, false).await?;
                    Default::default()
                }
                Kind::Backtest => {
                    dedup::record_apart(&mut tx, lease.run_id, &out.clues, true).await?;
                    Default::default()
                }
            })
        } else {
            None
        };
        let done = sqlx::query(
            "UPDATE runs SET status = $1, version = $2, sha256 = $3, snapshot_id = $4, as_of_days = $5, \
             rows_read_json = $6, fuel_used = $7, peak_memory_bytes = $8, wall_ms = $9, clues_emitted = $10, \
             error = $11, host_fault = 0, log_excerpt = $12, lease_expires_ms = NULL, finished_at_ms = $13, \
             clues_new = COALESCE($14, clues_new), clues_updated = COALESCE($15, clues_updated) \
             WHERE id = $16 AND lease_token = $17 AND status = 'running'",
        )
        .bind(status.as_str())
        .bind(&p.version)
        .bind(&p.model.sha256)
        .bind(p.snapshot_id)
        .bind(p.as_of_days)
        .bind(serde_json::to_string(&out.stats.rows_read).unwrap_or_default())
        .bind(i64::try_from(out.stats.fuel_used).unwrap_or(i64::MAX))
        .bind(i64::try_from(out.stats.peak_memory_bytes).unwrap_or(i64::MAX))
        .bind(i64::try_from(out.stats.wall_us / 1000).unwrap_or(i64::MAX))
        .bind(out.clues.len() as i64)
        .bind(out.outcome.failure().map(|f| f.to_string()))
        .bind(excerpt(out))
        .bind(now)
        .bind(counts.map(|c| c.new as i64))
        .bind(counts.map(|c| c.updated as i64))
        .bind(lease.run_id)
        .bind(&lease.token)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(RunError::LeaseLost(lease.run_id));
        }
        let mut detail = serde_json::json!({
            "status": status, "model": job.model, "version": p.version, "region": job.region,
            "snapshot": p.snapshot_id, "emitted": out.clues.len(),
        });
        if let Some(counts) = counts {
            detail["clues"] = serde_json::json!(counts);
        }
        audit(
            &mut tx,
            &lease.owner,
            "run.finish",
            &format!("run {}", lease.run_id),
            &detail,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(status = %status, clues = out.clues.len(), "run recorded");
        Ok(status)
    }
}
