//! Users, roles, passwords, sessions and API tokens, on SQLite and PostgreSQL.

#[macro_use]
#[path = "../store/support.rs"]
#[allow(dead_code)]
mod support;

#[path = "../registry/world.rs"]
#[allow(dead_code)]
mod world;

use supervise::auth::sessions::{self, LoginLimiter, MAX_FAILURES};
use supervise::auth::users::{self, NewUser};
use supervise::auth::{AuthError, Role, tokens};

use support::*;

const PASS: &str = "a long enough passphrase";

fn new(username: &str, role: Role, office: &str) -> NewUser {
    NewUser {
        username: username.into(),
        password: PASS.into(),
        role,
        office: office.into(),
    }
}

async fn first_admin_then_admins_make_users(db: &TestDb) {
    world::world(db).await;
    let err = users::create(&db.store, None, &new("rev", Role::Reviewer, "330102"))
        .await
        .expect_err("first must be admin");
    assert!(
        err.to_string().contains("the first user must be an admin"),
        "{err}"
    );
    let err = users::create(&db.store, None, &new("boss", Role::Admin, "330102"))
        .await
        .expect_err("provincial");
    assert!(err.to_string().contains("not a provincial office"), "{err}");
    let mut short = new("boss", Role::Admin, "330000");
    short.password = "short".into();
    assert!(
        users::create(&db.store, None, &short)
            .await
            .expect_err("policy")
            .to_string()
            .contains("at least 12")
    );
    users::create(&db.store, None, &new("boss", Role::Admin, "330000"))
        .await
        .expect("bootstrap");
    let err = users::create(&db.store, None, &new("boss2", Role::Admin, "330000"))
        .await
        .expect_err("once");
    assert!(matches!(err, AuthError::Forbidden(_)), "{err}");
    let boss = users::by_name(&db.store, "boss")
        .await
        .expect("q")
        .expect("boss")
        .0;
    users::create(&db.store, Some(&boss), &new("li", Role::Reviewer, "330102"))
        .await
        .expect("reviewer");
    let li = users::by_name(&db.store, "li")
        .await
        .expect("q")
        .expect("li")
        .0;
    assert_eq!((li.role, li.region.as_str()), (Role::Reviewer, "330102"));
    let err = users::create(&db.store, Some(&li), &new("wu", Role::Reviewer, "330102"))
        .await
        .expect_err("not admin");
    assert!(matches!(err, AuthError::Forbidden(_)), "{err}");
    let err = users::create(&db.store, Some(&boss), &new("li", Role::Author, "330102"))
        .await
        .expect_err("taken");
    assert!(err.to_string().contains("taken"), "{err}");
    let err = users::create(
        &db.store,
        Some(&boss),
        &new("Bad Name", Role::Author, "330102"),
    )
    .await
    .expect_err("name");
    assert!(err.to_string().contains("must be 2 to 64"), "{err}");
    let stored: String = sqlx::Row::try_get(
        &sqlx::query("SELECT password_hash FROM users WHERE username = 'li'")
            .fetch_one(db.store.pool())
            .await
            .expect("row"),
        0,
    )
    .expect("hash");
    assert!(stored.starts_with("$argon2id$") && !stored.contains(PASS));
}
both!(first_admin_then_admins_make_users);

async fn logins_sessions_and_the_failure_limit(db: &TestDb) {
    world::world(db).await;
    users::create(&db.store, None, &new("boss", Role::Admin, "330000"))
        .await
        .expect("bootstrap");
    let limiter = LoginLimiter::default();
    let s = sessions::login(&db.store, &limiter, "boss", PASS)
        .await
        .expect("login");
    let (p, csrf) = sessions::authenticate(&db.store, &s.secret)
        .await
        .expect("session");
    assert_eq!((p.username.as_str(), csrf), ("boss", s.csrf.clone()));
    assert_eq!(count(db, "sessions").await, 1);
    let stored: String = sqlx::Row::try_get(
        &sqlx::query("SELECT token_hash FROM sessions")
            .fetch_one(db.store.pool())
            .await
            .expect("row"),
        0,
    )
    .expect("hash");
    assert_ne!(
        stored, s.secret,
        "only a hash of the session secret is stored"
    );
    sessions::logout(&db.store, &s.secret)
        .await
        .expect("logout");
    assert!(matches!(
        sessions::authenticate(&db.store, &s.secret).await,
        Err(AuthError::Unauthenticated)
    ));
    let unknown = sessions::login(&db.store, &limiter, "nobody", PASS)
        .await
        .expect_err("unknown");
    let wrong = sessions::login(&db.store, &limiter, "boss", "wrong password!!")
        .await
        .expect_err("wrong");
    assert_eq!(
        unknown.to_string(),
        wrong.to_string(),
        "the two failures look alike"
    );
    for _ in 1..MAX_FAILURES {
        sessions::login(&db.store, &limiter, "boss", "wrong password!!")
            .await
            .expect_err("wrong");
    }
    let err = sessions::login(&db.store, &limiter, "boss", PASS)
        .await
        .expect_err("limited");
    assert!(matches!(err, AuthError::RateLimited(_)), "{err}");
}
both!(logins_sessions_and_the_failure_limit);

