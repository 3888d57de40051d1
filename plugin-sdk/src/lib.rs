//! # supervise-sdk
//!
//! Write a digital supervision model for the Supervise platform: implement [`Model`], declare
//! the data it reads in a [`Manifest`], read [`Batch`]es of columns through [`RunContext`],
//! emit [`Clue`]s, and export it with [`export_model!`]. Build it for `wasm32-wasip2` and the
//! result is a component the platform can publish and run in its sandbox; test it natively
//! with [`testing::Fixture`], no Wasm involved.
//!
//! ```
//! use supervise_sdk::{ColumnType, Clue, Manifest, Model, Result, RunContext};
//!
//! struct LateDeaths;
//!
//! impl Model for LateDeaths {
//!     fn describe() -> Manifest {
//!         Manifest::new("late-deaths", "Late death registrations", "0.1.0")
//!             .summary("Deaths registered long after they happened.")
//!             .dataset("death_registrations", "the registrations", &[
//!                 ("record_id", ColumnType::Text),
//!                 ("death_date", ColumnType::Date),
//!                 ("registered_on", ColumnType::Date),
//!             ])
//!             .integer_param("max_days", 60, "days allowed between death and registration")
//!             .clue_kind("late-registration", "a death registered late")
//!     }
//!
//!     fn run(ctx: &mut RunContext) -> Result<()> {
//!         let max_days = ctx.param_integer("max_days")? as i32;
//!         for batch in ctx.scan("death_registrations", &["record_id", "death_date", "registered_on"])? {
//!             let batch = batch?;
//!             let (ids, died, reg) = (batch.text("record_id")?, batch.date("death_date")?, batch.date("registered_on")?);
//!             for row in 0..batch.rows() {
//!                 let (Some(id), Some(d), Some(r)) = (ids.get(row), died.get(row), reg.get(row)) else { continue };
//!                 if r.days_since(d) > max_days {
//!                     ctx.emit(Clue::new("late-registration", "record", id)
//!                         .reason(&format!("registered {} days after death", r.days_since(d))))?;
//!                 }
//!             }
//!         }
//!         Ok(())
//!     }
//! }
//!
//! supervise_sdk::export_model!(LateDeaths);
//!
//! # fn main() -> Result<()> {
//! use supervise_sdk::testing::{Fixture, Table};
//! let outcome = Fixture::new("330102", "2024-06-30")
//!     .table(Table::new("death_registrations")
//!         .text("record_id", &["D1", "D2"])
//!         .date("death_date", &["2024-01-01", "2024-01-01"])
//!         .date("registered_on", &["2024-01-10", "2024-05-01"]))
//!     .run::<LateDeaths>()?;
//! assert_eq!(outcome.clues.len(), 1);
//! assert_eq!(outcome.clues[0].subject_id(), "D2");
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

#[doc(hidden)]
pub mod bindings;

mod batch;
mod clue;
mod context;
mod error;
mod manifest;
pub mod testing;
mod values;

#[doc(hidden)]
pub mod guest;

pub mod alloc;

/// The model's global allocator in its component (feature `allocator`, on by default): see
/// [`alloc`]. Turn the feature off to install another.
#[cfg(all(
    feature = "allocator",
    target_family = "wasm",
    not(target_feature = "atomics")
))]
#[global_allocator]
static ALLOCATOR: alloc::GuestAllocator = alloc::GuestAllocator::new();

pub use batch::{Batch, Column, TextColumn};
pub use clue::{Clue, Evidence};
/// What a host implements to run a model natively, outside the sandbox (the test harness,
/// the benchmarks' native baseline). Not part of the stable API.
#[doc(hidden)]
pub use context::{Backend, IndexSource, RunInfo, ScanSource};
pub use context::{DEFAULT_BATCH_ROWS, Index, RunContext, Scan};
pub use error::{Error, Result};
pub use manifest::Manifest;
pub use values::{
    Date, Decimal, PassThroughHasher, Pseudonym, PseudonymFilter, PseudonymMap, PseudonymSet,
    TextHasher, TextMap, TextSet,
};

pub use bindings::supervise::model::log::Level;
pub use bindings::supervise::model::types::{ColumnType, ParamType, Value};

/// The generator the bindings come from, for authors who need raw access.
pub use wit_bindgen;

/// A digital supervision model.
pub trait Model {
    /// The manifest: identity, data scope, parameters, clue kinds. Must not do any I/O.
    fn describe() -> Manifest;

    /// Runs once over the run's scope, emitting clues through `ctx`. An error fails the run
    /// with its message as the reason.
    fn run(ctx: &mut RunContext) -> Result<()>;
}

/// Exports a type implementing [`Model`] as the component's `describe` and `run`.
///
/// Use it once, at the crate root of the model's `cdylib`. It expands to nothing when the
/// crate is compiled natively (for the test harness or a benchmark).
#[macro_export]
macro_rules! export_model {
    ($model:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __SuperviseExport;

            impl $crate::bindings::Guest for __SuperviseExport {
                fn describe() -> $crate::bindings::supervise::model::types::Manifest {
                    $crate::guest::describe::<$model>()
                }

                fn run() -> ::core::result::Result<(), $crate::bindings::supervise::model::types::Error> {
                    $crate::guest::run::<$model>()
                }
            }

            $crate::bindings::__export_model_world!(__SuperviseExport with_types_in $crate::bindings);
        };

        // Natively (harness, benchmarks) nothing is exported, but the model is still used.
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            let _ = <$model as $crate::Model>::describe;
            let _ = <$model as $crate::Model>::run;
        };
    };
}
