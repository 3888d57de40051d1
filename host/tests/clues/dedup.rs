//! One clue per (model, dedup key) across runs and versions; a dismissed clue found again
//! stays dismissed, is counted, and is flagged when its evidence changed.

use supervise::clues::query;
use supervise::clues::triage::apply;
use supervise::clues::{Action, DismissReason, Status};
use supervise::registry::enable;
use supervise::runs::queue;
use supervise_test_guests::{PENSION_AFTER_DEATH, TEST_VERSIONED_100, TEST_VERSIONED_110};

use crate::helpers::county;
use crate::setup::*;
use crate::support::*;
use crate::world::admin;

async fn run(db: &TestDb, model: &str) {
    queue::by_hand(&db.store, &admin(), model, "330102")
        .await
        .expect("queue");
    drain(&executor(db, 5_000)).await;
}

/// The province with `pension-after-death` 1.0.0 enabled for county 330102.
async fn pension_in_county(db: &TestDb) {
    let w = province(db).await;
    enabled(
        db,
        &w,
        (PENSION_AFTER_DEATH, "pension-after-death", "1.0.0"),
        &["330102"],
        &[],
        None,
    )
    .await;
}

async fn dismissed_clue_found_again_stays_dismissed(db: &TestDb) {
    pension_in_county(db).await;
    run(db, "pension-after-death").await;
    assert_eq!(count(db, "clues").await, 1);
    let id = scalar(db, "SELECT id FROM clues").await;
    apply(
        &db.store,
        &county(),
        &[id],
        &Action::Dismiss {
            reason: DismissReason::AlreadyHandled,
            note: String::new(),
        },
    )
    .await
    .expect("dismiss");
    run(db, "pension-after-death").await;
    let c = query::get(&db.store, id).await.expect("clue");
    assert_eq!(
        (c.status, c.occurrences, c.evidence_changed),
        (Status::Dismissed, 2, false)
    );
    let later = "payment_id,id_number,pay_date,amount,region_code\nP-9001,330102194501011234,2024-09-15,3200.00,330102\n";
    import_file(db, "pension_payments", &file(db, "later.csv", later)).await;
    run(db, "pension-after-death").await;
    let c = query::get(&db.store, id).await.expect("clue");
    assert_eq!(
        (c.status, c.occurrences, c.evidence_changed),
        (Status::Dismissed, 3, true)
    );
    assert_eq!(count(db, "clues").await, 1);
}
both!(dismissed_clue_found_again_stays_dismissed);

async fn a_new_version_updates_the_same_clues(db: &TestDb) {
    let w = province(db).await;
    let e = enabled(
        db,
        &w,
        (TEST_VERSIONED_100, "test-versioned", "1.0.0"),
        &["330102"],
        &[],
        None,
    )
    .await;
    enabled(
        db,
        &w,
        (TEST_VERSIONED_110, "test-versioned", "1.1.0"),
        &[],
        &[],
        None,
    )
    .await;
    run(db, "test-versioned").await;
    let before = count(db, "clues").await;
    assert!(before > 0);
    enable::upgrade(&db.store, &admin(), e, "1.1.0", "newer")
        .await
        .expect("upgrade");
    run(db, "test-versioned").await;
    assert_eq!(
        count(db, "clues").await,
        before,
        "the same findings, not new clues"
    );
    assert_eq!(scalar(db, "SELECT MIN(occurrences) FROM clues").await, 2);
    let v110 = scalar(db, "SELECT id FROM model_versions WHERE version = '1.1.0'").await;
    assert_eq!(
        scalar(
            db,
            &format!("SELECT COUNT(*) FROM clues WHERE version_id = {v110}")
        )
        .await,
        before,
        "each clue keeps the version that last found it"
    );
}
both!(a_new_version_updates_the_same_clues);

