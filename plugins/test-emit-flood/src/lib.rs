//! Test-only guest: it emits clues without end. Used by the host tests to prove a misbehaving model fails its
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

use supervise_sdk::Clue;

impl Model for Guest {
    fn describe() -> Manifest {
        manifest("test-emit-flood")
    }

    fn run(ctx: &mut RunContext) -> Result<()> {
        for i in 0u64.. {
            let id = i.to_string();
            ctx.emit(Clue::new("test", "thing", &id).reason("flood"))?;
        }
        Ok(())
    }
}
supervise_sdk::export_model!(Guest);
