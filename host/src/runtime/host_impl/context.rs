//! `supervise:model/context`: the run's facts and parameter values.

use crate::runtime::bindings::supervise::model::context::{Host, RunContext};
use crate::runtime::bindings::{Value, WitError};
use crate::runtime::state::RunState;

impl Host for RunState {
    fn current(&mut self) -> wasmtime::Result<RunContext> {
        let info = &self.scope()?.info;
        Ok(RunContext {
            region: info.region.clone(),
            as_of: info.as_of,
            run_id: info.run_id.clone(),
        })
    }

    fn params(&mut self) -> wasmtime::Result<Vec<(String, Value)>> {
        Ok(self.scope()?.params.clone())
    }

    fn param(&mut self, name: String) -> wasmtime::Result<Result<Value, WitError>> {
        let found = self.scope()?.params.iter().find(|(n, _)| *n == name);
        Ok(found
            .map(|(_, v)| v.clone())
            .ok_or_else(|| WitError::NotFound(format!("parameter `{name}`"))))
    }
}
