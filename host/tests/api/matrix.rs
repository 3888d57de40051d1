//! Every route × every role × the caller's own and a foreign region. The reviewer and the
//! author act for Shangcheng (330102); "foreign" resources belong to Xiacheng (330103). The
//! admin and the auditor act for the province, so for them both are their own. A foreign
//! resource must answer exactly as a missing one (404), never 403, so existence does not leak;
//! a role that may never use a route gets 403; an allowed call that the resource's state
//! refuses gets 409 or 400 (which proves it passed authentication, role and region).

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use supervise::clues::Action;
use supervise::clues::triage::apply;
use supervise::runs::queue;
use supervise_test_guests::TEST_VERSIONED_100;

use crate::support::*;
use crate::{Client, people};

/// Resources in one region.
struct Side {
    clue: i64,
    run: i64,
    suggestion: i64,
    region: &'static str,
}

async fn side(db: &TestDb, region: &'static str) -> Side {
    let admin = crate::world::admin();
    let clue = crate::helpers::reported(db, region, 0.9, "in the queue").await;
    let confirmed = crate::helpers::reported(db, region, 0.9, "confirmed").await;
    for a in [
        Action::Assign { to: "x".into() },
        Action::Verify,
        Action::Confirm {
            note: String::new(),
        },
    ] {
        apply(&db.store, &admin, &[confirmed], &a)
            .await
            .expect("step");
    }
    let suggestion =
        supervise::clues::suggestions::issue(&db.store, &admin, "agency", "title", &[confirmed])
            .await
            .expect("suggestion");
    let run = queue::by_hand(&db.store, &admin, "test-versioned", region)
        .await
        .expect("run")[0];
    Side {
        clue,
        run,
        suggestion,
        region,
    }
}

/// Expected status per role: admin, auditor, reviewer, author.
type Expect = [u16; 4];

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
    own: Expect,
    foreign: Expect,
}

