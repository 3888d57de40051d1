//! The platform side by side with the same rules in native Rust and in SQL: `pension-after-death`
//! and `shell-company` on the synthetic province at each size (pension payments; companies,
//! tax filings and insurance records come with it), for one county (330102) and for the whole
//! province, from stored data to stored clues, in
//! - the platform: store → scoped, pseudonymised scan → sandbox → clues (one run per county,
//!   two at a time by default, as the worker runs them);
//! - native: the model's own code compiled into this binary over the same store, feed and
//!   clue store, as many runs at a time, in the worker's batches (see `compare/native.rs`);
//! - DuckDB (PyPI `duckdb`) and SQLite running the equivalent SQL over the same CSV files,
//!   loaded beforehand (identifiers normalised at load, as the platform does at import;
//!   SQLite with indexes on the join keys and the region codes, and the platform store's
//!   journal settings), the clues stored in a table.
//!
//! Every system's clues are checked equal (the SQL's personal identifiers pseudonymised with
//! the platform's key) before its time counts. Also import rows/s into the store (and into
//! PostgreSQL with `DATABASE_URL`), and the sandbox's instantiation, cold compile and cached
//! load. Prints tables, then issue 10's targets judged on this run's rows (`compare/targets.rs`),
//! or the same rows and judgements as JSON with `--json`; exits with a failure when a system's
//! clues differ from the platform's. "rows" is the rows in scope of
//! the model's datasets (the same input for every system); "read" is what the platform's and
//! native runs read of them (a look-up by key reads only the rows it matches); "cpu s" is the
//! CPU time over the same span on every core together (this process's threads for the
//! platform and native, the engine's own process for the SQL), which shows what a system's
//! seconds cost the machine: on two cores a system can be faster than another while doing more
//! work.
//!
//! `cargo bench -p supervise --bench compare [-- --scale 1000000,10000000 --json]`; to measure
//! less, `--systems platform,native,duckdb,sqlite`, `--models pension-after-death,shell-company`
//! and `--scopes county,province` each keep only the ones named (all by default; the platform
//! always runs, its clues being the reference). `--repeat N` measures each system N times and
//! reports the median; `--batch N` has a worker slot lease N counties at once instead of the
//! worker's default, and `--slots N` runs N at a time instead of two (`serve --concurrency`).
//! The platform is also measured with the store's column cache emptied before each time, its
//! column files kept ("platform, files": what the first run after an import or a restart
//! pays, the import having written the files) and removed ("platform, cold": what a store
//! without column files pays, or a worker on another machine the first time it reads an
//! import).
//! The rows "platform, cold", "platform, files" and "platform" start from an empty clue
//! store, so every clue is new; "platform, again" runs once more over the clues already
//! stored, as a nightly re-run over unchanged data does, and finds each of them again.
//!
//! `SUPERVISE_LOG` logs to stderr, as for the `supervise` binary: with
//! `SUPERVISE_LOG=sqlx::query=debug` each statement the platform runs is printed with the time
//! SQLite took for it, which is how a run is taken apart statement by statement
//! (docs/benchmarks.md, "What bounds").

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use sqlx::Row;
use supervise::datasets::feed::StoreSource;
use supervise::datasets::import::{self, ImportRequest};
use supervise::datasets::memory::REGION_COLUMN;
use supervise::datasets::pseudonym::{Pseudonymizer, to_hex};
use supervise::datasets::schema::DatasetSchema;
use supervise::datasets::snapshot::Snapshot;
use supervise::datasets::{catalog, regions};
use supervise::demo::Options;
use supervise::demo::generate as province;
use supervise::registry::enable::{self, EnableRequest};
use supervise::registry::publish::{self, Submission};
use supervise::registry::{Actor, VersionRef, keys, review};
use supervise::runs::execute::today;
use supervise::runs::metrics::PHASES;
use supervise::runs::queue;
use supervise::runs::worker::DEFAULT_BATCH;
use supervise::runs::{Executor, ExecutorConfig, Metrics, Worker, WorkerConfig};
use supervise::runtime::bindings::ColumnType;
use supervise::runtime::source::{ColumnRequest, DataSource, ScanRequest};
use supervise::runtime::{Runtime, RuntimeConfig};
use supervise::store::Store;
use tokio::sync::watch;

