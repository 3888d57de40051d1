//! Store tests: regions, dataset definitions, imports, the scoped feed and snapshots. Every
//! test runs on SQLite, and on PostgreSQL too when `DATABASE_URL` names one (CI does).

#[macro_use]
mod support;

mod define;
mod feed;
mod import;
mod regions;
