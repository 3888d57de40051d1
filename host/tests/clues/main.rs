//! Clue tests: dedup across runs and versions, every workflow transition and refusal, region
//! scoping, deadlines, suggestions, search and export, statistics, clues reported by people,
//! the hash-chained audit trail, and the command line. On SQLite, and PostgreSQL with
//! `DATABASE_URL`.

#[macro_use]
#[path = "../store/support.rs"]
#[allow(dead_code)]
mod support;

#[path = "../registry/world.rs"]
#[allow(dead_code)]
mod world;

#[path = "../runs/setup.rs"]
#[allow(dead_code)]
mod setup;

mod chain;
mod cli;
mod dedup;
mod helpers;
mod suggestions;
mod tally;
mod workflow;
