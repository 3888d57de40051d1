//! Fault tests on real PostgreSQL with real `supervise worker` processes: a worker killed
//! with SIGKILL mid-run, two workers sharing 200 queued runs, and PostgreSQL restarted while
//! runs are in flight. They need `DATABASE_URL` (CI sets it; without it they are skipped,
//! except under `CI=true`, where they fail). The restart test starts its own PostgreSQL
//! cluster so that restarting it disturbs no other test.

#[macro_use]
#[path = "../store/support.rs"]
#[allow(dead_code, unused_macros)]
mod support;

#[path = "../registry/world.rs"]
#[allow(dead_code)]
mod world;

#[path = "../runs/setup.rs"]
#[allow(dead_code)]
mod setup;

mod procs;

mod restart;
mod workers;
