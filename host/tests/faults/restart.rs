//! PostgreSQL restarted while runs are in flight: every run retries or fails cleanly, and
//! nothing is half written (a run's clues exist exactly when it succeeded).

use std::time::Duration;

use supervise::registry::enable;
use supervise::runs::queue::{self, NewRun};
use supervise::store::Store;
use supervise_test_guests::TEST_SLOW;

use crate::procs::*;
use crate::setup::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_mid_run_retries_or_fails_cleanly() {
    // Needs PostgreSQL like the other fault tests (its own cluster, below).
    let Some(probe) = pg_or_skip().await else {
        return;
    };
    probe.cleanup().await;
    let Some(pg) = PrivatePg::start() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but PostgreSQL's server binaries are missing"
        );
        eprintln!("skipped: no PostgreSQL server binaries under /usr/lib/postgresql");
        return;
    };
    let url = pg.url();
    let store = Store::open(&url).await.expect("open the private cluster");
    let db = TestDb::wrap(store.clone(), &url);
    let w = province(&db).await;
    let e = enabled(
        &db,
        &w,
        (TEST_SLOW, "test-slow", "0.1.0"),
        &["330102"],
        &[("spin", "400")],
        None,
    )
    .await;
    let e = enable::get(&store, e).await.expect("enablement");
    for i in 0..6 {
        let mut run = NewRun::of(&e, "330102", "hand", "test");
        run.params.insert("tag".into(), format!("job-{i}"));
        queue::enqueue(store.pool(), &run)
            .await
            .expect("enqueue")
            .expect("queued");
    }
    let mut worker = WorkerProc::start(&url, db.dir.path(), "w", 2, 3);
    until(Duration::from_secs(60), "a run in flight", || async {
        try_scalar(&store, "SELECT COUNT(*) FROM runs WHERE status = 'running'")
            .await
            .unwrap_or(0)
            > 0
    })
    .await;
    pg.ctl("restart");
    until(Duration::from_secs(180), "every run to end", || async {
        try_scalar(
            &store,
            "SELECT COUNT(*) FROM runs WHERE status IN ('queued', 'running')",
        )
        .await
            == Some(0)
    })
    .await;
    assert!(
        worker.alive(),
        "the worker survives the restart:\n{}",
        worker.log_text()
    );
    let q = |sql: &'static str| {
        let store = store.clone();
        async move { try_scalar(&store, sql).await.expect(sql) }
    };
    let succeeded = q("SELECT COUNT(*) FROM runs WHERE status = 'succeeded'").await;
    let failed = q("SELECT COUNT(*) FROM runs WHERE status = 'failed'").await;
    assert_eq!(
        succeeded + failed,
        6,
        "runs end succeeded or failed, none lost"
    );
    assert_eq!(
        q("SELECT COUNT(*) FROM runs WHERE status = 'failed' AND host_fault = 0").await,
        0,
        "a database outage is never blamed on the model"
    );
    assert_eq!(
        q("SELECT COUNT(*) FROM clues").await,
        succeeded,
        "one clue per succeeded run"
    );
    assert_eq!(
        q("SELECT CAST(COALESCE(SUM(occurrences), 0) AS BIGINT) FROM clues").await,
        succeeded,
        "no run's clue written twice"
    );
    assert_eq!(q("SELECT COUNT(*) FROM run_clues c JOIN runs r ON r.id = c.run_id WHERE r.status <> 'succeeded'").await, 0, "nothing half written");
    assert_eq!(q("SELECT COUNT(*) FROM runs WHERE status = 'succeeded' AND (clues_emitted IS NULL OR clues_new IS NULL)").await, 0);
    let retried = q("SELECT COUNT(*) FROM runs WHERE attempts > 1").await;
    eprintln!("after the restart: {succeeded} succeeded, {failed} failed, {retried} retried");
    drop(worker);
    store.pool().close().await;
}
