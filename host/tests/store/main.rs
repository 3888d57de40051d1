//! Store tests: regions, dataset definitions, imports, the scoped feed and snapshots, the
//! audit chain, write transactions. Every test runs on SQLite, and on PostgreSQL too when
//! `DATABASE_URL` names one (CI does).

#[macro_use]
mod support;

mod audit;
mod define;
mod feed;
mod files;
mod import;
mod regions;
mod writes;
