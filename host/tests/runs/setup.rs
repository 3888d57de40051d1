//! A province with the pension datasets imported and models published, approved and enabled;
//! an executor and a worker over the test's store.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use supervise::datasets::import::{self, ImportRequest};
use supervise::registry::enable::{self, EnableRequest};
use supervise::registry::review;
use supervise::registry::{Actor, VersionRef};
use supervise::runs::{Executor, ExecutorConfig, Metrics, Worker, WorkerConfig};
use supervise::runtime::{Runtime, RuntimeConfig};
use tokio::sync::watch;

use crate::support::*;
use crate::world::{self, admin, author, publish_with};

pub fn runtime() -> Arc<Runtime> {
    static RT: OnceLock<Arc<Runtime>> = OnceLock::new();
    RT.get_or_init(|| Arc::new(Runtime::new(RuntimeConfig::default()).expect("runtime")))
        .clone()
}

/// Regions, offices, keys, both pension datasets defined and their fixtures imported.
pub async fn province(db: &TestDb) -> world::World {
    let w = world::world(db).await;
    for d in ["death_registrations", "pension_payments"] {
        define(db, d).await;
        import_file(
            db,
            d,
            &repo().join(format!("plugins/pension-after-death/fixtures/{d}.csv")),
        )
        .await;
    }
    w
}

pub async fn import_file(db: &TestDb, dataset: &str, path: &std::path::Path) -> i64 {
    let req = ImportRequest::new(dataset, path, "test");
    import::import(&db.store, &key(), &req)
        .await
        .expect("import")
        .id
}

/// Publishes a guest (component path, model id, version) as the county author, approves it as the province and, when `regions`
/// is not empty, enables it there. Returns the enablement id (0 when not enabled).
pub async fn enabled(
    db: &TestDb,
    w: &world::World,
    (guest, model, version): (&str, &str, &str),
    regions: &[&str],
    params: &[(&str, &str)],
    schedule: Option<&str>,
) -> i64 {
    let bytes = supervise_test_guests::bytes(guest);
    publish_with(db, &w.author_key, &author(), &bytes)
        .await
        .expect("publish");
    let v = VersionRef {
        model: model.into(),
        version: version.into(),
    };
    review::decide(&db.store, &admin(), &v, true, "tested")
        .await
        .expect("approve");
    if regions.is_empty() {
        return 0;
    }
    let req = EnableRequest {
        version: v,
        regions: regions.iter().map(|r| r.to_string()).collect(),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        schedule: schedule.map(str::to_string),
        scope: None,
        reason: "test".into(),
    };
    enable::enable(&db.store, &admin(), &req)
        .await
        .expect("enable")
}

pub fn executor(db: &TestDb, lease_ms: i64) -> Arc<Executor> {
    Arc::new(Executor::new(
        db.store.clone(),
        runtime(),
        ExecutorConfig {
            lease_ms,
            ..ExecutorConfig::default()
        },
        Arc::new(Metrics::default()),
    ))
}

pub fn worker(ex: &Arc<Executor>, concurrency: usize) -> Worker {
    let mut c = WorkerConfig::new(concurrency);
    c.poll = Duration::from_millis(50);
    c.scheduler = false;
    Worker::new(ex.clone(), c)
}

/// Runs everything queued, then returns how many runs ended. A run given back after a host
/// fault (a database busy under a loaded machine) waits out its backoff and is run too, so a
/// test sees the end of every run it queued; after 30 s whatever is left stays queued.
pub async fn drain(ex: &Arc<Executor>) -> u64 {
    use sqlx::Row;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut ended = 0;
    loop {
        let (_stop, stopped) = watch::channel(false);
        ended += worker(ex, 2).run(stopped, true).await;
        let waiting: i64 =
            sqlx::query("SELECT COUNT(*) FROM runs WHERE status IN ('queued', 'running')")
                .fetch_one(ex.store().pool())
                .await
                .expect("count runs")
                .try_get(0)
                .expect("count");
        if waiting == 0 || std::time::Instant::now() >= deadline {
            return ended;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn county_office() -> Actor {
    author()
}

/// pension-after-death 1.0.0: component, name, version.
const PENSION: (&str, &str, &str) = (
    supervise_test_guests::PENSION_AFTER_DEATH,
    "pension-after-death",
    "1.0.0",
);

/// The test province with pension-after-death enabled for all of it; the enablement's id.
pub async fn pension_for_the_province(db: &TestDb) -> i64 {
    for_the_province(db, PENSION).await
}

/// The test province with pension-after-death enabled for county 330102 alone; the
/// enablement's id.
pub async fn pension_for_the_county(db: &TestDb) -> i64 {
    enabled_for(db, PENSION, "330102").await
}

/// The test province with pension-after-death enabled for city 330100 (its two counties); the
/// enablement's id.
pub async fn pension_for_the_city(db: &TestDb) -> i64 {
    enabled_for(db, PENSION, "330100").await
}

/// The test province with model `guest` (component, name, version) enabled for all of it;
/// the enablement's id.
pub async fn for_the_province(db: &TestDb, guest: (&str, &str, &str)) -> i64 {
    enabled_for(db, guest, "330000").await
}

/// The test province with model `guest` enabled for `region`; the enablement's id.
async fn enabled_for(db: &TestDb, guest: (&str, &str, &str), region: &str) -> i64 {
    let w = province(db).await;
    enabled(db, &w, guest, &[region], &[], None).await
}