/// `pension-after-death` 1.0.0 enabled for `regions`, a run queued in each and a snapshot:
/// the runs, to write clues against with `dedup::record` directly.
async fn writing_runs(
    db: &TestDb,
    regions: &[&'static str],
) -> Vec<supervise::clues::dedup::Origin<'static>> {
    use supervise::datasets::snapshot::Snapshot;

    let w = province(db).await;
    enabled(
        db,
        &w,
        (PENSION_AFTER_DEATH, "pension-after-death", "1.0.0"),
        regions,
        &[],
        None,
    )
    .await;
    let snapshot_id = Snapshot::current(&db.store, &["death_registrations"])
        .await
        .expect("snapshot")
        .save(&db.store)
        .await
        .expect("save");
    let mut runs = Vec::new();
    for region in regions {
        let ids = queue::by_hand(&db.store, &admin(), "pension-after-death", region)
            .await
            .expect("queue");
        let run_id = ids[0];
        let version_id = scalar(
            db,
            &format!("SELECT version_id FROM runs WHERE id = {run_id}"),
        )
        .await;
        runs.push(supervise::clues::dedup::Origin {
            run_id,
            model_id: "pension-after-death",
            version_id,
            snapshot_id,
            region,
            at_ms: 1,
        });
    }
    runs
}

/// A queued run of `pension-after-death` in county 330102 (see [`writing_runs`]).
async fn writing_run(db: &TestDb) -> supervise::clues::dedup::Origin<'static> {
    writing_runs(db, &["330102"]).await.remove(0)
}

