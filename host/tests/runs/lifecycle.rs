//! A run by hand from queue to record; clues deduplicated across runs; replay; metrics;
//! who may queue and cancel.

use supervise::registry::RegistryError;
use supervise::runs::record::{self, RunFilter};
use supervise::runs::{RunError, Status, queue, replay};
use supervise_test_guests::TEST_SLOW;

use crate::setup::*;
use crate::support::*;
use crate::world::{admin, other_county};

async fn hand_run_is_recorded_and_clues_dedup(db: &TestDb) {
    pension_for_the_city(db).await;
    let ids = queue::by_hand(&db.store, &admin(), "pension-after-death", "330100")
        .await
        .expect("queue");
    assert_eq!(
        ids.len(),
        2,
        "one run per county of Hangzhou (330102, 330103)"
    );
    let ex = executor(db, 5_000);
    assert_eq!(drain(&ex).await, 2);
    let mut total = 0;
    for id in &ids {
        let r = record::get(&db.store, *id).await.expect("record");
        assert_eq!(r.status, Status::Succeeded, "{r:?}");
        assert_eq!(r.version.as_deref(), Some("1.0.0"));
        assert_eq!(r.sha256.as_ref().map(String::len), Some(64));
        assert!(r.snapshot_id.is_some() && r.as_of_days.is_some());
        assert!(
            r.rows_read.get("pension_payments").copied().unwrap_or(0) > 0,
            "{r:?}"
        );
        assert!(r.fuel_used.unwrap_or(0) > 0 && r.peak_memory_bytes.unwrap_or(0) > 0);
        assert_eq!(r.attempts, 1);
        assert_eq!(r.clues_new, r.clues_emitted);
        total += r.clues_emitted.unwrap_or(0);
    }
    assert!(total > 0, "the fixtures hold pensions paid after death");
    assert_eq!(count(db, "clues").await, total);

    // The same data again: the same clues are hit again, none is added.
    let again = queue::by_hand(&db.store, &admin(), "pension-after-death", "330100")
        .await
        .expect("queue");
    drain(&ex).await;
    for id in &again {
        let r = record::get(&db.store, *id).await.expect("record");
        assert_eq!(
            (r.status, r.clues_new, r.clues_updated),
            (Status::Succeeded, Some(0), Some(0))
        );
    }
    assert_eq!(count(db, "clues").await, total);
    assert_eq!(scalar(db, "SELECT MIN(occurrences) FROM clues").await, 2);
    let listed = record::list(
        &db.store,
        &RunFilter {
            region: Some("330102".into()),
            ..RunFilter::default()
        },
    )
    .await
    .expect("list");
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|r| r.region == "330102"));
}
both!(hand_run_is_recorded_and_clues_dedup);

async fn replay_reports_identical_clues(db: &TestDb) {
    pension_for_the_county(db).await;
    let ids = queue::by_hand(&db.store, &admin(), "pension-after-death", "330102")
        .await
        .expect("queue");
    let ex = executor(db, 5_000);
    drain(&ex).await;
    // Later data must not change a replay: it reads the original snapshot.
    let later = "payment_id,id_number,pay_date,amount,region_code\nP-9001,330102194501011234,2024-09-15,3200.00,330102\n";
    import_file(db, "pension_payments", &file(db, "later.csv", later)).await;
    let r = replay::queue(&db.store, &admin(), ids[0])
        .await
        .expect("replay");
    drain(&ex).await;
    let c = replay::compare(&db.store, r).await.expect("compare");
    assert!(c.identical(), "{c:?}");
    assert!(c.same > 0);
    let clues_before = count(db, "clues").await;
    assert_eq!(
        scalar(db, "SELECT MAX(occurrences) FROM clues").await,
        1,
        "a replay never touches the clue store"
    );
    // A fresh run on the new data updates the clue (its evidence changed).
    queue::by_hand(&db.store, &admin(), "pension-after-death", "330102")
        .await
        .expect("queue");
    drain(&ex).await;
    let last = record::list(
        &db.store,
        &RunFilter {
            limit: 1,
            ..RunFilter::default()
        },
    )
    .await
    .expect("list");
    assert_eq!(last[0].clues_updated, Some(1), "{:?}", last[0]);
    assert_eq!(count(db, "clues").await, clues_before);
}
both!(replay_reports_identical_clues);

async fn offices_act_only_on_their_regions(db: &TestDb) {
    let w = province(db).await;
    enabled(
        db,
        &w,
        (TEST_SLOW, "test-slow", "0.1.0"),
        &["330100"],
        &[],
        None,
    )
    .await;
    let err = queue::by_hand(&db.store, &other_county(), "test-slow", "330102")
        .await
        .expect_err("must be refused");
    assert!(
        matches!(err, RunError::Registry(RegistryError::Forbidden(_))),
        "{err}"
    );
    let own = queue::by_hand(&db.store, &other_county(), "test-slow", "330103")
        .await
        .expect("own county");
    assert_eq!(own.len(), 1);
    let theirs = queue::by_hand(&db.store, &county_office(), "test-slow", "330102")
        .await
        .expect("queue");
    let err = queue::cancel(&db.store, &other_county(), theirs[0], "not mine")
        .await
        .expect_err("must be refused");
    assert!(
        matches!(err, RunError::Registry(RegistryError::Forbidden(_))),
        "{err}"
    );
    let err = queue::by_hand(&db.store, &admin(), "test-slow", "330203")
        .await
        .expect_err("must be refused");
    assert!(
        err.to_string().contains("not enabled for region 330203"),
        "{err}"
    );
    let err = queue::by_hand(&db.store, &admin(), "no-such-model", "330102")
        .await
        .expect_err("must be refused");
    assert!(err.to_string().contains("not enabled anywhere"), "{err}");
}
both!(offices_act_only_on_their_regions);

async fn metrics_endpoint_reports_runs_and_queue(db: &TestDb) {
    use axum::body::Body;
    use axum::http::Request;
    use supervise::runs::metrics::{MetricsState, router};
    use tower::ServiceExt;

    let w = province(db).await;
    enabled(
        db,
        &w,
        (TEST_SLOW, "test-slow", "0.1.0"),
        &["330100"],
        &[],
        None,
    )
    .await;
    queue::by_hand(&db.store, &admin(), "test-slow", "330102")
        .await
        .expect("queue");
    let ex = executor(db, 5_000);
    drain(&ex).await;
    queue::by_hand(&db.store, &admin(), "test-slow", "330100")
        .await
        .expect("queue");
    let app = router().with_state(MetricsState {
        store: db.store.clone(),
        metrics: ex.metrics().clone(),
    });
    let resp = app
        .oneshot(
            Request::get("/metrics")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(resp.status(), 200);
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("supervise_runs_total{outcome=\"succeeded\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("supervise_queue_depth{status=\"queued\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("supervise_run_duration_seconds_count 1"),
        "{text}"
    );
}
both!(metrics_endpoint_reports_runs_and_queue);
