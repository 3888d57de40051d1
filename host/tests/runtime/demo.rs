//! `supervise demo`: a fresh province loaded, run and given its users in one command; a
//! second start reuses it; `supervise demo-data` refuses a scale too small to plant cases.

use std::process::Command;

fn supervise(home: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_supervise"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("SUPERVISE_DATABASE_URL")
        .output()
        .expect("run supervise");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn demo_loads_once_and_reuses() {
    let home = tempfile::tempdir().expect("home");
    let models = std::path::Path::new(supervise_test_guests::PENSION_AFTER_DEATH)
        .parent()
        .expect("models dir")
        .display()
        .to_string();
    let args = [
        "demo",
        "--scale",
        "10000",
        "--models",
        &models,
        "--no-serve",
    ];
    let (code, out, err) = supervise(home.path(), &args);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("running every model once per county (450 runs)"),
        "{out}"
    );
    assert!(out.contains("450 runs ended"), "{out}");
    for user in ["admin", "auditor", "reviewer", "hangzhou", "author"] {
        assert!(out.contains(&format!("  {user} ")), "{user} in {out}");
    }
    let clues: u64 = out
        .split(" clues in the queue")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(clues > 20, "{out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.path().join("demo.json"))
            .expect("marker")
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the passwords are readable by their owner only"
        );
    }
    let (code, again, err) = supervise(home.path(), &args);
    assert_eq!(code, 0, "{again}\n{err}");
    assert!(
        again.contains("reusing the province loaded before"),
        "{again}"
    );
    let line = |o: &str| {
        o.lines()
            .find(|l| l.contains("  admin "))
            .map(str::to_string)
    };
    assert_eq!(line(&out), line(&again), "the same users and passwords");

    let missing = ["demo", "--models", "/nonexistent", "--no-serve", "--fresh"];
    let (code, _, err) = supervise(home.path(), &missing);
    assert_eq!(code, 2);
    assert!(
        err.contains("cargo build --release --manifest-path plugins/Cargo.toml"),
        "{err}"
    );
    let small = ["demo-data", "--scale", "100", "--out", "/tmp/never"];
    let (code, _, err) = supervise(home.path(), &small);
    assert_eq!(code, 2);
    assert!(err.contains("at least 10000 residents"), "{err}");
}
