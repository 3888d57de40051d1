//! Review, enablement, upgrade, rollback, disable, deprecate; the fail-closed load; the audit
//! trail of it all.

use supervise::registry::enable::{self, EnableRequest};
use supervise::registry::publish::Published;
use supervise::registry::review;
use supervise::registry::{RegistryError, VersionRef, load};
use supervise::runtime::bindings::ColumnType;
use supervise::store::Dialect;
use supervise_test_guests as guests;

use crate::support::*;
use crate::world::*;

fn vref(s: &str) -> VersionRef {
    s.parse().expect("model@version")
}

fn request(version: &str) -> EnableRequest {
    EnableRequest {
        version: vref(version),
        regions: vec!["330102".into(), "330103".into()],
        params: vec![("threshold".into(), "2500".into())],
        schedule: Some("0 2 * * *".into()),
        scope: None,
        reason: "province-wide pilot".into(),
    }
}

async fn review_enable_upgrade_rollback(db: &TestDb) {
    let w = world(db).await;
    for g in [guests::TEST_VERSIONED_100, guests::TEST_VERSIONED_110] {
        publish_with(db, &w.author_key, &author(), &guests::bytes(g))
            .await
            .expect("publish");
    }

    // The review sheet shows what changed in the data scope since the previous version.
    let sheet = review::review(&db.store, &vref("test-versioned@1.1.0"))
        .await
        .expect("review");
    assert_eq!(sheet.previous.as_deref(), Some("1.0.0"));
    assert_eq!(sheet.scope_added, ["pension_payments.pay_date (date)"]);
    assert!(sheet.scope_removed.is_empty());
    assert_eq!(sheet.version.office, "330102");

    // Only a provincial office decides, never on its own model, always with a reason.
    let err = review::decide(
        &db.store,
        &author(),
        &vref("test-versioned@1.0.0"),
        true,
        "fine",
    )
    .await
    .expect_err("county");
    assert!(matches!(err, RegistryError::Forbidden(_)), "{err}");
    let err = review::decide(
        &db.store,
        &admin(),
        &vref("test-versioned@1.0.0"),
        true,
        " ",
    )
    .await
    .expect_err("no reason");
    assert!(err.to_string().contains("reason"), "{err}");
    let err = enable::enable(&db.store, &admin(), &request("test-versioned@1.0.0"))
        .await
        .expect_err("not approved");
    assert!(
        err.to_string()
            .contains("is submitted; only approved versions can run"),
        "{err}"
    );
    for v in ["test-versioned@1.0.0", "test-versioned@1.1.0"] {
        review::decide(
            &db.store,
            &admin(),
            &vref(v),
            true,
            "scope and rule checked",
        )
        .await
        .expect("approve");
    }
    let err = review::decide(
        &db.store,
        &admin(),
        &vref("test-versioned@1.0.0"),
        false,
        "again",
    )
    .await
    .expect_err("decided");
    assert!(err.to_string().contains("not awaiting review"), "{err}");

    // Enabling checks the data exists with the right types, naming what is missing.
    let err = enable::enable(&db.store, &admin(), &request("test-versioned@1.0.0"))
        .await
        .expect_err("no data");
    assert!(
        err.to_string()
            .contains("dataset `pension_payments` is not defined"),
        "{err}"
    );
    define(db, "pension_payments").await;

    for (change, expect) in [
        (
            EnableRequest {
                params: vec![("threshold".into(), "lots".into())],
                ..request("test-versioned@1.0.0")
            },
            "parameter `threshold`: `lots` is not an integer",
        ),
        (
            EnableRequest {
                params: vec![("limit".into(), "1".into())],
                ..request("test-versioned@1.0.0")
            },
            "has no parameter `limit`",
        ),
        (
            EnableRequest {
                schedule: Some("every night".into()),
                ..request("test-versioned@1.0.0")
            },
            "is not a cron expression",
        ),
        (
            EnableRequest {
                regions: vec!["330100".into(), "330102".into()],
                ..request("test-versioned@1.0.0")
            },
            "330102 lies under 330100",
        ),
        (
            EnableRequest {
                regions: vec!["339900".into()],
                ..request("test-versioned@1.0.0")
            },
            "region 339900 not found",
        ),
        (
            EnableRequest {
                scope: Some(vec!["death_registrations.id_number".into()]),
                ..request("test-versioned@1.0.0")
            },
            "is not something the model requested",
        ),
    ] {
        let err = enable::enable(&db.store, &admin(), &change)
            .await
            .expect_err(expect);
        assert!(err.to_string().contains(expect), "{expect}: {err}");
    }

    // A narrower approved scope is what the host enforces.
    let narrow = EnableRequest {
        scope: Some(vec!["pension_payments.payment_id".into()]),
        ..request("test-versioned@1.0.0")
    };
    let narrow_id = enable::enable(&db.store, &admin(), &narrow)
        .await
        .expect("narrow");
    let e = enable::get(&db.store, narrow_id).await.expect("get");
    let v = review::get(&db.store, &vref("test-versioned@1.0.0"))
        .await
        .expect("version");
    let scope = e.runtime_scope(&v.manifest);
    assert_eq!(
        scope.check("pension_payments", "payment_id"),
        Ok(ColumnType::Text)
    );
    assert!(scope.check("pension_payments", "amount").is_err());

    let id = enable::enable(&db.store, &admin(), &request("test-versioned@1.0.0"))
        .await
        .expect("enable");
    enable::upgrade(&db.store, &admin(), id, "1.1.0", "adds the pay date")
        .await
        .expect("upgrade");
    assert_eq!(
        enable::get(&db.store, id).await.expect("get").version,
        "1.1.0"
    );
    let err = enable::upgrade(&db.store, &admin(), id, "1.1.0", "again")
        .await
        .expect_err("same");
    assert!(err.to_string().contains("already runs"), "{err}");
    enable::rollback(&db.store, &admin(), id, "1.1.0 misfires")
        .await
        .expect("rollback");
    assert_eq!(
        enable::get(&db.store, id).await.expect("get").version,
        "1.0.0"
    );
    let err = enable::rollback(&db.store, &admin(), narrow_id, "nothing before")
        .await
        .expect_err("no history");
    assert!(err.to_string().contains("nothing to roll back to"), "{err}");

    // Deprecation is refused while enabled, then blocks enabling.
    let err = review::deprecate(&db.store, &admin(), &vref("test-versioned@1.0.0"), "old")
        .await
        .expect_err("in use");
    assert!(
        err.to_string().contains("upgrade or disable them first"),
        "{err}"
    );
    enable::disable(&db.store, &admin(), id, "pilot over")
        .await
        .expect("disable");
    enable::disable(&db.store, &admin(), narrow_id, "pilot over")
        .await
        .expect("disable");
    review::deprecate(
        &db.store,
        &admin(),
        &vref("test-versioned@1.0.0"),
        "superseded by 1.1.0",
    )
    .await
    .expect("deprecate");
    let err = enable::enable(&db.store, &admin(), &request("test-versioned@1.0.0"))
        .await
        .expect_err("deprecated");
    assert!(err.to_string().contains("is deprecated"), "{err}");

    // Every action is in the audit log, with who and why.
    use sqlx::Row;
    let actions: Vec<String> = sqlx::query("SELECT action FROM audit_log ORDER BY id")
        .fetch_all(db.store.pool())
        .await
        .expect("audit")
        .iter()
        .map(|r| r.try_get(0).expect("action"))
        .collect();
    for want in [
        "office.add",
        "key.register",
        "model.publish",
        "model.approve",
        "enablement.enable",
        "enablement.upgrade",
        "enablement.rollback",
        "enablement.disable",
        "model.deprecate",
    ] {
        assert!(
            actions.iter().any(|a| a == want),
            "{want} missing from {actions:?}"
        );
    }
    let why: String =
        sqlx::query("SELECT detail_json FROM audit_log WHERE action = 'enablement.rollback'")
            .fetch_one(db.store.pool())
            .await
            .expect("rollback event")
            .try_get(0)
            .expect("detail");
    assert!(why.contains("1.1.0 misfires"), "{why}");
}
both!(review_enable_upgrade_rollback);

