//! Test-only guest: it reads data outside its declared scope. Used by the host tests to prove a misbehaving model fails its
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
        manifest("test-undeclared").text_param("ask_for", "dataset", "`dataset` or `column`")
    }

    fn run(ctx: &mut RunContext) -> Result<()> {
        let scan = if ctx.param_text("ask_for")? == "column" {
            ctx.scan("death_registrations", &["death_date", "id_number"])?
        } else {
            ctx.scan("pension_payments", &["amount"])?
        };
        for batch in scan {
            batch?;
        }
        Ok(())
    }
}
supervise_sdk::export_model!(Guest);
