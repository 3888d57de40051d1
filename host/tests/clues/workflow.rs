//! Every transition, every refusal, region scoping, bulk all-or-nothing, comments, deadlines.

use supervise::clues::query::{self, ClueFilter};
use supervise::clues::settings::{self, Settings};
use supervise::clues::triage::{self, apply, apply_at};
use supervise::clues::{Action, ClueError, DismissReason, Status};
use supervise::store::now_ms;

use crate::helpers::*;
use crate::support::*;
use crate::world::{admin, world};

const DAY: i64 = 86_400_000;

async fn every_transition_and_refusal(db: &TestDb) {
    world(db).await;
    let a = reported(db, "330102", 0.9, "pension paid after death").await;
    let who = county();
    let err = apply(&db.store, &who, &[a], &Action::Verify)
        .await
        .expect_err("refused");
    assert!(
        err.to_string()
            .contains("cannot verify a clue that is new (it can: assign, dismiss)"),
        "{err}"
    );
    let before = now_ms();
    assert_eq!(
        apply(&db.store, &who, &[a], &Action::Assign { to: "li".into() })
            .await
            .expect("assign"),
        Status::Assigned
    );
    let c = query::get(&db.store, a).await.expect("clue");
    let due = c.handling_due_ms.expect("deadline");
    assert!(
        due >= before + 7 * DAY && due <= now_ms() + 7 * DAY,
        "7 days from assignment by default"
    );
    assert_eq!(
        apply(&db.store, &who, &[a], &Action::Verify)
            .await
            .expect("verify"),
        Status::Verifying
    );
    assert_eq!(
        apply(&db.store, &who, &[a], &Action::Assign { to: "wu".into() })
            .await
            .expect("reassign"),
        Status::Verifying
    );
    assert_eq!(
        query::get(&db.store, a).await.expect("c").handling_due_ms,
        Some(due),
        "reassigning keeps the deadline"
    );
    let err = apply(
        &db.store,
        &who,
        &[a],
        &Action::FileCase { note: "x".into() },
    )
    .await
    .expect_err("refused");
    assert!(
        err.to_string()
            .contains("cannot file-case a clue that is verifying"),
        "{err}"
    );
    assert_eq!(
        apply(
            &db.store,
            &who,
            &[a],
            &Action::Confirm {
                note: "checked".into()
            }
        )
        .await
        .expect("confirm"),
        Status::Confirmed
    );
    assert_eq!(
        apply(
            &db.store,
            &who,
            &[a],
            &Action::FileCase {
                note: "(2026) Zhe 0102 No. 7".into()
            }
        )
        .await
        .expect("file"),
        Status::CaseFiled
    );
    let err = apply(
        &db.store,
        &who,
        &[a],
        &Action::Dismiss {
            reason: DismissReason::Duplicate,
            note: String::new(),
        },
    )
    .await
    .expect_err("closed");
    assert!(err.to_string().contains("(it is closed)"), "{err}");

    let b = reported(db, "330102", 0.5, "licence still valid").await;
    for step in [
        Action::Assign { to: "li".into() },
        Action::Verify,
        Action::Confirm {
            note: String::new(),
        },
    ] {
        apply(&db.store, &who, &[b], &step).await.expect("step");
    }
    assert_eq!(
        apply(
            &db.store,
            &who,
            &[b],
            &Action::Transfer {
                agency: "traffic police".into()
            }
        )
        .await
        .expect("transfer"),
        Status::Transferred
    );

    let c = reported(db, "330102", 0.2, "travel without approval").await;
    let err = apply(
        &db.store,
        &who,
        &[c],
        &Action::Dismiss {
            reason: DismissReason::Other,
            note: " ".into(),
        },
    )
    .await
    .expect_err("note");
    assert!(err.to_string().contains("note"), "{err}");
    apply(
        &db.store,
        &who,
        &[c],
        &Action::Dismiss {
            reason: DismissReason::DataError,
            note: "wrong date".into(),
        },
    )
    .await
    .expect("dismiss");
    let d = triage::detail(&db.store, &who, c).await.expect("detail");
    assert_eq!(d.clue.status, Status::Dismissed);
    assert_eq!(d.clue.dismiss_reason.as_deref(), Some("data_error"));
    assert!(d.next.is_empty());
    let d = triage::detail(&db.store, &who, a).await.expect("detail");
    let actions: Vec<&str> = d.timeline.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "clue.report",
            "clue.assign",
            "clue.verify",
            "clue.assign",
            "clue.confirm",
            "clue.file-case"
        ]
    );
    assert_eq!(d.timeline[1].detail["old"]["status"], "new");
    assert_eq!(d.timeline[1].detail["new"]["status"], "assigned");
    assert_eq!(d.timeline[1].actor, "reviewer@shangcheng");
}
both!(every_transition_and_refusal);

