//! `supervise clues …`, `supervise suggestions …` and `supervise audit verify` over a real store.

use std::process::{Command, Stdio};

use crate::helpers::reported;
use crate::support::*;
use crate::world::world;

fn supervise(db: &TestDb, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_supervise"))
        .arg("--home")
        .arg(db.dir.path())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run supervise");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triage_from_the_command_line() {
    let db = sqlite().await;
    world(&db).await;
    let a = reported(&db, "330102", 0.9, "pension paid after death")
        .await
        .to_string();
    let b = reported(&db, "330102", 0.4, "second").await.to_string();
    let c = |args: &[&str]| {
        let mut v = vec!["--office", "330102", "--as", "li"];
        v.extend_from_slice(args);
        supervise(&db, &v)
    };
    let (code, out, err) = c(&["clues", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 of 2 clue(s)"), "{out}");
    let (code, out, err) = c(&["clues", "assign", &a, &b, "--to", "li"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("assigned 2 clue(s); now assigned"), "{out}");
    let (code, _, err) = c(&["clues", "confirm", &a]);
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot confirm a clue that is assigned (it can: assign, verify, dismiss)"),
        "{err}"
    );
    let (code, _, err) = c(&["clues", "dismiss", &b, "--reason", "bored"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown dismissal reason `bored`"), "{err}");
    assert_eq!(c(&["clues", "dismiss", &b, "--reason", "duplicate"]).0, 0);
    assert_eq!(c(&["clues", "verify", &a]).0, 0);
    assert_eq!(
        c(&[
            "clues",
            "confirm",
            &a,
            "--note",
            "checked with civil affairs"
        ])
        .0,
        0
    );
    assert_eq!(c(&["clues", "comment", &a, "--text", "urgent"]).0, 0);
    let (code, out, err) = c(&[
        "suggestions",
        "issue",
        "--agency",
        "social security bureau",
        "--title",
        "stop payments",
        &a,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("issued suggestion 1"), "{out}");
    let (code, out, _) = c(&["clues", "show", &a]);
    assert_eq!(code, 0);
    for want in [
        "suggestion_issued",
        "clue.confirm",
        "comment",
        "urgent",
        "next      (closed)",
    ] {
        assert!(out.contains(want), "missing `{want}`:\n{out}");
    }
    let csv = db.dir.path().join("out.csv");
    let (code, out, err) = c(&[
        "clues",
        "export",
        "--status",
        "dismissed",
        "--out",
        csv.to_str().expect("path"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("wrote 1 clue(s)"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&csv).expect("csv").lines().count(),
        2
    );
    let (code, out, _) = c(&["clues", "stats", "--level", "province"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("(reported)") && out.contains("grid_member"),
        "{out}"
    );
    let (code, out, _) = supervise(&db, &["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("the audit chain is intact"), "{out}");
    sqlx::query("UPDATE audit_log SET actor = 'someone else' WHERE seq = 2")
        .execute(db.store.pool())
        .await
        .expect("tamper");
    let (code, out, _) = supervise(&db, &["audit", "verify"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("event 2") && out.contains("was altered"),
        "{out}"
    );
    let (code, _, err) = supervise(&db, &["--office", "330103", "clues", "show", &a]);
    assert_eq!(code, 2);
    assert!(err.contains(&format!("clue {a} not found")), "{err}");
    db.cleanup().await;
}
