//! The `supervise` binary: model inspect, test and new, and its one-line errors.

use std::path::Path;
use std::process::{Command, Output};

use supervise_test_guests as guests;

use crate::support::pension_fixtures;

fn supervise(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_supervise"))
        .args(args)
        .env("SUPERVISE_CACHE_DIR", cache)
        .output()
        .expect("run supervise")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn inspect_prints_the_manifest_as_text_and_json() {
    let cache = tempfile::tempdir().expect("tempdir");
    let out = supervise(
        &["model", "inspect", guests::PENSION_AFTER_DEATH],
        cache.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("pension-after-death 1.0.0"), "{stdout}");
    assert!(stdout.contains("grace_days") && stdout.contains("death_registrations"));

    let out = supervise(
        &["model", "inspect", "--json", guests::PENSION_AFTER_DEATH],
        cache.path(),
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["parameters"][0]["name"], "grace_days");
    assert_eq!(json["parameters"][0]["default"], "31");
    assert_eq!(json["datasets"][0]["columns"][1]["type"], "pseudonym");
}

#[test]
fn test_runs_the_model_on_fixtures_and_reports_stats() {
    let cache = tempfile::tempdir().expect("tempdir");
    let data = pension_fixtures();
    let args = [
        "model",
        "test",
        guests::PENSION_AFTER_DEATH,
        "--data",
        data.to_str().expect("utf8"),
        "--as-of",
        "2024-07-31",
        "--json",
    ];
    let out = supervise(&args, cache.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["outcome"]["status"], "succeeded");
    assert_eq!(json["clues"].as_array().map(Vec::len), Some(2));
    // The payments of the three people who died, looked up; not the living's.
    assert_eq!(json["stats"]["rows_read"]["pension_payments"], 8);

    let args = [
        "model",
        "test",
        guests::PENSION_AFTER_DEATH,
        "--data",
        data.to_str().expect("utf8"),
        "--region",
        "330102",
        "--param",
        "grace_days=0",
    ];
    let out = supervise(&args, cache.path());
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("pension paid 4 times (¥12,800.00) after death on 2024-03-02"),
        "{stdout}"
    );
    assert!(stdout.contains("outcome      succeeded"), "{stdout}");
}

#[test]
fn a_failing_model_run_exits_1_with_its_reason() {
    let cache = tempfile::tempdir().expect("tempdir");
    let data = pension_fixtures();
    let args = [
        "model",
        "test",
        guests::TEST_LOOP,
        "--data",
        data.to_str().expect("utf8"),
        "--fuel",
        "1000000",
    ];
    let out = supervise(&args, cache.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("failed: fuel budget of 1000000 units exhausted"),
        "{}",
        text(&out.stdout)
    );
}

/// Every bad input gets one line on stderr that says what is wrong, and exit code 2.
#[test]
fn bad_input_gets_a_one_line_reason_not_a_panic() {
    let cache = tempfile::tempdir().expect("tempdir");
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"this is not wasm").expect("write");
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").expect("write");
    let bad_data = dir.path().join("bad");
    std::fs::create_dir(&bad_data).expect("mkdir");
    std::fs::write(
        bad_data.join("death_registrations.csv"),
        "record_id,death_date\nD1,2024-01-01\n",
    )
    .expect("write");
    let wrong_value = dir.path().join("wrong");
    std::fs::create_dir(&wrong_value).expect("mkdir");
    for f in ["death_registrations.csv", "pension_payments.csv"] {
        std::fs::copy(pension_fixtures().join(f), wrong_value.join(f)).expect("copy");
    }
    std::fs::write(
        wrong_value.join("pension_payments.csv"),
        "payment_id,id_number,pay_date,amount\nP1,X1,2024-13-01,10\n",
    )
    .expect("write");
    let pension = guests::PENSION_AFTER_DEATH;
    let s = |p: &Path| p.to_str().expect("utf8").to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "model".into(),
                "inspect".into(),
                "/nonexistent/model.wasm".into(),
            ],
            "cannot read /nonexistent/model.wasm",
        ),
        (
            vec!["model".into(), "inspect".into(), s(&junk)],
            "not a WebAssembly component",
        ),
        (
            vec!["model".into(), "inspect".into(), s(&core)],
            "core WebAssembly module, not a component",
        ),
        (
            vec![
                "model".into(),
                "inspect".into(),
                guests::TEST_WIT_FUTURE.into(),
            ],
            "targets supervise:model@0.2.0; this host accepts supervise:model@0.1.0",
        ),
        (
            vec![
                "model".into(),
                "test".into(),
                pension.into(),
                "--data".into(),
                "/nonexistent".into(),
            ],
            "data directory /nonexistent does not exist",
        ),
        (
            vec![
                "model".into(),
                "test".into(),
                pension.into(),
                "--data".into(),
                s(&bad_data),
            ],
            "no column `id_number`",
        ),
        (
            vec![
                "model".into(),
                "test".into(),
                pension.into(),
                "--data".into(),
                s(&wrong_value),
            ],
            "pension_payments.csv line 2, column `pay_date`: `2024-13-01` is not a date",
        ),
        (
            vec![
                "model".into(),
                "test".into(),
                pension.into(),
                "--data".into(),
                s(&pension_fixtures()),
                "--param".into(),
                "grace=3".into(),
            ],
            "no such parameter (it has: grace_days, max_evidence_payments)",
        ),
        (
            vec![
                "model".into(),
                "test".into(),
                pension.into(),
                "--data".into(),
                s(&pension_fixtures()),
                "--region".into(),
                "33".into(),
            ],
            "--region: region code `33` must be 6 digits",
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = supervise(&args, cache.path());
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{args:?}: expected `{expected}` in: {stderr}"
        );
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "{args:?}: not one line: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// The author's loop: a new model from the template passes its own tests natively, builds to
/// a component, and runs in the sandbox.
#[test]
fn model_new_creates_a_crate_that_tests_builds_and_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let crate_dir = dir.path().join("late-payments");
    let cache = tempfile::tempdir().expect("tempdir");
    let out = supervise(
        &[
            "model",
            "new",
            "late-payments",
            "--dir",
            crate_dir.to_str().expect("utf8"),
        ],
        cache.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again = supervise(
        &[
            "model",
            "new",
            "late-payments",
            "--dir",
            crate_dir.to_str().expect("utf8"),
        ],
        cache.path(),
    );
    assert_eq!(again.status.code(), Some(2), "refuses to overwrite");
    // Outside the plugins/ workspace the crate brings the models' build settings along.
    let config = std::fs::read_to_string(crate_dir.join(".cargo/config.toml")).expect("config");
    assert!(config.contains("inline-threshold"), "{config}");
    assert!(config.contains("--initial-memory=1572864"), "{config}");
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).expect("manifest");
    assert!(manifest.contains("lto = true"), "{manifest}");

    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/template-test");
    let cargo = |args: &[&str]| {
        let out = Command::new(env!("CARGO"))
            .args(args)
            .current_dir(&crate_dir)
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("RUSTFLAGS")
            .output()
            .expect("cargo");
        assert!(
            out.status.success(),
            "cargo {args:?}: {}",
            text(&out.stderr)
        );
    };
    cargo(&["test", "--quiet"]);
    cargo(&["build", "--quiet", "--release", "--target", "wasm32-wasip2"]);
    let wasm = target.join("wasm32-wasip2/release/late_payments.wasm");
    let out = supervise(
        &["model", "inspect", wasm.to_str().expect("utf8")],
        cache.path(),
    );
    assert!(
        text(&out.stdout).contains("late-payments 0.1.0"),
        "{}",
        text(&out.stderr)
    );
}
