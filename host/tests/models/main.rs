//! The five supervision models against the synthetic province's ground truth, through the
//! whole path: generate → define → import → publish → approve → enable → run → clues. For
//! three seeds, every model finds every planted case and nothing else (the clean look-alikes
//! included); enabled for one county, each finds exactly that county's planted cases.

#[path = "../store/support.rs"]
#[allow(dead_code, unused_macros)]
mod support;

#[path = "../registry/world.rs"]
#[allow(dead_code)]
mod world;

#[path = "../runs/setup.rs"]
#[allow(dead_code)]
mod setup;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use sqlx::Row;
use supervise::datasets::pseudonym::to_hex;
use supervise::datasets::{catalog, regions, schema::DatasetSchema};
use supervise::demo::{self, Options, Truth};
use supervise::registry::VersionRef;
use supervise::registry::enable::{self, EnableRequest};
use supervise::runs::{Executor, ExecutorConfig, Metrics};
use supervise::runtime::{Runtime, RuntimeConfig};
use supervise_test_guests as guests;

use support::*;

/// (component, model id, version) of the five models.
const MODELS: [(&str, &str, &str); 5] = [
    (guests::PENSION_AFTER_DEATH, "pension-after-death", "1.0.0"),
    (guests::SHELL_COMPANY, "shell-company", "1.0.1"),
    (guests::PROFESSIONAL_LENDER, "professional-lender", "1.0.0"),
    (
        guests::DRUNK_DRIVING_LICENCE,
        "drunk-driving-licence",
        "1.0.0",
    ),
    (guests::CORRECTION_TRAVEL, "correction-travel", "1.0.0"),
];

/// A finding as both sides can state it: (model, county, subject id, trip record or "").
type Finding = (String, String, String, String);

fn expected(truth: &[Truth]) -> BTreeSet<Finding> {
    truth
        .iter()
        .map(|t| {
            let subject = if t.subject_type == "person" {
                to_hex(key().pseudonym(&t.subject))
            } else {
                t.subject.clone()
            };
            let trip = if t.model == "correction-travel" {
                t.key.clone()
            } else {
                String::new()
            };
            (t.model.clone(), t.county.clone(), subject, trip)
        })
        .collect()
}

async fn found(db: &TestDb) -> BTreeSet<Finding> {
    sqlx::query(
        "SELECT model_id, region, subject_id, dedup_key FROM clues WHERE model_id IS NOT NULL",
    )
    .fetch_all(db.store.pool())
    .await
    .expect("clues")
    .iter()
    .map(|r| {
        let model: String = r.try_get(0).expect("model");
        let key: String = r.try_get(3).expect("key");
        let trip = key.strip_prefix("trip:").unwrap_or("").to_string();
        (
            model,
            r.try_get(1).expect("region"),
            r.try_get(2).expect("subject"),
            trip,
        )
    })
    .collect()
}

/// The province generated with `seed` and imported into the test's store; its ground truth.
async fn province(db: &TestDb, seed: u64) -> Vec<Truth> {
    let out = db.dir.path().join(format!("province-{seed}"));
    let summary = demo::generate(&Options {
        seed,
        scale: demo::generate::MIN_SCALE,
        as_of: chrono::Local::now().date_naive(),
        out: out.clone(),
        progress: false,
    })
    .expect("generate");
    for (_, model, _) in MODELS {
        assert!(
            summary.planted.get(model).copied().unwrap_or(0) >= 2,
            "seed {seed}: too few planted cases for {model}: {:?}",
            summary.planted
        );
    }
    regions::load_csv(&db.store, &out.join("regions.csv"), "test")
        .await
        .expect("regions");
    for (name, text) in demo::generate::SCHEMAS {
        let schema = DatasetSchema::from_toml(text).expect("schema");
        catalog::define(&db.store, &schema, "test")
            .await
            .expect("define");
        setup::import_file(db, name, &out.join(format!("{name}.csv"))).await;
    }
    std::fs::read_to_string(out.join("ground_truth.jsonl"))
        .expect("truth")
        .lines()
        .map(|l| serde_json::from_str(l).expect("truth line"))
        .collect()
}