fn cases(own: &Side, foreign: &Side) -> Vec<Case> {
    let mut out = Vec::new();
    let both =
        |name: &'static str, method: Method, path: &str, body: Option<Value>, e: Expect| Case {
            name,
            method,
            path: path.to_string(),
            body,
            own: e,
            foreign: e,
        };
    out.push(both(
        "me",
        Method::GET,
        "/api/v1/me",
        None,
        [200, 200, 200, 200],
    ));
    out.push(both(
        "regions",
        Method::GET,
        "/api/v1/regions",
        None,
        [200, 200, 200, 200],
    ));
    out.push(both(
        "clue list",
        Method::GET,
        "/api/v1/clues",
        None,
        [200, 200, 200, 403],
    ));
    out.push(both(
        "feedback",
        Method::GET,
        "/api/v1/stats/feedback",
        None,
        [200, 200, 200, 403],
    ));
    out.push(both(
        "suggestion list",
        Method::GET,
        "/api/v1/suggestions",
        None,
        [200, 200, 200, 403],
    ));
    out.push(both(
        "run list",
        Method::GET,
        "/api/v1/runs",
        None,
        [200, 200, 200, 403],
    ));
    out.push(both(
        "versions",
        Method::GET,
        "/api/v1/versions",
        None,
        [200, 200, 200, 200],
    ));
    out.push(both(
        "enablements",
        Method::GET,
        "/api/v1/enablements",
        None,
        [200, 200, 200, 200],
    ));
    out.push(both(
        "audit verify",
        Method::GET,
        "/api/v1/audit/verify",
        None,
        [200, 200, 403, 403],
    ));
    out.push(both(
        "decide",
        Method::POST,
        "/api/v1/versions/test-versioned/1.0.0/decision",
        Some(json!({"approve": true, "reason": " "})),
        [400, 403, 403, 403],
    ));
    out.push(both(
        "enable",
        Method::POST,
        "/api/v1/enablements",
        Some(json!({"version": "test-versioned@1.0.0", "regions": ["330203"], "reason": " "})),
        [400, 403, 403, 403],
    ));
    out.push(both(
        "change enablement",
        Method::POST,
        "/api/v1/enablements/1/changes",
        Some(json!({"action": "disable", "reason": " "})),
        [400, 403, 403, 403],
    ));
    // Offices and keys, datasets and imports, users and tokens, the audit trail.
    let province_wide: [(&'static str, Method, &str, Option<Value>, Expect); 31] = [
        (
            "overview",
            Method::GET,
            "/api/v1/stats/overview",
            None,
            [200, 200, 200, 403],
        ),
        (
            "locale",
            Method::PUT,
            "/api/v1/me/locale",
            Some(json!({"locale": "fr"})),
            [400, 400, 400, 400],
        ),
        (
            "clue export",
            Method::GET,
            "/api/v1/clues/export",
            None,
            [200, 200, 200, 403],
        ),
        (
            "report clue",
            Method::POST,
            "/api/v1/clues/reports",
            Some(
                json!({"source": "agency", "reporter": "x", "region": "330102", "subject_type": "p", "subject_id": "1", "reason": " "}),
            ),
            [400, 403, 400, 403],
        ),
        (
            "settings",
            Method::GET,
            "/api/v1/settings",
            None,
            [200, 200, 200, 200],
        ),
        (
            "change settings",
            Method::PUT,
            "/api/v1/settings",
            Some(json!({"handling_days": 0, "feedback_months": 3, "due_soon_days": 2})),
            [400, 403, 403, 403],
        ),
        (
            "load regions",
            Method::POST,
            "/api/v1/regions",
            Some(json!({"csv": "nope\n"})),
            [400, 403, 403, 403],
        ),
        (
            "review sheet",
            Method::GET,
            "/api/v1/versions/test-versioned/1.0.0",
            None,
            [200, 200, 200, 200],
        ),
        (
            "deprecate",
            Method::POST,
            "/api/v1/versions/test-versioned/1.0.0/deprecation",
            Some(json!({"reason": " "})),
            [400, 403, 403, 403],
        ),
        (
            "publish",
            Method::POST,
            "/api/v1/versions",
            Some(json!({})),
            [400, 403, 403, 400],
        ),
        (
            "quarantines",
            Method::GET,
            "/api/v1/quarantines",
            None,
            [200, 200, 200, 403],
        ),
        (
            "release",
            Method::POST,
            "/api/v1/quarantines/test-versioned/release",
            Some(json!({"reason": " "})),
            [400, 403, 403, 403],
        ),
        (
            "offices",
            Method::GET,
            "/api/v1/offices",
            None,
            [200, 200, 200, 200],
        ),
        (
            "add office",
            Method::POST,
            "/api/v1/offices",
            Some(json!({"id": "x", "name": " ", "region": "330203"})),
            [400, 403, 403, 403],
        ),
        (
            "keys",
            Method::GET,
            "/api/v1/keys",
            None,
            [200, 200, 403, 200],
        ),
        (
            "register key",
            Method::POST,
            "/api/v1/keys",
            Some(json!({"office": "330102", "public_key": "zz"})),
            [400, 403, 403, 403],
        ),
        (
            "revoke key",
            Method::POST,
            "/api/v1/keys/0000/revocation",
            Some(json!({"reason": " "})),
            [400, 403, 403, 403],
        ),
        (
            "datasets",
            Method::GET,
            "/api/v1/datasets",
            None,
            [200, 200, 200, 200],
        ),
        (
            "dataset schema",
            Method::GET,
            "/api/v1/datasets/pension_payments",
            None,
            [200, 200, 200, 200],
        ),
        (
            "define dataset",
            Method::POST,
            "/api/v1/datasets",
            Some(json!({"toml": "name = 1"})),
            [400, 403, 403, 403],
        ),
        (
            "imports",
            Method::GET,
            "/api/v1/imports",
            None,
            [200, 200, 403, 403],
        ),
        (
            "failed imports",
            Method::GET,
            "/api/v1/imports/failures",
            None,
            [200, 200, 403, 403],
        ),
        (
            "upload import",
            Method::POST,
            "/api/v1/datasets/pension_payments/imports",
            Some(json!({})),
            [400, 403, 403, 403],
        ),
        (
            "users",
            Method::GET,
            "/api/v1/users",
            None,
            [200, 200, 403, 403],
        ),
        (
            "add user",
            Method::POST,
            "/api/v1/users",
            Some(
                json!({"username": "new", "password": "short", "role": "reviewer", "office": "330102"}),
            ),
            [400, 403, 403, 403],
        ),
        (
            "disable user",
            Method::POST,
            "/api/v1/users/li/disable",
            Some(json!({"reason": " "})),
            [400, 403, 403, 403],
        ),
        (
            "tokens",
            Method::GET,
            "/api/v1/tokens",
            None,
            [200, 200, 200, 200],
        ),
        (
            "make token",
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": " "})),
            [400, 400, 400, 400],
        ),
        (
            "revoke token",
            Method::DELETE,
            "/api/v1/tokens/999999",
            None,
            [404, 404, 404, 404],
        ),
        (
            "audit",
            Method::GET,
            "/api/v1/audit",
            None,
            [200, 200, 403, 403],
        ),
        (
            "audit page",
            Method::GET,
            "/api/v1/audit?action=clue.&limit=5",
            None,
            [200, 200, 403, 403],
        ),
    ];
    for (name, method, path, body, e) in province_wide {
        out.push(both(name, method, path, body, e));
    }
    for (side, which) in [(own, true), (foreign, false)] {
        let pick = |o: Expect, f: Expect| if which { o } else { f };
        let mut push = |name: &'static str,
                        method: Method,
                        path: String,
                        body: Option<Value>,
                        o: Expect,
                        f: Expect| {
            let e = pick(o, f);
            out.push(Case {
                name,
                method,
                path,
                body,
                own: e,
                foreign: e,
            });
        };
        push(
            "clue detail",
            Method::GET,
            format!("/api/v1/clues/{}", side.clue),
            None,
            [200, 200, 200, 403],
            [200, 200, 404, 403],
        );
        push(
            "clue identity",
            Method::POST,
            format!("/api/v1/clues/{}/identity", side.clue),
            None,
            [403, 403, 200, 403],
            [403, 403, 404, 403],
        );
        push(
            "clue action",
            Method::POST,
            "/api/v1/clues/actions".into(),
            Some(json!({"ids": [side.clue], "action": "confirm"})),
            [409, 403, 409, 403],
            [409, 403, 404, 403],
        );
        push(
            "comment",
            Method::POST,
            format!("/api/v1/clues/{}/comments", side.clue),
            Some(json!({"text": "seen"})),
            [201, 403, 201, 403],
            [201, 403, 404, 403],
        );
        push(
            "suggestion",
            Method::GET,
            format!("/api/v1/suggestions/{}", side.suggestion),
            None,
            [200, 200, 200, 403],
            [200, 200, 404, 403],
        );
        push(
            "suggestion step",
            Method::POST,
            format!("/api/v1/suggestions/{}/steps", side.suggestion),
            Some(json!({"step": "adopt"})),
            [409, 403, 409, 403],
            [409, 403, 404, 403],
        );
        push(
            "issue suggestion",
            Method::POST,
            "/api/v1/suggestions".into(),
            Some(json!({"agency": "a", "title": "t", "clues": [side.clue]})),
            [409, 403, 409, 403],
            [409, 403, 404, 403],
        );
        push(
            "run",
            Method::GET,
            format!("/api/v1/runs/{}", side.run),
            None,
            [200, 200, 200, 403],
            [200, 200, 404, 403],
        );
        push(
            "cancel run",
            Method::POST,
            format!("/api/v1/runs/{}/cancel", side.run),
            Some(json!({"reason": " "})),
            [400, 403, 400, 403],
            [400, 403, 404, 403],
        );
        push(
            "region overview",
            Method::GET,
            format!("/api/v1/stats/overview?region={}", side.region),
            None,
            [200, 200, 200, 403],
            [200, 200, 404, 403],
        );
        push(
            "replay run",
            Method::POST,
            format!("/api/v1/runs/{}/replay", side.run),
            None,
            [409, 403, 409, 403],
            [409, 403, 404, 403],
        );
        push(
            "replay comparison",
            Method::GET,
            format!("/api/v1/runs/{}/comparison", side.run),
            None,
            [400, 400, 400, 403],
            [400, 400, 404, 403],
        );
        push(
            "queue runs",
            Method::POST,
            "/api/v1/runs".into(),
            Some(json!({"model": "test-versioned", "region": side.region})),
            [202, 403, 202, 403],
            [202, 403, 403, 403],
        );
    }
    out
}

