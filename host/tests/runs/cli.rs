//! The command line over a real store: `run --wait`, `runs`, `runs show`, `runs replay`,
//! bad input, and `serve` answering `/metrics` over HTTP until SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

use crate::setup::*;
use crate::support::*;

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
async fn run_runs_show_and_replay_from_the_command_line() {
    let db = sqlite().await;
    pension_for_the_city(&db).await;

    let (code, out, err) = supervise(
        &db,
        &[
            "--office",
            "330102",
            "run",
            "pension-after-death",
            "--region",
            "330102",
            "--wait",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("succeeded") && out.contains("330102"), "{out}");
    let (code, out, err) = supervise(
        &db,
        &[
            "--office",
            "330000",
            "run",
            "pension-after-death",
            "--region",
            "330100",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("queued 2 run(s)"), "{out}");
    let (code, out, _) = supervise(&db, &["runs", "--status", "queued"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 2, "{out}");
    let (code, out, _) = supervise(&db, &["runs", "show", "1"]);
    assert_eq!(code, 0);
    for want in [
        "pension-after-death@1.0.0",
        "rows read   pension_payments",
        "fuel",
        "peak memory",
        "clues       emitted 1  new 1",
    ] {
        assert!(out.contains(want), "missing `{want}` in:\n{out}");
    }
    let (code, out, _) = supervise(&db, &["runs", "show", "1", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["status"], "succeeded");
    let (code, out, err) = supervise(&db, &["--office", "330000", "runs", "replay", "1"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("the clues are identical"), "{out}");
    let (code, _, err) = supervise(&db, &["runs", "--status", "done"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown run status `done`") && err.contains("succeeded"),
        "{err}"
    );
    let (code, _, err) = supervise(&db, &["run", "pension-after-death", "--region", "330102"]);
    assert_eq!(code, 2);
    assert!(err.contains("--office"), "{err}");
    let (code, _, err) = supervise(&db, &["runs", "show", "999"]);
    assert_eq!(code, 2);
    assert!(err.contains("run 999 not found"), "{err}");
    let (code, out, _) = supervise(
        &db,
        &[
            "--office",
            "330000",
            "runs",
            "cancel",
            "2",
            "--reason",
            "not needed",
        ],
    );
    assert_eq!(code, 0);
    assert!(out.contains("run 2 cancelled"), "{out}");
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_queued_runs_and_answers_metrics() {
    let db = sqlite().await;
    pension_for_the_city(&db).await;
    let (code, _, err) = supervise(
        &db,
        &[
            "--office",
            "330000",
            "run",
            "pension-after-death",
            "--region",
            "330100",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_supervise"))
        .arg("--home")
        .arg(db.dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("banner");
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap_or_else(|| panic!("no address in `{first}`"))
        .to_string();
    let start = std::time::Instant::now();
    loop {
        let n = scalar(&db, "SELECT COUNT(*) FROM runs WHERE status = 'succeeded'").await;
        if n == 2 {
            break;
        }
        assert!(
            start.elapsed().as_secs() < 60,
            "serve did not run the queued runs"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mut conn = std::net::TcpStream::connect(&addr).expect("connect");
    write!(
        conn,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut resp = String::new();
    conn.read_to_string(&mut resp).expect("response");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(
        resp.contains("supervise_runs_total{outcome=\"succeeded\"} 2"),
        "{resp}"
    );
    assert!(
        resp.contains("supervise_queue_depth{status=\"queued\"} 0"),
        "{resp}"
    );
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("rest");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}");
    assert!(rest.contains("stopped after 2 run(s)"), "{rest}");
    db.cleanup().await;
}