mod common;
#[path = "compare/native.rs"]
mod native;
#[path = "compare/targets.rs"]
mod targets;
use common::{
    add_offices, admin, cpu_seconds, office_key, peak_rss_mib, pg_database, pg_drop, reset_peak_rss,
};

/// Pension payments per resident in the synthetic province (measured: 40,517 at 10,000).
const PAYMENTS_PER_RESIDENT: f64 = 4.05;
/// Runs at a time, on the platform and natively: `supervise serve`'s default `--concurrency`
/// (2), or `--slots N`.
fn slots() -> usize {
    common::arg("--slots", 2).max(1)
}

/// Runs a slot leases at once: the worker's default, or `--batch N`.
fn batch() -> usize {
    common::arg("--batch", DEFAULT_BATCH).max(1)
}

/// One benchmarked model.
struct Case {
    id: &'static str,
    component: &'static str,
    datasets: &'static [&'static str],
    /// Whether its clue subjects are people (pseudonyms) rather than company codes.
    people: bool,
}

const CASES: [Case; 2] = [
    Case {
        id: "pension-after-death",
        component: supervise_test_guests::PENSION_AFTER_DEATH,
        datasets: &["death_registrations", "pension_payments"],
        people: true,
    },
    Case {
        id: "shell-company",
        component: supervise_test_guests::SHELL_COMPANY,
        datasets: &["company_registry", "tax_filings", "social_insurance"],
        people: false,
    },
];

/// One measured row of the table.
#[derive(Debug, Clone, serde::Serialize)]
struct Measure {
    model: String,
    payments: u64,
    scope: String,
    system: String,
    /// Rows in scope of the model's datasets: the input, the same for every system.
    rows: u64,
    /// Rows the platform's or native runs read (a look-up reads only the rows it matches);
    /// `None` for the SQL engines.
    read: Option<u64>,
    seconds: f64,
    /// CPU seconds on every core together, the median over the repetitions (`common::cpu_seconds`;
    /// the SQL engines' own process time): above `seconds` when it used more than one core.
    cpu_seconds: f64,
    rows_per_s: f64,
    ratio_to_duckdb: Option<f64>,
    peak_mib: f64,
    clues: usize,
    clues_equal: bool,
    /// The platform's: seconds per phase of its batches, summed over both slots (see
    /// `Metrics::observe_phase`), averaged over the repetitions.
    phases: Option<std::collections::BTreeMap<String, f64>>,
}

/// The cases `--models` keeps.
fn cases() -> impl Iterator<Item = &'static Case> {
    CASES.iter().filter(|c| wanted("--models", c.id))
}

fn sizes() -> Vec<u64> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--scale")
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.split(',')
                .map(|n| n.trim().replace('_', "").parse().expect("--scale N[,M…]"))
                .collect()
        })
        .unwrap_or_else(|| vec![1_000_000, 10_000_000])
}

/// The values of a `--name a,b` list on the command line, or `None` when it is absent (all).
fn chosen(name: &str) -> Option<Vec<String>> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == name)?;
    let list = args
        .get(at + 1)
        .unwrap_or_else(|| panic!("{name} takes a comma-separated list"));
    Some(list.split(',').map(|s| s.trim().to_string()).collect())
}

/// Whether `value` is kept by the `--name` list (everything is when the list is absent).
fn wanted(name: &str, value: &str) -> bool {
    chosen(name).is_none_or(|list| list.iter().any(|v| v == value))
}

/// The DuckDB release the figures in docs/benchmarks.md were measured with.
const DUCKDB: &str = "2.0.1";

/// The Python with `duckdb` [`DUCKDB`]: a virtual environment under target/, made (or brought
/// to that release) when missing.
fn python(root: &Path) -> PathBuf {
    let venv = root.join("target/bench-venv");
    let py = venv.join("bin/python");
    let has = |py: &Path| {
        Command::new(py)
            .args([
                "-c",
                &format!("import duckdb, sys; sys.exit(duckdb.__version__ != '{DUCKDB}')"),
            ])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has(&py) {
        eprintln!(
            "installing duckdb {DUCKDB} from PyPI into {}…",
            venv.display()
        );
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success())
            && Command::new(&py)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    &format!("duckdb=={DUCKDB}"),
                ])
                .status()
                .is_ok_and(|s| s.success());
        assert!(
            ok && has(&py),
            "could not install duckdb {DUCKDB} into {}",
            venv.display()
        );
    }
    py
}

