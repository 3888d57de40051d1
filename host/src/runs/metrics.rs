//! Prometheus metrics of a `serve` or `worker` process: runs by outcome, run duration, fuel,
//! retries, lease expiries, time spent per phase of a batch, and the queue depth read from the
//! store when scraped.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::store::Store;

use super::{Status, queue};

/// Upper bounds of the run-duration histogram, seconds.
const BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0];

#[derive(Debug, Default)]
struct Inner {
    runs: BTreeMap<&'static str, u64>,
    duration_buckets: [u64; BUCKETS.len()],
    duration_sum: f64,
    duration_count: u64,
    fuel: u64,
    retries: u64,
    lease_expiries: u64,
    phases: BTreeMap<&'static str, f64>,
}

/// The phases of executing a batch of runs, as [`Metrics::observe_phase`] names them.
pub const PHASES: [&str; 5] = ["prepare", "sandbox", "key", "record_wait", "record"];

/// The process's counters. Cheap to update from any task.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn with(&self, f: impl FnOnce(&mut Inner)) {
        // A poisoned lock only means a panic elsewhere mid-update: counters stay usable.
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g);
    }

    /// A run ended with `status` after `wall` in the sandbox, using `fuel`.
    pub fn observe_run(&self, status: Status, wall: Duration, fuel: u64) {
        self.with(|m| {
            *m.runs.entry(status.as_str()).or_default() += 1;
            let secs = wall.as_secs_f64();
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    m.duration_buckets[i] += 1;
                }
            }
            m.duration_sum += secs;
            m.duration_count += 1;
            m.fuel = m.fuel.saturating_add(fuel);
        });
    }

    /// A batch spent `spent` in `phase`, one of [`PHASES`]: verifying and loading the model
    /// and fixing the snapshot; its runs in the sandbox; hashing and serialising their clues;
    /// waiting for the store's writer; writing the runs' records and clues.
    pub fn observe_phase(&self, phase: &'static str, spent: Duration) {
        debug_assert!(PHASES.contains(&phase));
        self.with(|m| *m.phases.entry(phase).or_default() += spent.as_secs_f64());
    }

    /// Seconds spent so far in each phase of [`PHASES`].
    pub fn phase_seconds(&self) -> BTreeMap<&'static str, f64> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        PHASES
            .iter()
            .map(|p| (*p, g.phases.get(p).copied().unwrap_or(0.0)))
            .collect()
    }

    /// A run was given back after a host fault.
    pub fn retried(&self) {
        self.with(|m| m.retries += 1);
    }

    /// `n` leases expired and their runs were re-queued or failed.
    pub fn leases_expired(&self, n: u64) {
        self.with(|m| m.lease_expiries += n);
    }

    /// The exposition text, with the queue depth by status.
    pub fn render(&self, depth: &[(String, i64)]) -> String {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP supervise_runs_total Runs ended by this process, by outcome."
        );
        let _ = writeln!(s, "# TYPE supervise_runs_total counter");
        for st in Status::ALL.iter().filter(|s| s.is_final()) {
            let n = g.runs.get(st.as_str()).copied().unwrap_or(0);
            let _ = writeln!(s, "supervise_runs_total{{outcome=\"{}\"}} {n}", st.as_str());
        }
        let _ = writeln!(
            s,
            "# HELP supervise_run_duration_seconds Time models spent in the sandbox."
        );
        let _ = writeln!(s, "# TYPE supervise_run_duration_seconds histogram");
        for (b, n) in BUCKETS.iter().zip(g.duration_buckets) {
            let _ = writeln!(s, "supervise_run_duration_seconds_bucket{{le=\"{b}\"}} {n}");
        }
        let _ = writeln!(
            s,
            "supervise_run_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            g.duration_count
        );
        let _ = writeln!(s, "supervise_run_duration_seconds_sum {}", g.duration_sum);
        let _ = writeln!(
            s,
            "supervise_run_duration_seconds_count {}",
            g.duration_count
        );
        let _ = writeln!(s, "# HELP supervise_run_fuel_total Fuel consumed by runs.");
        let _ = writeln!(s, "# TYPE supervise_run_fuel_total counter");
        let _ = writeln!(s, "supervise_run_fuel_total {}", g.fuel);
        let _ = writeln!(
            s,
            "# HELP supervise_batch_seconds_total Time batches of runs spent per phase (prepare: verify the model, fix the snapshot; sandbox; key: hash and serialise the clues; record_wait: wait for the store's writer; record: write records and clues)."
        );
        let _ = writeln!(s, "# TYPE supervise_batch_seconds_total counter");
        for p in PHASES {
            let secs = g.phases.get(p).copied().unwrap_or(0.0);
            let _ = writeln!(s, "supervise_batch_seconds_total{{phase=\"{p}\"}} {secs}");
        }
        let _ = writeln!(
            s,
            "# HELP supervise_run_retries_total Runs given back after a host fault."
        );
        let _ = writeln!(s, "# TYPE supervise_run_retries_total counter");
        let _ = writeln!(s, "supervise_run_retries_total {}", g.retries);
        let _ = writeln!(
            s,
            "# HELP supervise_lease_expiries_total Leases found expired (a worker died or lost the database)."
        );
        let _ = writeln!(s, "# TYPE supervise_lease_expiries_total counter");
        let _ = writeln!(s, "supervise_lease_expiries_total {}", g.lease_expiries);
        let _ = writeln!(
            s,
            "# HELP supervise_queue_depth Runs in the store waiting or running."
        );
        let _ = writeln!(s, "# TYPE supervise_queue_depth gauge");
        for st in ["queued", "running"] {
            let n = depth.iter().find(|(k, _)| k == st).map_or(0, |(_, n)| *n);
            let _ = writeln!(s, "supervise_queue_depth{{status=\"{st}\"}} {n}");
        }
        s
    }
}

/// State of the metrics endpoint.
#[derive(Clone)]
pub struct MetricsState {
    /// The store, for the queue depth.
    pub store: Store,
    /// The counters.
    pub metrics: std::sync::Arc<Metrics>,
}

/// `GET /metrics` in the Prometheus text format.
pub fn router() -> Router<MetricsState> {
    Router::new().route("/metrics", get(scrape))
}

async fn scrape(State(s): State<MetricsState>) -> Response {
    match queue::depth(&s.store).await {
        Ok(depth) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            s.metrics.render(&depth),
        )
            .into_response(),
        Err(e) => {
            tracing::error!("metrics: cannot read the queue depth: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the store is unavailable\n",
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_counts_runs_and_buckets() {
        let m = Metrics::default();
        m.observe_run(Status::Succeeded, Duration::from_millis(30), 100);
        m.observe_run(Status::Failed, Duration::from_secs(2), 5);
        m.leases_expired(2);
        let text = m.render(&[("queued".into(), 7)]);
        assert!(text.contains("supervise_runs_total{outcome=\"succeeded\"} 1"));
        assert!(text.contains("supervise_runs_total{outcome=\"failed\"} 1"));
        assert!(text.contains("supervise_run_duration_seconds_bucket{le=\"0.05\"} 1"));
        assert!(text.contains("supervise_run_duration_seconds_bucket{le=\"5\"} 2"));
        assert!(text.contains("supervise_run_fuel_total 105"));
        assert!(text.contains("supervise_lease_expiries_total 2"));
        assert!(text.contains("supervise_queue_depth{status=\"queued\"} 7"));
        assert!(text.contains("supervise_queue_depth{status=\"running\"} 0"));
    }
}
