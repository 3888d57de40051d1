//! The scoped feed: pension-after-death run from the store in the real sandbox, limited to
//! the run's region, reading pseudonyms only, denied outside its scope, on a fixed snapshot.

use std::sync::{Arc, OnceLock};

use sqlx::Row;
use supervise::datasets::chunk;
use supervise::datasets::columns::StoredColumn;
use supervise::datasets::feed::StoreSource;
use supervise::datasets::fixtures;
use supervise::datasets::identify;
use supervise::datasets::import::{self, ImportRequest, Mode};
use supervise::datasets::snapshot::Snapshot;
use supervise::runtime::bindings::{ColumnType, ColumnValues, Value};
use supervise::runtime::source::{ColumnRequest, DataSource, ScanRequest, SourceError};
use supervise::runtime::{
    Failure, LoadedModel, Outcome, RunInfo, RunLimits, RunOutcome, RunRequest, Runtime,
    RuntimeConfig, Scope,
};
use supervise_test_guests as guests;

use crate::support::*;

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| Runtime::new(RuntimeConfig::default()).expect("runtime"))
}

fn model(path: &'static str) -> Arc<LoadedModel> {
    Arc::new(runtime().load(&guests::bytes(path)).expect("load"))
}

fn fixtures_dir() -> std::path::PathBuf {
    repo().join("plugins/pension-after-death/fixtures")
}

async fn import_fixtures(db: &TestDb) -> Snapshot {
    load_regions(db).await;
    for dataset in ["death_registrations", "pension_payments"] {
        define(db, dataset).await;
        let req = ImportRequest::new(
            dataset,
            fixtures_dir().join(format!("{dataset}.csv")),
            "test",
        );
        import::import(&db.store, &key(), &req)
            .await
            .expect("import fixture");
    }
    Snapshot::current(&db.store, &["death_registrations", "pension_payments"])
        .await
        .expect("snapshot")
}

async fn run(
    db: &TestDb,
    model: Arc<LoadedModel>,
    region: &str,
    snapshot: &Snapshot,
    scope: Option<Scope>,
    params: Vec<(String, Value)>,
) -> RunOutcome {
    let source = StoreSource::new(&db.store, snapshot).await.expect("source");
    let region = region.to_string();
    tokio::task::spawn_blocking(move || {
        let request = RunRequest {
            info: RunInfo {
                region,
                as_of: 19_935,
                run_id: "store-test".into(),
            },
            params,
            scope,
            limits: RunLimits::default(),
            source: Arc::new(source),
            cancel: Default::default(),
        };
        runtime().run(&model, request).expect("run")
    })
    .await
    .expect("join")
}

fn summary(out: &RunOutcome) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = out
        .clues
        .iter()
        .map(|c| {
            (
                c.dedup_key.clone(),
                c.reason.clone(),
                format!("{:?}", c.evidence),
            )
        })
        .collect();
    v.sort();
    v
}

async fn regions_scope_what_a_run_sees(db: &TestDb) {
    let snap = import_fixtures(db).await;
    let pension = model(guests::PENSION_AFTER_DEATH);
    let county = run(db, pension.clone(), "330102", &snap, None, vec![]).await;
    assert_eq!(county.outcome, Outcome::Succeeded);
    assert_eq!(county.clues.len(), 1);
    // Only the payments of the people who died in the region are read.
    assert_eq!(county.stats.rows_read["pension_payments"], 6);
    assert_eq!(county.stats.rows_read["death_registrations"], 2);

    let other = run(db, pension.clone(), "330103", &snap, None, vec![]).await;
    assert_eq!(other.stats.rows_read["pension_payments"], 2);
    let city = run(db, pension.clone(), "330100", &snap, None, vec![]).await;
    assert_eq!(city.stats.rows_read["pension_payments"], 8);
    assert_eq!(city.clues.len(), 2);
    let province = run(db, pension.clone(), "330000", &snap, None, vec![]).await;
    assert_eq!(summary(&province), summary(&city));
    let elsewhere = run(db, pension, "330200", &snap, None, vec![]).await;
    assert!(elsewhere.clues.is_empty());
    assert_eq!(
        elsewhere
            .stats
            .rows_read
            .get("pension_payments")
            .copied()
            .unwrap_or(0),
        0
    );
}
both!(regions_scope_what_a_run_sees);