/// Runs host/benches/compare/sql.py with `args`; its standard output.
fn sql_py(py: &Path, root: &Path, args: &[&str]) -> String {
    let out = Command::new(py)
        .arg(root.join("host/benches/compare/sql.py"))
        .args(args)
        .output()
        .expect("run sql.py");
    assert!(
        out.status.success(),
        "sql.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The platform's store for one size: every dataset of the cases imported, each model
/// published, approved and enabled for the province. Returns it with the import rate (rows/s)
/// of the pension payments.
async fn platform(
    dir: &Path,
    data: &Path,
    pseudo: &Pseudonymizer,
    runtime: &Arc<Runtime>,
) -> (Store, f64) {
    let store = Store::open(&Store::default_url(dir))
        .await
        .expect("open store")
        .with_column_files(&dir.join("columns"))
        .await
        .expect("column files");
    regions::load_csv(&store, &data.join("regions.csv"), "bench")
        .await
        .expect("regions");
    let mut rate = 0.0;
    for case in cases() {
        for name in case.datasets {
            let r = import_one(&store, pseudo, data, name).await;
            if *name == "pension_payments" {
                rate = r;
            }
        }
    }
    add_offices(&store, &["330000", "330102"]).await;
    let (signing, public) = office_key(&store, dir, "330102").await;
    let author = Actor {
        user: "author".into(),
        office: "330102".into(),
    };
    for case in cases() {
        let bytes = supervise_test_guests::bytes(case.component);
        let sub = Submission {
            bytes: &bytes,
            signature: keys::sign(&signing, &bytes),
            public_key: public,
        };
        let v: VersionRef = publish::publish(&store, runtime, &author, &sub)
            .await
            .expect("publish")
            .version()
            .parse()
            .expect("the published version");
        review::decide(&store, &admin(), &v, true, "bench")
            .await
            .expect("approve");
        let req = EnableRequest {
            version: v,
            regions: vec!["330000".into()],
            params: vec![],
            schedule: None,
            scope: None,
            reason: "bench".into(),
        };
        enable::enable(&store, &admin(), &req)
            .await
            .expect("enable");
    }
    (store, rate)
}

/// Defines and imports one dataset; its rows/s.
async fn import_one(store: &Store, pseudo: &Pseudonymizer, data: &Path, name: &str) -> f64 {
    let text = province::SCHEMAS
        .iter()
        .find(|(n, _)| *n == name)
        .expect("schema")
        .1;
    let schema = DatasetSchema::from_toml(text).expect("schema");
    catalog::define(store, &schema, "bench")
        .await
        .expect("define");
    let req = ImportRequest::new(name, data.join(format!("{name}.csv")), "bench");
    let report = import::import(store, pseudo, &req).await.expect("import");
    report.rows as f64 / report.seconds
}

/// The rows `runs` read and the subjects of the clues they found (see [`found`]).
async fn outcome(store: &Store, model: &str, runs: &[i64]) -> (u64, BTreeSet<String>) {
    let mut rows = 0;
    for id in runs {
        let r = sqlx::query("SELECT status, rows_read_json FROM runs WHERE id = $1")
            .bind(id)
            .fetch_one(store.pool())
            .await
            .expect("run");
        let status: String = r.try_get(0).expect("status");
        assert_eq!(status, "succeeded", "run {id}");
        if let Some(json) = r.try_get::<Option<String>, _>(1).expect("rows") {
            let read: std::collections::BTreeMap<String, u64> =
                serde_json::from_str(&json).expect("rows json");
            rows += read.values().sum::<u64>();
        }
    }
    (rows, found(store, model, runs).await)
}

/// The subjects of the stored clues of `model` that `runs` found last, new or found again.
async fn found(store: &Store, model: &str, runs: &[i64]) -> BTreeSet<String> {
    let ids: Vec<String> = runs.iter().map(i64::to_string).collect();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT subject_id FROM clues WHERE model_id = $1 AND last_run_id IN ({})",
        ids.join(", ")
    )))
    .bind(model)
    .fetch_all(store.pool())
    .await
    .expect("clues")
    .iter()
    .map(|r| r.try_get(0).expect("subject"))
    .collect()
}

