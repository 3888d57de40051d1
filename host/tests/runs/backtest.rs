//! Backtests: a submitted version dry-run next to the enabled one on the same snapshot, per
//! county, its clues kept out of the reviewers' queue.

use supervise::registry::VersionRef;
use supervise::runs::record::{self, RunFilter};
use supervise::runs::{Status, backtest};
use supervise_test_guests::{TEST_VERSIONED_100, TEST_VERSIONED_110};

use crate::setup::*;
use crate::support::*;
use crate::world::{admin, author};

async fn backtest_compares_with_the_enabled_version(db: &TestDb) {
    let w = province(db).await;
    enabled(
        db,
        &w,
        (TEST_VERSIONED_100, "test-versioned", "1.0.0"),
        &["330102"],
        &[("threshold", "3000")],
        None,
    )
    .await;
    let bytes = supervise_test_guests::bytes(TEST_VERSIONED_110);
    crate::world::publish_with(db, &w.author_key, &author(), &bytes)
        .await
        .expect("publish 1.1.0");
    let v = VersionRef {
        model: "test-versioned".into(),
        version: "1.1.0".into(),
    };
    let err = backtest::queue(&db.store, &author(), &v, &["330100".into()])
        .await
        .expect_err("must be refused");
    assert!(err.to_string().contains("not allowed"), "{err}");
    let (group, ids) = backtest::queue(&db.store, &admin(), &v, &["330100".into()])
        .await
        .expect("backtest");
    assert_eq!(
        ids.len(),
        3,
        "330102: candidate and enabled; 330103: candidate only"
    );
    let ex = executor(db, 5_000);
    drain(&ex).await;
    let rows = backtest::report(&db.store, &group).await.expect("report");
    assert_eq!(rows.len(), 2);
    let shangcheng = &rows[0];
    assert_eq!(shangcheng.region, "330102");
    let cand = record::get(&db.store, shangcheng.candidate.0)
        .await
        .expect("r");
    assert_eq!(cand.status, Status::Succeeded, "{cand:?}");
    let base = record::get(&db.store, shangcheng.baseline.expect("baseline").0)
        .await
        .expect("r");
    assert_eq!(base.status, Status::Succeeded, "{base:?}");
    // 1.1.0 names its version in each reason: the same findings, with changed content.
    assert!(shangcheng.changed > 0, "{shangcheng:?}");
    assert_eq!(
        (shangcheng.new, shangcheng.gone, shangcheng.unchanged),
        (0, 0, 0)
    );
    let xiacheng = &rows[1];
    assert_eq!(
        (xiacheng.region.as_str(), xiacheng.baseline),
        ("330103", None)
    );
    assert_eq!(xiacheng.gone, 0);
    assert_eq!(
        count(db, "clues").await,
        0,
        "backtest clues never reach the reviewers"
    );
    let runs = record::list(
        &db.store,
        &RunFilter {
            backtest_group: Some(group.clone()),
            ..RunFilter::default()
        },
    )
    .await
    .expect("list");
    assert!(
        runs.iter()
            .all(|r| r.kind == "backtest" && r.snapshot_id == runs[0].snapshot_id)
    );
    assert!(
        scalar(
            db,
            "SELECT COUNT(*) FROM run_clues WHERE clue_json IS NOT NULL"
        )
        .await
            > 0,
        "the candidate's clues are kept for the admin"
    );
}
both!(backtest_compares_with_the_enabled_version);
