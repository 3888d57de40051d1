//! Supervise: the host platform for sandboxed digital supervision models.
//!
//! - [`runtime`]: the wasmtime sandbox that loads, describes and runs model components;
//! - [`datasets`]: schemas, imports, regions, pseudonyms, snapshots and scoped feeds;
//! - [`registry`]: offices, keys, signed publishing, review, enablement, fail-closed loads;
//! - [`runs`]: the job queue, scheduler, workers, run records, replays and backtests;
//! - [`clues`]: the clue store, one clue per (model, dedup key);
//! - [`store`]: the database (SQLite by default, PostgreSQL by URL) and the audit log;
//! - [`api`]: the HTTP API under `/api/v1` with its OpenAPI document;
//! - [`auth`]: users, roles, argon2id passwords, sessions and API tokens;
//! - [`cli`]: the `supervise` command line.

pub mod api;
pub mod auth;
pub mod cli;
pub mod clues;
pub mod dashboard;
pub mod datasets;
pub mod demo;
pub mod registry;
pub mod runs;
pub mod runtime;
pub mod store;