async fn clear_clues(store: &Store) {
    sqlx::query("DELETE FROM clues")
        .execute(store.pool())
        .await
        .expect("clear");
}

/// What the clue store holds when a platform measurement starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clues {
    /// Nothing: every clue the runs find is new (a model's first run).
    Cleared,
    /// The clues of the run before: the runs find them again (a nightly re-run over the same
    /// data), and only count them and move their last run.
    Kept,
}

/// One measurement of one system.
struct Sample {
    seconds: f64,
    /// CPU seconds on every core together over the same span (see `common::cpu_seconds`).
    cpu: f64,
    /// Rows the runs read (0 for the SQL engines).
    rows: u64,
    /// Peak resident memory, MiB.
    peak: f64,
    /// The clue subjects found.
    subjects: BTreeSet<String>,
}

/// The span of one measurement: its wall-clock and CPU seconds. The CPU seconds are read
/// before the clock starts and after it stops, so that reading every thread's `schedstat` (a
/// file opened and read per thread) is not timed as the system's own work.
struct Span {
    cpu: f64,
    start: Instant,
}

impl Span {
    fn start() -> Span {
        let cpu = cpu_seconds();
        Span {
            cpu,
            start: Instant::now(),
        }
    }

    /// (seconds, CPU seconds) since [`Span::start`].
    fn stop(self) -> (f64, f64) {
        let seconds = self.start.elapsed().as_secs_f64();
        (seconds, cpu_seconds() - self.cpu)
    }
}

/// One platform measurement: runs queued for `region` and drained by a worker with [`slots`]
/// slots.
async fn run_platform(
    store: &Store,
    runtime: &Arc<Runtime>,
    (model, region): (&str, &str),
    metrics: &Arc<Metrics>,
    clues: Clues,
) -> Sample {
    if clues == Clues::Cleared {
        clear_clues(store).await;
    }
    let ex = Arc::new(Executor::new(
        store.clone(),
        runtime.clone(),
        ExecutorConfig::default(),
        metrics.clone(),
    ));
    let mut config = WorkerConfig::new(slots());
    config.batch = batch();
    config.scheduler = false;
    reset_peak_rss();
    let span = Span::start();
    let ids = queue::by_hand(store, &admin(), model, region)
        .await
        .expect("queue");
    let (_stop, stopped) = watch::channel(false);
    Worker::new(ex, config).run(stopped, true).await;
    let (seconds, cpu) = span.stop();
    let peak = peak_rss_mib();
    let (rows, subjects) = outcome(store, model, &ids).await;
    Sample {
        seconds,
        cpu,
        rows,
        peak,
        subjects,
    }
}

/// One native measurement, as [`run_platform`] but with the model compiled in.
async fn run_native(store: &Store, model: &str, region: &str) -> Sample {
    clear_clues(store).await;
    reset_peak_rss();
    let span = Span::start();
    let ids = queue::by_hand(store, &admin(), model, region)
        .await
        .expect("queue");
    let mut jobs = Vec::new();
    let mut version_id = 0;
    for id in &ids {
        let r = sqlx::query("SELECT region, version_id FROM runs WHERE id = $1")
            .bind(id)
            .fetch_one(store.pool())
            .await
            .expect("run");
        version_id = r.try_get(1).expect("version");
        jobs.push(native::Job {
            run: *id,
            region: r.try_get(0).expect("region"),
        });
    }
    let as_of = i32::try_from(today()).expect("today");
    let rows = match model {
        "pension-after-death" => {
            native::run::<pension_after_death::PensionAfterDeath>(
                store,
                model,
                version_id,
                jobs,
                as_of,
                (slots(), batch()),
            )
            .await
        }
        _ => {
            native::run::<shell_company::ShellCompany>(
                store,
                model,
                version_id,
                jobs,
                as_of,
                (slots(), batch()),
            )
            .await
        }
    };
    let (seconds, cpu) = span.stop();
    let peak = peak_rss_mib();
    Sample {
        seconds,
        cpu,
        rows,
        peak,
        subjects: found(store, model, &ids).await,
    }
}