async fn self_approval_is_refused(db: &TestDb) {
    let w = world(db).await;
    publish_with(
        db,
        &w.province_key,
        &admin(),
        &guests::bytes(guests::TEST_VERSIONED_100),
    )
    .await
    .expect("publish");
    let err = review::decide(
        &db.store,
        &admin(),
        &vref("test-versioned@1.0.0"),
        true,
        "mine",
    )
    .await
    .expect_err("own model");
    assert!(
        err.to_string().contains("cannot review its own model"),
        "{err}"
    );
}
both!(self_approval_is_refused);

/// Sets `column` of every stored version to `value`.
async fn set_version(db: &TestDb, column: &str, value: &str) {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE model_versions SET {column} = $1"
    )))
    .bind(value)
    .execute(db.store.pool())
    .await
    .expect("update the version");
}

/// Sets `column` of the stored version to `value`, then checks that loading version `id`
/// is refused for `why`.
async fn refused_with(db: &TestDb, id: i64, column: &str, value: &str, why: &str) {
    set_version(db, column, value).await;
    let err = load::load_verified(&db.store, runtime(), id)
        .await
        .expect_err("refused");
    assert!(matches!(err, RegistryError::Tampered { .. }), "{err}");
    assert!(err.to_string().contains(why), "{err}");
}

/// Stores `bytes` as the component, then checks that loading version `id` is refused as
/// tampered; the refusal's message.
async fn refused_with_bytes(db: &TestDb, id: i64, bytes: &[u8]) -> String {
    set_bytes(db, bytes).await;
    let err = load::load_verified(&db.store, runtime(), id)
        .await
        .expect_err("refused");
    assert!(matches!(err, RegistryError::Tampered { .. }), "{err}");
    err.to_string()
}

