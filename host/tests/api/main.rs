//! The HTTP API through `api::app(state).oneshot(request)`: sessions with cookies and CSRF,
//! bearer tokens, error bodies and status codes, strict JSON, region scoping (404 for what is
//! not yours), roles, and the OpenAPI document covering every route. On SQLite and PostgreSQL.

#[macro_use]
#[path = "../store/support.rs"]
#[allow(dead_code)]
mod support;

#[path = "../registry/world.rs"]
#[allow(dead_code)]
mod world;

#[path = "../clues/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use supervise::api::{AppState, app};
use supervise::auth::users::{self, NewUser};
use supervise::auth::{Role, tokens};
use tower::ServiceExt;

use support::*;

mod admin;
mod lifecycle;
mod matrix;
mod remote;

const PASS: &str = "a long enough passphrase";

/// One sandbox for every test of this binary (compiling components is the slow part).
pub(crate) fn runtime() -> std::sync::Arc<supervise::runtime::Runtime> {
    static RT: std::sync::OnceLock<std::sync::Arc<supervise::runtime::Runtime>> =
        std::sync::OnceLock::new();
    RT.get_or_init(|| {
        std::sync::Arc::new(
            supervise::runtime::Runtime::new(supervise::runtime::RuntimeConfig::default())
                .expect("runtime"),
        )
    })
    .clone()
}

pub(crate) struct Client {
    state: AppState,
    cookie: Option<String>,
    csrf: Option<String>,
    bearer: Option<String>,
}

