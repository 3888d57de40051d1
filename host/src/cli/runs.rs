//! `supervise run`, `supervise runs …`, `supervise serve`, `supervise worker` and
//! `supervise model backtest`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use tokio::sync::watch;

use crate::datasets::pseudonym::Pseudonymizer;
use crate::registry::VersionRef;
use crate::runs::metrics::{self, MetricsState};
use crate::runs::record::{self, RunFilter, RunRecord};
use crate::runs::{
    Executor, ExecutorConfig, Metrics, RunError, Status, Worker, WorkerConfig, backtest,
    quarantine, queue, replay,
};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::store::Store;

use super::registry::actor;
use super::{Cli, CliError, block_on, print};

impl From<RunError> for CliError {
    fn from(e: RunError) -> Self {
        CliError::Usage(e.to_string())
    }
}

/// `supervise run MODEL --region CODE [--wait]`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The model id.
    pub model: String,
    /// Region: a county, or a city or the province for one run per county under it.
    #[arg(long)]
    pub region: String,
    /// Run now in this process and wait for the outcome (otherwise `serve` or a worker
    /// picks the runs up).
    #[arg(long)]
    pub wait: bool,
}

/// `supervise runs [list options] [show|replay|cancel|quarantined|release]`
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RunsArgs {
    /// What to do; lists runs when omitted.
    #[command(subcommand)]
    pub command: Option<RunsCommand>,
    /// How to list.
    #[command(flatten)]
    pub list: ListArgs,
}

/// Filters for `supervise runs`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this model.
    #[arg(long)]
    pub model: Option<String>,
    /// Only regions under this one.
    #[arg(long)]
    pub region: Option<String>,
    /// Only this status (queued, running, succeeded, failed, timed_out, cancelled).
    #[arg(long)]
    pub status: Option<String>,
    /// Only this kind (run, replay, backtest).
    #[arg(long)]
    pub kind: Option<String>,
    /// Only the runs of this backtest.
    #[arg(long)]
    pub backtest: Option<String>,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `supervise runs …`
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Everything recorded about one run.
    Show {
        /// Run id.
        id: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Re-run a past run on the same component, parameters and snapshot, and say whether
    /// the clues are identical (exit 1 when they are not).
    Replay {
        /// Run id.
        id: i64,
    },
    /// Cancel a queued or running run.
    Cancel {
        /// Run id.
        id: i64,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Models quarantined after failing runs in a row.
    Quarantined,
    /// Release a quarantined model (provincial admins).
    Release {
        /// The model id.
        model: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

/// `supervise serve` / `supervise worker`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address for HTTP (`/metrics`; with `serve`, also the API under `/api/v1`).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Runs at once in this process.
    #[arg(long, default_value_t = 2)]
    pub concurrency: usize,
    /// Do not queue scheduled and import-triggered runs from this process.
    #[arg(long)]
    pub no_scheduler: bool,
    /// Seconds a lease lasts without a heartbeat.
    #[arg(long, default_value_t = 30)]
    pub lease_secs: u64,
    /// Most runs of one enablement (its counties) a slot leases at once: prepared once,
    /// each run in its own sandbox, recorded in one transaction. A slot takes fewer when its
    /// fair share (the runs divided among the slots) is smaller. 1 leases runs one by one.
    #[arg(long, default_value_t = crate::runs::worker::DEFAULT_BATCH, value_parser = batch_size)]
    pub batch: usize,
}

/// A `--batch` value: 1 to 256 runs.
fn batch_size(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n @ 1..=256) => Ok(n),
        _ => Err(format!("`{s}` is not a batch size: give 1 to 256 runs")),
    }
}

