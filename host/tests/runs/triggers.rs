//! The scheduler: cron schedules fire once per slot and county; new imports queue the models
//! that read the dataset; queued runs follow their enablement's upgrades and disabling; runs
//! queued together skip a trigger key already queued; a worker that ticks the scheduler runs
//! what its tick queued before it stops for want of work.

use supervise::registry::enable;
use supervise::runs::record::{self, RunFilter};
use supervise::runs::{Status, queue, scheduler};
use supervise_test_guests::{PENSION_AFTER_DEATH, TEST_VERSIONED_100, TEST_VERSIONED_110};

use crate::setup::*;
use crate::support::*;
use crate::world::admin;

const MINUTE: i64 = 60_000;

async fn schedules_and_imports_queue_runs(db: &TestDb) {
    let w = province(db).await;
    enabled(
        db,
        &w,
        (PENSION_AFTER_DEATH, "pension-after-death", "1.0.0"),
        &["330100"],
        &[],
        Some("*/5 * * * *"),
    )
    .await;
    // A minute after a slot of the schedule (every five minutes): the tick a second later
    // must cross no slot, whatever the clock says when the test runs (started a second
    // before a slot, it found one and queued two runs).
    let t0 = supervise::store::now_ms() / (5 * MINUTE) * (5 * MINUTE) + MINUTE;
    assert_eq!(
        scheduler::tick_at(&db.store, t0).await.expect("tick"),
        0,
        "the first tick only starts the clocks"
    );
    assert_eq!(
        scheduler::tick_at(&db.store, t0 + MINUTE / 60)
            .await
            .expect("tick"),
        0
    );
    assert_eq!(
        scheduler::tick_at(&db.store, t0 + 10 * MINUTE)
            .await
            .expect("tick"),
        2,
        "one run per county"
    );
    assert_eq!(
        scheduler::tick_at(&db.store, t0 + 10 * MINUTE + 1)
            .await
            .expect("tick"),
        0,
        "a slot fires once"
    );
    // Still queued: another slot does not pile up runs.
    assert_eq!(
        scheduler::tick_at(&db.store, t0 + 20 * MINUTE)
            .await
            .expect("tick"),
        0
    );
    let ex = executor(db, 5_000);
    assert_eq!(drain(&ex).await, 2);
    let runs = record::list(&db.store, &RunFilter::default())
        .await
        .expect("list");
    assert!(
        runs.iter()
            .all(|r| r.trigger == "schedule" && r.status == Status::Succeeded),
        "{runs:?}"
    );

    let later = "payment_id,id_number,pay_date,amount,region_code\nP-9001,330102194501011234,2024-09-15,3200.00,330102\n";
    import_file(db, "pension_payments", &file(db, "later.csv", later)).await;
    assert_eq!(
        scheduler::tick_at(&db.store, t0 + 20 * MINUTE + 1)
            .await
            .expect("tick"),
        2
    );
    assert_eq!(
        scheduler::tick_at(&db.store, t0 + 20 * MINUTE + 2)
            .await
            .expect("tick"),
        0,
        "an import triggers once"
    );
    drain(&ex).await;
    let by_import = record::list(&db.store, &RunFilter::default())
        .await
        .expect("list");
    assert_eq!(
        by_import.iter().filter(|r| r.trigger == "import").count(),
        2
    );
}
both!(schedules_and_imports_queue_runs);

async fn queued_runs_follow_their_enablement(db: &TestDb) {
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
    let id = queue::by_hand(&db.store, &admin(), "test-versioned", "330102")
        .await
        .expect("queue")[0];
    enable::upgrade(&db.store, &admin(), e, "1.1.0", "newer")
        .await
        .expect("upgrade");
    let ex = executor(db, 5_000);
    drain(&ex).await;
    let r = record::get(&db.store, id).await.expect("r");
    assert_eq!(
        (r.status, r.version.as_deref()),
        (Status::Succeeded, Some("1.1.0")),
        "{r:?}"
    );
    let id = queue::by_hand(&db.store, &admin(), "test-versioned", "330102")
        .await
        .expect("queue")[0];
    enable::disable(&db.store, &admin(), e, "stop")
        .await
        .expect("disable");
    drain(&ex).await;
    let r = record::get(&db.store, id).await.expect("r");
    assert_eq!(r.status, Status::Cancelled);
    assert!(
        r.error.as_deref().unwrap_or("").contains("was disabled"),
        "{r:?}"
    );
}
both!(queued_runs_follow_their_enablement);

async fn runs_queued_together_skip_a_trigger_key_already_queued(db: &TestDb) {
    let id = pension_for_the_province(db).await;
    let e = enable::get(&db.store, id).await.expect("enablement");
    let keyed = |county: &str| {
        let mut run = queue::NewRun::of(&e, county, "schedule", "test");
        run.trigger_key = Some(format!("slot-1:{county}"));
        run
    };
    let first = queue::enqueue(db.store.pool(), &keyed("330103"))
        .await
        .expect("enqueue")
        .expect("queued");
    let runs = [keyed("330102"), keyed("330103"), keyed("330203")];
    let mut tx = db.store.begin().await.expect("begin");
    let ids = queue::enqueue_all(&mut tx, &runs)
        .await
        .expect("enqueue all");
    tx.commit().await.expect("commit");
    assert_eq!(ids.len(), 2, "330103's key was queued already: {ids:?}");
    assert!(ids[0] < ids[1] && !ids.contains(&first), "{ids:?}");
    let regions: Vec<String> = sqlx::query_scalar("SELECT region FROM runs ORDER BY id")
        .fetch_all(db.store.pool())
        .await
        .expect("runs");
    assert_eq!(regions, ["330103", "330102", "330203"]);
    let queued = record::list(&db.store, &RunFilter::default())
        .await
        .expect("list");
    assert!(
        queued
            .iter()
            .all(|r| r.status == Status::Queued && r.attempts == 0)
    );
}
both!(runs_queued_together_skip_a_trigger_key_already_queued);

async fn a_worker_with_the_scheduler_runs_what_its_tick_queues_before_it_stops(db: &TestDb) {
    pension_for_the_city(db).await;
    // The first tick starts the scheduler's clocks after the imports made so far; an import
    // since then is news to the next tick, which the worker makes as it starts.
    scheduler::tick(&db.store).await.expect("first tick");
    let later = "payment_id,id_number,pay_date,amount,region_code\nP-9001,330102194501011234,2024-09-15,3200.00,330102\n";
    import_file(db, "pension_payments", &file(db, "later.csv", later)).await;
    let ex = executor(db, 5_000);
    let mut config = supervise::runs::WorkerConfig::new(1);
    config.poll = std::time::Duration::from_secs(3600);
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    // Until idle: it must not stop while the runs its own tick queued are waiting, whether it
    // ticks before or after its first lease.
    let ran = supervise::runs::Worker::new(ex, config)
        .run(stopped, true)
        .await;
    assert_eq!(ran, 2, "one run per county of 330100");
    let runs = record::list(&db.store, &RunFilter::default())
        .await
        .expect("list");
    assert!(
        runs.iter()
            .all(|r| r.trigger == "import" && r.status == Status::Succeeded),
        "{runs:?}"
    );
}
both!(a_worker_with_the_scheduler_runs_what_its_tick_queues_before_it_stops);
