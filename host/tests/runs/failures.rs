//! Model failures are not retried and quarantine a model after K in a row; host faults are
//! retried with backoff; runs are cancelled queued or running; a dead worker's expired lease
//! re-queues its run, which then finishes once; runs asked for by name stop at a quarantine;
//! a component tampered with after it ran is refused at its next run (by this process while
//! the store's count of component changes moves, else by the next process).

use std::sync::Arc;
use std::time::{Duration, Instant};

use supervise::runs::queue::{self, backoff_ms};
use supervise::runs::record;
use supervise::runs::{Executor, RunError, Status, quarantine};
use supervise::store::{Dialect, Store};
use supervise_test_guests::{TEST_PANIC, TEST_SLOW};

use crate::setup::*;
use crate::support::*;
use crate::world::{admin, author};

async fn model_failures_quarantine_until_released(db: &TestDb) {
    let w = province(db).await;
    enabled(
        db,
        &w,
        (TEST_PANIC, "test-panic", "0.1.0"),
        &["330102"],
        &[],
        None,
    )
    .await;
    let ex = executor(db, 5_000);
    for i in 1..=quarantine::DEFAULT_AFTER {
        let ids = queue::by_hand(&db.store, &admin(), "test-panic", "330102")
            .await
            .unwrap_or_else(|e| panic!("run {i} refused: {e}"));
        drain(&ex).await;
        let r = record::get(&db.store, ids[0]).await.expect("record");
        assert_eq!(r.status, Status::Failed);
        assert_eq!(r.attempts, 1, "a model's own failure is not retried");
        assert!(!r.host_fault);
        assert!(
            r.error.as_deref().unwrap_or("").contains("panicked"),
            "{r:?}"
        );
    }
    let q = quarantine::active(&db.store, "test-panic")
        .await
        .expect("query")
        .expect("quarantined");
    assert!(q.reason.contains("failed 3 runs in a row"), "{}", q.reason);
    let err = queue::by_hand(&db.store, &admin(), "test-panic", "330102")
        .await
        .expect_err("must be refused");
    assert!(matches!(err, RunError::Quarantined { .. }), "{err}");
    assert!(err.to_string().contains("supervise runs release"), "{err}");
    let err = quarantine::release(&db.store, &author(), "test-panic", "fixed")
        .await
        .expect_err("must be refused");
    assert!(err.to_string().contains("not allowed"), "{err}");
    quarantine::release(&db.store, &admin(), "test-panic", "author fixed it")
        .await
        .expect("release");
    assert!(
        quarantine::active(&db.store, "test-panic")
            .await
            .expect("query")
            .is_none()
    );
    // After release it runs again and needs K new failures to be quarantined again.
    queue::by_hand(&db.store, &admin(), "test-panic", "330102")
        .await
        .expect("runs again");
    drain(&ex).await;
    assert!(
        quarantine::active(&db.store, "test-panic")
            .await
            .expect("query")
            .is_none()
    );
    assert_eq!(
        scalar(
            db,
            "SELECT COUNT(*) FROM audit_log WHERE action IN ('model.quarantine', 'model.release')"
        )
        .await,
        2
    );
}
both!(model_failures_quarantine_until_released);

async fn host_faults_are_retried_then_fail(db: &TestDb) {
    pension_for_the_county(db).await;
    // The stored chunks become unreadable: the data source fails, not the model.
    sqlx::query("UPDATE chunk_columns SET data = $1")
        .bind(vec![0u8; 4])
        .execute(db.store.pool())
        .await
        .expect("corrupt");
    let ids = queue::by_hand(&db.store, &admin(), "pension-after-death", "330102")
        .await
        .expect("queue");
    let ex = executor(db, 5_000);
    let w = worker(&ex, 1);
    let status = w.run_these(&ids).await.expect("run");
    assert_eq!(status, vec![Status::Failed]);
    let r = record::get(&db.store, ids[0]).await.expect("record");
    assert_eq!(r.attempts, queue::DEFAULT_MAX_ATTEMPTS, "{r:?}");
    assert!(r.host_fault);
    assert!(
        r.error
            .as_deref()
            .unwrap_or("")
            .contains("host fault on attempt 5 of 5, giving up"),
        "{r:?}"
    );
    assert_eq!(count(db, "clues").await, 0);
    assert!(
        quarantine::active(&db.store, "pension-after-death")
            .await
            .expect("q")
            .is_none(),
        "host faults never quarantine"
    );
    assert_eq!(
        (backoff_ms(1), backoff_ms(2), backoff_ms(3), backoff_ms(20)),
        (2000, 4000, 8000, 300_000)
    );
}
both!(host_faults_are_retried_then_fail);