impl Client {
    pub(crate) fn new(db: &TestDb) -> Client {
        Client {
            state: AppState::new(db.store.clone())
                .with_imports(key(), std::env::temp_dir().join("supervise-test-uploads"))
                .with_runtime(runtime()),
            cookie: None,
            csrf: None,
            bearer: None,
        }
    }

    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value, Option<String>) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(c) = &self.cookie {
            req = req.header(header::COOKIE, c);
        }
        if let Some(t) = &self.csrf {
            req = req.header("x-csrf-token", t);
        }
        if let Some(b) = &self.bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {b}"));
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .expect("request");
        let resp = app(self.state.clone())
            .oneshot(req)
            .await
            .expect("response");
        let status = resp.status();
        let cookie = resp
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = axum::body::to_bytes(resp.into_body(), 16 << 20)
            .await
            .expect("body");
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, v, cookie)
    }

    pub(crate) async fn login(&mut self, user: &str) {
        let (status, v, cookie) = self
            .call(
                Method::POST,
                "/api/v1/session",
                Some(json!({"username": user, "password": PASS})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let cookie = cookie.expect("Set-Cookie");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        self.cookie = Some(cookie.split(';').next().expect("pair").to_string());
        self.csrf = v["csrf"].as_str().map(str::to_string);
    }
}

pub(crate) async fn people(db: &TestDb) -> world::World {
    let w = world::world(db).await;
    users::create(
        &db.store,
        None,
        &NewUser {
            username: "boss".into(),
            password: PASS.into(),
            role: Role::Admin,
            office: "330000".into(),
        },
    )
    .await
    .expect("admin");
    let boss = users::by_name(&db.store, "boss")
        .await
        .expect("q")
        .expect("boss")
        .0;
    for (name, role, office) in [
        ("li", Role::Reviewer, "330102"),
        ("wu", Role::Reviewer, "330103"),
        ("audit", Role::Auditor, "330000"),
        ("zhou", Role::Author, "330102"),
    ] {
        users::create(
            &db.store,
            Some(&boss),
            &NewUser {
                username: name.into(),
                password: PASS.into(),
                role,
                office: office.into(),
            },
        )
        .await
        .expect("user");
    }
    w
}

fn error_code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

async fn sessions_csrf_and_tokens(db: &TestDb) {
    people(db).await;
    let mut c = Client::new(db);
    let (status, v, _) = c.call(Method::GET, "/api/v1/me", None).await;
    assert_eq!(
        (status, error_code(&v)),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("log in")
    );
    let (status, v, _) = c
        .call(
            Method::POST,
            "/api/v1/session",
            Some(json!({"username": "li", "password": "wrong wrong wrong"})),
        )
        .await;
    assert_eq!(
        (status, error_code(&v)),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    let (status, v, _) = c
        .call(
            Method::POST,
            "/api/v1/session",
            Some(json!({"username": "li", "password": PASS, "remember": true})),
        )
        .await;
    assert_eq!(
        (status, error_code(&v)),
        (StatusCode::BAD_REQUEST, "bad_request"),
        "unknown fields are refused: {v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("remember"),
        "{v}"
    );
    c.login("li").await;
    let (status, v, _) = c.call(Method::GET, "/api/v1/me", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (v["user"]["username"].as_str(), v["user"]["region"].as_str()),
        (Some("li"), Some("330102"))
    );
    // A change through the session needs the CSRF token.
    let a = helpers::reported(db, "330102", 0.9, "pension after death").await;
    let csrf = c.csrf.take();
    let (status, v, _) = c
        .call(
            Method::POST,
            "/api/v1/clues/actions",
            Some(json!({"ids": [a], "action": "assign", "to": "li"})),
        )
        .await;
    assert_eq!(
        (status, error_code(&v)),
        (StatusCode::FORBIDDEN, "forbidden"),
        "{v}"
    );
    c.csrf = csrf;
    let (status, v, _) = c
        .call(
            Method::POST,
            "/api/v1/clues/actions",
            Some(json!({"ids": [a], "action": "assign", "to": "li"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "assigned");
    let (status, _, cleared) = c.call(Method::DELETE, "/api/v1/session", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(cleared.unwrap_or_default().contains("Max-Age=0"));
    let (status, _, _) = c.call(Method::GET, "/api/v1/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the session ended");
    // Bearer tokens need no CSRF token.
    let li = users::by_name(&db.store, "li")
        .await
        .expect("q")
        .expect("li")
        .0;
    let (_, secret) = tokens::create(&db.store, &li, None, "script", 30)
        .await
        .expect("token");
    let t = Client {
        bearer: Some(secret),
        ..Client::new(db)
    };
    let (status, v, _) = t
        .call(
            Method::POST,
            "/api/v1/clues/actions",
            Some(json!({"ids": [a], "action": "verify"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let bad = Client {
        bearer: Some("svt_forged".into()),
        ..Client::new(db)
    };
    assert_eq!(
        bad.call(Method::GET, "/api/v1/me", None).await.0,
        StatusCode::UNAUTHORIZED
    );
}
both!(sessions_csrf_and_tokens);

async fn regions_roles_and_errors(db: &TestDb) {
    people(db).await;
    let mine = helpers::reported(db, "330102", 0.9, "mine").await;
    let theirs = helpers::reported(db, "330103", 0.9, "theirs").await;
    let mut li = Client::new(db);
    li.login("li").await;
    let (status, v, _) = li.call(Method::GET, "/api/v1/clues", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["total"], 1);
    assert_eq!(v["clues"][0]["id"], mine);
    let (status, v, _) = li
        .call(Method::GET, &format!("/api/v1/clues/{theirs}"), None)
        .await;
    assert_eq!(
        (status, error_code(&v)),
        (StatusCode::NOT_FOUND, "not_found"),
        "another county's clue does not exist for li"
    );
    let (status, v, _) = li
        .call(Method::GET, "/api/v1/clues?region=330103", None)
        .await;
    assert_eq!((status, v["total"].as_i64()), (StatusCode::OK, Some(0)));
    let (status, v, _) = li
        .call(
            Method::POST,
            "/api/v1/clues/actions",
            Some(json!({"ids": [theirs], "action": "assign", "to": "li"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("not found"),
        "{v}"
    );
    assert_eq!(
        li.call(
            Method::POST,
            &format!("/api/v1/clues/{theirs}/comments"),
            Some(json!({"text": "hi"}))
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let (status, v, _) = li
        .call(
            Method::POST,
            "/api/v1/clues/actions",
            Some(json!({"ids": [mine], "action": "confirm"})),
        )
        .await;
    assert_eq!((status, error_code(&v)), (StatusCode::CONFLICT, "conflict"));
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("it can: assign, dismiss"),
        "{v}"
    );
    let (status, v, _) = li
        .call(
            Method::POST,
            "/api/v1/clues/actions",
            Some(json!({"ids": [mine], "action": "explode"})),
        )
        .await;
    assert_eq!(
        (status, error_code(&v)),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    let (status, _, _) = li.call(Method::GET, "/api/v1/clues?limit=0", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = li
        .call(Method::GET, "/api/v1/clues?status=nonsense", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = li.call(Method::GET, "/api/v1/clues/abc", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, v, _) = li.call(Method::GET, "/api/v1/nowhere", None).await;
    assert_eq!(
        (status, error_code(&v)),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let (status, _, _) = li.call(Method::GET, "/api/v1/audit/verify", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, v, _) = li.call(Method::GET, "/api/v1/regions", None).await;
    assert_eq!(status, StatusCode::OK);
    let codes: Vec<&str> = v
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|r| r["code"].as_str())
        .collect();
    assert_eq!(
        codes,
        ["330000", "330100", "330102"],
        "own region, its parents, nothing beside it"
    );

    let mut auditor = Client::new(db);
    auditor.login("audit").await;
    assert_eq!(
        auditor.call(Method::GET, "/api/v1/clues", None).await.1["total"],
        2,
        "the province reads everything"
    );
    let (status, _, _) = auditor
        .call(
            Method::POST,
            "/api/v1/clues/actions",
            Some(json!({"ids": [mine], "action": "assign", "to": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "auditors change nothing");
    let (status, v, _) = auditor
        .call(Method::GET, "/api/v1/audit/verify", None)
        .await;
    assert_eq!(
        (status, v["problem"].clone()),
        (StatusCode::OK, Value::Null),
        "{v}"
    );
    let mut author = Client::new(db);
    author.login("zhou").await;
    assert_eq!(
        author.call(Method::GET, "/api/v1/clues", None).await.0,
        StatusCode::FORBIDDEN
    );

    // Bodies over the limit are refused before they are read.
    let big = json!({"text": "x".repeat(2 << 20)});
    let (status, v, _) = li
        .call(
            Method::POST,
            &format!("/api/v1/clues/{mine}/comments"),
            Some(big),
        )
        .await;
    assert_eq!(
        (status, error_code(&v)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        "{v}"
    );
}
both!(regions_roles_and_errors);

#[tokio::test]
async fn the_openapi_document_covers_every_route() {
    let db = sqlite().await;
    let c = Client::new(&db);
    let (status, doc, _) = c.call(Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc["openapi"].as_str().unwrap_or("").starts_with("3."),
        "{doc}"
    );
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .map(String::as_str)
        .collect();
    for want in [
        "/session",
        "/me",
        "/clues",
        "/clues/{id}",
        "/clues/actions",
        "/clues/{id}/comments",
        "/stats/feedback",
        "/runs",
        "/runs/{id}",
        "/regions",
        "/audit/verify",
    ] {
        assert!(paths.contains(&want), "{want} missing from {paths:?}");
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    assert!(doc["components"]["schemas"]["ClueRow"].is_object());
    db.cleanup().await;
}
