//! Issue 10's targets judged from one run's rows, so that the benchmark itself says which it met
//! on the hour it ran: the platform within 2× of DuckDB's time (each of its four rows), faster
//! than SQLite's (its first run), and native ÷ platform at least 0.8 (the sandbox's share of
//! a run, end to end). A target whose systems were left out (`--systems`) is not judged.

use serde::Serialize;

use crate::{Measure, print_head};

/// The most a platform row may take, as a multiple of DuckDB's time.
const DUCKDB_AT_MOST: f64 = 2.0;
/// The most the platform's first run may take, as a multiple of SQLite's time (less than it).
const SQLITE_BELOW: f64 = 1.0;
/// The least native's time ÷ the platform's first run may be.
const NATIVE_SHARE_AT_LEAST: f64 = 0.8;

/// The platform's rows judged against DuckDB, in the order the table prints them.
const PLATFORM_ROWS: [(&str, &str); 4] = [
    ("platform", "first run"),
    ("platform, again", "re-run"),
    ("platform, files", "files"),
    ("platform, cold", "cold"),
];

/// One target judged for one model, size and scope.
#[derive(Debug, Clone, Serialize)]
pub struct Judged {
    model: String,
    payments: u64,
    scope: String,
    /// What was judged: `"<row> ≤ 2× DuckDB"`, `"first run < SQLite"` or
    /// `"native ÷ platform ≥ 0.8"`.
    target: String,
    /// The ratio the target is about.
    figure: f64,
    met: bool,
}

/// Every target the rows allow judging, grouped as the table prints them.
pub fn judge(table: &[Measure]) -> Vec<Judged> {
    let mut out = Vec::new();
    let cases = distinct(
        table
            .iter()
            .map(|m| (m.model.as_str(), m.payments, m.scope.as_str())),
    );
    for (model, payments, scope) in cases {
        let seconds = |system: &str| {
            table
                .iter()
                .find(|m| {
                    (m.model.as_str(), m.payments, m.scope.as_str()) == (model, payments, scope)
                        && m.system == system
                })
                .map(|m| m.seconds)
        };
        let mut judged = |target: String, figure: f64, met: bool| {
            out.push(Judged {
                model: model.to_string(),
                payments,
                scope: scope.to_string(),
                target,
                figure,
                met,
            });
        };
        let first = seconds("platform");
        if let Some(duck) = seconds("DuckDB SQL") {
            for (system, label) in PLATFORM_ROWS {
                if let Some(s) = seconds(system) {
                    let ratio = s / duck;
                    judged(
                        format!("{label} ≤ 2× DuckDB"),
                        ratio,
                        ratio <= DUCKDB_AT_MOST,
                    );
                }
            }
        }
        if let (Some(first), Some(sqlite)) = (first, seconds("SQLite SQL")) {
            let ratio = first / sqlite;
            judged("first run < SQLite".into(), ratio, ratio < SQLITE_BELOW);
        }
        if let (Some(first), Some(native)) = (first, seconds("native")) {
            let share = native / first;
            judged(
                "native ÷ platform ≥ 0.8".into(),
                share,
                share >= NATIVE_SHARE_AT_LEAST,
            );
        }
    }
    out
}

/// Prints the judged targets as a table, a row per model, size and scope and a column per
/// target (`–` where it was not judged), then how many were met.
pub fn print(judged: &[Judged]) {
    let columns = distinct(judged.iter().map(|j| j.target.as_str()));
    if columns.is_empty() {
        return;
    }
    println!(
        "Issue 10's targets on this run: a platform row within 2× DuckDB's time, its first run \
         faster than SQLite's, native ÷ platform at least 0.8 (ratios; \"no\" where missed)"
    );
    print_head(
        (
            "| model               | payments   | scope    |",
            "|---------------------|------------|----------|",
        ),
        columns.iter().map(|c| (*c, c.chars().count())),
    );
    for case in distinct(
        judged
            .iter()
            .map(|j| (j.model.as_str(), j.payments, j.scope.as_str())),
    ) {
        let (model, payments, scope) = case;
        let mut line = format!("| {model:<19} | {payments:>10} | {scope:<8} |");
        for c in &columns {
            let cell = judged
                .iter()
                .find(|k| {
                    (k.model.as_str(), k.payments, k.scope.as_str()) == case && k.target == *c
                })
                .map_or("–".to_string(), |k| {
                    format!("{:.2}{}", k.figure, if k.met { "" } else { " no" })
                });
            line.push_str(&format!(" {cell:>w$} |", w = c.chars().count()));
        }
        println!("{line}");
    }
    let met = judged.iter().filter(|j| j.met).count();
    println!("{met} of {} targets met on this run", judged.len());
}

/// The items in the order they first come, each once.
fn distinct<T: PartialEq>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}