async fn a_run_of_many_clues_is_written_in_batches(db: &TestDb) {
    use supervise::clues::dedup::{self, Origin};
    use supervise::datasets::snapshot::Snapshot;
    use supervise::runtime::bindings::Clue;

    let origin = writing_run(db).await;
    let (run_id, version_id, snapshot_id) = (origin.run_id, origin.version_id, origin.snapshot_id);
    let clue = person;
    // More than one statement's worth (500 rows), and a key emitted twice keeps its last clue.
    let mut first: Vec<Clue> = (0..1201).map(|i| clue(i, "first")).collect();
    first.push(clue(7, "first"));
    let mut tx = db.store.begin().await.expect("tx");
    let counts = dedup::record(&mut tx, &origin, &dedup::Keyed::new(&first))
        .await
        .expect("record");
    tx.commit().await.expect("commit");
    assert_eq!((counts.new, counts.updated, counts.unchanged), (1201, 0, 0));
    assert_eq!(count(db, "clues").await, 1201);
    assert_eq!(count(db, "run_clues").await, 1201);
    // What the run's clues share (bound once a statement) and what each has of its own land
    // in their columns.
    assert_eq!(
        scalar(
            db,
            &format!(
                "SELECT COUNT(*) FROM clues WHERE model_id = 'pension-after-death' \
                 AND region = '330102' AND first_seen_ms = 1 AND last_seen_ms = 1 \
                 AND first_run_id = {run_id} AND last_run_id = {run_id} \
                 AND version_id = {version_id} AND snapshot_id = {snapshot_id} \
                 AND status = 'new' AND occurrences = 1 AND kind = 'pension-after-death' \
                 AND subject_type = 'person' AND subject_id = 'p' || substr(dedup_key, 8) \
                 AND score = 0.5 AND reason = 'first' AND content_sha256 IS NOT NULL"
            )
        )
        .await,
        1201
    );
    assert_eq!(
        scalar(
            db,
            &format!(
                "SELECT COUNT(*) FROM run_clues r JOIN clues c ON c.dedup_key = r.dedup_key \
                 WHERE r.run_id = {run_id} AND r.content_sha256 = c.content_sha256 \
                 AND r.clue_json IS NULL"
            )
        )
        .await,
        1201
    );

    // Found again: every even key with a new reason, one key never seen before. Two clues
    // were dismissed meanwhile: the one whose content changes is flagged, the other is not.
    sqlx::query("DELETE FROM run_clues")
        .execute(db.store.pool())
        .await
        .expect("reuse the run");
    sqlx::query(
        "UPDATE clues SET status = 'dismissed', dismiss_reason = 'no_violation' \
         WHERE dedup_key IN ('person:0', 'person:1')",
    )
    .execute(db.store.pool())
    .await
    .expect("dismiss");
    // Found again on other data: a snapshot of its own, so that the snapshot and the version
    // written differ.
    let snapshot_id = Snapshot::current(&db.store, &["death_registrations", "pension_payments"])
        .await
        .expect("snapshot")
        .save(&db.store)
        .await
        .expect("save");
    let origin = Origin {
        at_ms: 2,
        snapshot_id,
        ..origin
    };
    let second: Vec<Clue> = (0..1201)
        .map(|i| clue(i, if i % 2 == 0 { "second" } else { "first" }))
        .chain([clue(5000, "new")])
        .collect();
    let mut tx = db.store.begin().await.expect("tx");
    let counts = dedup::record(&mut tx, &origin, &dedup::Keyed::new(&second))
        .await
        .expect("record");
    tx.commit().await.expect("commit");
    assert_eq!(
        (counts.new, counts.updated, counts.unchanged),
        (1, 601, 600)
    );
    assert_eq!(count(db, "clues").await, 1202);
    assert_eq!(
        scalar(db, "SELECT CAST(SUM(occurrences) AS BIGINT) FROM clues").await,
        1201 * 2 + 1
    );
    assert_eq!(
        scalar(db, "SELECT COUNT(*) FROM clues WHERE reason = 'second'").await,
        601
    );
    assert_eq!(
        scalar(db, "SELECT COUNT(*) FROM clues WHERE last_seen_ms = 2").await,
        1202,
        "every clue found again is seen again"
    );
    assert_eq!(
        scalar(
            db,
            &format!(
                "SELECT COUNT(*) FROM clues WHERE last_run_id = {run_id} \
                 AND version_id = {version_id} AND snapshot_id = {snapshot_id}"
            )
        )
        .await,
        1202,
        "every clue found again names the run, version and snapshot that found it"
    );
    assert_eq!(
        scalar(
            db,
            &format!(
                "SELECT COUNT(*) FROM clues c JOIN run_clues r ON r.dedup_key = c.dedup_key \
                 WHERE r.run_id = {run_id} AND r.content_sha256 = c.content_sha256 \
                 AND c.kind = 'pension-after-death' AND c.subject_type = 'person' \
                 AND c.subject_id = 'p' || substr(c.dedup_key, 8) AND c.score = 0.5"
            )
        )
        .await,
        1202,
        "a changed clue takes each of its new values in its own column"
    );
    assert_eq!(
        scalar(
            db,
            "SELECT COUNT(*) FROM clues WHERE evidence_changed = 1 AND status = 'dismissed'"
        )
        .await,
        1,
        "only the dismissed clue whose content changed is flagged"
    );
    assert_eq!(
        scalar(
            db,
            "SELECT COUNT(*) FROM clues WHERE dedup_key = 'person:0' AND evidence_changed = 1"
        )
        .await,
        1
    );
    // The tallies count the recorded clues, new in three statements and then one (on SQLite
    // the recording adds them a statement at a time; on PostgreSQL a statement-level trigger
    // does), and the two dismissed by hand in between.
    let (clues, tally) = crate::tally::both_ways(db).await;
    assert_eq!(tally, clues, "the tallies count the recorded clues");
    assert_eq!(clues.len(), 2, "new and dismissed: {clues:?}");
    let (clues, weekly) = crate::tally::weekly_both_ways(db).await;
    assert_eq!(weekly, clues, "the weekly trend counts the recorded clues");
    assert_eq!(weekly[0].3, 1202);
}
both!(a_run_of_many_clues_is_written_in_batches);

/// A clue of `pension-after-death` about person `i`, for `reason`.
fn person(i: usize, reason: &str) -> supervise::runtime::bindings::Clue {
    use supervise::runtime::bindings::{Clue, Subject};
    Clue {
        kind: "pension-after-death".into(),
        subject: Subject {
            type_: "person".into(),
            id: format!("p{i}"),
            display_name: String::new(),
        },
        score: 0.5,
        reason: reason.into(),
        evidence: vec![],
        dedup_key: format!("person:{i}"),
    }
}

