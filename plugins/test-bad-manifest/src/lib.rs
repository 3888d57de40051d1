//! Test-only guest: its manifest is malformed (an id with spaces and capitals, no clue
//! kinds), so publishing it must be refused with the reason.

use supervise_sdk::{ColumnType, Manifest, Model, Result, RunContext};

struct Bad;

impl Model for Bad {
    fn describe() -> Manifest {
        Manifest::new("Bad Model!", "bad", "0.1.0").dataset(
            "pension_payments",
            "x",
            &[("amount", ColumnType::Decimal)],
        )
    }

    fn run(_ctx: &mut RunContext) -> Result<()> {
        Ok(())
    }
}

supervise_sdk::export_model!(Bad);
