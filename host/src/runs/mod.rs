//! Runs: one enablement × one county × one data snapshot. Jobs live in the `runs` table of
//! the store; the scheduler queues them (cron schedules, new imports), people queue them by
//! hand; workers lease them (`FOR UPDATE SKIP LOCKED` on PostgreSQL, a single writer on
//! SQLite), keep the lease alive with heartbeats, run the model in the sandbox and finish the
//! run in one transaction with its clues, fenced by the lease so a run whose lease was taken
//! over can never write. Host faults are retried with backoff, model failures are not; a
//! model that fails K times in a row is quarantined until an admin releases it.

pub mod backtest;
pub mod execute;
mod finish;
pub mod metrics;
pub mod quarantine;
pub mod queue;
pub mod record;
pub mod replay;
pub mod scheduler;
pub mod worker;

use crate::registry::RegistryError;
use crate::runtime::RuntimeError;
use crate::runtime::source::SourceError;
use crate::store::StoreError;

pub use execute::{Executor, ExecutorConfig};
pub use metrics::Metrics;
pub use record::RunRecord;
pub use worker::{Worker, WorkerConfig};

/// Why a run action was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A named thing does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The request is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The request conflicts with the run's state.
    #[error("{0}")]
    Conflict(String),
    /// The model is quarantined.
    #[error(
        "model `{model}` is quarantined ({reason}); an admin releases it with `supervise runs release {model} --reason …`"
    )]
    Quarantined {
        /// Model id.
        model: String,
        /// Why.
        reason: String,
    },
    /// Another worker holds the run now (our lease expired).
    #[error("run {0}: the lease was lost to another worker; its result was not written")]
    LeaseLost(i64),
    /// The registry refused (not allowed, not found, tampered component…).
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The sandbox refused the run before it started.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The data could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for RunError {
    fn from(e: sqlx::Error) -> Self {
        RunError::Store(StoreError::Db(e))
    }
}

impl RunError {
    /// Whether the failure is the host's (database, data source), so a retry may succeed.
    pub fn is_host_fault(&self) -> bool {
        matches!(
            self,
            RunError::Store(_) | RunError::Source(_) | RunError::Registry(RegistryError::Store(_))
        )
    }
}

/// Checks the actor's office may act on runs of `region`: its own region or one under it
/// (a provincial office covers everything).
pub async fn authorize(
    store: &crate::store::Store,
    actor: &crate::registry::Actor,
    region: &str,
) -> Result<(), RunError> {
    let office = crate::registry::keys::office(store, &actor.office).await?;
    if crate::datasets::region::covers(&office.region, region) {
        Ok(())
    } else {
        Err(RunError::Registry(RegistryError::Forbidden(format!(
            "office `{}` ({}) may not act on runs of region {region}",
            office.id, office.region
        ))))
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = RunStatus)]
pub enum Status {
    /// Waiting for a worker (or for its retry time).
    Queued,
    /// Leased by a worker.
    Running,
    /// The model returned; its clues are stored.
    Succeeded,
    /// The model failed, or host faults exhausted the retries.
    Failed,
    /// The wall-clock deadline passed.
    TimedOut,
    /// Cancelled before or while running.
    Cancelled,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 6] = [
        Status::Queued,
        Status::Running,
        Status::Succeeded,
        Status::Failed,
        Status::TimedOut,
        Status::Cancelled,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::TimedOut => "timed_out",
            Status::Cancelled => "cancelled",
        }
    }

    /// Whether the run is over.
    pub fn is_final(self) -> bool {
        !matches!(self, Status::Queued | Status::Running)
    }
}

impl std::str::FromStr for Status {
    type Err = RunError;

    fn from_str(s: &str) -> Result<Self, RunError> {
        Status::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = Status::ALL.iter().map(|x| x.as_str()).collect();
                RunError::Invalid(format!(
                    "unknown run status `{s}` (one of: {})",
                    all.join(", ")
                ))
            })
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a run is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A run of an enablement; its clues go to the reviewers.
    Run,
    /// A re-run of a past run; its clues are only compared.
    Replay,
    /// A dry run of a version before approval; its clues are kept apart.
    Backtest,
}

impl Kind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Run => "run",
            Kind::Replay => "replay",
            Kind::Backtest => "backtest",
        }
    }

    /// The kind by its stored name.
    pub fn parse(s: &str) -> Option<Kind> {
        [Kind::Run, Kind::Replay, Kind::Backtest]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}
