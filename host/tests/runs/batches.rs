//! Batches: a worker leases the counties of one enablement together, prepares them once and
//! records them in one transaction, yet each run keeps its own sandbox, record, audit event
//! and outcome; a batch takes at most its fair share of the counties among the slots; a lease
//! lost by one run of a batch keeps the whole batch unwritten; a model about to be
//! quarantined stops its batch; runs asked for by name run as one batch and no others; a
//! worker notices its last batch's end, and runs queued in its process, without waiting for
//! its poll.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use supervise::runs::queue::{self, Ask};
use supervise::runs::record;
use supervise::runs::{Executor, ExecutorConfig, Metrics, RunError, Status, quarantine};
use supervise::store::audit::verify;
use supervise_test_guests::TEST_PANIC;
use tokio::sync::watch;

use crate::setup::*;
use crate::support::*;
use crate::world::admin;

/// Runs what is runnable with one slot leasing up to `batch` runs at once, until idle.
async fn run_batches(ex: &Arc<Executor>, batch: usize) -> u64 {
    let mut w = supervise::runs::WorkerConfig::new(1);
    w.scheduler = false;
    w.batch = batch;
    let (_stop, stopped) = watch::channel(false);
    supervise::runs::Worker::new(ex.clone(), w)
        .run(stopped, true)
        .await
}

/// How many lease tokens runs `ids` were leased under: one per batch.
async fn lease_tokens(db: &TestDb, ids: &[i64]) -> i64 {
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    scalar(
        db,
        &format!(
            "SELECT COUNT(DISTINCT lease_token) FROM runs WHERE id IN ({})",
            list.join(", ")
        ),
    )
    .await
}

/// The province's runs of pension-after-death queued by hand and leased in one batch.
async fn province_batch(db: &TestDb) -> (Vec<i64>, Vec<queue::Lease>) {
    let ids = queue::by_hand(&db.store, &admin(), "pension-after-death", "330000")
        .await
        .expect("queue");
    let leases = queue::lease_batch(&db.store, "test", 5_000, (12, 1), Ask::IfDue)
        .await
        .expect("lease");
    (ids, leases)
}

