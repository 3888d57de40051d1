//! The tallies the database keeps (`clue_tally`, `clue_close_days`) agree with the clues they
//! count after every kind of change, and a count they cannot answer stops at the limit.

use sqlx::Row;
use supervise::clues::query::{self, COUNT_LIMIT, ClueFilter, Sort, TallyFilter, count_from_tally};
use supervise::clues::triage::apply;
use supervise::clues::{Action, DismissReason, Status};
use supervise::store::now_ms;

use crate::helpers::*;
use crate::support::*;
use crate::world::world;

/// Every (region, model, source, status, reason, verified, confirmed) group and its count,
/// once from the clues and once from the tally.
pub(crate) async fn both_ways(db: &TestDb) -> (Vec<String>, Vec<String>) {
    let key = "region, model_key, source, status, dismiss_reason, verified, confirmed";
    let from_clues = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {key}, COUNT(*) FROM (SELECT region, COALESCE(model_id, '(reported)') AS model_key, source, status, \
         COALESCE(dismiss_reason, '') AS dismiss_reason, \
         CASE WHEN verifying_at_ms IS NULL THEN 0 ELSE 1 END AS verified, \
         CASE WHEN confirmed_at_ms IS NULL THEN 0 ELSE 1 END AS confirmed FROM clues) AS c \
         GROUP BY {key} ORDER BY {key}"
    )))
    .fetch_all(db.store.pool())
    .await
    .expect("clues");
    let from_tally = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {key}, n FROM clue_tally WHERE n <> 0 ORDER BY {key}"
    )))
    .fetch_all(db.store.pool())
    .await
    .expect("tally");
    let text = |rows: Vec<sqlx::any::AnyRow>| {
        rows.iter()
            .map(|r| {
                let s = |i| r.try_get::<String, _>(i).expect("text");
                let n = |i| r.try_get::<i64, _>(i).expect("int");
                format!(
                    "{} {} {} {} {} {} {} = {}",
                    s(0),
                    s(1),
                    s(2),
                    s(3),
                    s(4),
                    n(5),
                    n(6),
                    n(7)
                )
            })
            .collect::<Vec<_>>()
    };
    (text(from_clues), text(from_tally))
}

/// Every (region, model, week first seen) and its count, once from the clues and once from
/// the weekly tally.
pub(crate) async fn weekly_both_ways(
    db: &TestDb,
) -> (
    Vec<(String, String, i64, i64)>,
    Vec<(String, String, i64, i64)>,
) {
    let rows = |sql: &'static str| async move {
        sqlx::query(sql)
            .fetch_all(db.store.pool())
            .await
            .expect(sql)
            .iter()
            .map(|r| {
                (
                    r.try_get(0).expect("region"),
                    r.try_get(1).expect("model"),
                    r.try_get(2).expect("week"),
                    r.try_get(3).expect("n"),
                )
            })
            .collect::<Vec<_>>()
    };
    (
        rows(
            "SELECT region, COALESCE(model_id, '(reported)') AS model_key, first_seen_ms / 604800000 AS week, \
             CAST(COUNT(*) AS BIGINT) FROM clues GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        )
        .await,
        rows("SELECT region, model_key, week, n FROM clue_weekly WHERE n <> 0 ORDER BY 1, 2, 3").await,
    )
}