async fn store_and_fixtures_give_the_same_clues(db: &TestDb) {
    let snap = import_fixtures(db).await;
    let pension = model(guests::PENSION_AFTER_DEATH);
    let from_store = run(db, pension.clone(), "330000", &snap, None, vec![]).await;
    let memory = fixtures::load_dir(&fixtures_dir(), &pension.manifest, &key()).expect("fixtures");
    let request = RunRequest {
        info: RunInfo {
            region: "330000".into(),
            as_of: 19_935,
            run_id: "fixture".into(),
        },
        params: vec![],
        scope: None,
        limits: RunLimits::default(),
        source: Arc::new(memory),
        cancel: Default::default(),
    };
    let from_fixtures = runtime().run(&pension, request).expect("run");
    assert_eq!(from_store.clues.len(), 2);
    assert_eq!(summary(&from_store), summary(&from_fixtures));

    // Pseudonyms are stable across datasets, after normalising: the death registered with a
    // lower-case check letter joined the payments with an upper-case one.
    let expected = key().pseudonym("33010319480515432X");
    let hex = format!("{:016x}{:016x}", expected[0], expected[1]);
    assert!(
        from_store.clues.iter().any(|c| c.subject.id == hex),
        "{:?}",
        from_store.clues
    );
}
both!(store_and_fixtures_give_the_same_clues);

async fn no_raw_identifier_and_nothing_outside_scope(db: &TestDb) {
    let snap = import_fixtures(db).await;
    let source = StoreSource::new(&db.store, &snap).await.expect("source");
    let ask = |column: &str, ty| ScanRequest {
        dataset: "death_registrations".into(),
        columns: vec![ColumnRequest {
            name: column.into(),
            ty,
        }],
        region: "330000".into(),
    };
    let raw = tokio::task::spawn_blocking(move || {
        let raw = source.scan(&ask("raw:id_number", ColumnType::Text)).err();
        let as_text = source.scan(&ask("id_number", ColumnType::Text)).err();
        let mut ok = source
            .scan(&ask("id_number", ColumnType::Pseudonym))
            .expect("pseudonyms");
        // Each region's rows are in their own chunks, and a batch never spans two chunks.
        let mut rows = 0;
        while let Some(batch) = ok.next_batch(100).expect("batch") {
            rows += batch.rows;
        }
        (raw, as_text, rows)
    })
    .await
    .expect("join");
    assert!(matches!(raw.0, Some(SourceError::UnknownColumn { .. })));
    assert!(
        matches!(raw.1, Some(SourceError::TypeMismatch { .. })),
        "a pii column is only a pseudonym"
    );
    assert_eq!(raw.2, 3);

    let hostile = model(guests::TEST_UNDECLARED);
    let out = run(db, hostile, "330000", &snap, None, vec![]).await;
    assert_eq!(
        out.outcome.failure(),
        Some(&Failure::Model(
            "not declared: dataset `pension_payments`".into()
        ))
    );
    assert_eq!(out.denied, ["dataset `pension_payments`"]);

    // An approved scope narrower than the manifest: the amount column was not approved.
    let pension = model(guests::PENSION_AFTER_DEATH);
    let mut scope = Scope::default();
    for (d, c, t) in [
        ("death_registrations", "record_id", ColumnType::Text),
        ("death_registrations", "id_number", ColumnType::Pseudonym),
        ("death_registrations", "death_date", ColumnType::Date),
        ("pension_payments", "payment_id", ColumnType::Text),
        ("pension_payments", "id_number", ColumnType::Pseudonym),
        ("pension_payments", "pay_date", ColumnType::Date),
    ] {
        scope.allow(d, c, t);
    }
    let out = run(db, pension, "330000", &snap, Some(scope), vec![]).await;
    assert_eq!(out.denied, ["column `pension_payments.amount`"]);
    assert!(out.outcome.failure().is_some());
}
both!(no_raw_identifier_and_nothing_outside_scope);

