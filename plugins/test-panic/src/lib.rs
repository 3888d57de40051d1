//! Test-only guest: it panics. Used by the host tests to prove a misbehaving model fails its
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
        manifest("test-panic")
    }

    fn run(_ctx: &mut RunContext) -> Result<()> {
        let rows: Vec<u32> = std::hint::black_box(Vec::new());
        if rows.is_empty() {
            panic!("deliberate panic in test guest");
        }
        Ok(())
    }
}
supervise_sdk::export_model!(Guest);