async fn runs_are_cancelled_queued_or_running(db: &TestDb) {
    let w = province(db).await;
    enabled(
        db,
        &w,
        (TEST_SLOW, "test-slow", "0.1.0"),
        &["330102"],
        &[("spin", "1000000")],
        None,
    )
    .await;
    let queued = queue::by_hand(&db.store, &admin(), "test-slow", "330102")
        .await
        .expect("queue");
    let s = queue::cancel(&db.store, &admin(), queued[0], "mistake")
        .await
        .expect("cancel");
    assert_eq!(s, Status::Cancelled);
    let err = queue::cancel(&db.store, &admin(), queued[0], "again")
        .await
        .expect_err("must be refused");
    assert!(err.to_string().contains("already ended"), "{err}");
    let err = queue::cancel(&db.store, &admin(), queued[0], " ")
        .await
        .expect_err("must be refused");
    assert!(err.to_string().contains("say why"), "{err}");

    let running = queue::by_hand(&db.store, &admin(), "test-slow", "330102")
        .await
        .expect("queue")[0];
    let ex = executor(db, 300);
    let task = tokio::spawn({
        let ex = ex.clone();
        async move { worker(&ex, 1).run_these(&[running]).await }
    });
    let start = Instant::now();
    while record::get(&db.store, running).await.expect("r").status != Status::Running {
        assert!(start.elapsed() < Duration::from_secs(30), "never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        queue::cancel(&db.store, &admin(), running, "too slow")
            .await
            .expect("cancel"),
        Status::Running
    );
    let cancelled_at = Instant::now();
    let out = task.await.expect("join").expect("run");
    assert_eq!(out, vec![Status::Cancelled]);
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(5),
        "stopped at the next heartbeat"
    );
    let r = record::get(&db.store, running).await.expect("r");
    assert_eq!(r.error.as_deref(), Some("cancelled while running"));
    assert_eq!(count(db, "clues").await, 0);
}
both!(runs_are_cancelled_queued_or_running);

