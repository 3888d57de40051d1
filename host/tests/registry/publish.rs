//! Publishing: accepted when signed by a registered, active key; every rejection has its
//! reason and writes nothing.

use supervise::registry::publish::{self, Published, Submission};
use supervise::registry::{RegistryError, keys};
use supervise::runtime::RuntimeError;
use supervise_test_guests as guests;

use crate::support::*;
use crate::world::*;

async fn publishes_and_rejects_with_reasons(db: &TestDb) {
    let w = world(db).await;
    let pension = guests::bytes(guests::PENSION_AFTER_DEATH);
    let first = publish_with(db, &w.author_key, &author(), &pension)
        .await
        .expect("publish");
    assert!(
        matches!(first, Published::Submitted { ref version, .. } if version == "pension-after-death@1.0.0"),
        "{first:?}"
    );
    let again = publish_with(db, &w.author_key, &author(), &pension)
        .await
        .expect("same bytes");
    assert!(
        matches!(again, Published::Unchanged { .. }),
        "identical bytes are a no-op"
    );

    // Tampered: signed, then altered.
    let mut altered = pension.clone();
    let signature = keys::sign(&w.author_key, &pension);
    let last = altered.len() - 1;
    altered[last] ^= 1;
    let sub = Submission {
        bytes: &altered,
        signature,
        public_key: w.author_key.verifying_key(),
    };
    let err = publish::publish(&db.store, runtime(), &author(), &sub)
        .await
        .expect_err("tampered");
    assert!(
        matches!(err, RegistryError::Signature(ref m) if m.contains("does not match its signature")),
        "{err}"
    );

    // Unknown key.
    keys::generate(&db.dir.path().join("stranger.key")).expect("key");
    let stranger = keys::read_signing_key(&db.dir.path().join("stranger.key")).expect("read");
    let err = publish_with(db, &stranger, &author(), &pension)
        .await
        .expect_err("unknown key");
    assert!(err.to_string().contains("is not registered"), "{err}");

    // Different bytes under an existing version.
    let other_bytes = guests::variant(&pension, "rebuild");
    let err = publish_with(db, &w.author_key, &author(), &other_bytes)
        .await
        .expect_err("same version");
    assert!(
        err.to_string()
            .contains("already published with different bytes; bump the version"),
        "{err}"
    );

    // Another office signing a model whose manifest names 330102 as author.
    let err = publish_with(db, &w.other_key, &other_county(), &pension)
        .await
        .expect_err("not the author");
    assert!(
        err.to_string()
            .contains("names author office `330102` but the key belongs to office `330103`"),
        "{err}"
    );

    // Malformed manifest, wrong contract version, not a component.
    let err = publish_with(
        db,
        &w.author_key,
        &author(),
        &guests::bytes(guests::TEST_BAD_MANIFEST),
    )
    .await
    .expect_err("manifest");
    assert!(
        matches!(err, RegistryError::Component(RuntimeError::Manifest(ref m)) if m.contains("id `Bad Model!`")),
        "{err}"
    );
    let err = publish_with(
        db,
        &w.author_key,
        &author(),
        &guests::bytes(guests::TEST_WIT_FUTURE),
    )
    .await
    .expect_err("wit");
    assert!(err.to_string().contains("supervise:model@0.2.0"), "{err}");
    let err = publish_with(db, &w.author_key, &author(), b"\0asm\x01\0\0\0")
        .await
        .expect_err("core module");
    assert!(err.to_string().contains("not a component"), "{err}");

    // Versions only go up; a model id belongs to the office that first published it.
    publish_with(
        db,
        &w.author_key,
        &author(),
        &guests::bytes(guests::TEST_VERSIONED_110),
    )
    .await
    .expect("1.1.0");
    let err = publish_with(
        db,
        &w.author_key,
        &author(),
        &guests::bytes(guests::TEST_VERSIONED_090),
    )
    .await
    .expect_err("lower");
    assert!(
        err.to_string().contains(
            "version 0.9.0 of `test-versioned` is lower than the latest published, 1.1.0"
        ),
        "{err}"
    );
    let err = publish_with(
        db,
        &w.other_key,
        &other_county(),
        &guests::bytes(guests::TEST_VERSIONED_100),
    )
    .await
    .expect_err("owned");
    assert!(
        err.to_string().contains("belongs to office `330102`"),
        "{err}"
    );

    // A revoked key publishes nothing more; what it signed before still loads.
    let fp = keys::fingerprint(&w.author_key.verifying_key());
    let err = keys::revoke(&db.store, &author(), &fp, "lost laptop")
        .await
        .expect_err("only admins revoke");
    assert!(matches!(err, RegistryError::Forbidden(_)), "{err}");
    keys::revoke(&db.store, &admin(), &fp, "lost laptop")
        .await
        .expect("revoke");
    let err = publish_with(
        db,
        &w.author_key,
        &author(),
        &guests::bytes(guests::TEST_VERSIONED_100),
    )
    .await
    .expect_err("revoked");
    assert!(err.to_string().contains("was revoked"), "{err}");
    let first_id = match first {
        Published::Submitted { id, .. } | Published::Unchanged { id, .. } => id,
    };
    supervise::registry::load::load_verified(&db.store, runtime(), first_id)
        .await
        .expect("earlier version still verifies");

    assert_eq!(
        count(db, "model_versions").await,
        2,
        "rejections wrote nothing"
    );
}
both!(publishes_and_rejects_with_reasons);
