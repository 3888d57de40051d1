//! How the command line shows manifests, clues and run statistics, as text and as JSON.

use serde_json::{Value as Json, json};

use crate::datasets::values::{display, format_date};
use crate::runtime::bindings::Clue;
use crate::runtime::{LoadedModel, RunOutcome};

/// Prints JSON, pretty.
pub fn json(v: &Json) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// The manifest as JSON.
pub fn manifest_json(model: &LoadedModel) -> Json {
    let m = &model.manifest;
    json!({
        "sha256": model.sha256,
        "id": m.id, "name": m.name, "version": m.version, "summary": m.summary,
        "author_office": m.author_office,
        "datasets": m.datasets.iter().map(|d| json!({
            "name": d.name, "purpose": d.purpose,
            "columns": d.columns.iter().map(|c| json!({"name": c.name, "type": c.type_.to_string()})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "parameters": m.parameters.iter().map(|p| json!({
            "name": p.name, "type": p.type_.to_string(),
            "default": display(&p.default), "description": p.description,
        })).collect::<Vec<_>>(),
        "clue_kinds": m.clue_kinds.iter().map(|k| json!({"id": k.id, "description": k.description})).collect::<Vec<_>>(),
    })
}

/// Prints the manifest as text.
pub fn manifest(model: &LoadedModel) {
    let m = &model.manifest;
    println!("{} {} — {}", m.id, m.version, m.name);
    println!("sha256  {}", model.sha256);
    println!(
        "author  {}",
        if m.author_office.is_empty() {
            "(not given)"
        } else {
            &m.author_office
        }
    );
    println!("\n{}\n", m.summary);
    println!("DATA SCOPE");
    for d in &m.datasets {
        println!("  {}  ({})", d.name, d.purpose);
        for c in &d.columns {
            println!("    {:<24} {}", c.name, c.type_);
        }
    }
    println!("PARAMETERS");
    if m.parameters.is_empty() {
        println!("  (none)");
    }
    for p in &m.parameters {
        let ty = p.type_.to_string();
        println!(
            "  {:<24} {:<8} default {:<10} {}",
            p.name,
            ty,
            display(&p.default),
            p.description
        );
    }
    println!("CLUE KINDS");
    for k in &m.clue_kinds {
        println!("  {:<24} {}", k.id, k.description);
    }
}

/// A clue as JSON, values rendered for people.
pub fn clue_json(c: &Clue) -> Json {
    json!({
        "kind": c.kind,
        "subject": {"type": c.subject.type_, "id": c.subject.id, "display_name": c.subject.display_name},
        "score": c.score,
        "reason": c.reason,
        "dedup_key": c.dedup_key,
        "evidence": c.evidence.iter().map(|e| json!({
            "dataset": e.dataset,
            "row_keys": e.row_keys,
            "fields": e.fields.iter().map(|f| json!({"name": f.name, "value": display(&f.value)})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// A run as JSON.
pub fn run_json(model: &LoadedModel, out: &RunOutcome) -> Json {
    json!({
        "model": {"id": model.manifest.id, "version": model.manifest.version, "sha256": model.sha256, "cache": model.cache},
        "outcome": out.outcome,
        "clues": out.clues.iter().map(clue_json).collect::<Vec<_>>(),
        "stats": out.stats,
        "log": out.log,
        "log_dropped": out.log_dropped,
        "stdout": out.stdout,
        "stderr": out.stderr,
        "denied": out.denied,
    })
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// Prints a run as text.
pub fn run(model: &LoadedModel, region: &str, as_of: i32, out: &RunOutcome) {
    let m = &model.manifest;
    println!(
        "{} {} over {region} as of {}: {} clue(s)\n",
        m.id,
        m.version,
        format_date(as_of),
        out.clues.len()
    );
    for c in &out.clues {
        println!(
            "  {:.2}  {}  {}:{}",
            c.score, c.kind, c.subject.type_, c.subject.id
        );
        println!("        {}", c.reason);
        for e in &c.evidence {
            let fields: Vec<String> = e
                .fields
                .iter()
                .map(|f| format!("{}={}", f.name, display(&f.value)))
                .collect();
            println!(
                "        {} [{}] {}",
                e.dataset,
                e.row_keys.join(", "),
                fields.join(" ")
            );
        }
    }
    if !out.log.is_empty() {
        println!("\nLOG");
        for l in &out.log {
            println!("  {:<5} {}", l.level, l.message);
        }
    }
    let s = &out.stats;
    println!("\nSTATS");
    let rows: Vec<String> = s
        .rows_read
        .iter()
        .map(|(d, n)| format!("{d} {n}"))
        .collect();
    println!(
        "  rows read    {}",
        if rows.is_empty() {
            "none".into()
        } else {
            rows.join(", ")
        }
    );
    println!("  fuel         {}", s.fuel_used);
    println!("  peak memory  {}", mib(s.peak_memory_bytes));
    println!("  wall time    {:.1} ms", s.wall_us as f64 / 1000.0);
    let how = match model.cache {
        crate::runtime::CacheStatus::Compiled => "compiled",
        crate::runtime::CacheStatus::Cached => "from cache",
    };
    println!(
        "  load         {how} in {:.1} ms",
        model.load_time.as_secs_f64() * 1000.0
    );
    match out.outcome.failure() {
        None => println!("  outcome      succeeded"),
        Some(f) if f.is_timeout() => println!("  outcome      timed out: {f}"),
        Some(f) => println!("  outcome      failed: {f}"),
    }
    if !out.denied.is_empty() {
        println!("  denied       {}", out.denied.join(", "));
    }
}

/// Prints a review sheet.
pub fn review(sheet: &crate::registry::review::Review) {
    let v = &sheet.version;
    println!(
        "{}@{} — {} [{}]",
        v.model, v.version, v.manifest.name, v.status
    );
    println!("sha256    {}", v.sha256);
    println!(
        "signed by office {} with key {}, submitted by {}",
        v.office, v.key, v.submitted_by
    );
    if let Some((by, why)) = &v.review {
        println!("reviewed by {by}: {why}");
    }
    println!("\n{}\n", v.manifest.summary);
    println!(
        "DATA SCOPE{}",
        sheet
            .previous
            .as_ref()
            .map(|p| format!(" (changes since {p})"))
            .unwrap_or_default()
    );
    for entry in crate::registry::review::scope_of(&v.manifest) {
        let mark = if sheet.scope_added.contains(&entry) {
            "+"
        } else {
            " "
        };
        println!("  {mark} {entry}");
    }
    for entry in &sheet.scope_removed {
        println!("  - {entry}");
    }
    println!("PARAMETERS");
    for p in &v.manifest.parameters {
        println!(
            "  {:<24} {:<8} default {:<10} {}",
            p.name,
            p.type_.to_string(),
            display(&p.default),
            p.description
        );
    }
    println!("CLUE KINDS");
    for k in &v.manifest.clue_kinds {
        println!("  {:<24} {}", k.id, k.description);
    }
}
