//! Dataset definitions: versioned schemas.

use supervise::datasets::catalog::{self, CatalogError, Defined};
use supervise::datasets::schema::DatasetSchema;

use crate::support::*;

async fn schema_changes_make_new_versions(db: &TestDb) {
    let text =
        std::fs::read_to_string(repo().join("schemas/pension_payments.toml")).expect("schema");
    let v1 = DatasetSchema::from_toml(&text).expect("parse");
    assert_eq!(
        catalog::define(&db.store, &v1, "admin")
            .await
            .expect("define"),
        Defined::Created(1)
    );
    assert_eq!(
        catalog::define(&db.store, &v1, "admin")
            .await
            .expect("define"),
        Defined::Unchanged(1)
    );
    let mut v2 = v1.clone();
    v2.description = "Monthly pension payments, with channel".into();
    assert_eq!(
        catalog::define(&db.store, &v2, "admin")
            .await
            .expect("define"),
        Defined::NewVersion(2)
    );

    let (version, current) = catalog::schema(&db.store, "pension_payments", None)
        .await
        .expect("current");
    assert_eq!((version, current), (2, v2));
    let (_, old) = catalog::schema(&db.store, "pension_payments", Some(1))
        .await
        .expect("v1");
    assert_eq!(old, v1);
    let err = catalog::schema(&db.store, "pension_payments", Some(9))
        .await
        .expect_err("no v9");
    assert!(
        matches!(err, CatalogError::UnknownVersion { latest: 2, .. }),
        "{err}"
    );
    let err = catalog::schema(&db.store, "nope", None)
        .await
        .expect_err("unknown");
    assert!(err.to_string().contains("supervise data define"), "{err}");
    assert_eq!(
        count(db, "audit_log").await,
        2,
        "create and new version are audited"
    );
}
both!(schema_changes_make_new_versions);