/// A measurement repeated `--repeat N` times (1 by default).
struct Repeated {
    /// The median time.
    seconds: f64,
    /// The median CPU time.
    cpu: f64,
    rows: u64,
    /// The largest peak.
    peak: f64,
    /// The clue subjects, when every repetition found the same; else empty.
    subjects: BTreeSet<String>,
    /// Whether every repetition found the same clue subjects.
    agreed: bool,
}

async fn repeated(mut measure: impl AsyncFnMut() -> Sample) -> Repeated {
    let n = common::arg("--repeat", 1).max(1);
    let (mut times, mut cpus) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut rows, mut peak, mut subjects) = (0, 0.0f64, None::<BTreeSet<String>>);
    let mut agreed = true;
    for _ in 0..n {
        let got = measure().await;
        times.push(got.seconds);
        cpus.push(got.cpu);
        (rows, peak) = (got.rows, peak.max(got.peak));
        agreed &= subjects
            .as_ref()
            .is_none_or(|before| *before == got.subjects);
        subjects = Some(if agreed {
            got.subjects
        } else {
            BTreeSet::new()
        });
    }
    times.sort_by(f64::total_cmp);
    cpus.sort_by(f64::total_cmp);
    Repeated {
        seconds: times[n / 2],
        cpu: cpus[n / 2],
        rows,
        peak,
        subjects: subjects.unwrap_or_default(),
        agreed,
    }
}

#[derive(serde::Deserialize)]
struct SqlRun {
    seconds: f64,
    cpu_seconds: f64,
    peak_mib: f64,
}

/// The sandbox's fixed costs for one model: (instantiation µs, cold compile ms, cached load ms).
fn sandbox_costs(case: &Case) -> (f64, f64, f64) {
    let bytes = supervise_test_guests::bytes(case.component);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = RuntimeConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..RuntimeConfig::default()
    };
    let load = || {
        let rt = Runtime::new(config.clone()).expect("runtime");
        let t = Instant::now();
        let model = rt.load(&bytes).expect("load");
        (rt, model, t.elapsed().as_secs_f64() * 1000.0)
    };
    let (_, _, cold) = load();
    let (rt, model, cached) = load();
    for _ in 0..100 {
        rt.instantiate(&model).expect("instantiate");
    }
    let n = 2000;
    let t = Instant::now();
    for _ in 0..n {
        rt.instantiate(&model).expect("instantiate");
    }
    let inst = t.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    (inst, cold, cached)
}

/// Rows of `case`'s datasets under `region` in the store's current snapshot, counted by a
/// scan of their region column (outside any measurement).
async fn rows_in_scope(store: &Store, case: &Case, region: &str) -> u64 {
    let snapshot = Snapshot::current(store, case.datasets)
        .await
        .expect("snapshot");
    let source = StoreSource::new(store, &snapshot).await.expect("source");
    let (datasets, region) = (case.datasets, region.to_string());
    tokio::task::spawn_blocking(move || {
        let mut rows = 0;
        for dataset in datasets {
            let request = ScanRequest {
                dataset: (*dataset).into(),
                columns: vec![ColumnRequest {
                    name: REGION_COLUMN.into(),
                    ty: ColumnType::Text,
                }],
                region: region.clone(),
            };
            let mut scan = source.scan(&request).expect("scan");
            while let Some(batch) = scan.next_batch(1 << 16).expect("batch") {
                rows += u64::from(batch.rows);
            }
        }
        rows
    })
    .await
    .expect("join")
}