async fn every_route_every_role_own_and_foreign_region(db: &TestDb) {
    let w = people(db).await;
    let bytes = supervise_test_guests::bytes(TEST_VERSIONED_100);
    crate::world::publish_with(db, &w.author_key, &crate::world::author(), &bytes)
        .await
        .expect("publish");
    let v = supervise::registry::VersionRef {
        model: "test-versioned".into(),
        version: "1.0.0".into(),
    };
    supervise::registry::review::decide(&db.store, &crate::world::admin(), &v, true, "ok")
        .await
        .expect("approve");
    for d in ["pension_payments"] {
        define(db, d).await;
    }
    let req = supervise::registry::enable::EnableRequest {
        version: v,
        regions: vec!["330100".into()],
        params: vec![],
        schedule: None,
        scope: None,
        reason: "test".into(),
    };
    supervise::registry::enable::enable(&db.store, &crate::world::admin(), &req)
        .await
        .expect("enable");
    let own = side(db, "330102").await;
    let foreign = side(db, "330103").await;
    let mut clients = Vec::new();
    for user in ["boss", "audit", "li", "zhou"] {
        let mut c = Client::new(db);
        c.login(user).await;
        clients.push((user, c));
    }
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in cases(&own, &foreign) {
        for (i, (user, c)) in clients.iter().enumerate() {
            let (status, body, _) = c
                .call(case.method.clone(), &case.path, case.body.clone())
                .await;
            let want = case.own[i];
            checked += 1;
            if status != StatusCode::from_u16(want).expect("status") {
                failures.push(format!(
                    "{} {} {} as {user}: {status}, expected {want}: {body}",
                    case.name, case.method, case.path
                ));
            }
            if status.is_client_error() && body["error"]["code"].as_str().is_none() {
                failures.push(format!(
                    "{} as {user}: error without the error body: {body}",
                    case.name
                ));
            }
        }
        let _ = case.foreign;
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 4 * 66, "{checked}");
}
both!(every_route_every_role_own_and_foreign_region);
