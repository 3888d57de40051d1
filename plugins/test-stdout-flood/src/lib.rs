//! Test-only guest: it prints without end. Used by the host tests to prove a misbehaving model fails its
//! own run with a clear reason.

use supervise_sdk::{ColumnType, Manifest, Model, Result, RunContext};

struct Guest;

fn manifest(id: &str) -> Manifest {
    Manifest::new(id, id, "0.1.0")
        .dataset(
            "death_registrations",
            "test",
            &[("death_date", ColumnType::Date)],
        )
        .clue_kind("test", "test")
}

impl Model for Guest {
    fn describe() -> Manifest {
        manifest("test-stdout-flood")
    }

    fn run(_ctx: &mut RunContext) -> Result<()> {
        for i in 0u64.. {
            println!("line {i}: the quick brown fox jumps over the lazy dog");
        }
        Ok(())
    }
}
supervise_sdk::export_model!(Guest);
