//! The nightly cycle: every enablement × every county of a synthetic province (11 cities, 90
//! counties), queued at once and run by one worker and then by two, on SQLite and (with
//! `DATABASE_URL`) PostgreSQL. Prints jobs/s and total time per configuration.
//!
//! Until the five models of the demo province exist, the cycle runs the components there are:
//! `pension-after-death` enabled three times (grace 31, 62, 93 days) and `test-versioned`
//! twice (thresholds 5000, 8000): five enablements, 450 runs per cycle.
//!
//! `cargo bench -p supervise --bench runs [-- --payments N]`

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use supervise::datasets::import::{self, ImportRequest};
use supervise::datasets::pseudonym::Pseudonymizer;
use supervise::datasets::schema::DatasetSchema;
use supervise::datasets::{catalog, regions};
use supervise::registry::enable::{self, EnableRequest};
use supervise::registry::publish::{self, Submission};
use supervise::registry::{Actor, VersionRef, keys, review};
use supervise::runs::queue::{self, NewRun};
use supervise::runs::{Executor, ExecutorConfig, Metrics, Worker, WorkerConfig};
use supervise::runtime::{Runtime, RuntimeConfig};
use supervise::store::Store;
use tokio::sync::watch;

mod common;
use common::{add_offices, admin, arg, counties, office_key, peak_rss_mib, pg_database, pg_drop};

fn write_data(dir: &Path, payments: usize) {
    let counties = counties();
    let mut regions = String::from("code,name\n330000,Province\n");
    for city in 1..=11u32 {
        regions.push_str(&format!("33{city:02}00,City {city}\n"));
    }
    for c in &counties {
        regions.push_str(&format!("{c},County {c}\n"));
    }
    std::fs::write(dir.join("regions.csv"), regions).expect("regions");
    let people = payments / 12;
    let per_county = people.div_ceil(counties.len());
    let mut d =
        std::io::BufWriter::new(std::fs::File::create(dir.join("deaths.csv")).expect("deaths"));
    let mut p =
        std::io::BufWriter::new(std::fs::File::create(dir.join("payments.csv")).expect("payments"));
    writeln!(d, "record_id,id_number,name,death_date,region_code").expect("w");
    writeln!(p, "payment_id,id_number,pay_date,amount,region_code").expect("w");
    // Exports come per county: rows are grouped by county, as each county's file is appended.
    for person in 0..people {
        let county = &counties[(person / per_county).min(counties.len() - 1)];
        let id = format!("{county}19{:02}0101{:04}", person % 100, person % 10_000);
        let id = format!("{}{}", &id[..14], &format!("{person:08}")[4..]);
        if person % 20 == 0 {
            writeln!(
                d,
                "D{person:09},{id},,2024-{:02}-10,{county}",
                1 + person % 12
            )
            .expect("w");
        }
        for month in 1..=12 {
            // Most pensions are modest; one person in 200 is paid far more.
            let amount = if person % 200 == 7 {
                9000
            } else {
                2500 + person % 1000
            };
            writeln!(
                p,
                "P{person:09}-{month:02},{id},2024-{month:02}-15,{amount}.00,{county}"
            )
            .expect("w");
        }
    }
}

struct Setup {
    enablements: Vec<i64>,
}

