//! Test-only guest: it recurses without a base case it can reach. Used by the host tests to
//! prove a misbehaving model fails its own run with a clear reason.
//!
//! The recursion keeps its state in Wasm locals (nothing address-taken), so it exhausts the
//! engine's call stack rather than the guest's shadow stack in linear memory.

use std::sync::atomic::{AtomicU64, Ordering};

use supervise_sdk::{ColumnType, Manifest, Model, Result, RunContext};

struct Guest;

static LIMIT: AtomicU64 = AtomicU64::new(u64::MAX);

#[inline(never)]
fn deeper(n: u64) -> u64 {
    if n >= LIMIT.load(Ordering::Relaxed) {
        return n;
    }
    deeper(n + 1).rotate_left(3) ^ n
}

impl Model for Guest {
    fn describe() -> Manifest {
        Manifest::new("test-stack", "test-stack", "0.1.0")
            .dataset(
                "death_registrations",
                "test",
                &[("death_date", ColumnType::Date)],
            )
            .clue_kind("test", "test")
    }

    fn run(ctx: &mut RunContext) -> Result<()> {
        let depth = deeper(0);
        ctx.info(&format!("returned from depth {depth}"));
        Ok(())
    }
}

supervise_sdk::export_model!(Guest);
