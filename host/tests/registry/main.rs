//! Registry tests: signed publishing and every rejection, review, enablement with upgrade and
//! rollback, the fail-closed load, and the audit trail. On SQLite, and PostgreSQL with
//! `DATABASE_URL`.

#[macro_use]
#[path = "../store/support.rs"]
#[allow(dead_code)]
mod support;

mod cli;
mod lifecycle;
mod publish;
mod world;
