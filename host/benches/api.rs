//! API latency under load: a store with 1,000,000 clues over 90 counties, the API served in
//! this process, and `wrk` (Debian's package, installed by this bench when missing) with 32
//! connections against the clue queue (a county reviewer's page, the province's filtered and
//! sorted page) and the overview statistics. Prints p50/p99 and requests/s per endpoint, on
//! SQLite and (with `DATABASE_URL`) PostgreSQL.
//!
//! `cargo bench -p supervise --bench api [-- --clues N --seconds S]`

use std::process::Command;

use supervise::api::{AppState, app};
use supervise::store::Store;

mod common;
use common::clues::seed;
use common::{arg, pg_database, pg_drop};

/// (p50 ms, p99 ms, requests/s) from wrk's `--latency` output.
fn wrk(url: &str, token: &str, seconds: usize) -> (f64, f64, f64) {
    let out = Command::new("wrk")
        .args([
            "-t2",
            "-c32",
            &format!("-d{seconds}s"),
            "--latency",
            "-H",
            &format!("Authorization: Bearer {token}"),
            url,
        ])
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    let ms = |label: &str| -> f64 {
        text.lines()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(|v| {
                let (num, unit) =
                    v.split_at(v.find(|c: char| c.is_alphabetic()).unwrap_or(v.len()));
                let n: f64 = num.parse().unwrap_or(f64::NAN);
                match unit {
                    "us" => n / 1000.0,
                    "s" => n * 1000.0,
                    "m" => n * 60_000.0,
                    _ => n,
                }
            })
            .unwrap_or(f64::NAN)
    };
    let rps = text
        .lines()
        .find(|l| l.starts_with("Requests/sec"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    let non2xx = text
        .lines()
        .find(|l| l.contains("Non-2xx"))
        .map(str::to_string);
    if let Some(bad) = non2xx {
        eprintln!("  {url}: {bad}");
    }
    (ms("50%"), ms("99%"), rps)
}

#[tokio::main]
async fn main() {
    let n = arg("--clues", 1_000_000);
    let seconds = arg("--seconds", 10);
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("installing wrk (Debian package)…");
        let ok = Command::new("apt-get")
            .args(["install", "-y", "wrk"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok,
            "wrk is missing and could not be installed: apt-get install wrk"
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut stores = vec![("SQLite", Store::default_url(dir.path()))];
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => stores.push((
            "PostgreSQL",
            pg_database(&url, &format!("supervise_bench_api_{}", std::process::id())).await,
        )),
        _ => eprintln!("PostgreSQL skipped: set DATABASE_URL=postgres://… to measure it"),
    }
    let mut rows = Vec::new();
    for (db, url) in &stores {
        let store = Store::open(url).await.expect("open");
        eprintln!("{db}: seeding…");
        let t = seed(&store, dir.path(), n).await;
        // What `supervise serve` does at start: refresh the planner's statistics.
        store.optimize().await.expect("optimize");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server =
            tokio::spawn(axum::serve(listener, app(AppState::new(store.clone()))).into_future());
        let base = format!("http://{addr}/api/v1");
        let cases = [
            (
                "county reviewer: clue queue, first page",
                format!("{base}/clues?limit=50"),
                &t.county,
            ),
            (
                "city reviewer: clue queue, first page",
                format!("{base}/clues?limit=50"),
                &t.city,
            ),
            (
                "province: new clues by score, page 3",
                format!("{base}/clues?status=new&sort=score&limit=50&offset=100"),
                &t.admin,
            ),
            (
                "province: score >= 0.9 by due date, page 2",
                format!("{base}/clues?min_score=0.9&sort=due&limit=50&offset=50"),
                &t.admin,
            ),
            (
                "province: overview statistics",
                format!("{base}/stats/feedback?level=city"),
                &t.admin,
            ),
        ];
        for (name, url, token) in cases {
            eprintln!("{db}: {name}…");
            let (p50, p99, rps) = tokio::task::spawn_blocking({
                let (url, token) = (url.clone(), token.to_string());
                move || wrk(&url, &token, seconds)
            })
            .await
            .expect("wrk");
            rows.push((db.to_string(), name, p50, p99, rps));
        }
        server.abort();
        store.pool().close().await;
    }
    if let Ok(url) = std::env::var("DATABASE_URL") {
        pg_drop(&url, &format!("supervise_bench_api_{}", std::process::id())).await;
    }
    println!("API latency, {n} clues, 32 connections, {seconds} s per endpoint (wrk)");
    println!(
        "| database   | endpoint                                   | p50 ms | p99 ms | req/s  | p99 < 100 ms |"
    );
    println!(
        "|------------|--------------------------------------------|--------|--------|--------|--------------|"
    );
    for (db, name, p50, p99, rps) in rows {
        println!(
            "| {db:<10} | {name:<42} | {p50:>6.1} | {p99:>6.1} | {rps:>6.0} | {:<12} |",
            if rps >= 1.0 && p99 > 0.0 && p99 < 100.0 {
                "met"
            } else {
                "NOT met"
            }
        );
    }
}
