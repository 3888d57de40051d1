//! API latency under load: a store with 1,000,000 clues over 90 counties, the API served in
//! this process, and `wrk` (Debian's package, installed by this bench when missing) with 32
//! connections against the clue queue (a county reviewer's page, the province's filtered and
//! sorted page) and the overview statistics. Prints p50/p99 and requests/s per endpoint, on
//! SQLite and (with `DATABASE_URL`) PostgreSQL.
//!
//! `cargo bench -p supervise --bench api [-- --clues N --seconds S]`

use std::process::Command;
use std::time::Instant;

use supervise::api::{AppState, app};
use supervise::auth::users::{self, NewUser};
use supervise::auth::{Role, tokens};
use supervise::datasets::regions;
use supervise::registry::{Actor, Office, keys};
use supervise::store::Store;

mod common;
use common::{arg, counties, pg_database};

/// Bearer tokens of the province's admin, a city reviewer and a county reviewer.
struct Tokens {
    admin: String,
    city: String,
    county: String,
}

async fn seed(store: &Store, dir: &std::path::Path, n: usize) -> Tokens {
    let mut csv = String::from("code,name\n330000,Province\n");
    for city in 1..=11u32 {
        csv.push_str(&format!("33{city:02}00,City {city}\n"));
    }
    let counties = counties();
    for c in &counties {
        csv.push_str(&format!("{c},County {c}\n"));
    }
    let path = dir.join(format!("regions-{}.csv", supervise::store::now_ms()));
    std::fs::write(&path, csv).expect("regions");
    regions::load_csv(store, &path, "bench")
        .await
        .expect("regions");
    let admin = Actor {
        user: "admin".into(),
        office: "330000".into(),
    };
    for (id, region) in [
        ("330000", "330000"),
        ("330100", "330100"),
        ("330102", "330102"),
    ] {
        keys::add_office(
            store,
            &admin,
            &Office {
                id: id.into(),
                name: id.into(),
                region: region.into(),
            },
        )
        .await
        .expect("office");
    }
    let pass = "a long enough passphrase".to_string();
    users::create(
        store,
        None,
        &NewUser {
            username: "boss".into(),
            password: pass.clone(),
            role: Role::Admin,
            office: "330000".into(),
        },
    )
    .await
    .expect("admin");
    let boss = users::by_name(store, "boss")
        .await
        .expect("q")
        .expect("boss")
        .0;
    let mut reviewers = Vec::new();
    for (name, office) in [("wang", "330100"), ("li", "330102")] {
        users::create(
            store,
            Some(&boss),
            &NewUser {
                username: name.into(),
                password: pass.clone(),
                role: Role::Reviewer,
                office: office.into(),
            },
        )
        .await
        .expect("reviewer");
        let p = users::by_name(store, name)
            .await
            .expect("q")
            .expect("user")
            .0;
        reviewers.push(
            tokens::create(store, &p, None, "bench", 1)
                .await
                .expect("token")
                .1,
        );
    }
    let admin_token = tokens::create(store, &boss, None, "bench", 1)
        .await
        .expect("token")
        .1;
    let statuses = [
        "new",
        "new",
        "new",
        "assigned",
        "verifying",
        "confirmed",
        "dismissed",
        "case_filed",
    ];
    let t = Instant::now();
    let now = supervise::store::now_ms();
    const BATCH: usize = 500;
    let mut i = 0;
    while i < n {
        let mut tx = store.pool().begin().await.expect("tx");
        for _ in 0..20 {
            if i >= n {
                break;
            }
            let rows = BATCH.min(n - i);
            let mut sql = String::from(
                "INSERT INTO clues (model_id, dedup_key, kind, region, subject_type, subject_id, subject_name, score, reason, \
                 evidence_json, content_sha256, status, occurrences, first_seen_ms, last_seen_ms, source) VALUES ",
            );
            for k in 0..rows {
                let j = i + k;
                let region = &counties[j % counties.len()];
                let model = [
                    "pension-after-death",
                    "shell-company",
                    "professional-lender",
                    "drunk-driving-licence",
                    "correction-travel",
                ][j % 5];
                let status = statuses[j % statuses.len()];
                if k > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "('{model}', 'k{j}', '{model}', '{region}', 'person', 'p{j:016x}', '', {:.3}, 'finding number {j}', '[]', '', '{status}', 1, {}, {}, 'model')",
                    (j % 1000) as f64 / 1000.0,
                    now - (j as i64 % 86_400_000),
                    now - (j as i64 % 3_600_000)
                ));
            }
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await
                .expect("insert");
            i += rows;
        }
        tx.commit().await.expect("commit");
    }
    eprintln!("  seeded {n} clues in {:.1} s", t.elapsed().as_secs_f64());
    let county = reviewers.pop().unwrap_or_default();
    let city = reviewers.pop().unwrap_or_default();
    Tokens {
        admin: admin_token,
        city,
        county,
    }
}

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
