//! `kill -9` of a worker mid-run, and two workers over 200 queued runs.

use std::time::Duration;

use supervise::registry::enable;
use supervise::runs::Status;
use supervise::runs::queue::{self, NewRun};
use supervise::runs::record;
use supervise_test_guests::TEST_SLOW;

use crate::procs::*;
use crate::setup::*;
use crate::support::*;
use crate::world::admin;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_worker_run_is_finished_by_another_without_duplicates() {
    let Some(db) = pg_or_skip().await else { return };
    let w = province(&db).await;
    // About two seconds of computing: long enough to be killed in the middle.
    enabled(
        &db,
        &w,
        (TEST_SLOW, "test-slow", "0.1.0"),
        &["330102"],
        &[("spin", "800")],
        None,
    )
    .await;
    let id = queue::by_hand(&db.store, &admin(), "test-slow", "330102")
        .await
        .expect("queue")[0];
    let url = db.url().to_string();
    let mut a = WorkerProc::start(&url, db.dir.path(), "a", 1, 2);
    let a_pid = a.pid().to_string();
    until(
        Duration::from_secs(60),
        "worker a to start the run",
        || async {
            record::get(&db.store, id)
                .await
                .map(|r| {
                    r.status == Status::Running
                        && r.lease_owner
                            .as_deref()
                            .is_some_and(|o| o.contains(&format!(":{a_pid}:")))
                })
                .unwrap_or(false)
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.kill9();
    assert_eq!(
        record::get(&db.store, id).await.expect("r").status,
        Status::Running,
        "killed mid-run"
    );
    let mut b = WorkerProc::start(&url, db.dir.path(), "b", 1, 2);
    let b_pid = b.pid().to_string();
    until(
        Duration::from_secs(90),
        "worker b to finish the run",
        || async {
            record::get(&db.store, id)
                .await
                .map(|r| r.status.is_final())
                .unwrap_or(false)
        },
    )
    .await;
    let r = record::get(&db.store, id).await.expect("r");
    assert_eq!(r.status, Status::Succeeded, "{r:?}\n{}", b.log_text());
    assert_eq!(r.attempts, 2, "{r:?}");
    assert!(
        r.lease_owner
            .as_deref()
            .unwrap_or("")
            .contains(&format!(":{b_pid}:")),
        "{r:?}"
    );
    assert!(b.alive());
    assert_eq!(count(&db, "clues").await, 1);
    assert_eq!(
        scalar(&db, "SELECT occurrences FROM clues").await,
        1,
        "the killed attempt wrote nothing"
    );
    assert_eq!(count(&db, "run_clues").await, 1);
    drop(b);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_run_200_queued_runs_exactly_once() {
    let Some(db) = pg_or_skip().await else { return };
    let w = province(&db).await;
    let e = enabled(
        &db,
        &w,
        (TEST_SLOW, "test-slow", "0.1.0"),
        &["330102"],
        &[],
        None,
    )
    .await;
    let e = enable::get(&db.store, e).await.expect("enablement");
    let mut tx = db.store.pool().begin().await.expect("tx");
    for i in 0..200 {
        let mut run = NewRun::of(&e, "330102", "hand", "test");
        run.params.insert("tag".into(), format!("job-{i}"));
        queue::enqueue(&mut *tx, &run)
            .await
            .expect("enqueue")
            .expect("queued");
    }
    tx.commit().await.expect("commit");
    let url = db.url().to_string();
    let a = WorkerProc::start(&url, db.dir.path(), "a", 2, 10);
    let b = WorkerProc::start(&url, db.dir.path(), "b", 2, 10);
    until(Duration::from_secs(240), "200 runs to end", || async {
        try_scalar(
            &db.store,
            "SELECT COUNT(*) FROM runs WHERE status IN ('queued', 'running')",
        )
        .await
            == Some(0)
    })
    .await;
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM runs WHERE status = 'succeeded'").await,
        200,
        "{}\n{}",
        a.log_text(),
        b.log_text()
    );
    assert_eq!(
        scalar(&db, "SELECT MAX(attempts) FROM runs").await,
        1,
        "no run was leased twice"
    );
    assert_eq!(
        scalar(&db, "SELECT COUNT(DISTINCT lease_owner) FROM runs").await,
        2,
        "both workers took a share"
    );
    assert_eq!(count(&db, "clues").await, 200);
    assert_eq!(
        scalar(&db, "SELECT CAST(SUM(occurrences) AS BIGINT) FROM clues").await,
        200,
        "every run's clue written once"
    );
    assert_eq!(count(&db, "run_clues").await, 200);
    drop((a, b));
    db.cleanup().await;
}