/// Measures one model at one scope on every system; the platform's clues are the reference.
#[allow(clippy::too_many_arguments)]
async fn measure(
    case: &Case,
    store: &Store,
    runtime: &Arc<Runtime>,
    (py, root, dir): (&Path, &Path, &Path),
    dbs: &[(&str, String)],
    pseudo: &Pseudonymizer,
    (payments, scope, region, prefix): (u64, &str, &str, &str),
) -> Vec<Measure> {
    let rows = rows_in_scope(store, case, region).await;
    // A row of the table: `read` for the systems that count the rows they read.
    let row = |system: &str, read: bool, m: &Repeated, equal: bool| Measure {
        model: case.id.into(),
        payments,
        scope: scope.into(),
        system: system.into(),
        rows,
        read: read.then_some(m.rows),
        seconds: m.seconds,
        cpu_seconds: m.cpu,
        rows_per_s: rows as f64 / m.seconds,
        ratio_to_duckdb: None,
        peak_mib: m.peak,
        clues: m.subjects.len(),
        clues_equal: equal,
        phases: None,
    };
    // Seconds per phase of the platform's batches, per measurement.
    let phases = |m: &Metrics, n: usize| {
        Some(
            m.phase_seconds()
                .into_iter()
                .map(|(p, s)| (p.to_string(), s / n as f64))
                .collect(),
        )
    };
    eprintln!("{payments} payments, {}, {scope}: platform, cold…", case.id);
    let cold = Arc::new(Metrics::default());
    let without_files = store.without_column_files();
    let m = repeated(async || {
        store.blocks().clear();
        run_platform(
            &without_files,
            runtime,
            (case.id, region),
            &cold,
            Clues::Cleared,
        )
        .await
    })
    .await;
    // The reference every other system's clues are checked against.
    let want = m.subjects.clone();
    let mut group = vec![Measure {
        phases: phases(&cold, common::arg("--repeat", 1).max(1)),
        ..row("platform, cold", true, &m, m.agreed)
    }];
    // The column cache emptied, the column files read; then a first run (every clue new)
    // and a re-run that finds the first run's clues again, the columns in memory.
    for (label, clues, empty_cache) in [
        ("platform, files", Clues::Cleared, true),
        ("platform", Clues::Cleared, false),
        ("platform, again", Clues::Kept, false),
    ] {
        eprintln!("{payments} payments, {}, {scope}: {label}…", case.id);
        let metrics = Arc::new(Metrics::default());
        let m = repeated(async || {
            if empty_cache {
                store.blocks().clear();
            }
            run_platform(store, runtime, (case.id, region), &metrics, clues).await
        })
        .await;
        group.push(Measure {
            phases: phases(&metrics, common::arg("--repeat", 1).max(1)),
            ..row(label, true, &m, m.subjects == want)
        });
    }
    if wanted("--systems", "native") {
        eprintln!("{payments} payments, {}, {scope}: native…", case.id);
        let m = repeated(async || run_native(store, case.id, region).await).await;
        group.push(row("native", true, &m, m.subjects == want));
    }
    let as_of = (chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")
        + chrono::Duration::days(today()))
    .to_string();
    for (engine, db) in dbs {
        eprintln!("{payments} payments, {}, {scope}: {engine}…", case.id);
        let out = dir.join(format!("{engine}.subjects"));
        let m = repeated(async || {
            let run: SqlRun = serde_json::from_str(&sql_py(
                py,
                root,
                &[
                    engine,
                    "query",
                    db,
                    case.id,
                    prefix,
                    &as_of,
                    &out.display().to_string(),
                ],
            ))
            .expect("sql.py output");
            let got: BTreeSet<String> = std::fs::read_to_string(&out)
                .expect("subjects")
                .lines()
                .filter(|l| !l.is_empty())
                .map(|id| {
                    if case.people {
                        to_hex(pseudo.pseudonym(id))
                    } else {
                        id.to_string()
                    }
                })
                .collect();
            Sample {
                seconds: run.seconds,
                cpu: run.cpu_seconds,
                rows: 0,
                peak: run.peak_mib,
                subjects: got,
            }
        })
        .await;
        let system = if *engine == "duckdb" {
            "DuckDB SQL"
        } else {
            "SQLite SQL"
        };
        group.push(row(system, false, &m, m.subjects == want));
    }
    let duck = group
        .iter()
        .find(|m| m.system == "DuckDB SQL")
        .map(|m| m.seconds);
    for m in &mut group {
        m.ratio_to_duckdb = duck.map(|d| m.seconds / d);
    }
    group
}

