//! Workers: lease runs from the store and execute them, at most `concurrency` batches in the
//! sandbox at a time (a batch's records wait for the store's writer outside its slot);
//! between leases they re-queue the runs of dead workers and tick the scheduler. `serve`
//! runs one in-process; `supervise worker` processes share the queue over PostgreSQL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;

use super::execute::Executor;
use super::queue::{self, Ask};
use super::record;
use super::scheduler;
use super::{Kind, RunError, Status, quarantine};

/// How a worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Its name in leases and run records.
    pub owner: String,
    /// Runs at once.
    pub concurrency: usize,
    /// How often it looks for work when idle, re-queues expired leases and ticks the scheduler.
    pub poll: Duration,
    /// Whether it ticks the scheduler.
    pub scheduler: bool,
    /// Most runs leased at once: the counties of one enablement, prepared once and finished
    /// in one transaction (see [`queue::lease_batch`]). A slot takes fewer when its fair
    /// share of the runnable counties is smaller.
    pub batch: usize,
}

/// Most runs a slot leases at once by default. Each batch pays a preparation and a finishing
/// transaction, whose cost grows with the clue indexes' pages it rewrites more than with its
/// runs, so fewer, larger batches are cheaper; the fair share (see [`queue::lease_batch`])
/// still splits a province's counties between the slots (two slots: 45 each of 90).
pub const DEFAULT_BATCH: usize = 64;

impl WorkerConfig {
    /// A worker named after the host and process, with `concurrency` slots.
    pub fn new(concurrency: usize) -> Self {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "host".into());
        let mut tag = [0u8; 3];
        let _ = getrandom::fill(&mut tag);
        WorkerConfig {
            owner: format!("{host}:{}:{}", std::process::id(), hex::encode(tag)),
            concurrency: concurrency.max(1),
            poll: Duration::from_millis(500),
            scheduler: true,
            batch: DEFAULT_BATCH,
        }
    }
}

/// A worker over an executor.
pub struct Worker {
    executor: Arc<Executor>,
    config: WorkerConfig,
}

impl Worker {
    /// A worker.
    pub fn new(executor: Arc<Executor>, config: WorkerConfig) -> Self {
        Worker { executor, config }
    }

    /// The worker's name.
    pub fn owner(&self) -> &str {
        &self.config.owner
    }

    /// Re-queues the runs of workers whose leases expired and, if this worker ticks the
    /// scheduler, queues the runs that have come due. Returns whether it queued any.
    async fn maintain(&self) -> bool {
        let store = self.executor.store();
        let requeued = match queue::requeue_expired(store).await {
            Ok(0) => 0,
            Ok(n) => {
                self.executor.metrics().leases_expired(n);
                n
            }
            Err(e) => {
                tracing::warn!("cannot re-queue expired leases: {e}");
                0
            }
        };
        let scheduled = if self.config.scheduler {
            scheduler::tick(store).await.unwrap_or_else(|e| {
                tracing::warn!("scheduler tick failed: {e}");
                0
            })
        } else {
            0
        };
        requeued + scheduled > 0
    }

