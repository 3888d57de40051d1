//! The command line against a real server over HTTP: `supervise --server URL` with a token
//! lists, triages and uploads as the token's owner, within their region.

use std::process::Command;

use supervise::api::{AppState, app};
use supervise::auth::tokens;
use supervise::auth::users;

use crate::helpers;
use crate::people;
use crate::support::*;

/// Runs the binary against `server` with `token`; (exit code, stdout, stderr).
fn remote(server: &str, token: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_supervise"))
        .args(["--server", server])
        .args(args)
        .env("SUPERVISE_TOKEN", token)
        .env("SUPERVISE_HOME", "/nonexistent/never-used")
        .output()
        .expect("run supervise");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn token_for(db: &TestDb, user: &str) -> String {
    let p = users::by_name(&db.store, user)
        .await
        .expect("q")
        .expect("user")
        .0;
    tokens::create(&db.store, &p, None, "cli", 1)
        .await
        .expect("token")
        .1
}

async fn the_command_line_acts_through_a_remote_server(db: &TestDb) {
    people(db).await;
    define(db, "pension_payments").await;
    let mine = helpers::reported(db, "330102", 0.9, "pension after death").await;
    helpers::reported(db, "330103", 0.8, "another county").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let server = format!("http://{}", listener.local_addr().expect("addr"));
    let state = AppState::new(db.store.clone()).with_imports(key(), db.dir.path().join("uploads"));
    let serving = tokio::spawn(axum::serve(listener, app(state)).into_future());
    let li = token_for(db, "li").await;
    let boss = token_for(db, "boss").await;
    let csv = db.dir.path().join("payments.csv");
    std::fs::write(
        &csv,
        "payment_id,id_number,pay_date,amount,region_code\n\
         P-1,330102194501011234,2024-02-15,3200.00,330102\n\
         P-2,330102194501011234,2024-02-31,3200.00,330102\n",
    )
    .expect("csv");
    let (s, l, b) = (server.clone(), li.clone(), boss.clone());
    let mine_id = mine.to_string();
    let csv_path = csv.display().to_string();
    let outputs = tokio::task::spawn_blocking(move || {
        vec![
            remote(&s, &l, &["clues", "list"]),
            remote(&s, &l, &["clues", "assign", &mine_id, "--to", "li"]),
            remote(&s, &l, &["clues", "list", "--status", "assigned", "--json"]),
            remote(&s, &l, &["api", "GET", "/me"]),
            remote(&s, &l, &["data", "import", "pension_payments", &csv_path]),
            remote(&s, &b, &["data", "import", "pension_payments", &csv_path]),
            remote(&s, "svt_forged", &["clues", "list"]),
            remote(&s, &b, &["offices", "list"]),
            remote(&s, &b, &["audit", "--limit", "3"]),
        ]
    })
    .await
    .expect("cli");
    serving.abort();
    let [
        list,
        assign,
        assigned,
        me,
        li_import,
        import,
        forged,
        offices,
        audit,
    ] = <[(i32, String, String); 9]>::try_from(outputs).expect("nine");
    assert_eq!(list.0, 0, "{list:?}");
    assert!(list.1.contains("pension after death"), "{}", list.1);
    assert!(
        !list.1.contains("another county"),
        "li sees only 330102: {}",
        list.1
    );
    assert!(list.1.contains("1 of 1 clue(s)"), "{}", list.1);
    assert_eq!(assign.0, 0, "{assign:?}");
    assert!(
        assign.1.contains("assigned 1 clue(s); now assigned"),
        "{}",
        assign.1
    );
    let v: serde_json::Value = serde_json::from_str(&assigned.1).expect("json");
    assert_eq!(
        (v["total"].as_i64(), v["clues"][0]["assignee"].as_str()),
        (Some(1), Some("li"))
    );
    assert!(me.1.contains("\"username\": \"li\""), "{}", me.1);
    assert_eq!(li_import.0, 2);
    assert!(
        li_import.2.contains("the server answered 403"),
        "{}",
        li_import.2
    );
    assert_eq!(import.0, 2, "{import:?}");
    assert!(
        import
            .2
            .contains("the server answered 422: payments.csv: 1 problem(s), nothing imported")
            && import
                .2
                .contains("line 3, column `pay_date`, value `2024-02-31`"),
        "the validation report comes back by line: {}",
        import.2
    );
    assert_eq!(forged.0, 2);
    assert!(forged.2.contains("the server answered 401"), "{}", forged.2);
    assert_eq!(offices.0, 2);
    assert!(offices.2.contains("supervise api"), "{}", offices.2);
    assert_eq!(audit.0, 0, "{audit:?}");
    assert!(audit.1.contains("clue.assign"), "{}", audit.1);
}
both!(the_command_line_acts_through_a_remote_server);