async fn expired_lease_requeues_and_the_run_finishes_once(db: &TestDb) {
    let w = province(db).await;
    enabled(
        db,
        &w,
        (TEST_SLOW, "test-slow", "0.1.0"),
        &["330102"],
        &[],
        None,
    )
    .await;
    let id = queue::by_hand(&db.store, &admin(), "test-slow", "330102")
        .await
        .expect("queue")[0];
    // A worker leases it and dies.
    let dead = queue::lease(&db.store, "dead-worker", 1, None)
        .await
        .expect("lease")
        .expect("a run");
    assert_eq!(dead.run_id, id);
    assert!(
        queue::lease(&db.store, "other", 1_000, None)
            .await
            .expect("lease")
            .is_none(),
        "leased runs are not leased twice"
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(queue::requeue_expired(&db.store).await.expect("requeue"), 1);
    let r = record::get(&db.store, id).await.expect("r");
    assert_eq!(r.status, Status::Queued);
    assert!(
        r.error
            .as_deref()
            .unwrap_or("")
            .contains("dead-worker stopped answering"),
        "{r:?}"
    );
    // The dead worker's lease no longer lets it write.
    let err = queue::retry(&db.store, &dead, "late")
        .await
        .expect_err("must be refused");
    assert!(matches!(err, RunError::LeaseLost(_)), "{err}");
    // Another worker finishes it (ignoring the backoff, as a run by hand does).
    let ex = executor(db, 5_000);
    let out = worker(&ex, 1).run_these(&[id]).await.expect("run");
    assert_eq!(out, vec![Status::Succeeded]);
    let r = record::get(&db.store, id).await.expect("r");
    assert_eq!(r.attempts, 2);
    assert_eq!(count(db, "clues").await, 1);
    assert_eq!(scalar(db, "SELECT occurrences FROM clues").await, 1);
}
both!(expired_lease_requeues_and_the_run_finishes_once);

/// Runs pension-after-death by hand over county 330102 to its end; the run's record.
async fn run_county(db: &TestDb, ex: &Arc<Executor>) -> record::RunRecord {
    let id = queue::by_hand(&db.store, &admin(), "pension-after-death", "330102")
        .await
        .expect("queue")[0];
    drain(ex).await;
    record::get(&db.store, id).await.expect("record")
}

/// Stores a variant of the stored component in its place; the bytes it had.
async fn tamper_with_the_component(db: &TestDb) -> Vec<u8> {
    let bytes: Vec<u8> = sqlx::query_scalar("SELECT bytes FROM blobs")
        .fetch_one(db.store.pool())
        .await
        .expect("the component");
    set_bytes(db, &supervise_test_guests::variant(&bytes, "implant")).await;
    bytes
}

/// A component tampered with in the store after this process verified, loaded and ran it
/// (so that its bytes are remembered and its compiled form kept here): the next run is
/// refused, fails with the reason and keeps no clue; restored, the component runs again.
async fn a_component_tampered_after_it_ran_fails_the_next_run_and_keeps_nothing(db: &TestDb) {
    pension_for_the_county(db).await;
    let ex = executor(db, 5_000);
    let first = run_county(db, &ex).await;
    assert_eq!(first.status, Status::Succeeded, "{first:?}");
    assert!(
        count(db, "clues").await > 0,
        "the fixtures give 330102 clues"
    );

    let bytes = tamper_with_the_component(db).await;
    let tampered = run_county(db, &ex).await;
    assert_eq!(tampered.status, Status::Failed, "{tampered:?}");
    assert_eq!(tampered.attempts, 1, "a refused component is not retried");
    assert!(
        tampered.error.as_deref().unwrap_or("").contains(
            "refusing to load pension-after-death@1.0.0: the stored component's sha256 is"
        ),
        "{tampered:?}"
    );
    let kept = format!(
        "SELECT (SELECT COUNT(*) FROM run_clues WHERE run_id = {0}) \
         + (SELECT COUNT(*) FROM clues WHERE last_run_id = {0})",
        tampered.id
    );
    assert_eq!(
        scalar(db, &kept).await,
        0,
        "nothing of the refused run is kept"
    );

    set_bytes(db, &bytes).await;
    let restored = run_county(db, &ex).await;
    assert_eq!(restored.status, Status::Succeeded, "{restored:?}");
    let kept = format!(
        "SELECT COUNT(*) FROM clues WHERE last_run_id = {}",
        restored.id
    );
    assert!(scalar(db, &kept).await > 0);
}
both!(a_component_tampered_after_it_ran_fails_the_next_run_and_keeps_nothing);

/// What runs is what a process verified. With the count of component changes kept from
/// moving (its trigger on `blobs` dropped, which takes the rights to change the schema), a
/// component tampered with after a run is not read again by this process, whose next run
/// runs the bytes it verified and compiled, with the same clues; a process started after
/// that (a store opened anew) reads and checks it at its first run, and refuses it.
async fn without_the_change_count_a_tampering_is_refused_by_the_next_process(db: &TestDb) {
    pension_for_the_county(db).await;
    let ex = executor(db, 5_000);
    let first = run_county(db, &ex).await;
    assert_eq!(first.status, Status::Succeeded, "{first:?}");
    let clues = "SELECT COUNT(*) FROM clues";
    let found = scalar(db, clues).await;
    assert!(found > 0, "the fixtures give 330102 clues");

    let drop = match db.store.dialect() {
        Dialect::Sqlite => "DROP TRIGGER blobs_changed",
        Dialect::Postgres => "DROP TRIGGER blobs_changed ON blobs",
    };
    sqlx::query(drop)
        .execute(db.store.pool())
        .await
        .expect("drop the trigger");
    tamper_with_the_component(db).await;

    let again = run_county(db, &ex).await;
    assert_eq!(again.status, Status::Succeeded, "{again:?}");
    assert_eq!(again.sha256, first.sha256, "the verified component ran");
    assert_eq!(scalar(db, clues).await, found, "the same clues");

    let next = Store::open(db.url()).await.expect("open the store anew");
    let next = TestDb::wrap(next, db.url());
    let refused = run_county(&next, &executor(&next, 5_000)).await;
    assert_eq!(refused.status, Status::Failed, "{refused:?}");
    assert!(
        refused.error.as_deref().unwrap_or("").contains(
            "refusing to load pension-after-death@1.0.0: the stored component's sha256 is"
        ),
        "{refused:?}"
    );
    next.store.pool().close().await;
}
both!(without_the_change_count_a_tampering_is_refused_by_the_next_process);

async fn runs_asked_for_stop_at_a_quarantine_instead_of_waiting(db: &TestDb) {
    for_the_province(db, (TEST_PANIC, "test-panic", "0.1.0")).await;
    // Two rounds of the province's three counties: the third failure in a row quarantines
    // the model, and its batch gives the rest back to the queue.
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.extend(
            queue::by_hand(&db.store, &admin(), "test-panic", "330000")
                .await
                .expect("queue"),
        );
    }
    assert_eq!(ids.len(), 6);
    let ex = executor(db, 5_000);
    let w = worker(&ex, 1);
    let err = tokio::time::timeout(Duration::from_secs(60), w.run_these(&ids))
        .await
        .expect("a quarantined model's runs are not waited for")
        .expect_err("the model was quarantined");
    assert!(matches!(err, RunError::Quarantined { .. }), "{err}");
    assert!(err.to_string().contains("supervise runs release"), "{err}");
    let statuses = record::statuses(&db.store, &ids).await.expect("statuses");
    let failed = statuses.iter().filter(|s| **s == Status::Failed).count();
    let queued = statuses.iter().filter(|s| **s == Status::Queued).count();
    assert_eq!(
        (failed, queued),
        (
            quarantine::DEFAULT_AFTER as usize,
            6 - quarantine::DEFAULT_AFTER as usize
        ),
        "{statuses:?}"
    );
}
both!(runs_asked_for_stop_at_a_quarantine_instead_of_waiting);
