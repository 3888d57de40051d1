//! The whole registry lifecycle from the command line, against a local SQLite store.

use std::path::Path;
use std::process::Command;

use supervise_test_guests as guests;

struct Cli<'a> {
    home: &'a Path,
}

impl Cli<'_> {
    fn run(&self, office: &str, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_supervise"))
            .args(args)
            .env("SUPERVISE_HOME", self.home)
            .env("SUPERVISE_OFFICE", office)
            .env("SUPERVISE_ACTOR", format!("user@{office}"))
            .env_remove("SUPERVISE_DATABASE_URL")
            .output()
            .expect("run supervise");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    }

    fn ok(&self, office: &str, args: &[&str]) -> String {
        let (ok, stdout, stderr) = self.run(office, args);
        assert!(ok, "{args:?} failed: {stderr}");
        stdout
    }

    fn fails(&self, office: &str, args: &[&str]) -> String {
        let (ok, _, stderr) = self.run(office, args);
        assert!(!ok, "{args:?} should fail");
        stderr
    }
}

#[test]
fn publish_review_enable_upgrade_rollback_from_the_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = Cli { home: dir.path() };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let s = |p: &Path| p.to_str().expect("utf8").to_string();
    cli.ok("", &["regions", "load", &s(&repo.join("demo/regions.csv"))]);
    cli.ok(
        "",
        &[
            "offices",
            "add",
            "330000",
            "--region",
            "330000",
            "--name",
            "Provincial procuratorate",
        ],
    );
    cli.ok(
        "330000",
        &[
            "offices",
            "add",
            "330102",
            "--region",
            "330102",
            "--name",
            "Shangcheng procuratorate",
        ],
    );
    for dataset in ["death_registrations", "pension_payments"] {
        cli.ok(
            "330000",
            &[
                "data",
                "define",
                &s(&repo.join(format!("schemas/{dataset}.toml"))),
            ],
        );
    }

    let key = dir.path().join("shangcheng.key");
    let out = cli.ok("330102", &["keys", "new", &s(&key)]);
    assert!(out.contains("fingerprint"), "{out}");
    let err = cli.fails(
        "330102",
        &["keys", "register", "330102", &s(&key.with_extension("pub"))],
    );
    assert!(err.contains("only provincial admins"), "{err}");
    cli.ok(
        "330000",
        &["keys", "register", "330102", &s(&key.with_extension("pub"))],
    );

    for g in [guests::TEST_VERSIONED_100, guests::TEST_VERSIONED_110] {
        let out = cli.ok("330102", &["model", "publish", g, "--key", &s(&key)]);
        assert!(out.contains("submitted test-versioned@"), "{out}");
    }
    let out = cli.ok(
        "330102",
        &[
            "model",
            "publish",
            guests::TEST_VERSIONED_100,
            "--key",
            &s(&key),
        ],
    );
    assert!(out.contains("nothing changed"), "{out}");

    let sheet = cli.ok("330000", &["model", "review", "test-versioned@1.1.0"]);
    assert!(
        sheet.contains("+ pension_payments.pay_date (date)"),
        "{sheet}"
    );
    assert!(sheet.contains("signed by office 330102"), "{sheet}");
    let err = cli.fails(
        "330102",
        &[
            "model",
            "approve",
            "test-versioned@1.0.0",
            "--reason",
            "mine",
        ],
    );
    assert!(err.contains("not a provincial office"), "{err}");
    for v in ["test-versioned@1.0.0", "test-versioned@1.1.0"] {
        cli.ok("330000", &["model", "approve", v, "--reason", "checked"]);
    }
    let out = cli.ok(
        "330000",
        &[
            "model",
            "enable",
            "test-versioned@1.0.0",
            "--region",
            "330102,330103",
            "--param",
            "threshold=2500",
            "--schedule",
            "0 2 * * *",
            "--reason",
            "pilot",
        ],
    );
    assert!(out.contains("as enablement 1"), "{out}");
    let err = cli.fails(
        "330000",
        &[
            "model",
            "enable",
            "test-versioned@1.0.0",
            "--region",
            "330102",
            "--param",
            "threshold=many",
            "--reason",
            "x",
        ],
    );
    assert!(err.contains("`many` is not an integer"), "{err}");
    cli.ok(
        "330000",
        &[
            "model",
            "upgrade",
            "1",
            "--to",
            "1.1.0",
            "--reason",
            "adds pay date",
        ],
    );
    let out = cli.ok(
        "330000",
        &["model", "rollback", "1", "--reason", "misfires"],
    );
    assert!(out.contains("rolled back to test-versioned@1.0.0"), "{out}");
    let list = cli.ok("330000", &["model", "enablements"]);
    assert!(
        list.contains("test-versioned@1.0.0") && list.contains("threshold=2500"),
        "{list}"
    );
    cli.ok(
        "330000",
        &["model", "disable", "1", "--reason", "pilot over"],
    );
    cli.ok(
        "330000",
        &[
            "model",
            "deprecate",
            "test-versioned@1.0.0",
            "--reason",
            "superseded",
        ],
    );

    let fp = cli.ok("330000", &["keys", "list"]);
    let fp = fp
        .split_whitespace()
        .next()
        .expect("fingerprint")
        .to_string();
    cli.ok("330000", &["keys", "revoke", &fp, "--reason", "rotated"]);
    let err = cli.fails(
        "330102",
        &[
            "model",
            "publish",
            guests::PENSION_AFTER_DEATH,
            "--key",
            &s(&key),
        ],
    );
    assert!(err.contains("was revoked"), "{err}");

    let audit = cli.ok("330000", &["audit", "--limit", "100"]);
    for action in [
        "key.register",
        "model.publish",
        "model.approve",
        "enablement.enable",
        "enablement.upgrade",
        "enablement.rollback",
        "enablement.disable",
        "model.deprecate",
        "key.revoke",
    ] {
        assert!(audit.contains(action), "{action} not in audit:\n{audit}");
    }
    let rollback = cli.ok("330000", &["audit", "--subject", "enablement 1", "--json"]);
    let events: serde_json::Value = serde_json::from_str(&rollback).expect("json");
    assert!(
        events.as_array().is_some_and(|e| e
            .iter()
            .any(|x| x["detail"]["reason"] == "misfires" && x["actor"] == "user@330000")),
        "{rollback}"
    );
}