async fn foreign_regions_see_nothing_and_bulk_is_all_or_nothing(db: &TestDb) {
    world(db).await;
    let mine = reported(db, "330102", 0.9, "a").await;
    let mine2 = reported(db, "330102", 0.9, "b").await;
    let theirs = reported(db, "330103", 0.9, "c").await;
    let err = apply(
        &db.store,
        &other(),
        &[mine],
        &Action::Assign { to: "x".into() },
    )
    .await
    .expect_err("foreign");
    assert_eq!(
        err.to_string(),
        format!("nothing changed: clue(s) {mine} not found")
    );
    assert!(matches!(
        triage::detail(&db.store, &other(), mine).await,
        Err(ClueError::NotFound(_))
    ));
    assert!(matches!(
        triage::comment(&db.store, &other(), mine, "hi").await,
        Err(ClueError::NotFound(_))
    ));
    let (rows, total) = query::list(&db.store, "330103", &ClueFilter::default(), now_ms())
        .await
        .expect("list");
    assert_eq!((rows.len(), total.count, total.exact), (1, 1, true));
    assert_eq!(rows[0].id, theirs);
    let (_, total) = query::list(
        &db.store,
        "330103",
        &ClueFilter {
            region: Some("330102".into()),
            ..ClueFilter::default()
        },
        now_ms(),
    )
    .await
    .expect("list");
    assert_eq!(
        total.count, 0,
        "asking for another county's region shows nothing"
    );
    // One refused clue refuses the batch.
    apply(
        &db.store,
        &county(),
        &[mine2],
        &Action::Dismiss {
            reason: DismissReason::Duplicate,
            note: String::new(),
        },
    )
    .await
    .expect("dismiss");
    let err = apply(
        &db.store,
        &county(),
        &[mine, mine2, theirs],
        &Action::Assign { to: "li".into() },
    )
    .await
    .expect_err("bulk");
    assert!(
        matches!(&err, ClueError::NotFound(m) if m.contains(&theirs.to_string())),
        "{err}"
    );
    let err = apply(
        &db.store,
        &county(),
        &[mine, mine2],
        &Action::Assign { to: "li".into() },
    )
    .await
    .expect_err("bulk");
    assert!(matches!(&err, ClueError::Refused(_)), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "clue {mine2}: cannot assign a clue that is dismissed"
        )),
        "{text}"
    );
    assert_eq!(
        query::get(&db.store, mine).await.expect("c").status,
        Status::New,
        "nothing changed"
    );
    // The province acts on all of them at once.
    apply(
        &db.store,
        &admin(),
        &[mine, theirs],
        &Action::Assign {
            to: "province team".into(),
        },
    )
    .await
    .expect("bulk assign");
    assert_eq!(
        query::get(&db.store, theirs)
            .await
            .expect("c")
            .assignee
            .as_deref(),
        Some("province team")
    );
    triage::comment(&db.store, &county(), mine, "called the pension office")
        .await
        .expect("comment");
    let d = triage::detail(&db.store, &county(), mine)
        .await
        .expect("detail");
    assert_eq!(d.comments.len(), 1);
    assert_eq!(d.timeline.last().expect("event").action, "clue.comment");
}
both!(foreign_regions_see_nothing_and_bulk_is_all_or_nothing);