async fn a_batch_of_runs_is_recorded_together(db: &TestDb) {
    use supervise::clues::dedup::{self, Keyed, Origin};

    // Two county runs of one enablement, finished in one batch.
    let runs = writing_runs(db, &["330102", "330103"]).await;
    let origin = |i: usize, at_ms: i64| Origin {
        at_ms,
        ..runs[i].clone()
    };
    let record = async |batch: &[(&Origin<'_>, &Keyed<'_>)]| {
        let mut tx = db.store.begin().await.expect("tx");
        let counts = dedup::record_batch(&mut tx, batch).await.expect("record");
        tx.commit().await.expect("commit");
        counts
            .iter()
            .map(|c| (c.new, c.updated, c.unchanged))
            .collect::<Vec<_>>()
    };
    let region_of = async |key: &str| {
        sqlx::query_scalar::<_, String>("SELECT region FROM clues WHERE dedup_key = $1")
            .bind(key)
            .fetch_one(db.store.pool())
            .await
            .expect("region")
    };

    // Together: each clue takes its own run's region and run, each run its own counts.
    let (a, b) = (
        vec![person(1, "paid"), person(2, "paid")],
        vec![person(3, "paid")],
    );
    let (ka, kb) = (Keyed::new(&a), Keyed::new(&b));
    let counts = record(&[(&origin(0, 1), &ka), (&origin(1, 1), &kb)]).await;
    assert_eq!(counts, vec![(2, 0, 0), (1, 0, 0)]);
    assert_eq!(region_of("person:2").await, "330102");
    assert_eq!(region_of("person:3").await, "330103");
    assert_eq!(
        scalar(
            db,
            &format!(
                "SELECT COUNT(*) FROM clues WHERE dedup_key = 'person:3' \
                 AND first_run_id = {0} AND last_run_id = {0}",
                runs[1].run_id
            )
        )
        .await,
        1
    );
    assert_eq!(
        scalar(
            db,
            &format!(
                "SELECT COUNT(*) FROM run_clues WHERE run_id = {}",
                runs[0].run_id
            )
        )
        .await,
        2
    );

    // One key from both runs: the second finds the first's clue, as one run after another.
    let (c, d) = (
        vec![person(4, "paid")],
        vec![person(4, "paid"), person(5, "paid"), person(1, "paid")],
    );
    let (kc, kd) = (Keyed::new(&c), Keyed::new(&d));
    let counts = record(&[(&origin(0, 2), &kc), (&origin(1, 2), &kd)]).await;
    assert_eq!(counts, vec![(1, 0, 0), (1, 0, 2)]);
    assert_eq!(region_of("person:4").await, "330102");
    assert_eq!(
        scalar(
            db,
            "SELECT occurrences FROM clues WHERE dedup_key = 'person:4'"
        )
        .await,
        2
    );
    assert_eq!(count(db, "clues").await, 5);
    // Found again by the second run, in the first run's county: the second run is its last.
    assert_eq!(
        scalar(
            db,
            &format!(
                "SELECT COUNT(*) FROM clues WHERE dedup_key = 'person:1' AND region = '330102' \
                 AND first_run_id = {} AND last_run_id = {} AND occurrences = 2 AND last_seen_ms = 2",
                runs[0].run_id, runs[1].run_id
            )
        )
        .await,
        1
    );

    // Found again together, one of them changed: each clue names the run that found it.
    sqlx::query("DELETE FROM run_clues")
        .execute(db.store.pool())
        .await
        .expect("reuse the runs");
    let (e, f) = (
        vec![person(2, "paid")],
        vec![person(3, "paid"), person(5, "paid twice")],
    );
    let (ke, kf) = (Keyed::new(&e), Keyed::new(&f));
    let counts = record(&[(&origin(0, 3), &ke), (&origin(1, 3), &kf)]).await;
    assert_eq!(counts, vec![(0, 0, 1), (0, 1, 1)]);
    for (key, run, reason) in [
        ("person:2", runs[0].run_id, "paid"),
        ("person:3", runs[1].run_id, "paid"),
        ("person:5", runs[1].run_id, "paid twice"),
    ] {
        let sql = format!(
            "SELECT COUNT(*) FROM clues WHERE dedup_key = '{key}' AND last_run_id = {run} \
             AND last_seen_ms = 3 AND occurrences = 2 AND reason = '{reason}'"
        );
        assert_eq!(scalar(db, &sql).await, 1, "{key}");
    }

    // The tallies count every recorded clue in its own county.
    let (clues, tally) = crate::tally::both_ways(db).await;
    assert_eq!(tally, clues, "the tallies count the recorded clues");
    assert_eq!(clues.len(), 2, "one group per county: {clues:?}");
    let (clues, weekly) = crate::tally::weekly_both_ways(db).await;
    assert_eq!(weekly, clues, "the weekly trend counts the recorded clues");
}
both!(a_batch_of_runs_is_recorded_together);