/// An executor whose sandbox keeps compiled components on disk, as `serve` does: without
/// it every one of the 450 runs would compile its model again.
fn executor(db: &TestDb) -> Arc<Executor> {
    static RT: OnceLock<Arc<Runtime>> = OnceLock::new();
    let runtime = RT
        .get_or_init(|| {
            let config = RuntimeConfig {
                cache_dir: Some(
                    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("models-cache"),
                ),
                ..RuntimeConfig::default()
            };
            Arc::new(Runtime::new(config).expect("runtime"))
        })
        .clone();
    Arc::new(Executor::new(
        db.store.clone(),
        runtime,
        ExecutorConfig::default(),
        Arc::new(Metrics::default()),
    ))
}

async fn enable_for(db: &TestDb, (model, version): (&str, &str), regions: &[&str]) -> i64 {
    let req = EnableRequest {
        version: VersionRef {
            model: model.into(),
            version: version.into(),
        },
        regions: regions.iter().map(|r| r.to_string()).collect(),
        params: vec![],
        schedule: None,
        scope: None,
        reason: "ground truth".into(),
    };
    enable::enable(&db.store, &world::admin(), &req)
        .await
        .expect("enable")
}

fn by_model(set: &BTreeSet<Finding>) -> BTreeMap<&str, usize> {
    let mut m = BTreeMap::new();
    for f in set {
        *m.entry(f.0.as_str()).or_default() += 1;
    }
    m
}

async fn every_planted_case_and_nothing_else(db: &TestDb, seed: u64, county_first: bool) {
    let w = world::world(db).await;
    let truth = province(db, seed).await;
    let want = expected(&truth);
    for (guest, model, version) in MODELS {
        setup::enabled(db, &w, (guest, model, version), &[], &[], None).await;
    }
    let ex = executor(db);
    if county_first {
        // Each model enabled for the one county with most of its planted cases.
        let mut county_enablements = Vec::new();
        let mut want_here = BTreeSet::new();
        for (_, model, version) in MODELS {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for f in want.iter().filter(|f| f.0 == model) {
                *counts.entry(f.1.as_str()).or_default() += 1;
            }
            let (county, _) = counts
                .iter()
                .max_by_key(|(c, n)| (**n, std::cmp::Reverse(**c)))
                .expect("a county with planted cases");
            county_enablements.push(enable_for(db, (model, version), &[county]).await);
            want_here.extend(
                want.iter()
                    .filter(|f| f.0 == model && f.1 == *county)
                    .cloned(),
            );
            supervise::runs::queue::by_hand(&db.store, &world::admin(), model, county)
                .await
                .expect("queue");
        }
        setup::drain(&ex).await;
        let got = found(db).await;
        assert_eq!(
            got, want_here,
            "seed {seed}: county enablements find exactly their county's planted cases"
        );
        for id in county_enablements {
            enable::disable(&db.store, &world::admin(), id, "province next")
                .await
                .expect("disable");
        }
    }
    for (_, model, version) in MODELS {
        enable_for(db, (model, version), &["330000"]).await;
        supervise::runs::queue::by_hand(&db.store, &world::admin(), model, "330000")
            .await
            .expect("queue");
    }
    let ended = setup::drain(&ex).await;
    let failures: Vec<String> = sqlx::query(
        "SELECT model_id, region, status, COALESCE(error, '') FROM runs WHERE status <> 'succeeded' LIMIT 5",
    )
    .fetch_all(db.store.pool())
    .await
    .expect("runs")
    .iter()
    .map(|r| {
        let s = |i| r.try_get::<String, _>(i).unwrap_or_default();
        format!("{} {} {}: {}", s(0), s(1), s(2), s(3))
    })
    .collect();
    assert!(
        failures.is_empty(),
        "seed {seed}: every run succeeded ({ended} ended), but:\n{}",
        failures.join("\n")
    );
    let got = found(db).await;
    let missed: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(
        missed.is_empty() && extra.is_empty(),
        "seed {seed}: planted {:?}, found {:?}\nmissed: {missed:?}\nfalse alarms: {extra:?}",
        by_model(&want),
        by_model(&got)
    );
    planted_people_are_reidentified(db, &truth).await;
}