async fn deadlines_and_overdue_lists(db: &TestDb) {
    world(db).await;
    let err = settings::set(
        &db.store,
        &county(),
        Settings {
            handling_days: 3,
            ..Settings::default()
        },
    )
    .await
    .expect_err("admins only");
    assert!(err.to_string().contains("not allowed"), "{err}");
    let err = settings::set(
        &db.store,
        &admin(),
        Settings {
            handling_days: 0,
            ..Settings::default()
        },
    )
    .await
    .expect_err("range");
    assert!(
        err.to_string()
            .contains("handling_days must be from 1 to 365"),
        "{err}"
    );
    settings::set(
        &db.store,
        &admin(),
        Settings {
            handling_days: 3,
            feedback_months: 3,
            due_soon_days: 2,
        },
    )
    .await
    .expect("set");
    let now = now_ms();
    let late = reported(db, "330102", 0.9, "late").await;
    let soon = reported(db, "330102", 0.9, "soon").await;
    let later = reported(db, "330102", 0.9, "later").await;
    let closed = reported(db, "330102", 0.9, "closed").await;
    apply_at(
        &db.store,
        &county(),
        &[late, closed],
        &Action::Assign { to: "li".into() },
        now - 5 * DAY,
    )
    .await
    .expect("assign");
    apply_at(
        &db.store,
        &county(),
        &[soon],
        &Action::Assign { to: "li".into() },
        now - 2 * DAY,
    )
    .await
    .expect("assign");
    apply_at(
        &db.store,
        &county(),
        &[later],
        &Action::Assign { to: "li".into() },
        now,
    )
    .await
    .expect("assign");
    apply(
        &db.store,
        &county(),
        &[closed],
        &Action::Dismiss {
            reason: DismissReason::NoViolation,
            note: String::new(),
        },
    )
    .await
    .expect("dismiss");
    assert_eq!(
        query::get(&db.store, later)
            .await
            .expect("c")
            .handling_due_ms,
        Some(now + 3 * DAY),
        "the province's setting applies"
    );
    let overdue = ClueFilter {
        overdue: true,
        ..ClueFilter::default()
    };
    let (rows, _) = query::list(&db.store, "330102", &overdue, now)
        .await
        .expect("overdue");
    let ids: Vec<i64> = rows.iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![late], "a dismissed clue is never overdue");
    let (rows, _) = query::list(&db.store, "330102", &overdue, now + 2 * DAY)
        .await
        .expect("overdue later");
    assert_eq!(rows.len(), 2, "two days on, the second is overdue too");
}
both!(deadlines_and_overdue_lists);

async fn search_filters_paging_and_export(db: &TestDb) {
    world(db).await;
    for (i, region) in ["330102", "330102", "330103", "330203"].iter().enumerate() {
        reported(
            db,
            region,
            0.2 + 0.2 * i as f64,
            &format!("case {i} with 100% certainty"),
        )
        .await;
    }
    reported(db, "330102", 0.95, "unrelated").await;
    let list = |f: ClueFilter| {
        let store = db.store.clone();
        async move {
            query::list(&store, "330000", &f, now_ms())
                .await
                .expect("list")
        }
    };
    assert_eq!(
        list(ClueFilter {
            region: Some("330100".into()),
            ..ClueFilter::default()
        })
        .await
        .1
        .count,
        4,
        "Hangzhou's subtree"
    );
    assert_eq!(
        list(ClueFilter {
            min_score: Some(0.5),
            ..ClueFilter::default()
        })
        .await
        .1
        .count,
        3
    );
    assert_eq!(
        list(ClueFilter {
            text: Some("100%".into()),
            ..ClueFilter::default()
        })
        .await
        .1
        .count,
        4,
        "wildcards in the text are literal"
    );
    assert_eq!(
        list(ClueFilter {
            text: Some("1_0".into()),
            ..ClueFilter::default()
        })
        .await
        .1
        .count,
        0
    );
    assert_eq!(
        list(ClueFilter {
            source: Some("agency".into()),
            ..ClueFilter::default()
        })
        .await
        .1
        .count,
        0
    );
    assert_eq!(
        list(ClueFilter {
            statuses: vec![Status::New, Status::Dismissed],
            ..ClueFilter::default()
        })
        .await
        .1
        .count,
        5
    );
    assert_eq!(
        list(ClueFilter {
            statuses: vec![Status::Confirmed],
            ..ClueFilter::default()
        })
        .await
        .1
        .count,
        0
    );
    let (page, total) = list(ClueFilter {
        sort: query::Sort::Score,
        limit: 2,
        offset: 1,
        ..ClueFilter::default()
    })
    .await;
    assert_eq!((total.count, total.exact), (5, true));
    assert_eq!(
        page.iter().map(|c| c.score).collect::<Vec<_>>(),
        vec![0.8, 0.6000000000000001]
    );
    let mut out = Vec::new();
    let n = query::export(
        &db.store,
        "330100",
        &ClueFilter::default(),
        now_ms(),
        &mut out,
    )
    .await
    .expect("export");
    assert_eq!(n, 4);
    let text = String::from_utf8(out).expect("utf8");
    assert!(
        text.starts_with("id,model,source,reported_by,kind,region,status,score"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 5);
    assert!(text.contains("grid member Wang"));
}
both!(search_filters_paging_and_export);
