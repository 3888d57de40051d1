//! Test-only guest: it recurses without a base case. Used by the host tests to prove a misbehaving model fails its
//! own run with a clear reason.

use supervise_sdk::{ColumnType, Manifest, Model, Result, RunContext};

struct Guest;

fn manifest(id: &str) -> Manifest {
    Manifest::new(id, id, "0.1.0")
        .dataset("death_registrations", "test", &[("death_date", ColumnType::Date)])
        .clue_kind("test", "test")
}

#[allow(unconditional_recursion)]
fn deeper(n: u64, pad: [u64; 16]) -> u64 {
    let pad = std::hint::black_box(pad);
    deeper(n + 1, pad) + pad[(n % 16) as usize]
}

impl Model for Guest {
    fn describe() -> Manifest {
        manifest("test-stack")
    }

    fn run(_ctx: &mut RunContext) -> Result<()> {
        std::hint::black_box(deeper(0, [7; 16]));
        Ok(())
    }
}
supervise_sdk::export_model!(Guest);