    /// Leases and executes runs until `shutdown` turns true, then lets running ones finish.
    /// With `until_idle`, also returns once nothing is runnable and nothing is running. Runs
    /// queued in this process ([`Store::ring_queued`](crate::store::Store::ring_queued)) wake
    /// it at once; others are found at its poll.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>, until_idle: bool) -> u64 {
        // A slot is a batch in the sandbox. A batch frees its slot when its runs leave the
        // sandbox, then waits for the store to record them while the next batch runs; at most
        // as many batches wait as there are slots (so memory held by outcomes is bounded).
        let slots = Arc::new(Semaphore::new(self.config.concurrency));
        let in_flight = Arc::new(Semaphore::new(2 * self.config.concurrency));
        let freed = Arc::new(Notify::new());
        let mut tasks = JoinSet::new();
        let mut maintained: Option<Instant> = None;
        let mut executed = 0u64;
        let lease_ms = self.executor.config().lease_ms;
        // Runs queued in this process ring the store's bell (`Store::ring_queued`). Once an
        // ask found nothing due (`quiet`, since when), asking again before the bell rings or
        // `poll` passes could only find runs queued by other processes or come due since,
        // which the poll finds: so a batch ending, or leaving the sandbox, costs no read then.
        let mut bell = self.executor.store().queued_bell();
        let mut quiet: Option<Instant> = None;
        // Runs are expected when the worker has just started or the bell has just rung: its
        // next ask leases at once, without first reading whether anything is due.
        let mut expected = true;
        tracing::info!(worker = %self.config.owner, concurrency = self.config.concurrency, "worker started");
        loop {
            if *shutdown.borrow() {
                break;
            }
            while let Some(done) = tasks.try_join_next() {
                executed += done.unwrap_or(0);
            }
            if bell.has_changed().unwrap_or(false) {
                bell.borrow_and_update();
                (quiet, expected) = (None, true);
            }
            // A failed lease (a busy database under load) is not "nothing runnable": an
            // until-idle worker must look again rather than stop with runs still queued.
            let (mut leased, mut lease_failed) = (false, false);
            let ask = quiet.is_none_or(|t| t.elapsed() >= self.config.poll);
            while ask && let Ok(permit) = slots.clone().try_acquire_owned() {
                let Ok(flying) = in_flight.clone().try_acquire_owned() else {
                    break;
                };
                let store = self.executor.store();
                let batch = (self.config.batch, self.config.concurrency);
                let ask = if std::mem::take(&mut expected) {
                    Ask::AtOnce
                } else {
                    Ask::IfDue
                };
                match queue::lease_batch(store, &self.config.owner, lease_ms, batch, ask).await {
                    Ok(leases) if !leases.is_empty() => {
                        (leased, quiet) = (true, None);
                        let (ex, freed) = (self.executor.clone(), freed.clone());
                        tasks.spawn(async move {
                            let sandboxed = Box::new(move || {
                                drop(permit);
                                freed.notify_one();
                            });
                            let results = ex.execute_batch_then(&leases, sandboxed).await;
                            for (lease, result) in leases.iter().zip(results) {
                                match result {
                                    Ok(status) => {
                                        tracing::debug!(run_id = lease.run_id, %status, "run ended")
                                    }
                                    Err(e) => tracing::warn!(
                                        run_id = lease.run_id,
                                        "run not recorded: {e}"
                                    ),
                                }
                            }
                            // The task's end (awaited below) lets the next batch in.
                            drop(flying);
                            leases.len() as u64
                        });
                    }
                    Ok(_) => {
                        quiet = Some(Instant::now());
                        break;
                    }
                    Err(e) => {
                        tracing::warn!("cannot lease a run: {e}");
                        lease_failed = true;
                        break;
                    }
                }
            }
            // Upkeep comes after the lease, so that a run asked for is not kept waiting by it
            // (it runs while the batch just leased does). When it queued runs, the worker asks
            // again at once rather than sleeping or stopping as idle: the scheduler's are due
            // now, re-queued ones when their backoff ends.
            if maintained.is_none_or(|t| t.elapsed() >= self.config.poll) {
                maintained = Some(Instant::now());
                if self.maintain().await {
                    (quiet, expected) = (None, true);
                    continue;
                }
            }
            if until_idle && !leased && !lease_failed && tasks.is_empty() {
                break;
            }
            if !leased {
                // A batch wakes the loop twice: when it frees its slot (`freed`) and when its
                // task ends, its place in flight freed with it (`join_next`). Waiting on the
                // task itself, not on a notification sent just before it ends, is what lets
                // an idle worker see its last batch gone without sleeping out `poll`.
                let poll = quiet.map_or(self.config.poll, |t| {
                    self.config.poll.saturating_sub(t.elapsed())
                });
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = freed.notified() => {}
                    Ok(()) = bell.changed() => (quiet, expected) = (None, true),
                    Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                        executed += done.unwrap_or(0);
                    }
                    _ = shutdown.changed() => {}
                }
            }
        }
        while let Some(done) = tasks.join_next().await {
            executed += done.unwrap_or(0);
        }
        tracing::info!(worker = %self.config.owner, executed, "worker stopped");
        executed
    }

    /// Runs the given runs now, in this process; a run another worker holds is waited for, a
    /// run of a quarantined model is an error ([`RunError::Quarantined`]). Returns their
    /// statuses, in the order of `ids`.
    pub async fn run_these(&self, ids: &[i64]) -> Result<Vec<Status>, RunError> {
        self.run_these_with(ids, |_| {}).await
    }

    /// As [`Worker::run_these`], calling `ended` with how many of the runs have ended each
    /// time some have. Runs that would run the same way (a province's counties) are leased
    /// and recorded together, up to the worker's `batch` at a time, as a worker's slot does
    /// ([`queue::lease_batch_among`]); only the runs asked for are leased.
    pub async fn run_these_with(
        &self,
        ids: &[i64],
        mut ended: impl FnMut(u64),
    ) -> Result<Vec<Status>, RunError> {
        let store = self.executor.store();
        let lease_ms = self.executor.config().lease_ms;
        let mut reported = 0u64;
        loop {
            let statuses = record::statuses(store, ids).await?;
            let over = statuses.iter().filter(|s| s.is_final()).count() as u64;
            if over > reported {
                ended(over - reported);
                reported = over;
            }
            if over == ids.len() as u64 {
                return Ok(statuses);
            }
            let queued: Vec<i64> = ids
                .iter()
                .zip(&statuses)
                .filter(|(_, s)| **s == Status::Queued)
                .map(|(id, _)| *id)
                .collect();
            // Wait before looking again when nothing could be leased (another worker holds
            // the rest) or a run went back to the queue (a host fault's retry).
            let mut wait = true;
            if let Some(&first) = queued.first() {
                let leases = queue::lease_batch_among(
                    store,
                    &self.config.owner,
                    lease_ms,
                    first,
                    &queued,
                    self.config.batch,
                )
                .await?;
                if leases.is_empty() {
                    self.refuse_if_quarantined(first).await?;
                }
                let results = self.executor.execute_batch(&leases).await;
                wait = leases.is_empty();
                for (lease, result) in leases.iter().zip(results) {
                    match result {
                        Ok(s) if s.is_final() => {}
                        Ok(_) => wait = true,
                        Err(e) => {
                            tracing::warn!(run_id = lease.run_id, "{e}");
                            wait = true;
                        }
                    }
                }
            }
            if wait {
                tokio::time::sleep(self.config.poll).await;
                if let Ok(n) = queue::requeue_expired(store).await
                    && n > 0
                {
                    self.executor.metrics().leases_expired(n);
                }
            }
        }
    }

    /// A queued run of a quarantined model is not leased until an admin releases the model
    /// (a batch that quarantines its model gives the rest of its runs back): an error saying
    /// so, rather than waiting for it.
    async fn refuse_if_quarantined(&self, run: i64) -> Result<(), RunError> {
        let store = self.executor.store();
        let r = record::get(store, run).await?;
        if r.kind != Kind::Run.as_str() {
            return Ok(());
        }
        match quarantine::active(store, &r.model).await? {
            Some(q) => Err(RunError::Quarantined {
                model: q.model,
                reason: q.reason,
            }),
            None => Ok(()),
        }
    }
}