/// Every planted person is re-identified, for a reviewer of the clue's region, as the ID
/// number the generator planted; anyone else is refused; every look is audited.
async fn planted_people_are_reidentified(db: &TestDb, truth: &[Truth]) {
    use supervise::auth::Role;
    use supervise::clues::{ClueError, identity};
    let people: Vec<&Truth> = truth
        .iter()
        .filter(|t| t.subject_type == "person")
        .collect();
    assert!(!people.is_empty());
    let before = audited_looks(db).await;
    for t in &people {
        let id: i64 = sqlx::query("SELECT id FROM clues WHERE model_id = $1 AND subject_id = $2")
            .bind(&t.model)
            .bind(to_hex(key().pseudonym(&t.subject)))
            .fetch_all(db.store.pool())
            .await
            .expect("clue")[0]
            .try_get(0)
            .expect("id");
        let got = identity::identify(&db.store, &world::admin(), Role::Reviewer, id)
            .await
            .expect("identify");
        let numbers: BTreeSet<String> = got
            .found
            .iter()
            .flat_map(|f| f.fields.values())
            .map(|v| v.to_ascii_uppercase())
            .collect();
        assert!(
            got.pseudonymous && numbers.contains(&t.subject.to_ascii_uppercase()),
            "{} clue {id} ({}): {got:?}",
            t.model,
            t.subject
        );
        let refused = identity::identify(&db.store, &world::admin(), Role::Admin, id).await;
        assert!(
            matches!(refused, Err(ClueError::Forbidden(_))),
            "{refused:?}"
        );
        if t.county != "330103" {
            let hidden =
                identity::identify(&db.store, &world::other_county(), Role::Reviewer, id).await;
            assert!(matches!(hidden, Err(ClueError::NotFound(_))), "{hidden:?}");
        }
    }
    assert_eq!(audited_looks(db).await - before, people.len() as i64);
}

async fn audited_looks(db: &TestDb) -> i64 {
    sqlx::query("SELECT COUNT(*) FROM audit_log WHERE action = 'clue.identify'")
        .fetch_one(db.store.pool())
        .await
        .expect("count")
        .try_get(0)
        .expect("n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_1_county_then_province() {
    let db = sqlite().await;
    every_planted_case_and_nothing_else(&db, 1, true).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_2() {
    let db = sqlite().await;
    every_planted_case_and_nothing_else(&db, 2, false).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_3_on_postgres_when_available() {
    let db = match postgres().await {
        Some(db) => db,
        None => sqlite().await,
    };
    every_planted_case_and_nothing_else(&db, 3, false).await;
    db.cleanup().await;
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 6, 30).expect("date");
    let run = |name: &str, seed: u64| {
        let out = dir.path().join(name);
        demo::generate(&Options {
            seed,
            scale: demo::generate::MIN_SCALE,
            as_of,
            out: out.clone(),
            progress: false,
        })
        .expect("generate");
        out
    };
    let (a, b, c) = (run("a", 7), run("b", 7), run("c", 8));
    let mut names: Vec<String> = std::fs::read_dir(&a)
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 15, "{names:?}");
    for name in &names {
        let read = |d: &std::path::Path| std::fs::read(d.join(name)).expect("file");
        assert_eq!(read(&a), read(&b), "{name} differs for the same seed");
    }
    assert_ne!(
        std::fs::read(a.join("residents.csv")).expect("a"),
        std::fs::read(c.join("residents.csv")).expect("c"),
        "another seed, other people"
    );
    // Every identifier carries valid check characters.
    let residents = std::fs::read_to_string(a.join("residents.csv")).expect("residents");
    assert!(
        residents
            .lines()
            .skip(1)
            .all(|l| supervise::demo::ids::resident_id_valid(&l[..18]))
    );
    let companies = std::fs::read_to_string(a.join("company_registry.csv")).expect("companies");
    assert!(
        companies
            .lines()
            .skip(1)
            .all(|l| supervise::demo::ids::credit_code_valid(&l[..18]))
    );
}
