//! pension-after-death end to end in the sandbox.

use supervise::runtime::{Outcome, RunLimits, Value};
use supervise_test_guests::PENSION_AFTER_DEATH;

use crate::support::*;

#[test]
fn finds_pensions_paid_after_death_once_per_person() {
    let rt = runtime(None);
    let model = load(&rt, PENSION_AFTER_DEATH);
    assert_eq!(model.manifest.id, "pension-after-death");
    let out = run_on_fixtures(&rt, &model, "330000", vec![], RunLimits::default());
    assert_eq!(out.outcome, Outcome::Succeeded);
    let mut reasons: Vec<&str> = out.clues.iter().map(|c| c.reason.as_str()).collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "pension paid 3 times (¥9,600.00) after death on 2024-03-02",
            "pension paid once (¥2,100.50) after death on 2024-05-20",
        ]
    );
    let three = out
        .clues
        .iter()
        .find(|c| c.reason.contains("3 times"))
        .expect("clue");
    assert_eq!(three.evidence.len(), 4, "death record plus three payments");
    assert_eq!(three.evidence[1].row_keys, ["P-1003"]);
    assert!(three.dedup_key.starts_with("person:"));
    // Looked up by person: the payments of the three who died, not P-1009 of the living.
    assert_eq!(out.stats.rows_read["pension_payments"], 8);
    assert!(out.stats.fuel_used > 0 && out.stats.peak_memory_bytes > 0);
}

#[test]
fn a_county_run_sees_only_its_rows() {
    let rt = runtime(None);
    let model = load(&rt, PENSION_AFTER_DEATH);
    let out = run_on_fixtures(&rt, &model, "330102", vec![], RunLimits::default());
    assert_eq!(out.clues.len(), 1);
    assert_eq!(out.stats.rows_read["pension_payments"], 6);
    assert_eq!(out.stats.rows_read["death_registrations"], 2);
}

/// Models are built with 1.5 MiB of linear memory to start with (`plugins/.cargo/config.toml`),
/// so a small run allocates without growing it: a grown memory must be shrunk again before
/// the next instance in its pooled slot starts, which cost a 1 M province's small runs a fifth
/// to two-fifths of their time in the sandbox (docs/benchmarks.md). The peak is the memory's
/// size, here its initial one.
#[test]
fn a_small_run_does_not_grow_its_memory() {
    let rt = runtime(None);
    let model = load(&rt, PENSION_AFTER_DEATH);
    for region in ["330000", "330102"] {
        let out = run_on_fixtures(&rt, &model, region, vec![], RunLimits::default());
        assert_eq!(out.outcome, Outcome::Succeeded);
        assert_eq!(out.stats.peak_memory_bytes, 1536 << 10, "{region}");
    }
}

#[test]
fn parameters_are_typed_and_change_results() {
    let rt = runtime(None);
    let model = load(&rt, PENSION_AFTER_DEATH);
    let out = run_on_fixtures(
        &rt,
        &model,
        "330000",
        vec![("grace_days".into(), Value::Integer(0))],
        RunLimits::default(),
    );
    // With no grace, the 2023-11-15 payment four days after death counts too.
    assert_eq!(out.clues.len(), 3);
    let err = rt
        .run(
            &model,
            supervise::runtime::RunRequest {
                info: supervise::runtime::RunInfo {
                    region: "330000".into(),
                    as_of: 0,
                    run_id: "x".into(),
                },
                params: vec![("grace_days".into(), Value::Text("soon".into()))],
                scope: None,
                limits: RunLimits::default(),
                source: std::sync::Arc::new(supervise::datasets::memory::MemorySource::default()),
                cancel: Default::default(),
            },
        )
        .expect_err("wrong type refused");
    assert!(err.to_string().contains("grace_days"), "{err}");
}