async fn a_batch_runs_each_county_apart_and_records_them_together(db: &TestDb) {
    pension_for_the_province(db).await;
    let ex = executor(db, 5_000);
    for (batch, tokens) in [(12, 1), (1, 3)] {
        sqlx::query("DELETE FROM clues")
            .execute(db.store.pool())
            .await
            .expect("clear");
        let ids = queue::by_hand(&db.store, &admin(), "pension-after-death", "330000")
            .await
            .expect("queue");
        assert_eq!(ids.len(), 3, "330102, 330103 and 330203");
        assert_eq!(run_batches(&ex, batch).await, 3);
        assert_eq!(
            lease_tokens(db, &ids).await,
            tokens,
            "batch {batch}: leases taken together share a token"
        );
        let list = ids
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        assert_eq!(
            scalar(
                db,
                &format!("SELECT COUNT(DISTINCT snapshot_id) FROM runs WHERE id IN ({list})")
            )
            .await,
            1
        );
        let mut emitted = 0;
        for id in &ids {
            let r = record::get(&db.store, *id).await.expect("record");
            assert_eq!((r.status, r.attempts), (Status::Succeeded, 1), "{r:?}");
            emitted += r.clues_emitted.unwrap_or(0);
        }
        assert!(emitted > 0, "the fixtures hold pensions paid after death");
        // Each clue belongs to the county of the run that found it, and only that run.
        assert_eq!(
            scalar(
                db,
                "SELECT COUNT(*) FROM clues c JOIN runs r ON r.id = c.last_run_id \
                 WHERE c.region = r.region AND c.first_run_id = c.last_run_id"
            )
            .await,
            emitted
        );
        assert_eq!(count(db, "clues").await, emitted);
        assert_eq!(
            scalar(
                db,
                &format!(
                    "SELECT COUNT(*) FROM audit_log WHERE action = 'run.finish' AND subject IN ({})",
                    ids.iter()
                        .map(|i| format!("'run {i}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            )
            .await,
            3,
            "every run is audited on its own"
        );
    }
    // The batch's events, appended together, keep the chain whole.
    let v = verify(&db.store).await.expect("verify");
    assert!(v.ok(), "{v:?}");
}
both!(a_batch_runs_each_county_apart_and_records_them_together);

async fn a_batch_takes_its_fair_share_of_the_counties(db: &TestDb) {
    pension_for_the_province(db).await;
    let ids = queue::by_hand(&db.store, &admin(), "pension-after-death", "330000")
        .await
        .expect("queue");
    assert_eq!(ids.len(), 3);
    // Two slots: the first takes two of the three counties (half, rounded up), the second
    // the one left, though each could take twelve.
    let mut sizes = Vec::new();
    loop {
        let leases = queue::lease_batch(&db.store, "test", 5_000, (12, 2), Ask::IfDue)
            .await
            .expect("lease");
        if leases.is_empty() {
            break;
        }
        sizes.push(leases.len());
    }
    assert_eq!(sizes, [2, 1]);
    // The most a batch takes still holds when the share is larger.
    let again = queue::by_hand(&db.store, &admin(), "pension-after-death", "330000")
        .await
        .expect("queue");
    assert_eq!(again.len(), 3);
    let leases = queue::lease_batch(&db.store, "test", 5_000, (1, 1), Ask::IfDue)
        .await
        .expect("lease");
    assert_eq!(leases.len(), 1);
}
both!(a_batch_takes_its_fair_share_of_the_counties);

async fn a_batch_with_one_lease_taken_over_writes_nothing(db: &TestDb) {
    pension_for_the_province(db).await;
    let ex = executor(db, 5_000);
    let (ids, leases) = province_batch(db).await;
    assert_eq!(leases.len(), 3);
    let events = count(db, "audit_log").await;
    // The middle county's lease expired and another worker took the run over.
    sqlx::query("UPDATE runs SET lease_token = 'another' WHERE id = $1")
        .bind(ids[1])
        .execute(db.store.pool())
        .await
        .expect("take over");
    let out = ex.execute_batch(&leases).await;
    assert_eq!(out.len(), 3);
    for (result, id) in out.iter().zip(&ids) {
        assert!(
            matches!(result, Err(RunError::LeaseLost(lost)) if lost == id),
            "run {id}: {result:?}"
        );
    }
    // Nothing of the batch was written: no clue, no record, no event.
    assert_eq!(count(db, "clues").await, 0);
    assert_eq!(count(db, "run_clues").await, 0);
    assert_eq!(count(db, "audit_log").await, events);
    for id in &ids {
        let r = record::get(&db.store, *id).await.expect("record");
        assert_eq!(
            (r.status, r.clues_emitted),
            (Status::Running, None),
            "{r:?}"
        );
    }
    let v = verify(&db.store).await.expect("verify");
    assert!(v.ok(), "{v:?}");
}
both!(a_batch_with_one_lease_taken_over_writes_nothing);

async fn a_host_fault_in_one_county_is_retried_alone(db: &TestDb) {
    pension_for_the_province(db).await;
    // 330103's payments become unreadable: its run's data source fails, the others' do not.
    sqlx::query(
        "UPDATE chunk_columns SET data = $1 WHERE EXISTS (SELECT 1 FROM import_chunks c \
         WHERE c.import_id = chunk_columns.import_id AND c.chunk_no = chunk_columns.chunk_no \
         AND c.region_min = '330103')",
    )
    .bind(vec![0u8; 4])
    .execute(db.store.pool())
    .await
    .expect("corrupt");
    let ids = queue::by_hand(&db.store, &admin(), "pension-after-death", "330000")
        .await
        .expect("queue");
    let ex = executor(db, 5_000);
    run_batches(&ex, 12).await;
    for id in &ids {
        let r = record::get(&db.store, *id).await.expect("record");
        if r.region == "330103" {
            assert_eq!((r.status, r.host_fault), (Status::Queued, true), "{r:?}");
            assert!(
                r.error.as_deref().unwrap_or("").contains("will retry"),
                "{r:?}"
            );
        } else {
            assert_eq!(r.status, Status::Succeeded, "{r:?}");
        }
    }
}
both!(a_host_fault_in_one_county_is_retried_alone);

async fn a_batch_stops_when_its_model_is_about_to_be_quarantined(db: &TestDb) {
    for_the_province(db, (TEST_PANIC, "test-panic", "0.1.0")).await;
    let ex = Arc::new(Executor::new(
        db.store.clone(),
        runtime(),
        ExecutorConfig {
            lease_ms: 5_000,
            quarantine_after: 2,
            ..ExecutorConfig::default()
        },
        Arc::new(Metrics::default()),
    ));
    let ids = queue::by_hand(&db.store, &admin(), "test-panic", "330000")
        .await
        .expect("queue");
    run_batches(&ex, 12).await;
    let records: Vec<_> = {
        let mut out = Vec::new();
        for id in &ids {
            out.push(record::get(&db.store, *id).await.expect("record"));
        }
        out
    };
    let statuses: Vec<Status> = records.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        vec![Status::Failed, Status::Failed, Status::Queued],
        "{records:?}"
    );
    // The run never started is back in the queue as it was, not counted as an attempt.
    let last = &records[2];
    assert_eq!((last.attempts, last.host_fault), (0, false), "{last:?}");
    assert!(
        quarantine::active(&db.store, "test-panic")
            .await
            .expect("query")
            .is_some(),
        "two failures in a row quarantine it"
    );
    quarantine::release(&db.store, &admin(), "test-panic", "fixed")
        .await
        .expect("release");
    run_batches(&ex, 12).await;
    let r = record::get(&db.store, ids[2]).await.expect("record");
    assert_eq!((r.status, r.attempts), (Status::Failed, 1), "{r:?}");
}
both!(a_batch_stops_when_its_model_is_about_to_be_quarantined);

/// Executes `leases` with a hook that notes the executor's phase seconds each time it is
/// called; returns the statuses and those notes.
async fn execute_noting_phases(
    ex: &Arc<Executor>,
    leases: &[queue::Lease],
) -> (Vec<Status>, Vec<BTreeMap<&'static str, f64>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (metrics, noted) = (ex.metrics().clone(), seen.clone());
    let hook = Box::new(move || noted.lock().expect("notes").push(metrics.phase_seconds()));
    let statuses = ex
        .execute_batch_then(leases, hook)
        .await
        .into_iter()
        .map(|s| s.expect("status"))
        .collect();
    let seen = seen.lock().expect("notes").clone();
    (statuses, seen)
}

async fn a_batch_frees_its_slot_when_its_runs_leave_the_sandbox(db: &TestDb) {
    pension_for_the_province(db).await;
    let ex = executor(db, 5_000);
    let (_, leases) = province_batch(db).await;
    assert_eq!(leases.len(), 3);
    let (statuses, seen) = execute_noting_phases(&ex, &leases).await;
    assert_eq!(statuses, [Status::Succeeded; 3]);
    // Called once, after the sandbox and before any record: the worker's next batch can run
    // while these wait for the store's writer.
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0]["sandbox"] > 0.0, "{seen:?}");
    assert_eq!(seen[0]["record"], 0.0, "{seen:?}");
    assert!(ex.metrics().phase_seconds()["record"] > 0.0);

    // A batch whose runs never start (cancelled while leased) calls it once too.
    let (ids, leases) = province_batch(db).await;
    for id in &ids {
        queue::cancel(&db.store, &admin(), *id, "test")
            .await
            .expect("cancel");
    }
    let (statuses, seen) = execute_noting_phases(&ex, &leases).await;
    assert_eq!(statuses, [Status::Cancelled; 3]);
    assert_eq!(seen.len(), 1, "{seen:?}");
}
both!(a_batch_frees_its_slot_when_its_runs_leave_the_sandbox);

async fn a_worker_until_idle_stops_when_its_last_batch_ends_not_at_its_next_poll(db: &TestDb) {
    pension_for_the_province(db).await;
    let ex = executor(db, 5_000);
    // Two slots, batches of one county: three batches that end at different moments. With a
    // poll of an hour, only a batch's end can wake the worker to notice it is idle.
    for round in 0..20 {
        queue::by_hand(&db.store, &admin(), "pension-after-death", "330000")
            .await
            .expect("queue");
        let mut w = supervise::runs::WorkerConfig::new(2);
        w.scheduler = false;
        w.batch = 1;
        w.poll = std::time::Duration::from_secs(3600);
        let (_stop, stopped) = watch::channel(false);
        let worker = supervise::runs::Worker::new(ex.clone(), w);
        let run = worker.run(stopped, true);
        let ended = tokio::time::timeout(std::time::Duration::from_secs(60), run)
            .await
            .unwrap_or_else(|_| panic!("round {round}: the worker waited for its poll"));
        assert_eq!(ended, 3, "round {round}");
    }
}
both!(a_worker_until_idle_stops_when_its_last_batch_ends_not_at_its_next_poll);

/// Waits (up to `limit`) until none of runs `ids` is queued or running; false when time ran out.
async fn ended_within(db: &TestDb, ids: &[i64], limit: std::time::Duration) -> bool {
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    let sql = format!(
        "SELECT COUNT(*) FROM runs WHERE status IN ('queued', 'running') AND id IN ({})",
        list.join(", ")
    );
    let deadline = std::time::Instant::now() + limit;
    while scalar(db, &sql).await > 0 {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    true
}

async fn runs_queued_in_the_process_wake_an_idle_worker_before_its_next_poll(db: &TestDb) {
    pension_for_the_province(db).await;
    let ex = executor(db, 5_000);
    // A worker that polls once an hour, left running: it runs the first runs (it asks the
    // store as it starts), finds nothing more due, and would sleep out its poll.
    let mut w = supervise::runs::WorkerConfig::new(2);
    w.scheduler = false;
    w.poll = std::time::Duration::from_secs(3600);
    let (stop, stopped) = watch::channel(false);
    let worker = supervise::runs::Worker::new(ex.clone(), w);
    let worker = tokio::spawn(async move { worker.run(stopped, false).await });
    let limit = std::time::Duration::from_secs(60);
    for round in 0..3 {
        let ids = queue::by_hand(&db.store, &admin(), "pension-after-death", "330000")
            .await
            .expect("queue");
        assert!(
            ended_within(db, &ids, limit).await,
            "round {round}: the runs waited for the worker's poll"
        );
        // Idle by now: its last ask, after the last batch ended, found nothing.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    stop.send(true).expect("stop");
    let executed = tokio::time::timeout(limit, worker)
        .await
        .expect("the worker stops when told")
        .expect("join");
    assert_eq!(executed, 9);
}
both!(runs_queued_in_the_process_wake_an_idle_worker_before_its_next_poll);

async fn runs_asked_for_by_name_run_as_one_batch_and_no_others(db: &TestDb) {
    pension_for_the_province(db).await;
    let ex = executor(db, 5_000);
    let asked = queue::by_hand(&db.store, &admin(), "pension-after-death", "330000")
        .await
        .expect("queue");
    assert_eq!(asked.len(), 3);
    // Another run of the same enablement, queued but not asked for: left for a worker.
    let other = queue::by_hand(&db.store, &admin(), "pension-after-death", "330102")
        .await
        .expect("queue");
    let mut ended = Vec::new();
    let statuses = worker(&ex, 1)
        .run_these_with(&asked, |n| ended.push(n))
        .await
        .expect("run");
    assert_eq!(statuses, vec![Status::Succeeded; 3]);
    assert_eq!(ended.iter().sum::<u64>(), 3, "{ended:?}");
    assert_eq!(
        lease_tokens(db, &asked).await,
        1,
        "the three counties were leased together"
    );
    assert_eq!(
        record::get(&db.store, other[0])
            .await
            .expect("record")
            .status,
        Status::Queued
    );
    // An id with no run is an error, not a wait.
    let missing = worker(&ex, 1).run_these(&[i64::MAX]).await;
    assert!(matches!(missing, Err(RunError::NotFound(_))), "{missing:?}");
}
both!(runs_asked_for_by_name_run_as_one_batch_and_no_others);