async fn a_model_may_read_the_region_column_itself(db: &TestDb) {
    let snap = import_fixtures(db).await;
    let source = StoreSource::new(&db.store, &snap).await.expect("source");
    let rows = tokio::task::spawn_blocking(move || {
        let ask = ScanRequest {
            dataset: "death_registrations".into(),
            columns: vec![
                ColumnRequest {
                    name: "region_code".into(),
                    ty: ColumnType::Text,
                },
                ColumnRequest {
                    name: "record_id".into(),
                    ty: ColumnType::Text,
                },
            ],
            region: "330102".into(),
        };
        let mut scan = source.scan(&ask).expect("scan");
        let mut rows = 0;
        while let Some(batch) = scan.next_batch(100).expect("batch") {
            rows += batch.rows;
        }
        rows
    })
    .await
    .expect("join");
    // The fixture's chunk spans two counties, so the feed filters by the same column the
    // model asked for: two of its three deaths are in 330102.
    assert_eq!(rows, 2);
}
both!(a_model_may_read_the_region_column_itself);

async fn a_snapshot_reads_the_same_data_after_new_imports(db: &TestDb) {
    let snap = import_fixtures(db).await;
    let id = snap.save(&db.store).await.expect("save");
    assert_eq!(
        snap.save(&db.store).await.expect("save again"),
        id,
        "stored once per content"
    );
    let pension = model(guests::PENSION_AFTER_DEATH);
    let before = run(db, pension.clone(), "330000", &snap, None, vec![]).await;

    let later = "payment_id,id_number,pay_date,amount,region_code\nP-2001,330102195002027777,2024-06-15,2800,330102\n";
    let req = ImportRequest::new("pension_payments", file(db, "later.csv", later), "test");
    import::import(&db.store, &key(), &req)
        .await
        .expect("later import");
    let now = Snapshot::current(&db.store, &["death_registrations", "pension_payments"])
        .await
        .expect("current");
    assert_ne!(now, snap);
    let after = run(db, pension.clone(), "330000", &now, None, vec![]).await;
    assert_eq!(after.clues.len(), before.clues.len() + 1);

    let stored = Snapshot::load(&db.store, id)
        .await
        .expect("load")
        .expect("exists");
    let replayed = run(db, pension.clone(), "330000", &stored, None, vec![]).await;
    assert_eq!(summary(&replayed), summary(&before));

    let replace = ImportRequest {
        mode: Mode::Replace,
        path: file(db, "replace.csv", &later.replace("P-2001", "P-3001")),
        ..req
    };
    import::import(&db.store, &key(), &replace)
        .await
        .expect("replace");
    let replaced = Snapshot::current(&db.store, &["pension_payments"])
        .await
        .expect("current");
    assert_eq!(
        replaced.datasets["pension_payments"].len(),
        1,
        "a replace supersedes earlier imports"
    );
}
both!(a_snapshot_reads_the_same_data_after_new_imports);

/// Payments in runs of 50,000 rows alternating between two counties: more than three chunks,
/// with chunk and county boundaries apart.
async fn import_many_chunks(db: &TestDb) -> (Snapshot, usize) {
    load_regions(db).await;
    define(db, "pension_payments").await;
    let rows = 3 * supervise::datasets::chunk::CHUNK_ROWS + 1_000;
    let mut csv = String::from("payment_id,id_number,pay_date,amount,region_code\n");
    for i in 0..rows {
        let county = if (i / 50_000) % 2 == 0 {
            "330102"
        } else {
            "330103"
        };
        csv.push_str(&format!(
            "P{i:07},330102195001011234,2024-01-15,100,{county}\n"
        ));
    }
    let req = ImportRequest::new("pension_payments", file(db, "many.csv", &csv), "test");
    import::import(&db.store, &key(), &req)
        .await
        .expect("import");
    let snap = Snapshot::current(&db.store, &["pension_payments"])
        .await
        .expect("snapshot");
    (snap, rows)
}

