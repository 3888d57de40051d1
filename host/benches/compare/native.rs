//! The native baseline: the model's own Rust code compiled into the benchmark, reading the
//! store through the same scoped, pseudonymised feed as the sandbox (`StoreSource`: chunks
//! skipped by region, pseudonyms, the same batches and look-ups; see `common/native.rs`) and
//! storing its clues through the same deduplication, in the same queued runs. Only the sandbox
//! (and its load, lease and run record) is left out, so platform ÷ native is what the sandbox
//! and its bookkeeping cost.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use supervise::clues::dedup::{self, Origin};
use supervise::datasets::feed::StoreSource;
use supervise::datasets::snapshot::Snapshot;
use supervise::runtime::source::DataSource;
use supervise::store::{Store, now_ms};
use supervise_sdk::Model;

use crate::common::native::run_model;

/// One queued run to do natively.
#[derive(Debug, Clone)]
pub struct Job {
    /// The run's id (queued by hand, as the platform's are).
    pub run: i64,
    /// Its county.
    pub region: String,
}

/// Runs model `M` natively for each job, `slots` at a time, as the worker does: each slot takes
/// up to `batch` jobs at once (no more than its fair share among the slots), fixes one
/// snapshot of the model's datasets and opens the store-backed feed for them, runs each job's
/// model on a blocking thread, then writes their clues together and ends the runs in one
/// transaction. Returns the rows read.
pub async fn run<M: Model>(
    store: &Store,
    model: &str,
    version_id: i64,
    jobs: Vec<Job>,
    as_of: i32,
    (slots, batch): (usize, usize),
) -> u64 {
    let queue = Arc::new(Mutex::new(VecDeque::from(jobs)));
    let rows = Arc::new(Mutex::new(0u64));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..slots {
        let (store, model, queue, rows) = (
            store.clone(),
            model.to_string(),
            queue.clone(),
            rows.clone(),
        );
        tasks.spawn(async move {
            loop {
                let jobs: Vec<Job> = {
                    let mut q = queue.lock().expect("queue");
                    // The worker's fair share: the jobs left divided among the slots.
                    let n = batch.min(q.len().div_ceil(slots));
                    q.drain(..n).collect()
                };
                if jobs.is_empty() {
                    return;
                }
                some::<M>(&store, &model, version_id, &jobs, as_of, &rows).await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("native slot");
    }
    *rows.lock().expect("rows")
}

async fn some<M: Model>(
    store: &Store,
    model: &str,
    version_id: i64,
    jobs: &[Job],
    as_of: i32,
    rows: &Arc<Mutex<u64>>,
) {
    let datasets: Vec<String> = M::describe().datasets().map(str::to_string).collect();
    let snapshot = Snapshot::current(store, &datasets).await.expect("snapshot");
    let snapshot_id = snapshot.save(store).await.expect("save snapshot");
    let source: Arc<dyn DataSource> =
        Arc::new(StoreSource::new(store, &snapshot).await.expect("source"));
    let regions: Vec<String> = jobs.iter().map(|j| j.region.clone()).collect();
    let rows = rows.clone();
    let clues = tokio::task::spawn_blocking(move || {
        regions
            .into_iter()
            .map(|region| run_model::<M>(source.clone(), &region, as_of, &rows))
            .collect::<Vec<_>>()
    })
    .await
    .expect("native thread");
    let now = now_ms();
    let keyed: Vec<dedup::Keyed<'_>> = clues.iter().map(|c| dedup::Keyed::new(c)).collect();
    let origins: Vec<Origin<'_>> = jobs
        .iter()
        .map(|job| Origin {
            run_id: job.run,
            model_id: model,
            version_id,
            snapshot_id,
            region: &job.region,
            at_ms: now,
        })
        .collect();
    let runs: Vec<_> = origins.iter().zip(&keyed).collect();
    let mut tx = store.begin().await.expect("begin");
    dedup::record_batch(&mut tx, &runs)
        .await
        .expect("record clues");
    let ids: Vec<String> = jobs.iter().map(|j| j.run.to_string()).collect();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE runs SET status = 'succeeded', snapshot_id = $1, finished_at_ms = $2 WHERE id IN ({})",
        ids.join(", ")
    )))
    .bind(snapshot_id)
    .bind(now)
    .execute(&mut *tx)
    .await
    .expect("end runs");
    tx.commit().await.expect("commit");
}
