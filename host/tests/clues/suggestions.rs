//! Suggestions bundle confirmed clues; their lifecycle and feedback deadline; statistics.

use supervise::clues::query;
use supervise::clues::stats::{self, Level};
use supervise::clues::suggestions::{self, Step};
use supervise::clues::triage::apply;
use supervise::clues::{Action, DismissReason, Status};

use crate::helpers::*;
use crate::support::*;
use crate::world::world;

async fn confirmed(db: &TestDb, n: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(reported(db, "330102", 0.8, &format!("shell company {i}")).await);
    }
    for step in [
        Action::Assign { to: "li".into() },
        Action::Verify,
        Action::Confirm {
            note: String::new(),
        },
    ] {
        apply(&db.store, &county(), &ids, &step)
            .await
            .expect("step");
    }
    ids
}

async fn suggestions_bundle_clues_and_track_adoption(db: &TestDb) {
    world(db).await;
    let ids = confirmed(db, 3).await;
    let open = reported(db, "330102", 0.8, "not confirmed").await;
    let mut with_open = ids.clone();
    with_open.push(open);
    let err = suggestions::issue(
        &db.store,
        &county(),
        "market regulator",
        "shell companies",
        &with_open,
    )
    .await
    .expect_err("refused");
    assert!(
        err.to_string()
            .contains(&format!("clue {open}: cannot suggest a clue that is new")),
        "{err}"
    );
    assert_eq!(
        count(db, "suggestions").await,
        0,
        "a refused suggestion is withdrawn whole"
    );
    assert_eq!(
        query::get(&db.store, ids[0]).await.expect("c").status,
        Status::Confirmed
    );
    let s = suggestions::issue(
        &db.store,
        &county(),
        "market regulator",
        "shell companies",
        &ids,
    )
    .await
    .expect("issue");
    let got = suggestions::get(&db.store, &county(), s)
        .await
        .expect("get");
    assert_eq!(got.clues, ids);
    assert_eq!(got.status, "issued");
    let three_months = got.feedback_due_ms - got.issued_at_ms;
    assert!(
        (89..=92).contains(&(three_months / 86_400_000)),
        "{three_months}"
    );
    for id in &ids {
        let c = query::get(&db.store, *id).await.expect("c");
        assert_eq!(
            (c.status, c.suggestion_id),
            (Status::SuggestionIssued, Some(s))
        );
    }
    assert!(matches!(
        suggestions::get(&db.store, &other(), s).await,
        Err(supervise::clues::ClueError::NotFound(_))
    ));
    let err = suggestions::step(&db.store, &county(), s, Step::Adopt, "")
        .await
        .expect_err("order");
    assert!(err.to_string().contains("needs it replied"), "{err}");
    assert_eq!(
        suggestions::step(&db.store, &county(), s, Step::Reply, "will rectify")
            .await
            .expect("reply"),
        "replied"
    );
    assert_eq!(
        suggestions::step(&db.store, &county(), s, Step::Adopt, "")
            .await
            .expect("adopt"),
        "adopted"
    );
    assert!(
        suggestions::step(&db.store, &county(), s, Step::Decline, "")
            .await
            .is_err()
    );
    let overdue = suggestions::list(&db.store, &county(), Some(got.feedback_due_ms + 1))
        .await
        .expect("list");
    assert!(overdue.is_empty(), "a replied suggestion is not overdue");

    // A second one, never answered, is overdue after its deadline.
    let more = confirmed(db, 1).await;
    let late = suggestions::issue(&db.store, &county(), "civil affairs", "pensions", &more)
        .await
        .expect("issue");
    let due = suggestions::get(&db.store, &county(), late)
        .await
        .expect("get")
        .feedback_due_ms;
    assert!(
        suggestions::list(&db.store, &county(), Some(due - 1))
            .await
            .expect("list")
            .is_empty()
    );
    let overdue = suggestions::list(&db.store, &county(), Some(due + 1))
        .await
        .expect("list");
    assert_eq!(overdue.iter().map(|x| x.id).collect::<Vec<_>>(), vec![late]);

    let d = reported(db, "330102", 0.1, "noise").await;
    apply(
        &db.store,
        &county(),
        &[d],
        &Action::Dismiss {
            reason: DismissReason::DataError,
            note: String::new(),
        },
    )
    .await
    .expect("dismiss");
    let rows = stats::feedback(&db.store, "330000", None, Level::City)
        .await
        .expect("stats");
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(
        (r.model.as_str(), r.source.as_str(), r.region.as_str()),
        ("(reported)", "grid_member", "330100")
    );
    assert_eq!(
        (r.clues, r.verified, r.confirmed, r.suggestions, r.adopted),
        (6, 4, 4, 2, 1)
    );
    assert_eq!(r.confirmed_rate, Some(1.0));
    assert_eq!(r.adoption_rate, Some(0.5));
    assert_eq!(r.dismissed.get("data_error"), Some(&1));
    assert!(r.median_days_to_close.is_some());
}
both!(suggestions_bundle_clues_and_track_adoption);
