//! Hostile guests fail their own runs with a clear reason, within their limits, and the same
//! host process then runs a real model correctly.

use std::time::{Duration, Instant};

use supervise::runtime::limits::LimitExceeded;
use supervise::runtime::{Failure, Outcome, RunLimits, RunOutcome, Runtime, Value};
use supervise_test_guests as guests;

use crate::support::*;

fn run_hostile(
    rt: &Runtime,
    path: &str,
    params: Vec<(String, Value)>,
    limits: RunLimits,
) -> (RunOutcome, Duration) {
    let model = load(rt, path);
    let start = Instant::now();
    let out = run_on_fixtures(rt, &model, "330000", params, limits);
    (out, start.elapsed())
}

fn failure(out: &RunOutcome) -> &Failure {
    out.outcome
        .failure()
        .unwrap_or_else(|| panic!("run should fail: {out:?}"))
}

fn small() -> RunLimits {
    RunLimits {
        fuel: 2_000_000_000,
        memory_bytes: 64 << 20,
        wall_clock_ms: 20_000,
        max_clues: 1_000,
        max_log_bytes: 64 << 10,
        ..RunLimits::default()
    }
}

#[test]
fn every_hostile_guest_fails_its_own_run_and_the_host_carries_on() {
    let rt = runtime(None);

    let (out, _) = run_hostile(&rt, guests::TEST_LOOP, vec![], small());
    assert_eq!(failure(&out), &Failure::FuelExhausted(2_000_000_000));
    assert!(out.clues.is_empty());

    let limits = RunLimits {
        fuel: u64::MAX / 2,
        wall_clock_ms: 300,
        ..small()
    };
    let (out, took) = run_hostile(&rt, guests::TEST_LOOP, vec![], limits);
    assert!(
        matches!(out.outcome, Outcome::TimedOut(Failure::Deadline(300))),
        "{:?}",
        out.outcome
    );
    assert!(
        took < Duration::from_secs(5),
        "deadline not enforced: {took:?}"
    );

    let (out, _) = run_hostile(&rt, guests::TEST_MEMORY, vec![], small());
    match failure(&out) {
        Failure::Limit(LimitExceeded::Memory { cap: 64, requested }) => assert!(*requested > 64),
        other => panic!("expected the memory limit, got {other}"),
    }
    assert!(out.stats.peak_memory_bytes <= 64 << 20);

    let (out, _) = run_hostile(&rt, guests::TEST_STACK, vec![], small());
    assert_eq!(failure(&out), &Failure::StackOverflow, "{}", failure(&out));

    let (out, _) = run_hostile(&rt, guests::TEST_PANIC, vec![], small());
    match failure(&out) {
        Failure::Panic(msg) => assert!(msg.contains("deliberate panic in test guest"), "{msg}"),
        other => panic!("expected a panic, got {other}"),
    }

    let (out, _) = run_hostile(&rt, guests::TEST_EMIT_FLOOD, vec![], small());
    assert_eq!(
        failure(&out),
        &Failure::Limit(LimitExceeded::Clues { cap: 1_000 })
    );
    assert!(out.clues.is_empty(), "a failed run's clues are discarded");

    let (out, _) = run_hostile(&rt, guests::TEST_STDOUT_FLOOD, vec![], small());
    assert_eq!(
        failure(&out),
        &Failure::Output {
            stream: "stdout",
            cap: 64 << 10
        }
    );
    assert!(out.stdout.len() <= 64 << 10 && out.stdout.starts_with("line 0:"));

    let (out, _) = run_hostile(&rt, guests::TEST_UNDECLARED, vec![], small());
    assert_eq!(
        failure(&out),
        &Failure::Model("not declared: dataset `pension_payments`".into())
    );
    assert_eq!(out.denied, ["dataset `pension_payments`"]);

    let column = vec![("ask_for".to_string(), Value::Text("column".into()))];
    let (out, _) = run_hostile(&rt, guests::TEST_UNDECLARED, column, small());
    assert_eq!(
        failure(&out),
        &Failure::Model("not declared: column `death_registrations.id_number`".into())
    );

    // After all that, the same runtime runs a real model correctly.
    let model = load(&rt, guests::PENSION_AFTER_DEATH);
    let out = run_on_fixtures(&rt, &model, "330000", vec![], RunLimits::default());
    assert_eq!(out.outcome, Outcome::Succeeded);
    assert_eq!(out.clues.len(), 2);
}

#[test]
fn limits_outside_the_engine_ceiling_are_refused_before_running() {
    let rt = runtime(None);
    let model = load(&rt, guests::PENSION_AFTER_DEATH);
    let source = std::sync::Arc::new(supervise::datasets::memory::MemorySource::default());
    let request = |limits| supervise::runtime::RunRequest {
        info: supervise::runtime::RunInfo {
            region: "330000".into(),
            as_of: 0,
            run_id: "x".into(),
        },
        params: vec![],
        scope: None,
        limits,
        source: source.clone(),
        cancel: Default::default(),
    };
    let huge = RunLimits {
        memory_bytes: 64 << 30,
        ..RunLimits::default()
    };
    let err = rt.run(&model, request(huge)).expect_err("refused");
    assert!(err.to_string().contains("ceiling"), "{err}");
    let zero = RunLimits {
        fuel: 0,
        ..RunLimits::default()
    };
    assert!(rt.run(&model, request(zero)).is_err());
}

/// A run's linear memory is reused for the next run of the same model (the pooling
/// allocator's slot, reset with `memset` up to `KEEP_RESIDENT_BYTES` and only where the kernel
/// says pages were written, the rest given back): whatever one run leaves there (another
/// region's rows, say) must read as zeroes in the next, below and beyond the kept-resident part.
#[test]
fn memory_left_by_a_run_reads_as_zeroes_in_the_next() {
    let rt = runtime(None);
    let model = load(&rt, guests::TEST_RESIDUE);
    let limits = RunLimits {
        memory_bytes: 256 << 20,
        ..small()
    };
    let run = |mark: i64, mib: i64| {
        let params = vec![
            ("mark".to_string(), Value::Integer(mark)),
            ("mib".to_string(), Value::Integer(mib)),
        ];
        let out = run_on_fixtures(&rt, &model, "330000", params, limits.clone());
        assert!(out.outcome.failure().is_none(), "{:?}", out.outcome);
        out.clues[0].reason.clone()
    };
    for round in 0..3 {
        assert_eq!(run(1, 48), format!("marked {} bytes", 48 << 20));
        // The marking run's memory stayed with its slot, its written pages kept resident, and
        // it is the only slot ever used: the next run of the same model takes it (wasmtime
        // prefers a module's own warm slot), so what follows checks the reset of a reused
        // memory, not a fresh mapping.
        let (slots, resident) = rt.idle_memory_slots();
        assert!(
            slots == 1 && resident > 0,
            "{slots} idle slots, {resident} bytes resident"
        );
        // Grown a little further than the marking run, in case its allocator grew first.
        assert_eq!(
            run(0, 56),
            format!("residue 0 of {} bytes", 56 << 20),
            "round {round}"
        );
    }
}
