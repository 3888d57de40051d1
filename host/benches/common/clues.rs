//! A store with many clues for the benches that read them: the province's 90 counties, three
//! offices, an admin and two reviewers (password [`PASSWORD`]), and `n` clues spread over
//! counties, models and statuses.

use std::time::Instant;

use supervise::auth::users::{self, NewUser};
use supervise::auth::{Role, tokens};
use supervise::datasets::regions;
use supervise::store::Store;

use super::counties;

/// The password of every seeded user.
pub const PASSWORD: &str = "a long enough passphrase";

/// Bearer tokens of the province's admin, a city reviewer and a county reviewer.
pub struct Tokens {
    /// The province's admin (user `boss`).
    pub admin: String,
    /// A reviewer of city 330100 (user `wang`).
    pub city: String,
    /// A reviewer of county 330102 (user `li`).
    pub county: String,
}

/// Seeds `store` (regions CSV written under `dir`) with `n` clues; returns the users' tokens.
pub async fn seed(store: &Store, dir: &std::path::Path, n: usize) -> Tokens {
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
    super::add_offices(store, &["330000", "330100", "330102"]).await;
    let pass = PASSWORD.to_string();
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
        let mut tx = store.begin().await.expect("tx");
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