async fn tallies_follow_every_change(db: &TestDb) {
    world(db).await;
    let who = county();
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(reported(db, "330102", 0.1 * i as f64, &format!("tip {i}")).await);
    }
    reported(db, "330103", 0.5, "elsewhere").await;
    let assign = Action::Assign { to: "li".into() };
    apply(&db.store, &who, &ids[..5], &assign)
        .await
        .expect("assign");
    apply(&db.store, &who, &ids[..4], &Action::Verify)
        .await
        .expect("verify");
    let confirm = Action::Confirm { note: "ok".into() };
    apply(&db.store, &who, &ids[..2], &confirm)
        .await
        .expect("confirm");
    let file = Action::FileCase { note: "C-1".into() };
    apply(&db.store, &who, &ids[..1], &file)
        .await
        .expect("file");
    let dismiss = Action::Dismiss {
        reason: DismissReason::NoViolation,
        note: String::new(),
    };
    apply(&db.store, &who, &ids[2..4], &dismiss)
        .await
        .expect("dismiss");
    let (clues, tally) = both_ways(db).await;
    assert_eq!(tally, clues, "the tally is the clues' own count");
    assert!(clues.len() >= 5, "several groups: {clues:?}");
    let open = [Status::Assigned, Status::Verifying, Status::New];
    let f = TallyFilter {
        statuses: &open,
        ..TallyFilter::default()
    };
    assert_eq!(count_from_tally(&db.store, "3301", &f).await.expect("n"), 3);
    assert_eq!(
        count_from_tally(&db.store, "330102", &f).await.expect("n"),
        2
    );
    let days = total(db, "clue_close_days").await;
    assert_eq!(days, 3, "one case filed and two dismissed are closed");
    // A deletion (a retention job, say) takes the clue out of the tally too.
    sqlx::query("DELETE FROM clue_comments")
        .execute(db.store.pool())
        .await
        .expect("comments");
    sqlx::query("DELETE FROM clues WHERE id = $1")
        .bind(ids[5])
        .execute(db.store.pool())
        .await
        .expect("delete");
    let (clues, tally) = both_ways(db).await;
    assert_eq!(tally, clues);
    let weekly = total(db, "clue_weekly").await;
    assert_eq!(
        weekly, 6,
        "the weekly trend counts every clue, less the deleted one"
    );
    let o = supervise::clues::overview::overview(&db.store, "330000", Some("330100"), now_ms(), 4)
        .await
        .expect("overview");
    assert_eq!(o.weekly.len(), 4);
    assert_eq!(
        o.weekly.iter().map(|w| w.clues).sum::<i64>(),
        6,
        "Hangzhou's clues this week: 5 in 330102, 1 in 330103"
    );
    assert_eq!(o.funnel.clues, 6);
    assert_eq!((o.funnel.verified, o.funnel.confirmed), (4, 2));
    assert!(
        o.children
            .iter()
            .any(|c| c.code == "330102" && c.clues == 5 && c.open == 1)
    );
    assert!(matches!(
        supervise::clues::overview::overview(&db.store, "330102", Some("330103"), now_ms(), 4)
            .await,
        Err(supervise::clues::ClueError::NotFound(_))
    ));
    // A clue inserted already closed (restored from an export, say) counts among the closed.
    sqlx::query(
        "INSERT INTO clues (model_id, dedup_key, kind, region, subject_type, subject_id, \
         subject_name, score, reason, evidence_json, content_sha256, status, occurrences, \
         first_seen_ms, last_seen_ms, source, closed_at_ms, dismiss_reason) \
         SELECT model_id, 'restored', kind, region, subject_type, subject_id, subject_name, \
         score, reason, evidence_json, content_sha256, status, occurrences, first_seen_ms, \
         last_seen_ms, source, closed_at_ms, dismiss_reason FROM clues WHERE id = $1",
    )
    .bind(ids[2])
    .execute(db.store.pool())
    .await
    .expect("restore");
    let (clues, tally) = both_ways(db).await;
    assert_eq!(tally, clues);
    let days = total(db, "clue_close_days").await;
    assert_eq!(days, 4, "the restored clue was closed");
}
both!(tallies_follow_every_change);

/// The sum of the counts in a tally table.
async fn total(db: &TestDb, table: &str) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT CAST(SUM(n) AS BIGINT) FROM {table}"
    )))
    .fetch_one(db.store.pool())
    .await
    .expect(table)
    .try_get(0)
    .expect("sum")
}

async fn counts_past_the_limit_are_a_lower_bound(db: &TestDb) {
    world(db).await;
    let now = now_ms();
    let n = COUNT_LIMIT + 5;
    let mut i = 0;
    while i < n {
        let rows: Vec<String> = (i..(i + 500).min(n))
            .map(|j| {
                format!(
                    "('m', 'k{j}', 'k', '330102', 'person', 'p{j}', '', 0.9, 'r', '[]', '', 'new', 1, {now}, {now}, 'model')"
                )
            })
            .collect();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO clues (model_id, dedup_key, kind, region, subject_type, subject_id, subject_name, score, reason, \
             evidence_json, content_sha256, status, occurrences, first_seen_ms, last_seen_ms, source) VALUES {}",
            rows.join(", ")
        )))
        .execute(db.store.pool())
        .await
        .expect("insert");
        i += 500;
    }
    let (page, total) = query::list(&db.store, "330000", &ClueFilter::default(), now)
        .await
        .expect("list");
    assert_eq!((page.len(), total.count, total.exact), (50, n, true));
    let scored = ClueFilter {
        min_score: Some(0.5),
        ..ClueFilter::default()
    };
    let (_, total) = query::list(&db.store, "330102", &scored, now)
        .await
        .expect("list");
    assert_eq!((total.count, total.exact), (COUNT_LIMIT, false));
    assert_eq!(total.to_string(), format!("{COUNT_LIMIT}+"));
    // A page over the province (read along the sort's index on SQLite) is the same page as
    // over the county (read along the county's index), ties and all.
    for sort in [Sort::LastSeen, Sort::Score, Sort::FirstSeen, Sort::Due] {
        for statuses in [vec![], vec![Status::New]] {
            let f = |region: &str| ClueFilter {
                region: Some(region.into()),
                sort,
                statuses: statuses.clone(),
                limit: 7,
                offset: 3,
                ..ClueFilter::default()
            };
            let ids = |rows: Vec<supervise::clues::query::ClueRow>| {
                rows.iter().map(|c| c.id).collect::<Vec<_>>()
            };
            let wide = query::list(&db.store, "330000", &f("330000"), now)
                .await
                .expect("province");
            let narrow = query::list(&db.store, "330000", &f("330102"), now)
                .await
                .expect("county");
            assert_eq!(wide.1, narrow.1);
            let (wide, narrow) = (ids(wide.0), ids(narrow.0));
            assert_eq!(wide.len(), 7);
            assert_eq!(wide, narrow, "{sort:?} {statuses:?}");
        }
    }
}
both!(counts_past_the_limit_are_a_lower_bound);
