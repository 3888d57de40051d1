//! Test-only guest: it computes for a while (`spin` million steps), then emits one clue keyed
//! by its `tag` parameter (or, with an empty tag, by its region). Used by the run tests to
//! have a run in flight when a worker is killed, a run is cancelled or the database restarts,
//! and to count that each run's clue is written exactly once.

use supervise_sdk::{Clue, ColumnType, Manifest, Model, Result, RunContext};

struct Guest;

impl Model for Guest {
    fn describe() -> Manifest {
        Manifest::new("test-slow", "Slow test model", "0.1.0")
            .dataset(
                "death_registrations",
                "test",
                &[("death_date", ColumnType::Date)],
            )
            .integer_param("spin", 0, "million steps to compute before emitting")
            .text_param("tag", "", "the clue's dedup key (the region when empty)")
            .clue_kind("test", "test")
    }

    fn run(ctx: &mut RunContext) -> Result<()> {
        let spin = ctx.param_integer("spin")?.max(0) as u64 * 1_000_000;
        let mut x = 0u64;
        for i in 0..spin {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
        let tag = ctx.param_text("tag")?;
        let key = if tag.is_empty() {
            ctx.region().to_string()
        } else {
            tag
        };
        ctx.emit(
            Clue::new("test", "thing", &key)
                .dedup_key(&key)
                .reason(&format!("slow {key} ({})", x % 2)),
        )?;
        Ok(())
    }
}

supervise_sdk::export_model!(Guest);
