//! The audit chain: events appended together ([`audit_all`]) chain exactly as events appended
//! one at a time, across statements, and an empty append changes nothing.

use supervise::store::audit::verify;
use supervise::store::{Entry, audit, audit_all};

use crate::support::*;

async fn events_appended_together_chain_as_events_appended_alone(db: &TestDb) {
    let before = count(db, "audit_log").await;
    let detail = serde_json::json!({"n": 1});
    let subjects: Vec<String> = (0..1201).map(|i| format!("thing {i}")).collect();
    let events: Vec<Entry<'_>> = subjects
        .iter()
        .map(|subject| Entry {
            actor: "tester",
            action: "thing.touch",
            subject,
            detail: &detail,
        })
        .collect();
    let mut tx = db.store.begin().await.expect("begin");
    audit(&mut tx, "tester", "thing.open", "things", &detail)
        .await
        .expect("one");
    // More events than one statement carries, then none, then one more alone.
    audit_all(&mut tx, &events).await.expect("together");
    audit_all(&mut tx, &[]).await.expect("none");
    audit(&mut tx, "tester", "thing.close", "things", &detail)
        .await
        .expect("one more");
    tx.commit().await.expect("commit");

    assert_eq!(count(db, "audit_log").await, before + 1203);
    let v = verify(&db.store).await.expect("verify");
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.events, u64::try_from(before + 1203).expect("events"));
    // In the order given, with no gap in the sequence.
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT seq, subject FROM audit_log WHERE actor = 'tester' ORDER BY seq")
            .fetch_all(db.store.pool())
            .await
            .expect("events");
    assert_eq!(rows.len(), 1203);
    assert!(rows.windows(2).all(|w| w[1].0 == w[0].0 + 1), "contiguous");
    assert_eq!(rows[1].1, "thing 0");
    assert_eq!(rows[1201].1, "thing 1200");
    assert_eq!(rows[1202].1, "things");
}
both!(events_appended_together_chain_as_events_appended_alone);
