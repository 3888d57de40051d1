//! `supervise:model/data`: scans and keyed look-ups, checked against the run's approved
//! scope before the data source is asked. Out-of-scope requests return `not-declared` and are
//! recorded with the run.

use wasmtime::component::Resource;

use crate::runtime::bindings::supervise::model::data::{Host, HostIndex, HostScan};
use crate::runtime::bindings::{Batch, ColumnValues, WitError};
use crate::runtime::source::{BatchReader, ColumnRequest, KeyIndex, ScanRequest, SourceError};
use crate::runtime::state::RunState;

/// Most columns one request may name.
const MAX_COLUMNS: usize = 256;

/// An open scan, held in the run's resource table.
pub struct ScanHandle {
    dataset: String,
    reader: Box<dyn BatchReader>,
}

/// An open index, held in the run's resource table.
pub struct IndexHandle {
    dataset: String,
    index: Box<dyn KeyIndex>,
}

impl RunState {
    /// Checks a request against the scope; a denial is recorded and returned as the WIT error.
    fn request(
        &mut self,
        dataset: &str,
        columns: &[String],
    ) -> wasmtime::Result<Result<ScanRequest, WitError>> {
        if columns.is_empty() || columns.len() > MAX_COLUMNS {
            return Ok(Err(WitError::InvalidArgument(format!(
                "ask for 1 to {MAX_COLUMNS} columns, not {}",
                columns.len()
            ))));
        }
        let run = self.scope()?;
        let mut out = Vec::with_capacity(columns.len());
        for c in columns {
            match run.scope.check(dataset, c) {
                Ok(ty) => out.push(ColumnRequest {
                    name: c.clone(),
                    ty,
                }),
                Err(what) => {
                    tracing::warn!(dataset, column = %c, "model asked for data outside its scope");
                    self.out.denied.push(what.clone());
                    return Ok(Err(WitError::NotDeclared(what)));
                }
            }
        }
        Ok(Ok(ScanRequest {
            dataset: dataset.to_string(),
            columns: out,
            region: run.info.region.clone(),
        }))
    }
}

/// A source fault fails the run (trap), except a key type mismatch, which is the model's.
fn source_fault<T>(e: SourceError) -> wasmtime::Result<Result<T, WitError>> {
    match e {
        SourceError::KeyType(_) | SourceError::MalformedKeys(_) => {
            Ok(Err(WitError::InvalidArgument(e.to_string())))
        }
        other => Err(wasmtime::Error::new(other)),
    }
}

impl Host for RunState {
    fn open_scan(
        &mut self,
        dataset: String,
        columns: Vec<String>,
    ) -> wasmtime::Result<Result<Resource<ScanHandle>, WitError>> {
        let request = match self.request(&dataset, &columns)? {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let reader = match self.scope()?.source.scan(&request) {
            Ok(r) => r,
            Err(e) => return source_fault(e),
        };
        Ok(Ok(self.table.push(ScanHandle { dataset, reader })?))
    }

    fn open_index(
        &mut self,
        dataset: String,
        key_column: String,
        columns: Vec<String>,
    ) -> wasmtime::Result<Result<Resource<IndexHandle>, WitError>> {
        let mut all = columns.clone();
        all.push(key_column);
        let mut request = match self.request(&dataset, &all)? {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let Some(key) = request.columns.pop() else {
            return Ok(Err(WitError::InvalidArgument("no key column".into())));
        };
        if columns.is_empty() {
            return Ok(Err(WitError::InvalidArgument(
                "ask for at least one column".into(),
            )));
        }
        let index = match self.scope()?.source.index(&request, &key) {
            Ok(i) => i,
            Err(SourceError::BadKey(k)) => {
                return Ok(Err(WitError::InvalidArgument(format!(
                    "`{k}` cannot be a key"
                ))));
            }
            Err(e) => return source_fault(e),
        };
        Ok(Ok(self.table.push(IndexHandle { dataset, index })?))
    }
}

impl HostScan for RunState {
    fn next_batch(
        &mut self,
        scan: Resource<ScanHandle>,
        max_rows: u32,
    ) -> wasmtime::Result<Result<Option<Batch>, WitError>> {
        let cap = self.limits.max_batch_rows;
        if max_rows == 0 {
            return Ok(Err(WitError::InvalidArgument(
                "max-rows must be at least 1".into(),
            )));
        }
        let rows = max_rows.min(cap) as usize;
        let handle = self.table.get_mut(&scan)?;
        let batch = match handle.reader.next_batch(rows) {
            Ok(b) => b,
            Err(e) => return source_fault(e),
        };
        if let Some(b) = &batch {
            let dataset = handle.dataset.clone();
            self.count_rows(&dataset, b.rows);
        }
        Ok(Ok(batch))
    }

    fn drop(&mut self, scan: Resource<ScanHandle>) -> wasmtime::Result<()> {
        self.table.delete(scan)?;
        Ok(())
    }
}

impl HostIndex for RunState {
    fn get_many(
        &mut self,
        index: Resource<IndexHandle>,
        keys: ColumnValues,
    ) -> wasmtime::Result<Result<(Batch, Vec<u32>), WitError>> {
        let cap = self.limits.max_batch_rows as usize;
        let handle = self.table.get_mut(&index)?;
        let found = match handle.index.get_many(&keys, cap) {
            Ok(Some(found)) => found,
            Ok(None) => {
                return Ok(Err(WitError::LimitExceeded(format!(
                    "look-up matched more than {cap} rows: ask for fewer keys at a time"
                ))));
            }
            Err(e) => return source_fault(e),
        };
        let dataset = handle.dataset.clone();
        self.count_rows(&dataset, found.0.rows);
        Ok(Ok(found))
    }

    fn drop(&mut self, index: Resource<IndexHandle>) -> wasmtime::Result<()> {
        self.table.delete(index)?;
        Ok(())
    }
}