#[tokio::main]
async fn main() {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("SUPERVISE_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    let json = std::env::args().any(|a| a == "--json");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let engines: Vec<&str> = ["duckdb", "sqlite"]
        .into_iter()
        .filter(|e| wanted("--systems", e))
        .collect();
    let py = if engines.is_empty() {
        PathBuf::new()
    } else {
        python(&root)
    };
    let runtime = Arc::new(
        Runtime::new(RuntimeConfig {
            cache_dir: Some(root.join("target/bench-cache")),
            ..RuntimeConfig::default()
        })
        .expect("runtime"),
    );
    let pseudo = Pseudonymizer::new(b"bench pseudonym key, not a secret");
    let as_of = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")
        + chrono::Duration::days(today());
    let mut table: Vec<Measure> = Vec::new();
    let mut imports: Vec<(u64, &str, f64)> = Vec::new();
    for payments in sizes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("province");
        let residents = ((payments as f64 / PAYMENTS_PER_RESIDENT) as u64).max(province::MIN_SCALE);
        eprintln!("{payments} payments: generating {residents} residents…");
        let summary = province::generate(&Options {
            seed: 1,
            scale: residents,
            as_of,
            out: data.clone(),
            progress: false,
        })
        .expect("generate");
        let actual = summary.rows.get("pension_payments").copied().unwrap_or(0);
        eprintln!("{actual} payments: importing into SQLite…");
        let (store, rate) = platform(dir.path(), &data, &pseudo, &runtime).await;
        imports.push((actual, "SQLite", rate));
        if let Ok(url) = std::env::var("DATABASE_URL")
            && url.starts_with("postgres")
        {
            let name = format!("supervise_bench_compare_{}", std::process::id());
            let pg = Store::open(&pg_database(&url, &name).await)
                .await
                .expect("pg");
            regions::load_csv(&pg, &data.join("regions.csv"), "bench")
                .await
                .expect("regions");
            eprintln!("{actual} payments: importing into PostgreSQL…");
            let rate = import_one(&pg, &pseudo, &data, "pension_payments").await;
            imports.push((actual, "PostgreSQL", rate));
            pg.pool().close().await;
            pg_drop(&url, &name).await;
        }
        let dbs: Vec<(&str, String)> = engines
            .iter()
            .map(|e| (*e, dir.path().join(format!("{e}.db")).display().to_string()))
            .collect();
        for (engine, db) in &dbs {
            eprintln!("{actual} payments: loading {engine}…");
            sql_py(
                &py,
                &root,
                &[engine, "load", db, &data.display().to_string()],
            );
        }
        for case in cases() {
            // Warm the sandbox's compile cache, as a running server has it.
            let metrics = Arc::new(Metrics::default());
            run_platform(
                &store,
                &runtime,
                (case.id, "330102"),
                &metrics,
                Clues::Cleared,
            )
            .await;
            for (scope, region, prefix) in
                [("county", "330102", "330102"), ("province", "330000", "33")]
                    .into_iter()
                    .filter(|(scope, _, _)| wanted("--scopes", scope))
            {
                table.extend(
                    measure(
                        case,
                        &store,
                        &runtime,
                        (&py, &root, dir.path()),
                        &dbs,
                        &pseudo,
                        (actual, scope, region, prefix),
                    )
                    .await,
                );
            }
        }
        store.pool().close().await;
    }
    let costs: Vec<(&str, (f64, f64, f64))> = cases().map(|c| (c.id, sandbox_costs(c))).collect();
    let judged = targets::judge(&table);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "machine": common::machine(),
                "runs": table,
                "targets": judged,
                "imports": imports.iter().map(|(n, db, r)| serde_json::json!({"payments": n, "database": db, "rows_per_s": r})).collect::<Vec<_>>(),
                "sandbox": costs.iter().map(|(m, (i, c, l))| serde_json::json!({"model": m, "instantiate_us": i, "compile_cold_ms": c, "load_cached_ms": l})).collect::<Vec<_>>(),
            })
        );
    } else {
        print_tables(&table, &imports, &costs);
        println!();
        targets::print(&judged);
    }
    refuse_unequal_clues(&table);
}

