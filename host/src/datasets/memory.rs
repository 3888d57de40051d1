//! An in-memory [`DataSource`]: tables of [`StoredColumn`]s, scoped by region. Serves
//! fixture files and benchmarks; the database-backed source has the same behaviour.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::runtime::bindings::Batch;
use crate::runtime::source::{
    BatchReader, ColumnRequest, DataSource, KeyIndex, ScanRequest, SourceError,
};

use super::columns::{Rows, StoredColumn};
use super::keys::{self, KeyRows, Part, PartsIndex};
use super::region;

/// The column holding each row's region code, by the province's naming standard.
pub const REGION_COLUMN: &str = "region_code";

/// One dataset held in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryTable {
    columns: BTreeMap<String, Arc<StoredColumn>>,
    rows: usize,
    /// Key rows per key column, built on a column's first look-up.
    keys: Arc<Mutex<BTreeMap<String, Arc<KeyRows>>>>,
}

impl MemoryTable {
    /// Adds a column; all columns must have the same length.
    pub fn add(&mut self, name: &str, column: StoredColumn) -> Result<(), String> {
        if !self.columns.is_empty() && column.len() != self.rows {
            return Err(format!(
                "column `{name}` has {} rows, the table {}",
                column.len(),
                self.rows
            ));
        }
        self.rows = column.len();
        self.columns.insert(name.to_string(), Arc::new(column));
        // Key rows built before belong to the columns as they were (and to clones).
        self.keys = Arc::default();
        Ok(())
    }

    /// The key rows of `column` (named `name`), built on first use.
    fn key_rows(&self, name: &str, column: &StoredColumn) -> Arc<KeyRows> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.entry(name.to_string())
            .or_insert_with(|| Arc::new(KeyRows::build(column)))
            .clone()
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Rows whose region code lies under `scope`; `None` when every row is in scope (or the
    /// table has no region column), so scans serve contiguous slices.
    fn rows_under(&self, scope: &str) -> Option<Vec<u32>> {
        let col = self.columns.get(REGION_COLUMN)?;
        let rows: Vec<u32> = (0..self.rows)
            .filter(|&i| col.text_at(i).is_some_and(|c| region::covers(scope, c)))
            .map(|i| i as u32)
            .collect();
        (rows.len() < self.rows).then_some(rows)
    }

    fn project(
        &self,
        dataset: &str,
        columns: &[ColumnRequest],
    ) -> Result<Vec<(String, Arc<StoredColumn>)>, SourceError> {
        columns
            .iter()
            .map(|c| {
                let col = self
                    .columns
                    .get(&c.name)
                    .ok_or_else(|| SourceError::UnknownColumn {
                        dataset: dataset.into(),
                        column: c.name.clone(),
                    })?;
                if col.ty != c.ty {
                    return Err(SourceError::TypeMismatch {
                        dataset: dataset.into(),
                        column: c.name.clone(),
                        actual: col.ty,
                        expected: c.ty,
                    });
                }
                Ok((c.name.clone(), col.clone()))
            })
            .collect()
    }
}

/// A dataset opened for a request: projected columns, the rows in scope (`None`: all), rows.
type Opened = (Vec<(String, Arc<StoredColumn>)>, Option<Vec<u32>>, usize);

/// Datasets held in memory.
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    tables: BTreeMap<String, Arc<MemoryTable>>,
}

impl MemorySource {
    /// Adds (or replaces) a dataset.
    pub fn insert(&mut self, dataset: &str, table: MemoryTable) {
        self.tables.insert(dataset.to_string(), Arc::new(table));
    }

    /// A dataset by name.
    pub fn table(&self, dataset: &str) -> Option<&MemoryTable> {
        self.tables.get(dataset).map(|t| t.as_ref())
    }

    fn open(&self, request: &ScanRequest) -> Result<Opened, SourceError> {
        let table = self
            .tables
            .get(&request.dataset)
            .ok_or_else(|| SourceError::UnknownDataset(request.dataset.clone()))?;
        let cols = table.project(&request.dataset, &request.columns)?;
        Ok((cols, table.rows_under(&request.region), table.rows))
    }
}

struct MemoryScan {
    columns: Vec<(String, Arc<StoredColumn>)>,
    selection: Option<Vec<u32>>,
    total: usize,
    pos: usize,
}

impl BatchReader for MemoryScan {
    fn next_batch(&mut self, max_rows: usize) -> Result<Option<Batch>, SourceError> {
        let n = self.selection.as_ref().map_or(self.total, Vec::len);
        if self.pos >= n {
            return Ok(None);
        }
        let end = (self.pos + max_rows).min(n);
        let rows = match &self.selection {
            None => Rows::Range(self.pos..end),
            Some(sel) => Rows::List(&sel[self.pos..end]),
        };
        let columns = self
            .columns
            .iter()
            .map(|(name, c)| c.gather(name, &rows))
            .collect();
        let count = (end - self.pos) as u32;
        self.pos = end;
        Ok(Some(Batch {
            rows: count,
            columns,
        }))
    }
}

impl DataSource for MemorySource {
    fn scan(&self, request: &ScanRequest) -> Result<Box<dyn BatchReader>, SourceError> {
        let (columns, selection, total) = self.open(request)?;
        Ok(Box::new(MemoryScan {
            columns,
            selection,
            total,
            pos: 0,
        }))
    }

    /// One part over the whole table, its key rows built on the first look-up of that
    /// column and kept with the table; rows outside the region are left out at look-up.
    fn index(
        &self,
        request: &ScanRequest,
        key: &ColumnRequest,
    ) -> Result<Box<dyn KeyIndex>, SourceError> {
        if !keys::can_be_key(key.ty) {
            return Err(SourceError::BadKey(key.name.clone()));
        }
        let mut with_key = request.clone();
        with_key.columns.push(key.clone());
        let table = self
            .tables
            .get(&request.dataset)
            .ok_or_else(|| SourceError::UnknownDataset(request.dataset.clone()))?;
        let mut columns: Vec<Arc<StoredColumn>> = table
            .project(&request.dataset, &with_key.columns)?
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        let Some(key_column) = columns.pop() else {
            return Err(SourceError::BadKey(key.name.clone()));
        };
        let part = Part {
            columns,
            keys: table.key_rows(&key.name, &key_column),
            key_column: Some(key_column),
            region: table.columns.get(REGION_COLUMN).cloned(),
        };
        Ok(Box::new(PartsIndex::new(
            request.columns.clone(),
            key.ty,
            &request.region,
            vec![part],
        )))
    }
}