/// Every column of a written clue, as stored: kind, subject (type, id, name), the score's
/// bits, reason, evidence JSON, content hash, and the run's copy of the clue.
async fn stored(db: &TestDb, key: &str) -> (Vec<String>, u64, Option<String>) {
    use sqlx::Row;
    let row = sqlx::query(
        "SELECT c.kind, c.subject_type, c.subject_id, c.subject_name, c.reason, \
         c.evidence_json, c.content_sha256, c.score, r.clue_json \
         FROM clues c LEFT JOIN run_clues r ON r.dedup_key = c.dedup_key WHERE c.dedup_key = $1",
    )
    .bind(key)
    .fetch_one(db.store.pool())
    .await
    .expect("stored clue");
    let text: Vec<String> = (0..7).map(|i| row.try_get(i).expect("text")).collect();
    let score: f64 = row.try_get(7).expect("score");
    (text, score.to_bits(), row.try_get(8).expect("clue json"))
}

/// What `stored` should read for `clue`.
fn expected(clue: &supervise::runtime::bindings::Clue) -> (Vec<String>, u64) {
    let text = vec![
        clue.kind.clone(),
        clue.subject.type_.clone(),
        clue.subject.id.clone(),
        clue.subject.display_name.clone(),
        clue.reason.clone(),
        serde_json::to_string(&clue.evidence).expect("evidence"),
        supervise::clues::content_sha256(clue),
    ];
    (text, clue.score.to_bits())
}

async fn awkward_values_are_stored_exactly(db: &TestDb) {
    use supervise::runtime::bindings::{Clue, Evidence, Field, Subject, Value};

    let origin = writing_run(db).await;
    // Scores whose shortest decimal text has 17 digits, the smallest positive double, the
    // largest below one; text with quotes, backslashes, control characters, CJK and emoji.
    let scores = [
        0.1 + 0.2,
        1.0 / 3.0,
        f64::from_bits(1),
        1.0 - f64::EPSILON / 2.0,
        0.0,
        1.0,
        0.7000000000000001,
    ];
    let clue = |i: usize, score: f64, salt: &str| Clue {
        kind: "pension-after-death".into(),
        subject: Subject {
            type_: "person".into(),
            id: format!("\"p{i}\"\\{salt}"),
            display_name: format!("王\u{1}小明\t😀{salt}"),
        },
        score,
        reason: format!("paid ¥6,400.00 after \"death\" \\ {salt} \u{7f}"),
        evidence: vec![Evidence {
            dataset: "pension_payments".into(),
            row_keys: vec![format!("P{i}")],
            fields: vec![
                Field {
                    name: "t".into(),
                    value: Value::Text(format!("a\\b\n\"{salt}\"")),
                },
                Field {
                    name: "p".into(),
                    value: Value::Pseudonym((u64::MAX, i as u64)),
                },
            ],
        }],
        dedup_key: format!("person:{i}:é\"\\"),
    };
    let all = |scores: &[f64], salt: &str| -> Vec<Clue> {
        scores
            .iter()
            .enumerate()
            .map(|(i, s)| clue(i, *s, salt))
            .collect()
    };
    let first = all(&scores, "first");
    let counts = write(db, &origin, &first, Write::Store).await;
    assert_eq!(counts.new, scores.len() as u64);
    check(db, &first, "inserted").await;

    // Found again with other content: each clue is updated to the new values, and a replay's
    // record keeps the whole clue as JSON.
    let reversed: Vec<f64> = scores.iter().rev().copied().collect();
    let second = all(&reversed, "second");
    let counts = write(db, &origin, &second, Write::Store).await;
    assert_eq!(counts.updated, scores.len() as u64);
    check(db, &second, "updated").await;
    write(db, &origin, &second, Write::Apart).await;
    for c in &second {
        let (_, _, json) = stored(db, &c.dedup_key).await;
        assert_eq!(json, Some(serde_json::to_string(c).expect("clue json")));
    }
}