/// Ends the process with a failure, after the tables, when a system's clues differed from
/// the platform's (or a repetition's from another's): its time measured something else.
fn refuse_unequal_clues(table: &[Measure]) {
    let unequal: Vec<String> = table
        .iter()
        .filter(|m| !m.clues_equal)
        .map(|m| format!("{} {} {} {}", m.model, m.payments, m.scope, m.system))
        .collect();
    if !unequal.is_empty() {
        eprintln!(
            "error: clues differ from the platform's (or between repetitions) in: {}; \
             their times compare nothing until the rule or the SQL is fixed",
            unequal.join("; ")
        );
        std::process::exit(1);
    }
}

/// Prints a table's header and rule: `fixed`'s leading columns (header, rule), then a column
/// per `(name, width)`, the name left-aligned in that width.
fn print_head<'a>(fixed: (&str, &str), columns: impl Iterator<Item = (&'a str, usize)>) {
    let (mut header, mut rule) = (fixed.0.to_string(), fixed.1.to_string());
    for (name, w) in columns {
        header.push_str(&format!(" {name:<w$} |"));
        rule.push_str(&format!("{}|", "-".repeat(w + 2)));
    }
    println!("{header}");
    println!("{rule}");
}

fn print_tables(
    table: &[Measure],
    imports: &[(u64, &str, f64)],
    costs: &[(&str, (f64, f64, f64))],
) {
    println!(
        "Stored data to stored clues ({} runs at a time; {})",
        slots(),
        common::machine()
    );
    println!(
        "| model               | payments   | scope    | system         | rows       | read       | s        | cpu s    | rows/s      | × DuckDB | peak MiB | clues | equal |"
    );
    println!(
        "|---------------------|------------|----------|----------------|------------|------------|----------|----------|-------------|----------|----------|-------|-------|"
    );
    for m in table {
        println!(
            "| {:<19} | {:>10} | {:<8} | {:<14} | {:>10} | {:>10} | {:>8.4} | {:>8.4} | {:>11.0} | {:>8} | {:>8.0} | {:>5} | {:<5} |",
            m.model,
            m.payments,
            m.scope,
            m.system,
            m.rows,
            m.read.map_or("–".into(), |r| r.to_string()),
            m.seconds,
            m.cpu_seconds,
            m.rows_per_s,
            m.ratio_to_duckdb.map_or("–".into(), |r| format!("{r:.2}")),
            m.peak_mib,
            m.clues,
            if m.clues_equal { "yes" } else { "NO" }
        );
    }
    println!();
    println!(
        "Where the platform's time went: seconds per phase of its batches, summed over both slots"
    );
    // A column per phase the executor times (`metrics::PHASES`), each as wide as its name.
    print_head(
        (
            "| model               | payments   | scope    | system         |",
            "|---------------------|------------|----------|----------------|",
        ),
        PHASES
            .iter()
            .chain(&["wall"])
            .map(|phase| (*phase, phase.len().max(6))),
    );
    for m in table {
        let Some(p) = &m.phases else { continue };
        let mut line = format!(
            "| {:<19} | {:>10} | {:<8} | {:<14} |",
            m.model, m.payments, m.scope, m.system
        );
        let spent = PHASES.map(|k| p.get(k).copied().unwrap_or(0.0));
        for (phase, seconds) in PHASES
            .iter()
            .chain(&["wall"])
            .zip(spent.iter().chain(&[m.seconds]))
        {
            line.push_str(&format!(" {seconds:>w$.4} |", w = phase.len().max(6)));
        }
        println!("{line}");
    }
    println!();
    println!("| payments   | import into | rows/s     |");
    println!("|------------|-------------|------------|");
    for (n, db, r) in imports {
        println!("| {n:>10} | {db:<11} | {r:>10.0} |");
    }
    println!();
    println!("| model               | instantiate µs | compile, cold ms | load, cached ms |");
    println!("|---------------------|----------------|------------------|-----------------|");
    for (m, (i, c, l)) in costs {
        println!("| {m:<19} | {i:>14.1} | {c:>16.1} | {l:>15.2} |");
    }
}