async fn prepare(store: &Store, dir: &Path, rt: &Runtime) -> Setup {
    regions::load_csv(store, &dir.join("regions.csv"), "bench")
        .await
        .expect("regions");
    let pseudo = Pseudonymizer::new(b"bench key bench key bench key 32");
    for (name, file) in [
        ("death_registrations", "deaths.csv"),
        ("pension_payments", "payments.csv"),
    ] {
        let text = std::fs::read_to_string(format!(
            "{}/../schemas/{name}.toml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("schema");
        catalog::define(
            store,
            &DatasetSchema::from_toml(&text).expect("schema"),
            "bench",
        )
        .await
        .expect("define");
        import::import(
            store,
            &pseudo,
            &ImportRequest::new(name, dir.join(file), "bench"),
        )
        .await
        .expect("import");
    }
    let admin = admin();
    let author = Actor {
        user: "author".into(),
        office: "330102".into(),
    };
    add_offices(store, &["330000", "330102"]).await;
    let (signing, public) = office_key(store, dir, "330102").await;
    let mut enablements = Vec::new();
    let models = [
        (
            supervise_test_guests::PENSION_AFTER_DEATH,
            "pension-after-death",
            "1.0.0",
            "grace_days",
            &["31", "62", "93"][..],
        ),
        (
            supervise_test_guests::TEST_VERSIONED_100,
            "test-versioned",
            "1.0.0",
            "threshold",
            &["5000", "8000"][..],
        ),
    ];
    for (path, model, version, param, values) in models {
        let bytes = std::fs::read(path).expect("guest");
        let sub = Submission {
            bytes: &bytes,
            signature: keys::sign(&signing, &bytes),
            public_key: public,
        };
        publish::publish(store, rt, &author, &sub)
            .await
            .expect("publish");
        let v = VersionRef {
            model: model.into(),
            version: version.into(),
        };
        review::decide(store, &admin, &v, true, "bench")
            .await
            .expect("approve");
        for value in values {
            let req = EnableRequest {
                version: v.clone(),
                regions: vec!["330000".into()],
                params: vec![(param.to_string(), value.to_string())],
                schedule: Some("0 2 * * *".into()),
                scope: None,
                reason: "bench".into(),
            };
            enablements.push(enable::enable(store, &admin, &req).await.expect("enable"));
        }
    }
    Setup { enablements }
}

async fn queue_cycle(store: &Store, setup: &Setup) -> usize {
    let mut tx = store.begin().await.expect("tx");
    let mut n = 0;
    for id in &setup.enablements {
        let e = enable::get(store, *id).await.expect("enablement");
        for county in counties() {
            queue::enqueue(&mut *tx, &NewRun::of(&e, &county, "schedule", "bench"))
                .await
                .expect("enqueue");
            n += 1;
        }
    }
    tx.commit().await.expect("commit");
    n
}

async fn reset(store: &Store) {
    for t in ["run_clues", "clues", "runs"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {t}")))
            .execute(store.pool())
            .await
            .expect("reset");
    }
}

/// One cycle with `workers` workers of one slot each: (runs, seconds, clues in the store).
async fn cycle(
    store: &Store,
    setup: &Setup,
    rt: &Arc<Runtime>,
    workers: usize,
) -> (usize, f64, i64) {
    reset(store).await;
    let runs = queue_cycle(store, setup).await;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let ex = Arc::new(Executor::new(
            store.clone(),
            rt.clone(),
            ExecutorConfig::default(),
            Arc::new(Metrics::default()),
        ));
        let mut c = WorkerConfig::new(1);
        c.poll = Duration::from_millis(20);
        c.scheduler = false;
        let w = Worker::new(ex, c);
        tasks.push(tokio::spawn(async move {
            let (_stop, stopped) = watch::channel(false);
            w.run(stopped, true).await
        }));
    }
    let mut done = 0;
    for t in tasks {
        done += t.await.expect("worker");
    }
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(done as usize, runs, "every run ran once");
    use sqlx::Row;
    let ok: i64 = sqlx::query("SELECT COUNT(*) FROM runs WHERE status = 'succeeded'")
        .fetch_one(store.pool())
        .await
        .expect("q")
        .try_get(0)
        .expect("n");
    assert_eq!(ok as usize, runs, "every run succeeded");
    let clues: i64 = sqlx::query("SELECT COUNT(*) FROM clues")
        .fetch_one(store.pool())
        .await
        .expect("q")
        .try_get(0)
        .expect("n");
    (runs, secs, clues)
}

#[tokio::main]
async fn main() {
    let payments = arg("--payments", 1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    eprintln!("writing a province of 90 counties with {payments} pension payments…");
    write_data(dir.path(), payments);
    let rt = Arc::new(
        Runtime::new(RuntimeConfig {
            cache_dir: Some(dir.path().join("cache")),
            ..RuntimeConfig::default()
        })
        .expect("runtime"),
    );
    let mut stores = vec![("SQLite", Store::default_url(dir.path()))];
    let pg_name = format!("supervise_bench_runs_{}", std::process::id());
    let pg_url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"));
    match &pg_url {
        Some(url) => stores.push(("PostgreSQL", pg_database(url, &pg_name).await)),
        None => eprintln!("PostgreSQL skipped: set DATABASE_URL=postgres://… to measure it"),
    }
    let mut rows = Vec::new();
    for (db, url) in &stores {
        let store = Store::open(url).await.expect("open");
        eprintln!("{db}: importing and enabling…");
        let setup = prepare(&store, dir.path(), &rt).await;
        for workers in [1, 2] {
            eprintln!("{db}: one cycle with {workers} worker(s)…");
            let (runs, secs, clues) = cycle(&store, &setup, &rt, workers).await;
            rows.push((db.to_string(), workers, runs, secs, clues));
        }
        store.pool().close().await;
    }
    if let Some(url) = &pg_url {
        pg_drop(url, &pg_name).await;
    }
    println!(
        "nightly cycle: 5 enablements × 90 counties, {payments} pension payments, {} deaths ({})",
        payments / 12 / 20,
        common::machine()
    );
    println!("| database   | workers | runs | seconds | runs/s | clues |");
    println!("|------------|---------|------|---------|--------|-------|");
    for (db, workers, runs, secs, clues) in rows {
        println!(
            "| {db:<10} | {workers:>7} | {runs:>4} | {secs:>7.2} | {:>6.1} | {clues:>5} |",
            runs as f64 / secs
        );
    }
    println!("peak RSS {:.0} MiB", peak_rss_mib());
}
