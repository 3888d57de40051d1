//! The administrative areas over HTTP: uploads of imports with their validation report,
//! the dataset catalogue, offices and keys, users, tokens and the audit trail.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use supervise::api::app;
use tower::ServiceExt;

use crate::support::*;
use crate::{Client, error_code, people};

const PAYMENTS: &str = "payment_id,id_number,pay_date,amount,region_code\n\
    P-1,330102194501011234,2024-02-15,3200.00,330102\n\
    P-2,330102194501011234,2024-03-15,3200.00,330102\n\
    P-3,33010319480515432X,2024-03-15,2100.50,330103\n";

impl Client {
    /// Posts a multipart form: `fields` as text parts, then `file` as the `file` part.
    async fn upload(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        file: Option<(&str, &str)>,
    ) -> (StatusCode, Value) {
        let files: Vec<(&str, &str, &[u8])> = file
            .iter()
            .map(|(name, text)| ("file", *name, text.as_bytes()))
            .collect();
        self.form(path, fields, &files).await
    }

    /// Posts a multipart form: text `fields`, then `files` as (field, file name, bytes).
    pub(crate) async fn form(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &str, &[u8])],
    ) -> (StatusCode, Value) {
        let boundary = "XsuperviseX";
        let mut body = Vec::new();
        for (k, v) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        for (field, name, bytes) in files {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let mut req = Request::builder().method(Method::POST).uri(path).header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        );
        if let Some(c) = &self.cookie {
            req = req.header(header::COOKIE, c);
        }
        if let Some(t) = &self.csrf {
            req = req.header("x-csrf-token", t);
        }
        let resp = app(self.state.clone())
            .oneshot(req.body(Body::from(body)).expect("request"))
            .await
            .expect("response");
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

fn upload_dir_is_empty(c: &Client) -> bool {
    let dir = &c.state.imports.as_ref().expect("imports").upload_dir;
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .all(|e| !e.file_name().to_string_lossy().starts_with("upload-"))
        })
        .unwrap_or(true)
}

