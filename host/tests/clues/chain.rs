//! The audit trail is a hash chain: `verify` finds an altered, a removed and a truncated event.

use supervise::clues::Action;
use supervise::clues::triage::apply;
use supervise::store::audit::verify;

use crate::helpers::*;
use crate::support::*;
use crate::world::world;

async fn exec(db: &TestDb, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(db.store.pool())
        .await
        .expect("sql");
}

async fn the_chain_reports_the_first_tampered_or_missing_event(db: &TestDb) {
    world(db).await;
    let a = reported(db, "330102", 0.5, "x").await;
    apply(
        &db.store,
        &county(),
        &[a],
        &Action::Assign { to: "li".into() },
    )
    .await
    .expect("assign");
    apply(&db.store, &county(), &[a], &Action::Verify)
        .await
        .expect("verify");
    let v = verify(&db.store).await.expect("verify");
    assert!(v.ok(), "{v:?}");
    let n = v.events as i64;
    assert!(
        n >= 8,
        "offices, keys, the report and two triage steps are all events: {n}"
    );

    // Altered: someone rewrites what an event says.
    let saved: String = sqlx::Row::try_get(
        &sqlx::query("SELECT detail_json FROM audit_log WHERE seq = 5")
            .fetch_one(db.store.pool())
            .await
            .expect("row"),
        0,
    )
    .expect("detail");
    exec(
        db,
        "UPDATE audit_log SET detail_json = '{\"reason\":\"nothing to see\"}' WHERE seq = 5",
    )
    .await;
    let v = verify(&db.store).await.expect("verify");
    assert!(
        v.problem.as_deref().unwrap_or("").starts_with("event 5 "),
        "{v:?}"
    );
    assert!(
        v.problem.as_deref().unwrap_or("").contains("was altered"),
        "{v:?}"
    );
    assert_eq!(v.events, 4);
    sqlx::query("UPDATE audit_log SET detail_json = $1 WHERE seq = 5")
        .bind(&saved)
        .execute(db.store.pool())
        .await
        .expect("restore");
    assert!(verify(&db.store).await.expect("verify").ok());

    // Removed from the middle, and from the end.
    exec(db, &format!("DELETE FROM audit_log WHERE seq = {n}")).await;
    let v = verify(&db.store).await.expect("verify");
    assert_eq!(
        v.problem.as_deref(),
        Some(format!("events {n} to {n} are missing from the end of the log").as_str())
    );
    exec(db, "DELETE FROM audit_log WHERE seq = 3").await;
    let v = verify(&db.store).await.expect("verify");
    assert_eq!(
        v.problem.as_deref(),
        Some("event 3 is missing (the next one is 4)")
    );
}
both!(the_chain_reports_the_first_tampered_or_missing_event);
