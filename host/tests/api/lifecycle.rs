//! The registry, clue and province routes end to end over HTTP: publishing a signed component
//! (the key stays with the author), the review sheet, approval, deprecation while enabled and
//! after; clues reported by people and the CSV export; deadline settings; loading regions.

use axum::http::{Method, StatusCode};
use serde_json::json;
use supervise::registry::keys;
use supervise_test_guests::TEST_VERSIONED_100;

use crate::support::*;
use crate::{Client, error_code, people};

async fn publish_review_deprecate_over_http(db: &TestDb) {
    let w = people(db).await;
    define(db, "pension_payments").await;
    let mut zhou = Client::new(db);
    zhou.login("zhou").await;
    let bytes = supervise_test_guests::bytes(TEST_VERSIONED_100);
    let signature = hex::encode(keys::sign(&w.author_key, &bytes));
    let public = hex::encode(w.author_key.verifying_key().as_bytes());
    let fields = [
        ("signature", signature.as_str()),
        ("public_key", public.as_str()),
    ];
    let component = [("component", "model.wasm", bytes.as_slice())];
    let (status, v) = zhou.form("/api/v1/versions", &fields, &component).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(
        (v["result"].as_str(), v["version"].as_str()),
        (Some("submitted"), Some("test-versioned@1.0.0"))
    );
    let (status, v) = zhou.form("/api/v1/versions", &fields, &component).await;
    assert_eq!(
        (status, v["result"].as_str()),
        (StatusCode::OK, Some("unchanged"))
    );
    // A signature over other bytes is refused, and nothing is stored.
    let forged = hex::encode(keys::sign(&w.author_key, b"other bytes"));
    let (status, v) = zhou
        .form(
            "/api/v1/versions",
            &[("signature", &forged), ("public_key", &public)],
            &component,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("signature"),
        "{v}"
    );
    let (status, v) = zhou.form("/api/v1/versions", &fields, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("component")
    );
    // The review sheet, then approval by the province.
    let (status, v, _) = zhou
        .call(Method::GET, "/api/v1/versions/test-versioned/1.0.0", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["version"]["status"], "submitted");
    assert!(
        v["scope_added"].as_array().is_some_and(|a| !a.is_empty()),
        "{v}"
    );
    let mut boss = Client::new(db);
    boss.login("boss").await;
    let (status, _, _) = boss
        .call(
            Method::POST,
            "/api/v1/versions/test-versioned/1.0.0/decision",
            Some(json!({"approve": true, "reason": "reviewed"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, v, _) = boss
        .call(
            Method::POST,
            "/api/v1/enablements",
            Some(json!({"version": "test-versioned@1.0.0", "regions": ["330100"], "reason": "pilot"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let enablement = v["id"].as_i64().unwrap_or(0);
    let deprecate = |reason: &str| json!({"reason": reason});
    let path = "/api/v1/versions/test-versioned/1.0.0/deprecation";
    let (status, v, _) = boss
        .call(Method::POST, path, Some(deprecate("superseded")))
        .await;
    assert_eq!(
        (status, error_code(&v)),
        (StatusCode::CONFLICT, "conflict"),
        "an enabled version stays: {v}"
    );
    boss.call(
        Method::POST,
        &format!("/api/v1/enablements/{enablement}/changes"),
        Some(json!({"action": "disable", "reason": "pilot over"})),
    )
    .await;
    let (status, _, _) = boss
        .call(Method::POST, path, Some(deprecate("superseded")))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, v, _) = boss
        .call(Method::GET, "/api/v1/versions?model=test-versioned", None)
        .await;
    assert_eq!(v[0]["status"], "deprecated");
    // Releasing a model that is not quarantined says so.
    let (status, v, _) = boss
        .call(
            Method::POST,
            "/api/v1/quarantines/test-versioned/release",
            Some(json!({"reason": "fixed"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
}
both!(publish_review_deprecate_over_http);

async fn reports_export_settings_and_regions(db: &TestDb) {
    people(db).await;
    let mut li = Client::new(db);
    li.login("li").await;
    let report = json!({"source": "grid_member", "reporter": "Wang", "region": "330102",
        "subject_type": "person", "subject_id": "P-9", "subject_name": "Zhao, \"Old\"",
        "reason": "pension collected by a neighbour"});
    let (status, v, _) = li
        .call(Method::POST, "/api/v1/clues/reports", Some(report.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let id = v["id"].as_i64().unwrap_or(0);
    let mut foreign = report.clone();
    foreign["region"] = json!("330103");
    let (status, _, _) = li
        .call(Method::POST, "/api/v1/clues/reports", Some(foreign))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not li's county");
    crate::helpers::reported(db, "330103", 0.4, "elsewhere").await;
    let (status, v, _) = li.call(Method::GET, "/api/v1/clues/export", None).await;
    assert_eq!(status, StatusCode::OK);
    let text = v.as_str().unwrap_or("").to_string();
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .unwrap_or("")
            .starts_with("id,model,source,reported_by"),
        "{text}"
    );
    let row = lines.next().unwrap_or("");
    assert!(
        row.starts_with(&format!("{id},,grid_member,Wang,"))
            && row.contains("\"Zhao, \"\"Old\"\"\""),
        "quoted as CSV: {row}"
    );
    assert_eq!(lines.next(), None, "only li's county: {text}");
    // Deadlines: admins change them, everyone reads them.
    let mut boss = Client::new(db);
    boss.login("boss").await;
    let s = json!({"handling_days": 10, "feedback_months": 3, "due_soon_days": 2});
    let (status, _, _) = li
        .call(Method::PUT, "/api/v1/settings", Some(s.clone()))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, v, _) = boss.call(Method::PUT, "/api/v1/settings", Some(s)).await;
    assert_eq!(
        (status, v["handling_days"].as_i64()),
        (StatusCode::OK, Some(10))
    );
    let (_, v, _) = li.call(Method::GET, "/api/v1/settings", None).await;
    assert_eq!(v["handling_days"], 10);
    // Regions: loaded from CSV text, all or nothing.
    let (status, v, _) = boss
        .call(
            Method::POST,
            "/api/v1/regions",
            Some(json!({"csv": "code,name\n330199,New District\n33019,Broken\n"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["details"]["problems"][0]
            .as_str()
            .unwrap_or("")
            .contains("line 3"),
        "{v}"
    );
    let (status, v, _) = boss
        .call(
            Method::POST,
            "/api/v1/regions",
            Some(json!({"csv": "code,name\n330199,New District\n"})),
        )
        .await;
    assert_eq!(
        (status, v["loaded"].as_i64()),
        (StatusCode::OK, Some(1)),
        "{v}"
    );
    let (_, v, _) = boss.call(Method::GET, "/api/v1/regions", None).await;
    assert!(
        v.as_array()
            .is_some_and(|a| a.iter().any(|r| r["code"] == "330199"))
    );
}
both!(reports_export_settings_and_regions);