async fn a_scan_over_many_chunks_returns_each_row_in_scope_once(db: &TestDb) {
    let (snap, rows) = import_many_chunks(db).await;
    let source = StoreSource::new(&db.store, &snap).await.expect("source");
    let ids = |region: &str| ScanRequest {
        dataset: "pension_payments".into(),
        columns: vec![ColumnRequest {
            name: "payment_id".into(),
            ty: ColumnType::Text,
        }],
        region: region.into(),
    };
    let store = db.store.clone();
    let (province, county, abandoned, again, uncached, stats) =
        tokio::task::spawn_blocking(move || {
            let read = |region: &str| {
                let mut scan = source.scan(&ids(region)).expect("scan");
                let mut seen = Vec::new();
                // An odd batch size, so that batches end inside chunks as well as at their ends.
                while let Some(batch) = scan.next_batch(7_777).expect("batch") {
                    seen.extend(payment_ids(&batch));
                }
                seen
            };
            // A scan given up after one batch (its next chunk already being read) leaves the
            // source as it was.
            let mut first = source.scan(&ids("330000")).expect("scan");
            let abandoned = first.next_batch(10).expect("batch").map(|b| b.rows);
            drop(first);
            let (province, county) = (read("330000"), read("330102"));
            // Read again, the chunks' columns now come from the store's column cache; then with
            // a cache that keeps nothing, from the database every time.
            let before = store.blocks().stats();
            let again = read("330000");
            let after = store.blocks().stats();
            store.blocks().set_budget(0);
            let uncached = read("330000");
            (
                province,
                county,
                abandoned,
                again,
                uncached,
                (before, after),
            )
        })
        .await
        .expect("join");
    assert_eq!(abandoned, Some(10));
    assert_eq!(again, province, "the cached columns give the same rows");
    assert_eq!(
        uncached, province,
        "so does reading every chunk from the database"
    );
    let (before, after) = stats;
    assert_eq!(
        after.misses, before.misses,
        "the second scan reads nothing from the database"
    );
    assert!(
        after.hits >= before.hits + 4,
        "every chunk served from memory: {after:?}"
    );
    let unique = |v: &[String]| v.iter().collect::<std::collections::BTreeSet<_>>().len();
    assert_eq!(province.len(), rows, "every row once");
    assert_eq!(unique(&province), rows);
    let expected: std::collections::BTreeSet<String> = (0..rows)
        .filter(|i| (i / 50_000) % 2 == 0)
        .map(|i| format!("P{i:07}"))
        .collect();
    assert_eq!(county.len(), expected.len(), "every row of 330102 once");
    assert_eq!(
        county
            .iter()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        expected
    );
}
both!(a_scan_over_many_chunks_returns_each_row_in_scope_once);

async fn a_look_up_returns_the_rows_a_scan_would_in_the_same_order(db: &TestDb) {
    let (snap, rows) = import_many_chunks(db).await;
    let source = StoreSource::new(&db.store, &snap).await.expect("source");
    let store = db.store.clone();
    let [a, b] = key().pseudonym("330102195001011234");
    let [x, y] = key().pseudonym("110101199001011234");
    let checks = tokio::task::spawn_blocking(move || {
        let request = payment_id_scan;
        let id_number = id_number_key();
        let scanned = |region: &str| {
            let mut scan = source.scan(&request(region)).expect("scan");
            let mut seen = Vec::new();
            while let Some(batch) = scan.next_batch(65_536).expect("batch") {
                seen.extend(payment_ids(&batch));
            }
            seen
        };
        let look = |region: &str, keys: Vec<u64>, cap: usize| {
            let mut index = source.index(&request(region), &id_number).expect("index");
            index
                .get_many(&ColumnValues::Pseudonym(keys), cap)
                .expect("look-up")
                .map(|(batch, at)| (payment_ids(&batch), at))
        };
        // The person paid in every row, after a key that matches nothing.
        let province = look("330000", vec![x, y, a, b], rows);
        let county = look("330102", vec![x, y, a, b], rows);
        let nobody = look("330000", vec![x, y], rows);
        let over_cap = look("330000", vec![a, b], rows - 1);
        let before = store.blocks().stats();
        let again = look("330102", vec![a, b], rows);
        let after = store.blocks().stats();
        (
            (province, scanned("330000")),
            (county, scanned("330102")),
            nobody,
            over_cap,
            again,
            (before, after),
        )
    })
    .await
    .expect("join");
    let ((province, province_scan), (county, county_scan), nobody, over_cap, again, stats) = checks;
    let (province, at) = province.expect("under the cap");
    assert_eq!(province.len(), rows);
    assert_eq!(province, province_scan, "the scan's rows, in its order");
    assert!(
        at.iter().all(|&p| p == 1),
        "each row names the key it matched"
    );
    let (county, _) = county.expect("under the cap");
    assert!(county.len() < rows);
    assert_eq!(
        county, county_scan,
        "only the region's rows, in the scan's order"
    );
    assert_eq!(nobody, Some((vec![], vec![])));
    assert_eq!(over_cap, None, "more rows than the cap: refused");
    assert_eq!(again.map(|(ids, _)| ids), Some(county));
    let (before, after) = stats;
    assert_eq!(
        after.misses, before.misses,
        "a second look-up reads no column and builds no key rows again: {after:?}"
    );
}
both!(a_look_up_returns_the_rows_a_scan_would_in_the_same_order);