/// `supervise model backtest MODEL@VERSION --region CODE…`
#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// The submitted (or approved) version.
    pub version: String,
    /// Regions to dry-run over (one run per county under each).
    #[arg(long = "region", required = true)]
    pub regions: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn executor(
    cli: &Cli,
    store: &Store,
    concurrency: usize,
    lease_secs: u64,
) -> Result<Arc<Executor>, CliError> {
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(cli.cache_dir()),
        max_concurrent_runs: u32::try_from(concurrency).unwrap_or(16).max(1),
        ..RuntimeConfig::default()
    })
    .map_err(CliError::Setup)?;
    let config = ExecutorConfig {
        lease_ms: i64::try_from(lease_secs.max(1) * 1000).unwrap_or(30_000),
        ..ExecutorConfig::default()
    };
    Ok(Arc::new(Executor::new(
        store.clone(),
        Arc::new(runtime),
        config,
        Arc::new(Metrics::default()),
    )))
}

fn when(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| "-".into())
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

fn line(r: &RunRecord) -> String {
    format!(
        "{:>6}  {:<8} {:<28} {:<7} {:<10} {:<8} clues {:>5} new {:>5} upd {:>5}  {:>7} ms  {}",
        r.id,
        r.kind,
        format!("{}@{}", r.model, r.version.as_deref().unwrap_or("?")),
        r.region,
        r.status.as_str(),
        r.trigger,
        opt(r.clues_emitted),
        opt(r.clues_new),
        opt(r.clues_updated),
        opt(r.wall_ms),
        when(Some(r.created_at_ms)),
    )
}

fn show(r: &RunRecord) {
    println!(
        "run {} ({}, {} by {})",
        r.id, r.kind, r.trigger, r.requested_by
    );
    println!(
        "model       {}@{} (registry version {})",
        r.model,
        r.version.as_deref().unwrap_or("?"),
        r.version_id
    );
    println!("sha256      {}", r.sha256.as_deref().unwrap_or("-"));
    println!("enablement  {}", opt(r.enablement_id));
    println!("region      {}", r.region);
    let params: Vec<String> = r.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!(
        "parameters  {}",
        if params.is_empty() {
            "(defaults)".into()
        } else {
            params.join(" ")
        }
    );
    println!(
        "snapshot    {}   as of {}",
        opt(r.snapshot_id),
        opt(r
            .as_of_days
            .map(|d| crate::datasets::values::format_date(i32::try_from(d).unwrap_or_default())))
    );
    println!(
        "status      {}   attempts {}{}",
        r.status,
        r.attempts,
        if r.cancel_requested {
            "   (cancel requested)"
        } else {
            ""
        }
    );
    for (d, n) in &r.rows_read {
        println!("rows read   {d}: {n}");
    }
    println!("fuel        {}", opt(r.fuel_used));
    println!(
        "peak memory {}",
        opt(r
            .peak_memory_bytes
            .map(|b| format!("{:.1} MiB", b as f64 / 1048576.0)))
    );
    println!("wall time   {}", opt(r.wall_ms.map(|m| format!("{m} ms"))));
    println!(
        "clues       emitted {}  new {}  updated {}",
        opt(r.clues_emitted),
        opt(r.clues_new),
        opt(r.clues_updated)
    );
    println!("queued      {}", when(Some(r.created_at_ms)));
    println!(
        "started     {}{}",
        when(r.started_at_ms),
        r.lease_owner
            .as_ref()
            .map(|o| format!(" on {o}"))
            .unwrap_or_default()
    );
    println!("finished    {}", when(r.finished_at_ms));
    if let Some(e) = &r.error {
        println!(
            "error       {e}{}",
            if r.host_fault { " (host fault)" } else { "" }
        );
    }
    if let Some(l) = r.log_excerpt.as_deref().filter(|l| !l.is_empty()) {
        println!("log:\n{l}");
    }
}

