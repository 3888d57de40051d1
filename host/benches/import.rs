//! Import throughput: a 5-column CSV (key, personal identifier, date, decimal, region) of
//! 1,000,000 rows by default, imported into SQLite and, when `DATABASE_URL` names one, into
//! PostgreSQL. Prints rows/s per database.
//!
//! `cargo bench -p supervise --bench import [-- --rows N]`

use std::io::Write;
use std::time::Instant;

use supervise::datasets::import::{self, ImportRequest};
use supervise::datasets::pseudonym::Pseudonymizer;
use supervise::datasets::schema::DatasetSchema;
use supervise::datasets::{catalog, regions};
use supervise::store::Store;

mod common;
use common::{arg, peak_rss_mib, pg_database, pg_drop};

const SCHEMA: &str = include_str!("../../schemas/pension_payments.toml");

async fn measure(url: &str, dir: &std::path::Path, csv: &std::path::Path) -> (f64, u64) {
    let store = Store::open(url).await.expect("open");
    let mut regions_csv = String::from("code,name\n330000,P\n330100,C\n");
    for c in 1..=20 {
        regions_csv.push_str(&format!("3301{c:02},County {c}\n"));
    }
    let rpath = dir.join("regions.csv");
    std::fs::write(&rpath, regions_csv).expect("regions");
    regions::load_csv(&store, &rpath, "bench")
        .await
        .expect("regions");
    catalog::define(
        &store,
        &DatasetSchema::from_toml(SCHEMA).expect("schema"),
        "bench",
    )
    .await
    .expect("define");
    let req = ImportRequest::new("pension_payments", csv, "bench");
    let pseudo = Pseudonymizer::new(b"bench key bench key bench key 32");
    let t = Instant::now();
    let report = import::import(&store, &pseudo, &req).await.expect("import");
    (t.elapsed().as_secs_f64(), report.rows)
}

#[tokio::main]
async fn main() {
    let rows = arg("--rows", 1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("payments.csv");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&csv).expect("csv"));
        writeln!(f, "payment_id,id_number,pay_date,amount,region_code").expect("write");
        for i in 0..rows {
            writeln!(
                f,
                "P{i:09},33010{:01}19{:02}0101{:04},2024-{:02}-15,{}.{:02},3301{:02}",
                i % 10,
                i % 100,
                i % 10_000,
                1 + i % 12,
                2000 + i % 3000,
                i % 100,
                1 + i % 20
            )
            .expect("write");
        }
    }
    let size = std::fs::metadata(&csv).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "importing {rows} rows ({:.1} MiB)…",
        size as f64 / (1 << 20) as f64
    );
    let before = peak_rss_mib();
    let mut results = vec![(
        "SQLite",
        measure(&Store::default_url(dir.path()), dir.path(), &csv).await,
    )];
    let after_sqlite = peak_rss_mib();
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            let name = format!("supervise_bench_import_{}", std::process::id());
            let target = pg_database(&url, &name).await;
            results.push(("PostgreSQL", measure(&target, dir.path(), &csv).await));
            pg_drop(&url, &name).await;
        }
        _ => eprintln!("PostgreSQL skipped: set DATABASE_URL=postgres://… to measure it"),
    }
    println!("| database   | rows      | seconds | rows/s   | target      |");
    println!("|------------|-----------|---------|----------|-------------|");
    let rss = format!(
        "peak RSS: {before:.0} MiB before the SQLite import, {after_sqlite:.0} MiB after ({:.0} MiB file)",
        size as f64 / (1 << 20) as f64
    );
    for (db, (secs, n)) in results {
        let target = if db == "SQLite" { ">= 200,000" } else { "-" };
        println!(
            "| {db:<10} | {n:>9} | {secs:>7.2} | {:>8.0} | {target:<11} |",
            n as f64 / secs
        );
    }
    println!("{rss}");
}