/// Rewrites every stored chunk into the form imports wrote before migration 0010 stored
/// columns apart: one blob holding every column, under the name `*`.
async fn store_chunks_whole(db: &TestDb) {
    let pool = db.store.pool();
    let chunks = sqlx::query("SELECT import_id, chunk_no, row_count FROM import_chunks")
        .fetch_all(pool)
        .await
        .expect("chunks");
    for c in chunks {
        let (import, no, rows): (i64, i64, i64) = (
            c.try_get(0).expect("import"),
            c.try_get(1).expect("no"),
            c.try_get(2).expect("rows"),
        );
        let parts = sqlx::query(
            "SELECT name, data FROM chunk_columns WHERE import_id = $1 AND chunk_no = $2",
        )
        .bind(import)
        .bind(no)
        .fetch_all(pool)
        .await
        .expect("columns");
        let mut columns = Vec::new();
        for p in &parts {
            let name: String = p.try_get(0).expect("name");
            // Imports of that time kept no key rows in the database: dropped with the rest.
            if name.starts_with("keys:") {
                continue;
            }
            let data: Vec<u8> = p.try_get(1).expect("data");
            let (_, mut one) = chunk::decode(&data, &[name.as_str()]).expect("decode");
            columns.push((name, one.remove(0).expect("the column")));
        }
        let named: Vec<(&str, &StoredColumn)> =
            columns.iter().map(|(n, c)| (n.as_str(), c)).collect();
        let whole = chunk::encode(rows as usize, &named);
        sqlx::query("DELETE FROM chunk_columns WHERE import_id = $1 AND chunk_no = $2")
            .bind(import)
            .bind(no)
            .execute(pool)
            .await
            .expect("delete");
        sqlx::query(
            "INSERT INTO chunk_columns (import_id, chunk_no, name, data) VALUES ($1, $2, '*', $3)",
        )
        .bind(import)
        .bind(no)
        .bind(whole)
        .execute(pool)
        .await
        .expect("insert");
    }
    db.store.blocks().clear();
}

async fn chunks_stored_whole_before_columns_were_apart_read_the_same(db: &TestDb) {
    let snap = import_fixtures(db).await;
    let pension = model(guests::PENSION_AFTER_DEATH);
    let apart = run(db, pension.clone(), "330000", &snap, None, vec![]).await;
    let person = key().pseudonym("33010319480515432X");
    let found_apart = identify::lookup(&db.store, "330000", person, &[])
        .await
        .expect("look up");
    store_chunks_whole(db).await;
    let whole = run(db, pension, "330000", &snap, None, vec![]).await;
    assert_eq!(apart.clues.len(), 2);
    assert_eq!(summary(&whole), summary(&apart));
    assert_eq!(whole.stats.rows_read, apart.stats.rows_read);
    let found_whole = identify::lookup(&db.store, "330000", person, &[])
        .await
        .expect("look up");
    assert!(!found_apart.is_empty());
    assert_eq!(found_whole, found_apart);
}
both!(chunks_stored_whole_before_columns_were_apart_read_the_same);

async fn a_scan_reads_only_the_columns_it_asks_for(db: &TestDb) {
    let snap = import_fixtures(db).await;
    // The raw identifiers, kept beside the pseudonyms for re-identification, become
    // unreadable: models never ask for them, so their runs do not read them.
    sqlx::query("UPDATE chunk_columns SET data = $1 WHERE name LIKE 'raw:%'")
        .bind(vec![0u8; 4])
        .execute(db.store.pool())
        .await
        .expect("corrupt");
    let pension = model(guests::PENSION_AFTER_DEATH);
    let out = run(db, pension, "330000", &snap, None, vec![]).await;
    assert_eq!(out.outcome, Outcome::Succeeded, "{:?}", out.outcome);
    assert_eq!(out.clues.len(), 2);
    // Re-identification reads them, and says which chunk is corrupt.
    let person = key().pseudonym("33010319480515432X");
    let err = identify::lookup(&db.store, "330000", person, &[])
        .await
        .expect_err("corrupt");
    assert!(err.to_string().contains("chunk"), "{err}");
}
both!(a_scan_reads_only_the_columns_it_asks_for);