fn exit_for(statuses: &[Status]) -> ExitCode {
    if statuses.iter().all(|s| *s == Status::Succeeded) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Runs `supervise run`.
pub fn run(cli: &Cli, a: &RunArgs) -> Result<ExitCode, CliError> {
    block_on(async {
        let store = cli.store().await?;
        let who = actor(cli)?;
        let ids = queue::by_hand(&store, &who, &a.model, &a.region).await?;
        if !a.wait {
            println!("queued {} run(s): {}", ids.len(), join(&ids));
            println!("`supervise serve` or a worker runs them; `supervise runs` shows them");
            return Ok(ExitCode::SUCCESS);
        }
        let ex = executor(cli, &store, 1, 30)?;
        let worker = Worker::new(ex, WorkerConfig::new(1));
        let bar = progress(ids.len() as u64);
        let statuses = worker.run_these_with(&ids, |n| bar.inc(n)).await?;
        bar.finish_and_clear();
        for id in &ids {
            println!("{}", line(&record::get(&store, *id).await?));
        }
        Ok(exit_for(&statuses))
    })
}

fn progress(n: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(n);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} runs {elapsed}")
    {
        bar.set_style(style);
    }
    bar
}

fn join(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs `supervise runs …`.
pub fn runs(cli: &Cli, a: &RunsArgs) -> Result<ExitCode, CliError> {
    block_on(async {
        let store = cli.store().await?;
        match &a.command {
            None => {
                let l = &a.list;
                let f = RunFilter {
                    model: l.model.clone(),
                    region: l.region.clone(),
                    status: l.status.as_deref().map(str::parse).transpose()?,
                    kind: l.kind.clone(),
                    backtest_group: l.backtest.clone(),
                    limit: l.limit,
                };
                let rows = record::list(&store, &f).await?;
                if l.json {
                    print::json(&serde_json::to_value(&rows).unwrap_or_default());
                } else if rows.is_empty() {
                    println!("no runs");
                } else {
                    for r in &rows {
                        println!("{}", line(r));
                    }
                }
            }
            Some(RunsCommand::Show { id, json }) => {
                let r = record::get(&store, *id).await?;
                if *json {
                    print::json(&serde_json::to_value(&r).unwrap_or_default());
                } else {
                    show(&r);
                }
            }
            Some(RunsCommand::Replay { id }) => {
                let who = actor(cli)?;
                let new = replay::queue(&store, &who, *id).await?;
                let worker = Worker::new(executor(cli, &store, 1, 30)?, WorkerConfig::new(1));
                worker.run_these(&[new]).await?;
                let c = replay::compare(&store, new).await?;
                println!(
                    "replay {} of run {}: {}; {} clue(s) identical, {} missing, {} extra, {} changed",
                    c.replay,
                    c.original,
                    c.status,
                    c.same,
                    c.missing.len(),
                    c.extra.len(),
                    c.changed.len()
                );
                for (what, keys) in [
                    ("missing", &c.missing),
                    ("extra", &c.extra),
                    ("changed", &c.changed),
                ] {
                    for k in keys.iter().take(20) {
                        println!("  {what}: {k}");
                    }
                }
                if c.identical() {
                    println!("the clues are identical");
                    return Ok(ExitCode::SUCCESS);
                }
                println!("the clues differ");
                return Ok(ExitCode::from(1));
            }
            Some(RunsCommand::Cancel { id, reason }) => {
                let s = queue::cancel(&store, &actor(cli)?, *id, reason).await?;
                match s {
                    Status::Cancelled => println!("run {id} cancelled"),
                    _ => println!("run {id} is running; its worker stops it at the next heartbeat"),
                }
            }
            Some(RunsCommand::Quarantined) => {
                let q = quarantine::list(&store).await?;
                if q.is_empty() {
                    println!("no model is quarantined");
                }
                for x in q {
                    println!(
                        "{:<28} since {}  {}",
                        x.model,
                        when(Some(x.since_ms)),
                        x.reason
                    );
                }
            }
            Some(RunsCommand::Release { model, reason }) => {
                quarantine::release(&store, &actor(cli)?, model, reason).await?;
                println!("model {model} released; its waiting runs resume");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `supervise serve` (`worker == false`) or `supervise worker`.
pub fn serve(cli: &Cli, a: &ServeArgs, worker: bool) -> Result<ExitCode, CliError> {
    block_on(async {
        let store = cli.store().await?;
        if worker && store.dialect() == crate::store::Dialect::Sqlite {
            tracing::warn!(
                "a worker on the embedded SQLite file shares it with `serve`; several machines need PostgreSQL (--database-url)"
            );
        }
        let ex = executor(cli, &store, a.concurrency, a.lease_secs)?;
        let mut config = WorkerConfig::new(a.concurrency);
        config.scheduler = !a.no_scheduler;
        config.batch = a.batch;
        let w = Worker::new(ex.clone(), config);
        let listener = tokio::net::TcpListener::bind(a.listen).await.map_err(|e| {
            CliError::Usage(format!(
                "cannot listen on {}: {e} (choose another with --listen)",
                a.listen
            ))
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| CliError::Usage(e.to_string()))?;
        let metrics = metrics::router().with_state(MetricsState {
            store: store.clone(),
            metrics: ex.metrics().clone(),
        });
        let app = if worker {
            metrics
        } else {
            let pseudo = Pseudonymizer::from_secret_file(&cli.secret_file(), true)?;
            let state = crate::api::AppState::new(store.clone())
                .with_imports(pseudo, cli.home.join("uploads"))
                .with_runtime(ex.runtime().clone());
            crate::api::app(state)
                .merge(crate::dashboard::router())
                .merge(metrics)
        };
        // The planner's statistics: refreshed at start (a store loaded in bulk since the last
        // start) and hourly; a failure only costs query plans, so it is logged, not fatal.
        let maintenance = {
            let store = store.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
                loop {
                    every.tick().await;
                    if let Err(e) = store.optimize().await {
                        tracing::warn!("cannot refresh the store's statistics: {e}");
                    }
                }
            })
        };
        let (stop, stopped) = watch::channel(false);
        let mut http_stop = stopped.clone();
        let http = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = http_stop.wait_for(|s| *s).await;
                })
                .await
        });
        println!(
            "{} {} on {}: http://{addr}/metrics{}; {} run(s) at once; Ctrl-C stops after the running runs end",
            if worker { "worker" } else { "serving" },
            w.owner(),
            match store.dialect() {
                crate::store::Dialect::Sqlite => "SQLite",
                crate::store::Dialect::Postgres => "PostgreSQL",
            },
            if worker {
                String::new()
            } else {
                format!(", the dashboard at http://{addr}/ and the API at http://{addr}/api/v1")
            },
            a.concurrency
        );
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop.send(true);
        });
        let n = w.run(stopped, false).await;
        let _ = http.await;
        maintenance.abort();
        println!("stopped after {n} run(s)");
        Ok(ExitCode::SUCCESS)
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Runs `supervise model backtest`.
pub fn backtest(cli: &Cli, a: &BacktestArgs) -> Result<ExitCode, CliError> {
    block_on(async {
        let store = cli.store().await?;
        let version: VersionRef = a.version.parse()?;
        let (group, ids) = backtest::queue(&store, &actor(cli)?, &version, &a.regions).await?;
        let worker = Worker::new(executor(cli, &store, 1, 30)?, WorkerConfig::new(1));
        let bar = progress(ids.len() as u64);
        for id in &ids {
            worker.run_these(&[*id]).await?;
            bar.inc(1);
        }
        bar.finish_and_clear();
        let rows = backtest::report(&store, &group).await?;
        if a.json {
            print::json(&serde_json::json!({"backtest": group, "regions": rows}));
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "backtest {group} of {version} (its clues are kept apart from the reviewers' queue)"
        );
        println!(
            "{:<8} {:>10} {:>10} {:>6} {:>6} {:>8} {:>10}",
            "region", "candidate", "enabled", "new", "gone", "changed", "unchanged"
        );
        for r in &rows {
            println!(
                "{:<8} {:>10} {:>10} {:>6} {:>6} {:>8} {:>10}",
                r.region,
                r.candidate.1.as_str(),
                r.baseline.map_or("-".into(), |b| b.1.as_str().to_string()),
                r.new,
                r.gone,
                r.changed,
                r.unchanged
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}
