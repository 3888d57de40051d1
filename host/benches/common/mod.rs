//! Shared by the benchmark binaries (each uses what it needs).
#![allow(dead_code)]

pub mod clues;
pub mod native;

/// The value after `--name` on the command line, or `default`.
pub fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The process's peak resident memory so far, in MiB (Linux; 0 elsewhere).
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Seconds this process's threads have spent on a CPU so far (Linux: each thread's
/// `schedstat`, summed): the difference over a measurement is the CPU time it took, on every
/// core together. A thread that ends during the measurement takes its time with it; the
/// benchmarks' threads (the runtime's workers and blocking threads, the database
/// connections') outlive a measurement.
pub fn cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let ns: u64 = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    ns as f64 / 1e9
}

/// The machine's cores and, on a virtual machine whose guest kernel idles its cores with
/// `haltpoll`, how long an idle core polls before it halts (`guest_halt_poll_ns`). A halted
/// virtual core must be woken by the hypervisor, so with no polling every hand-off to an idle
/// thread (a statement to a database connection's thread and its answer back) waits for that
/// wake: a 1 M county's run took a fifth less time with 200 µs of polling (docs/benchmarks.md,
/// "What bounds": a county). Printed with the tables so that figures from machines that
/// differ in this can be told apart.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let poll = std::fs::read_to_string("/sys/module/haltpoll/parameters/guest_halt_poll_ns")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    match poll {
        Some(ns) => format!("{cores} cores; idle cores poll {ns} ns before halting (haltpoll)"),
        None => format!("{cores} cores"),
    }
}

/// Resets the peak resident memory that [`peak_rss_mib`] reads (Linux `clear_refs`), so that
/// the next reading covers only what runs from here on.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The 90 counties: 11 cities, 8 counties each, 9 in the first two.
pub fn counties() -> Vec<String> {
    let mut out = Vec::new();
    for city in 1..=11u32 {
        let n = if city <= 2 { 9 } else { 8 };
        for c in 1..=n {
            out.push(format!("33{city:02}{c:02}"));
        }
    }
    out
}

/// A fresh PostgreSQL database `name` next to the one `url` names; returns its URL. `name`
/// ends in the benchmark's process id (`<prefix>_<pid>`): databases of the same prefix whose
/// process is gone, left by a benchmark that was stopped before it dropped its own, are
/// dropped first (each holds a whole import), when the server is this machine's.
pub async fn pg_database(url: &str, name: &str) -> String {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(url).await.expect("connect");
    if is_local(url) {
        drop_left_over(&mut c, name).await;
    }
    drop_database(&mut c, name).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut c)
        .await
        .expect("create");
    let base = url.split('?').next().unwrap_or(url);
    format!("{}/{name}", base.rsplit_once('/').map_or(base, |(b, _)| b))
}

/// Drops database `name` if it exists, sessions on it or not.
async fn drop_database(c: &mut sqlx::AnyConnection, name: &str) {
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(c)
    .await;
}

/// Drops the databases of `name`'s kind (`<prefix>_<pid>`) whose process no longer runs here
/// (none where `/proc` cannot tell).
async fn drop_left_over(c: &mut sqlx::AnyConnection, name: &str) {
    let Some((prefix, _)) = name.rsplit_once('_') else {
        return;
    };
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE starts_with(datname, $1)")
            .bind(format!("{prefix}_"))
            .fetch_all(&mut *c)
            .await
            .unwrap_or_else(|e| {
                eprintln!("benchmark databases left by stopped runs not looked for: {e}");
                Vec::new()
            });
    let stopped = |n: &str| {
        n.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('_'))
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| {
                pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            })
    };
    for left in names.iter().filter(|n| stopped(n)) {
        eprintln!("dropping {left}, left by a benchmark that was stopped");
        drop_database(c, left).await;
    }
}

/// Whether the server `url` names runs on this machine (loopback, or a socket), so that its
/// benchmark databases' process ids are this machine's.
fn is_local(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.strip_prefix('[').map_or_else(
        || host.split(':').next().unwrap_or(""),
        |h| h.split(']').next().unwrap_or(""),
    );
    matches!(host, "" | "localhost" | "127.0.0.1" | "::1")
}

/// Drops the database `name` made by [`pg_database`] next to the one `url` names.
pub async fn pg_drop(url: &str, name: &str) {
    use sqlx::Connection;
    if !url.starts_with("postgres") {
        return;
    }
    if let Ok(mut c) = sqlx::AnyConnection::connect(url).await {
        drop_database(&mut c, name).await;
    }
}

/// The province's administrator (office 330000), who adds offices, reviews and enables.
pub fn admin() -> supervise::registry::Actor {
    supervise::registry::Actor {
        user: "admin".into(),
        office: "330000".into(),
    }
}

/// Adds one office per region code (the office's id is its region's code), as [`admin`].
pub async fn add_offices(store: &supervise::store::Store, regions: &[&str]) {
    for region in regions {
        let office = supervise::registry::Office {
            id: (*region).into(),
            name: (*region).into(),
            region: (*region).into(),
        };
        supervise::registry::keys::add_office(store, &admin(), &office)
            .await
            .expect("office");
    }
}

/// Generates a signing key under `dir` and registers its public half for `office`.
pub async fn office_key(
    store: &supervise::store::Store,
    dir: &std::path::Path,
    office: &str,
) -> (ed25519_dalek::SigningKey, ed25519_dalek::VerifyingKey) {
    use supervise::registry::keys;
    let path = dir.join(format!("{office}-{}.key", supervise::store::now_ms()));
    let public = keys::generate(&path).expect("key");
    keys::register(store, &admin(), office, &public)
        .await
        .expect("register");
    (keys::read_signing_key(&path).expect("read key"), public)
}