async fn a_tampered_stored_component_is_refused(db: &TestDb) {
    let w = world(db).await;
    let bytes = guests::bytes(guests::PENSION_AFTER_DEATH);
    let Published::Submitted { id, .. } = publish_with(db, &w.author_key, &author(), &bytes)
        .await
        .expect("publish")
    else {
        panic!("new version expected");
    };
    let (record, model) = load::load_verified(&db.store, runtime(), id)
        .await
        .expect("verified load");
    assert_eq!(record.sha256, model.sha256);

    let altered = guests::variant(&bytes, "implant");
    let err = refused_with_bytes(db, id, &altered).await;
    assert!(
        err.contains(
            "refusing to load pension-after-death@1.0.0: the stored component's sha256 is"
        ),
        "{err}"
    );
    set_bytes(db, &bytes).await;
    let signature: String = sqlx::query_scalar("SELECT signature FROM model_versions")
        .fetch_one(db.store.pool())
        .await
        .expect("signature");
    let forged = "00".repeat(64);
    refused_with(
        db,
        id,
        "signature",
        &forged,
        "the signature no longer verifies",
    )
    .await;

    // A run fixes its snapshot from the datasets the record names while the component is
    // verified: a record naming others than the component is refused too.
    set_version(db, "signature", &signature).await;
    let json: String = sqlx::query_scalar("SELECT manifest_json FROM model_versions")
        .fetch_one(db.store.pool())
        .await
        .expect("manifest");
    let renamed = json.replace("\"pension_payments\"", "\"other_payments\"");
    assert_ne!(renamed, json, "the manifest names pension_payments");
    let why = "its recorded manifest names other datasets than the component declares";
    refused_with(db, id, "manifest_json", &renamed, why).await;

    // Restored, it loads again, as often as asked (the unchanged bytes, signature and key
    // are not verified again); a change after that is found as before.
    set_version(db, "manifest_json", &json).await;
    for _ in 0..2 {
        let (_, again) = load::load_verified(&db.store, runtime(), id)
            .await
            .expect("verified load");
        assert_eq!(again.sha256, record.sha256);
    }
    let err = refused_with_bytes(db, id, &altered).await;
    assert!(err.contains("the stored component's sha256 is"), "{err}");
}
both!(a_tampered_stored_component_is_refused);

/// The store's count of changes to what a component's check reads.
async fn component_changes(db: &TestDb) -> i64 {
    scalar(db, "SELECT n FROM component_changes").await
}

/// Runs `sql`, and checks that the count of component changes moved (`moves`) or not.
async fn changes_with(db: &TestDb, sql: &str, moves: bool) {
    let before = component_changes(db).await;
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(db.store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let after = component_changes(db).await;
    assert_eq!(after > before, moves, "{sql}: {before} then {after}");
    assert!(after >= before, "{sql}: {before} then {after}");
}

/// Checks that `sql` is refused and leaves the count of component changes where it was.
async fn refused_on_the_count(db: &TestDb, sql: &str) {
    let before = component_changes(db).await;
    let err = sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(db.store.pool())
        .await
        .expect_err(sql);
    assert!(
        err.to_string().contains("component_changes"),
        "{sql}: {err}"
    );
    assert_eq!(component_changes(db).await, before, "{sql}");
}

/// A worker skips reading a component again while the store's count of changes to its
/// inputs has not moved (`load::CHANGES`): every change to bytes, hash, signature or key
/// moves it, a review does not, and it cannot be set back, reset or removed.
async fn the_component_change_count_moves_with_every_input_and_only_goes_up(db: &TestDb) {
    let w = world(db).await;
    let start = component_changes(db).await;
    publish_with(
        db,
        &w.author_key,
        &author(),
        &guests::bytes(guests::PENSION_AFTER_DEATH),
    )
    .await
    .expect("publish");
    assert!(component_changes(db).await > start, "a publish moves it");

    for sql in [
        "UPDATE blobs SET bytes = bytes",
        "UPDATE blobs SET stored_at_ms = stored_at_ms + 1",
        "UPDATE model_versions SET signature = signature",
        "UPDATE model_versions SET key_fingerprint = key_fingerprint",
        "UPDATE model_versions SET sha256 = sha256",
        "UPDATE office_keys SET public_key = public_key",
    ] {
        changes_with(db, sql, true).await;
    }
    for sql in [
        "UPDATE model_versions SET status = status, review_reason = 'read again'",
        "UPDATE office_keys SET status = status",
    ] {
        changes_with(db, sql, false).await;
    }

    let mut refused = vec![
        "UPDATE component_changes SET n = 0",
        "UPDATE component_changes SET n = n",
        "UPDATE component_changes SET id = 2, n = n + 1",
        "DELETE FROM component_changes",
        "INSERT INTO component_changes (id, n) VALUES (2, 1000000)",
    ];
    refused.push(match db.store.dialect() {
        Dialect::Sqlite => "INSERT OR REPLACE INTO component_changes (id, n) VALUES (1, 0)",
        Dialect::Postgres => "TRUNCATE component_changes",
    });
    for sql in refused {
        refused_on_the_count(db, sql).await;
    }
}
both!(the_component_change_count_moves_with_every_input_and_only_goes_up);