async fn uploads_report_problems_and_import_all_or_nothing(db: &TestDb) {
    people(db).await;
    define(db, "pension_payments").await;
    let mut boss = Client::new(db);
    // Each test run stages uploads in its own directory, so that leftovers are its own.
    let dir = db.dir.path().join("uploads");
    if let Some(i) = boss.state.imports.as_mut() {
        i.upload_dir = dir.clone();
    }
    boss.login("boss").await;
    let path = "/api/v1/datasets/pension_payments/imports";
    let bad = PAYMENTS.replace("2024-03-15,3200.00", "2024-13-15,lots");
    let (status, v) = boss
        .upload(path, &[], Some(("../../payments 2024.csv", &bad)))
        .await;
    assert_eq!(
        (status, error_code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"),
        "{v}"
    );
    let message = v["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.starts_with("payments_2024.csv: 1 problem(s)"),
        "names the file as given, made safe, never a server path: {message}"
    );
    let problems = &v["error"]["details"]["problems"];
    assert_eq!(
        (
            problems[0]["line"].as_i64(),
            problems[0]["column"].as_str(),
            problems[0]["value"].as_str()
        ),
        (Some(3), Some("pay_date"), Some("2024-13-15")),
        "{v}"
    );
    assert_eq!(count(db, "imports").await, 0, "nothing imported");
    assert!(upload_dir_is_empty(&boss), "the refused upload is removed");

    let (status, v) = boss
        .upload(
            path,
            &[("mode", "append")],
            Some(("payments.csv", PAYMENTS)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(
        (v["rows"].as_i64(), v["dataset"].as_str()),
        (Some(3), Some("pension_payments"))
    );
    assert!(upload_dir_is_empty(&boss), "the imported upload is removed");
    let (status, v) = boss.upload(path, &[], Some(("again.csv", PAYMENTS))).await;
    assert_eq!(
        (status, error_code(&v)),
        (StatusCode::CONFLICT, "conflict"),
        "{v}"
    );
    let (status, v, _) = boss.call(Method::GET, "/api/v1/imports", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            v[0]["file_name"].as_str(),
            v[0]["rows"].as_i64(),
            v[0]["imported_by"].as_str()
        ),
        (Some("payments.csv"), Some(3), Some("boss")),
        "{v}"
    );
    // Failed imports are kept for the datasets page: the invalid rows, then the repeat.
    let (status, v, _) = boss
        .call(
            Method::GET,
            "/api/v1/imports/failures?dataset=pension_payments",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            v[1]["file_name"].as_str(),
            v[1]["problem_total"].as_i64(),
            v[1]["problems"][0]["column"].as_str(),
            v[1]["failed_by"].as_str()
        ),
        (
            Some("payments_2024.csv"),
            Some(1),
            Some("pay_date"),
            Some("boss")
        ),
        "{v}"
    );
    assert!(
        v[0]["error"]
            .as_str()
            .unwrap_or("")
            .contains("already imported"),
        "{v}"
    );
    let (_, v, _) = boss.call(Method::GET, "/api/v1/datasets", None).await;
    let payments = v
        .as_array()
        .and_then(|a| a.iter().find(|d| d["name"] == "pension_payments"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (payments["imports"].as_i64(), payments["rows"].as_i64()),
        (Some(1), Some(3))
    );

    // Bad forms say what is wrong.
    for (fields, file, want) in [
        (
            vec![("mode", "merge")],
            Some(("p.csv", PAYMENTS)),
            "mode `merge`",
        ),
        (vec![("colour", "red")], None, "unknown form field `colour`"),
        (vec![], None, "no `file` field"),
        (vec![], Some(("p.txt", "x\n1\n")), "cannot tell the format"),
    ] {
        let (status, v) = boss.upload(path, &fields, file).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        let m = v["error"]["message"].as_str().unwrap_or("");
        assert!(m.contains(want), "{m}");
    }
    let (status, _) = boss
        .upload(
            "/api/v1/datasets/nope/imports",
            &[],
            Some(("p.csv", PAYMENTS)),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Over the size limit: refused while it streams in, nothing kept.
    if let Some(i) = boss.state.imports.as_mut() {
        i.max_upload_bytes = 64;
    }
    let (status, v) = boss
        .upload(path, &[], Some(("big.csv", &PAYMENTS.repeat(4))))
        .await;
    assert_eq!(
        (status, error_code(&v)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        "{v}"
    );
    assert!(upload_dir_is_empty(&boss));
    assert_eq!(count(db, "imports").await, 1);
    // A schema over HTTP, and its versions.
    let (_, v, _) = boss
        .call(Method::GET, "/api/v1/datasets/pension_payments", None)
        .await;
    assert_eq!(
        (v["version"].as_i64(), v["schema"]["region_column"].as_str()),
        (Some(1), Some("region_code")),
        "{v}"
    );
    let toml =
        std::fs::read_to_string(repo().join("schemas/pension_payments.toml")).expect("schema");
    let (status, v, _) = boss
        .call(
            Method::POST,
            "/api/v1/datasets",
            Some(json!({"toml": toml})),
        )
        .await;
    assert_eq!(
        (status, v["outcome"].as_str()),
        (StatusCode::OK, Some("unchanged")),
        "{v}"
    );
    let changed = toml.replace(
        "Monthly pension payments\"",
        "Monthly pension payments (v2)\"",
    );
    let (_, v, _) = boss
        .call(
            Method::POST,
            "/api/v1/datasets",
            Some(json!({"toml": changed})),
        )
        .await;
    assert_eq!(
        (v["outcome"].as_str(), v["version"].as_i64()),
        (Some("new_version"), Some(2)),
        "{v}"
    );
}
both!(uploads_report_problems_and_import_all_or_nothing);

async fn offices_keys_users_tokens_and_audit(db: &TestDb) {
    people(db).await;
    let mut boss = Client::new(db);
    boss.login("boss").await;
    // Offices: a reviewer sees their line only.
    let mut li = Client::new(db);
    li.login("li").await;
    let (_, v, _) = li.call(Method::GET, "/api/v1/offices", None).await;
    let ids: Vec<&str> = v
        .as_array()
        .map(|a| a.iter().filter_map(|o| o["id"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        ids.contains(&"330102") && ids.contains(&"330000"),
        "{ids:?}"
    );
    assert!(
        !ids.contains(&"330103"),
        "another county's office is not li's: {ids:?}"
    );
    let (status, v, _) = boss
        .call(
            Method::POST,
            "/api/v1/offices",
            Some(json!({"id": "330203", "name": "Haishu", "region": "330203"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    // Keys: registered by the admin, seen by the office's author, revoked.
    let key = supervise::registry::keys::generate(&db.dir.path().join("haishu.key")).expect("key");
    let public = hex::encode(key.as_bytes());
    let (status, v, _) = boss
        .call(
            Method::POST,
            "/api/v1/keys",
            Some(json!({"office": "330203", "public_key": public})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let fingerprint = v["fingerprint"].as_str().unwrap_or("").to_string();
    assert_eq!(fingerprint, supervise::registry::keys::fingerprint(&key));
    let mut zhou = Client::new(db);
    zhou.login("zhou").await;
    let (_, v, _) = zhou.call(Method::GET, "/api/v1/keys", None).await;
    assert!(
        v.as_array()
            .is_some_and(|a| a.iter().all(|k| k["office"] == "330102")),
        "an author sees their own office's keys only: {v}"
    );
    let (status, _, _) = boss
        .call(
            Method::POST,
            &format!("/api/v1/keys/{fingerprint}/revocation"),
            Some(json!({"reason": "laptop lost"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, v, _) = boss.call(Method::GET, "/api/v1/keys", None).await;
    let revoked = v
        .as_array()
        .and_then(|a| a.iter().find(|k| k["fingerprint"] == fingerprint.as_str()))
        .map(|k| k["status"].clone());
    assert_eq!(revoked, Some(json!("revoked")));
    // Users: added, logged in, disabled.
    let (status, v, _) = boss
        .call(
            Method::POST,
            "/api/v1/users",
            Some(json!({"username": "qian", "password": crate::PASS, "role": "reviewer", "office": "330103"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let (status, v, _) = boss
        .call(
            Method::POST,
            "/api/v1/users",
            Some(json!({"username": "qian", "password": crate::PASS, "role": "reviewer", "office": "330103"})),
        )
        .await;
    assert_eq!(
        (status, error_code(&v)),
        (StatusCode::CONFLICT, "conflict"),
        "{v}"
    );
    let mut qian = Client::new(db);
    qian.login("qian").await;
    let (status, _, _) = boss
        .call(
            Method::POST,
            "/api/v1/users/qian/disable",
            Some(json!({"reason": "moved on"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        qian.call(Method::GET, "/api/v1/me", None).await.0,
        StatusCode::UNAUTHORIZED,
        "a disabled user's session ends"
    );
    // Tokens: made over HTTP, shown once, working, revoked.
    let (status, v, _) = li
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "export", "days": 7})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let (id, secret) = (
        v["id"].as_i64().unwrap_or(0),
        v["token"].as_str().unwrap_or("").to_string(),
    );
    let script = Client {
        bearer: Some(secret),
        ..Client::new(db)
    };
    let (_, v, _) = script.call(Method::GET, "/api/v1/me", None).await;
    assert_eq!(v["user"]["username"], "li");
    let (_, v, _) = li.call(Method::GET, "/api/v1/tokens", None).await;
    let listed = v.as_array().cloned().unwrap_or_default();
    assert!(listed.iter().any(|t| t["id"] == id), "{v}");
    assert!(
        !v.to_string().contains("svt_"),
        "a secret is never listed: {v}"
    );
    let (status, _, _) = boss
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "for li", "for_user": "li"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "admins make tokens for others");
    let (status, _, _) = li
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "for boss", "for_user": "boss"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = li
        .call(Method::DELETE, &format!("/api/v1/tokens/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        script.call(Method::GET, "/api/v1/me", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    // The audit trail shows all of it, newest first, filtered and paged.
    let (status, v, _) = boss
        .call(Method::GET, "/api/v1/audit?action=user.&limit=10", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let actions: Vec<&str> = v
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(actions.first(), Some(&"user.disable"), "{v}");
    assert!(actions.contains(&"user.create"));
    assert!(actions.iter().all(|a| a.starts_with("user.")));
    let newest = v[0]["id"].as_i64().unwrap_or(0);
    let (_, older, _) = boss
        .call(
            Method::GET,
            &format!("/api/v1/audit?before={newest}&limit=1"),
            None,
        )
        .await;
    assert!(
        older[0]["id"].as_i64().unwrap_or(i64::MAX) < newest,
        "{older}"
    );
    let (_, v, _) = boss
        .call(Method::GET, "/api/v1/audit?actor=li&action=token.", None)
        .await;
    assert_eq!(
        v.as_array().map(Vec::len),
        Some(2),
        "li made and revoked a token: {v}"
    );
}
both!(offices_keys_users_tokens_and_audit);
