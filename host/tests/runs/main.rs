//! Run tests: queueing by hand, by schedule and by import; the run record; dedup of clues
//! across runs; replay; failures, retries and quarantine; cancellation; expired leases;
//! backtests; metrics; batches of runs. On SQLite, and PostgreSQL with `DATABASE_URL`.

#[macro_use]
#[path = "../store/support.rs"]
#[allow(dead_code)]
mod support;

#[path = "../registry/world.rs"]
#[allow(dead_code)]
mod world;

mod setup;

mod backtest;
mod batches;
mod cli;
mod failures;
mod lifecycle;
mod triggers;