async fn tokens_are_hashed_listed_revoked_and_expire(db: &TestDb) {
    world::world(db).await;
    users::create(&db.store, None, &new("boss", Role::Admin, "330000"))
        .await
        .expect("bootstrap");
    let boss = users::by_name(&db.store, "boss")
        .await
        .expect("q")
        .expect("boss")
        .0;
    users::create(&db.store, Some(&boss), &new("li", Role::Reviewer, "330102"))
        .await
        .expect("li");
    let li = users::by_name(&db.store, "li")
        .await
        .expect("q")
        .expect("li")
        .0;
    let (id, secret) = tokens::create(&db.store, &li, None, "export script", 30)
        .await
        .expect("token");
    assert!(secret.starts_with("svt_"));
    assert_eq!(
        tokens::authenticate(&db.store, &secret)
            .await
            .expect("auth")
            .username,
        "li"
    );
    assert!(tokens::authenticate(&db.store, "svt_nope").await.is_err());
    assert!(
        tokens::create(&db.store, &li, Some("boss"), "steal", 30)
            .await
            .is_err(),
        "only admins make tokens for others"
    );
    assert!(
        tokens::create(&db.store, &boss, Some("li"), "for li", 400)
            .await
            .is_err(),
        "400 days is refused"
    );
    tokens::create(&db.store, &boss, Some("li"), "made by an admin", 30)
        .await
        .expect("admins make tokens for others");
    let mine = tokens::list(&db.store, &li).await.expect("list");
    assert_eq!(mine.len(), 2);
    assert!(mine[0].last_used_ms.is_some());
    assert_eq!(
        tokens::list(&db.store, &boss).await.expect("list").len(),
        2,
        "admins see every token"
    );
    tokens::revoke(&db.store, &li, id).await.expect("revoke");
    assert!(matches!(
        tokens::authenticate(&db.store, &secret).await,
        Err(AuthError::Unauthenticated)
    ));
    let (_, old) = tokens::create(&db.store, &li, None, "short-lived", 1)
        .await
        .expect("token");
    sqlx::query("UPDATE api_tokens SET expires_at_ms = 1 WHERE name = 'short-lived'")
        .execute(db.store.pool())
        .await
        .expect("expire");
    assert!(
        tokens::authenticate(&db.store, &old).await.is_err(),
        "expired"
    );
    let (_, live) = tokens::create(&db.store, &li, None, "live", 10)
        .await
        .expect("token");
    users::disable(&db.store, &boss, "li", "left the office")
        .await
        .expect("disable");
    assert!(
        tokens::authenticate(&db.store, &live).await.is_err(),
        "a disabled user's tokens stop working"
    );
}
both!(tokens_are_hashed_listed_revoked_and_expire);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_tokens_from_the_command_line() {
    use std::process::{Command, Stdio};
    let db = sqlite().await;
    world::world(&db).await;
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_supervise"))
            .arg("--home")
            .arg(db.dir.path())
            .args(args)
            .env("SUPERVISE_PASSWORD", PASS)
            .stdin(Stdio::null())
            .output()
            .expect("run supervise");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&[
        "admin",
        "create",
        "--username",
        "boss",
        "--for-office",
        "330000",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "user boss created");
    let (code, _, err) = run(&[
        "admin",
        "create",
        "--username",
        "boss2",
        "--for-office",
        "330000",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("users exist already"), "{err}");
    let (code, _, err) = run(&[
        "--as",
        "boss",
        "users",
        "add",
        "li",
        "--role",
        "reviewer",
        "--for-office",
        "330102",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&["--as", "nobody", "tokens", "list"]);
    assert_eq!(code, 2);
    assert!(err.contains("`--as nobody` names no active user"), "{err}");
    let (code, out, err) = run(&["--as", "li", "tokens", "create", "--name", "export"]);
    assert_eq!(code, 0, "{err}");
    let secret = out.split(": ").nth(1).expect("secret").trim().to_string();
    assert!(secret.starts_with("svt_"), "{out}");
    assert_eq!(
        tokens::authenticate(&db.store, &secret)
            .await
            .expect("token works")
            .username,
        "li"
    );
    let (code, out, _) = run(&["users", "list"]);
    assert_eq!(code, 0);
    assert!(out.contains("boss") && out.contains("reviewer"), "{out}");
    db.cleanup().await;
}
