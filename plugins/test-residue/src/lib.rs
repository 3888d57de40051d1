//! Test-only guest: with `mark` set it grows its linear memory by `mib` MiB and fills the new
//! pages with a pattern; otherwise it grows its memory by `mib` MiB and counts the bytes of
//! the new pages that are not zero. WebAssembly promises that grown memory reads as zeroes,
//! and the host reuses a finished run's memory for the next instance: the runtime tests mark
//! in one run and count in the next, so a reset that missed a page shows as residue.

use supervise_sdk::{Clue, ColumnType, Error, Manifest, Model, Result, RunContext};

struct Guest;

const PAGE: usize = 64 << 10;

impl Model for Guest {
    fn describe() -> Manifest {
        Manifest::new("test-residue", "Memory residue test model", "0.1.0")
            .dataset(
                "death_registrations",
                "test",
                &[("death_date", ColumnType::Date)],
            )
            .integer_param(
                "mark",
                0,
                "1 to fill the grown pages, 0 to count what is in them",
            )
            .integer_param("mib", 48, "MiB of memory to grow by")
            .clue_kind("test", "test")
    }

    fn run(ctx: &mut RunContext) -> Result<()> {
        let mark = ctx.param_integer("mark")? != 0;
        let bytes = usize::try_from(ctx.param_integer("mib")?)
            .map_err(|_| Error::model("mib must be 0 or more"))?
            << 20;
        let base = grow(bytes.div_ceil(PAGE))?;
        // SAFETY: the pages from `base` were just added to this instance's linear memory by
        // `memory.grow`; nothing else (the allocator included) knows of them.
        let pages = unsafe { std::slice::from_raw_parts_mut(base as *mut u8, bytes) };
        let reason = if mark {
            pages.fill(0xA5);
            format!("marked {bytes} bytes")
        } else {
            let residue = pages.iter().filter(|b| **b != 0).count();
            format!("residue {residue} of {bytes} bytes")
        };
        ctx.emit(
            Clue::new("test", "memory", "grown")
                .dedup_key("grown")
                .reason(&reason),
        )?;
        Ok(())
    }
}

/// Grows memory 0 by `pages` pages; the address of the first new byte.
#[cfg(target_arch = "wasm32")]
fn grow(pages: usize) -> Result<usize> {
    let old = core::arch::wasm32::memory_grow(0, pages);
    if old == usize::MAX {
        return Err(Error::model(format!("memory.grow by {pages} pages failed")));
    }
    Ok(old * PAGE)
}

/// Natively there is no linear memory to grow: a zeroed, leaked allocation stands in.
#[cfg(not(target_arch = "wasm32"))]
fn grow(pages: usize) -> Result<usize> {
    Ok(vec![0u8; pages * PAGE].leak().as_mut_ptr() as usize)
}

supervise_sdk::export_model!(Guest);
