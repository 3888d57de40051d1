//! The sandbox side: a [`Backend`] over the contract's imports, and the glue the
//! [`export_model!`](crate::export_model) macro expands to.

use crate::bindings::supervise::model::{clues, context, data, log, types as wit};
use crate::context::{Backend, IndexSource, RunInfo, ScanSource};
use crate::{Date, Level, Manifest, Model, Result, RunContext, Value};

struct Imports;

impl Backend for Imports {
    fn run_info(&mut self) -> RunInfo {
        let c = context::current();
        RunInfo {
            region: c.region,
            as_of: Date(c.as_of),
            run_id: c.run_id,
        }
    }

    fn params(&mut self) -> Vec<(String, Value)> {
        context::params()
    }

    fn open_scan(&mut self, dataset: &str, columns: &[String]) -> Result<Box<dyn ScanSource>> {
        Ok(Box::new(data::open_scan(dataset, columns)?))
    }

    fn open_index(
        &mut self,
        dataset: &str,
        key_column: &str,
        columns: &[String],
    ) -> Result<Box<dyn IndexSource>> {
        Ok(Box::new(data::open_index(dataset, key_column, columns)?))
    }

    fn emit(&mut self, batch: &[clues::Clue]) -> Result<()> {
        Ok(clues::emit(batch)?)
    }

    fn log(&mut self, level: Level, message: &str) {
        log::log(level, message);
    }
}

impl ScanSource for data::Scan {
    fn next_batch(&mut self, max_rows: u32) -> Result<Option<wit::Batch>> {
        Ok(data::Scan::next_batch(self, max_rows)?)
    }
}

impl IndexSource for data::Index {
    fn get_many(&mut self, keys: &wit::ColumnValues) -> Result<(wit::Batch, Vec<u32>)> {
        Ok(data::Index::get_many(self, keys)?)
    }
}

/// `describe` for model `M`.
pub fn describe<M: Model>() -> wit::Manifest {
    let Manifest(m) = M::describe();
    m
}

/// `run` for model `M`: installs a panic hook that logs the panic message, runs the model,
/// flushes its clues.
pub fn run<M: Model>() -> std::result::Result<(), wit::Error> {
    std::panic::set_hook(Box::new(|info| {
        log::log(Level::Error, &format!("panic: {info}"));
    }));
    let mut imports = Imports;
    let mut ctx = RunContext::new(&mut imports);
    M::run(&mut ctx)?;
    ctx.flush()?;
    Ok(())
}
