//! Dashboard page render times with 1,000,000 clues in the store: the API and the dashboard
//! served in this process, and `tests/browser/render.mjs` driving Debian's headless Chromium
//! (installed with playwright-core by `scripts/browser-deps` when missing). For the province's
//! admin and a county reviewer, every page is opened by its address several times and timed
//! inside the page from navigation to content drawn; plus a full cold load. Prints the median
//! and the slowest sample per page against the 300 ms target, on SQLite and (with
//! `DATABASE_URL`) PostgreSQL.
//!
//! `cargo bench -p supervise --bench dashboard [-- --clues N --rounds R]`

use std::path::Path;
use std::process::Command;

use sqlx::Row;
use supervise::api::{AppState, app};
use supervise::store::Store;

mod common;
use common::clues::{PASSWORD, seed};
use common::{arg, pg_database, pg_drop};

/// A clue that `region`'s reviewers see.
async fn clue_in(store: &Store, region: &str) -> i64 {
    sqlx::query("SELECT id FROM clues WHERE region = $1 ORDER BY id LIMIT 1")
        .bind(region)
        .fetch_one(store.pool())
        .await
        .expect("a clue")
        .try_get(0)
        .expect("id")
}

#[derive(serde::Deserialize)]
struct Sample {
    user: String,
    page: String,
    samples: Vec<f64>,
}

#[derive(serde::Deserialize)]
struct Measured {
    pages: Vec<Sample>,
}

#[tokio::main]
async fn main() {
    let n = arg("--clues", 1_000_000);
    let rounds = arg("--rounds", 5);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let deps = Command::new(root.join("scripts/browser-deps"))
        .status()
        .expect("run scripts/browser-deps");
    assert!(deps.success(), "scripts/browser-deps failed");
    let dir = tempfile::tempdir().expect("tempdir");
    let pg_name = format!("supervise_bench_dashboard_{}", std::process::id());
    let mut stores = vec![("SQLite", Store::default_url(dir.path()))];
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            stores.push(("PostgreSQL", pg_database(&url, &pg_name).await))
        }
        _ => eprintln!("PostgreSQL skipped: set DATABASE_URL=postgres://… to measure it"),
    }
    let mut rows = Vec::new();
    for (db, url) in &stores {
        let store = Store::open(url).await.expect("open");
        eprintln!("{db}: seeding…");
        seed(&store, dir.path(), n).await;
        store.optimize().await.expect("optimize");
        let (any, county) = (
            clue_in(&store, "330201").await,
            clue_in(&store, "330102").await,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = app(AppState::new(store.clone())).merge(supervise::dashboard::router());
        let server = tokio::spawn(axum::serve(listener, router).into_future());
        eprintln!("{db}: rendering pages in Chromium…");
        let script = root.join("tests/browser/render.mjs");
        let out = tokio::task::spawn_blocking(move || {
            Command::new("node")
                .arg(script)
                .arg(format!("http://{addr}/"))
                .arg(rounds.to_string())
                .arg(format!("boss:{PASSWORD}:{any}"))
                .arg(format!("li:{PASSWORD}:{county}"))
                .output()
                .expect("run node")
        })
        .await
        .expect("node");
        assert!(
            out.status.success(),
            "render.mjs failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let measured: Measured = serde_json::from_slice(&out.stdout).expect("render.mjs output");
        for s in measured.pages {
            let mut v = s.samples.clone();
            v.sort_by(f64::total_cmp);
            let median = v.get(v.len() / 2).copied().unwrap_or(f64::NAN);
            let max = v.last().copied().unwrap_or(f64::NAN);
            rows.push((db.to_string(), s.user, s.page, median, max));
        }
        server.abort();
        store.pool().close().await;
    }
    if let Ok(url) = std::env::var("DATABASE_URL") {
        pg_drop(&url, &pg_name).await;
    }
    println!("Dashboard page render, {n} clues, {rounds} samples per page (headless Chromium)");
    println!(
        "| database   | user     | page                       | median ms | max ms | < 300 ms |"
    );
    println!(
        "|------------|----------|----------------------------|-----------|--------|----------|"
    );
    for (db, user, page, median, max) in rows {
        let user = if user == "boss" { "admin" } else { "county" };
        println!(
            "| {db:<10} | {user:<8} | {page:<26} | {median:>9.0} | {max:>6.0} | {:<8} |",
            if max < 300.0 { "met" } else { "NOT met" }
        );
    }
}
