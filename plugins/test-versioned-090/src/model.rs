// One model, `test-versioned`, built at several versions (each crate's version) so registry
// tests can publish, upgrade and roll back. From 1.1.0 on it also reads `pay_date`.

use supervise_sdk::{Clue, ColumnType, Manifest, Model, Result, RunContext};

struct Versioned;

const VERSION: &str = env!("CARGO_PKG_VERSION");

impl Model for Versioned {
    fn describe() -> Manifest {
        let mut columns = vec![("payment_id", ColumnType::Text), ("amount", ColumnType::Decimal)];
        if VERSION >= "1.1.0" {
            columns.push(("pay_date", ColumnType::Date));
        }
        Manifest::new("test-versioned", "Versioned test model", VERSION)
            .summary("Emits one clue per payment above 3000, tagged with its version.")
            .dataset("pension_payments", "payments", &columns)
            .integer_param("threshold", 3000, "amount above which a payment is flagged")
            .clue_kind("large", "a large payment")
    }

    fn run(ctx: &mut RunContext) -> Result<()> {
        let threshold = ctx.param_integer("threshold")?;
        for batch in ctx.scan("pension_payments", &["payment_id", "amount"])? {
            let batch = batch?;
            let (ids, amounts) = (batch.text("payment_id")?, batch.decimal("amount")?);
            for row in 0..batch.rows() {
                if let (Some(id), Some(a)) = (ids.get(row), amounts.get(row))
                    && a.0 > threshold * 10_000
                {
                    ctx.emit(Clue::new("large", "payment", id).reason(&format!("v{VERSION}: {id} paid {a}")))?;
                }
            }
        }
        Ok(())
    }
}

supervise_sdk::export_model!(Versioned);
