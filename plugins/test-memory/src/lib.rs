//! Test-only guest: it allocates until something stops it. Used by the host tests to prove a misbehaving model fails its
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
        manifest("test-memory")
    }

    fn run(_ctx: &mut RunContext) -> Result<()> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 1 << 20]);
            std::hint::black_box(&hoard);
        }
    }
}
supervise_sdk::export_model!(Guest);
