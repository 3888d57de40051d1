//! A fresh database per test (a SQLite file, or a new PostgreSQL database), test regions and
//! schemas, and the macro that runs a test body on both.

use std::path::{Path, PathBuf};

use sqlx::Connection;
use supervise::datasets::catalog;
use supervise::datasets::pseudonym::Pseudonymizer;
use supervise::datasets::regions;
use supervise::datasets::schema::DatasetSchema;
use supervise::store::Store;

/// A database for one test.
pub struct TestDb {
    pub store: Store,
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>,
    url: String,
}

impl TestDb {
    /// Drops the PostgreSQL database, if any.
    pub async fn cleanup(self) {
        self.store.pool().close().await;
        if let Some((admin, name)) = self.pg
            && let Ok(mut c) = sqlx::AnyConnection::connect(&admin).await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut c)
            .await;
        }
    }
}

impl TestDb {
    /// A test database over a store already open at `url` (dropped with its server).
    #[allow(dead_code)]
    pub fn wrap(store: Store, url: &str) -> TestDb {
        TestDb {
            store,
            dir: tempfile::tempdir().expect("tempdir"),
            pg: None,
            url: url.to_string(),
        }
    }

    /// The URL the store was opened with: how another process, or this one restarted,
    /// reaches the same database.
    #[allow(dead_code)]
    pub fn url(&self) -> &str {
        &self.url
    }
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = Store::default_url(dir.path());
    let store = Store::open(&url).await.expect("open sqlite");
    TestDb {
        store,
        dir,
        pg: None,
        url,
    }
}

pub async fn postgres() -> Option<TestDb> {
    let admin = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))?;
    sqlx::any::install_default_drivers();
    let name = format!("supervise_t_{}_{}", std::process::id(), rand_suffix());
    let mut c = sqlx::AnyConnection::connect(&admin)
        .await
        .expect("connect DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut c)
        .await
        .expect("create database");
    let (base, query) = admin
        .split_once('?')
        .map_or((admin.as_str(), ""), |(b, q)| (b, q));
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    let url = if query.is_empty() {
        format!("{base}/{name}")
    } else {
        format!("{base}/{name}?{query}")
    };
    let store = Store::open(&url).await.expect("open postgres");
    Some(TestDb {
        store,
        dir: tempfile::tempdir().expect("tempdir"),
        pg: Some((admin, name)),
        url,
    })
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// Runs `async fn $name(db: &TestDb)` on SQLite and on PostgreSQL.
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = crate::support::sqlite().await;
                super::$name(&db).await;
                db.cleanup().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) = crate::support::postgres().await else {
                    eprintln!("skipped: DATABASE_URL does not name a PostgreSQL database");
                    return;
                };
                super::$name(&db).await;
                db.cleanup().await;
            }
        }
    };
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn key() -> Pseudonymizer {
    Pseudonymizer::new(supervise::datasets::pseudonym::FIXTURE_KEY)
}

/// Writes `text` to `name` in the test's directory.
pub fn file(db: &TestDb, name: &str, text: &str) -> PathBuf {
    let p = db.dir.path().join(name);
    std::fs::write(&p, text).expect("write test file");
    p
}

/// Loads a province with two cities and three counties.
pub async fn load_regions(db: &TestDb) {
    let csv = "code,name\n330000,Zhejiang\n330100,Hangzhou\n330200,Ningbo\n330102,Shangcheng\n330103,Xiacheng\n330203,Haishu\n";
    regions::load_csv(&db.store, &file(db, "regions.csv", csv), "test")
        .await
        .expect("regions");
}

/// Defines the repository's schema for `dataset`.
pub async fn define(db: &TestDb, dataset: &str) {
    let text = std::fs::read_to_string(repo().join(format!("schemas/{dataset}.toml")))
        .expect("schema file");
    let schema = DatasetSchema::from_toml(&text).expect("schema");
    catalog::define(&db.store, &schema, "test")
        .await
        .expect("define");
}

/// A scalar from the test's store.
pub async fn scalar(db: &TestDb, sql: &str) -> i64 {
    use sqlx::Row;
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(db.store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .try_get(0)
        .expect("scalar")
}

/// Stores `bytes` as the (only) stored component, as a tampering with the store would.
#[allow(dead_code)]
pub async fn set_bytes(db: &TestDb, bytes: &[u8]) {
    sqlx::query("UPDATE blobs SET bytes = $1")
        .bind(bytes)
        .execute(db.store.pool())
        .await
        .expect("store the component");
}

/// Counts rows of a table.
pub async fn count(db: &TestDb, table: &str) -> i64 {
    scalar(db, &format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}")).await
}

/// A scan of `pension_payments`' payment ids under `region`.
#[allow(dead_code)]
pub fn payment_id_scan(region: &str) -> supervise::runtime::source::ScanRequest {
    supervise::runtime::source::ScanRequest {
        dataset: "pension_payments".into(),
        columns: vec![supervise::runtime::source::ColumnRequest {
            name: "payment_id".into(),
            ty: supervise::runtime::bindings::ColumnType::Text,
        }],
        region: region.into(),
    }
}

/// `pension_payments`' identity number, as a look-up's key.
#[allow(dead_code)]
pub fn id_number_key() -> supervise::runtime::source::ColumnRequest {
    supervise::runtime::source::ColumnRequest {
        name: "id_number".into(),
        ty: supervise::runtime::bindings::ColumnType::Pseudonym,
    }
}

/// The first column of `batch`, text.
#[allow(dead_code)]
pub fn payment_ids(batch: &supervise::runtime::bindings::Batch) -> Vec<String> {
    let supervise::runtime::bindings::ColumnValues::Text(t) = &batch.columns[0].values else {
        panic!("payment_id is text");
    };
    t.offsets
        .windows(2)
        .map(|w| String::from_utf8(t.data[w[0] as usize..w[1] as usize].to_vec()).expect("utf-8"))
        .collect()
}