/// Where [`write`] puts a run's clues.
#[derive(Clone, Copy)]
enum Write {
    /// Into the clue store (`dedup::record`).
    Store,
    /// Beside it, each clue kept whole (`dedup::record_apart`, as a backtest).
    Apart,
}

/// Writes `clues` for `origin`'s run in a transaction of its own, after forgetting what the
/// run recorded before (so that the run can be written again).
async fn write(
    db: &TestDb,
    origin: &supervise::clues::dedup::Origin<'_>,
    clues: &[supervise::runtime::bindings::Clue],
    to: Write,
) -> supervise::clues::ClueCounts {
    use supervise::clues::dedup::{self, Keyed};
    sqlx::query("DELETE FROM run_clues")
        .execute(db.store.pool())
        .await
        .expect("reuse the run");
    let keyed = Keyed::new(clues);
    let mut tx = db.store.begin().await.expect("tx");
    let counts = match to {
        Write::Store => dedup::record(&mut tx, origin, &keyed)
            .await
            .expect("record"),
        Write::Apart => {
            dedup::record_apart(&mut tx, origin.run_id, &keyed, true)
                .await
                .expect("record apart");
            Default::default()
        }
    };
    tx.commit().await.expect("commit");
    counts
}

/// Checks that every column of each of `clues` was stored exactly.
async fn check(db: &TestDb, clues: &[supervise::runtime::bindings::Clue], what: &str) {
    for c in clues {
        let (text, bits, _) = stored(db, &c.dedup_key).await;
        assert_eq!((text, bits), expected(c), "{what} {:?}", c.dedup_key);
    }
}
both!(awkward_values_are_stored_exactly);

async fn two_runs_recording_the_same_new_clue_at_once_both_succeed(db: &TestDb) {
    use supervise::clues::dedup::{self, Origin};
    use supervise::runtime::bindings::{Clue, Subject};

    let first = writing_run(db).await;
    let ids = queue::by_hand(&db.store, &admin(), "pension-after-death", "330102")
        .await
        .expect("queue");
    let second = Origin {
        run_id: ids[0],
        ..first.clone()
    };
    let clues = || {
        vec![Clue {
            kind: "pension-after-death".into(),
            subject: Subject {
                type_: "person".into(),
                id: "p1".into(),
                display_name: String::new(),
            },
            score: 0.5,
            reason: "paid after death".into(),
            evidence: vec![],
            dedup_key: "person:1".into(),
        }]
    };
    // The first run's transaction inserts the clue and stays open while the second records
    // the same key (on SQLite it waits for the writer's turn; on PostgreSQL it used to insert
    // too, and fail on the unique key once the first committed).
    let mut tx = db.store.begin().await.expect("tx");
    let first_clues = clues();
    let counts = dedup::record(&mut tx, &first, &dedup::Keyed::new(&first_clues))
        .await
        .expect("record the first run");
    assert_eq!(counts.new, 1);
    let store = db.store.clone();
    let other = tokio::spawn(async move {
        let second_clues = clues();
        let mut tx = store.begin().await?;
        let counts = dedup::record(&mut tx, &second, &dedup::Keyed::new(&second_clues)).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(counts)
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    tx.commit().await.expect("commit the first run");
    let counts = other
        .await
        .expect("task")
        .expect("the second run's clues are recorded");
    assert_eq!((counts.new, counts.updated, counts.unchanged), (0, 0, 1));
    assert_eq!(count(db, "clues").await, 1);
    assert_eq!(
        scalar(
            db,
            "SELECT occurrences FROM clues WHERE dedup_key = 'person:1'"
        )
        .await,
        2
    );
}
both!(two_runs_recording_the_same_new_clue_at_once_both_succeed);
