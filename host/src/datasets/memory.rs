//! An in-memory [`DataSource`]: tables of [`StoredColumn`]s, scoped by region. Serves
//! fixture files and benchmarks; the database-backed source has the same behaviour.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::runtime::bindings::{Batch, ColumnType, ColumnValues};
use crate::runtime::source::{
    BatchReader, ColumnRequest, DataSource, KeyIndex, ScanRequest, SourceError,
};

use super::columns::{Rows, StoredColumn};
use super::region;

/// The column holding each row's region code, by the province's naming standard.
pub const REGION_COLUMN: &str = "region_code";

/// One dataset held in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryTable {
    columns: BTreeMap<String, Arc<StoredColumn>>,
    rows: usize,
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
        Ok(())
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

/// A hashable look-up key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Text(Box<[u8]>),
    Word(i64),
    Pair(u64, u64),
}

fn keys_of(values: &ColumnValues) -> Vec<Key> {
    match values {
        ColumnValues::Text(t) => t
            .offsets
            .windows(2)
            .map(|w| Key::Text(t.data[w[0] as usize..w[1] as usize].into()))
            .collect(),
        ColumnValues::Integer(v) | ColumnValues::Timestamp(v) | ColumnValues::Decimal(v) => {
            v.iter().map(|x| Key::Word(*x)).collect()
        }
        ColumnValues::Date(v) => v.iter().map(|x| Key::Word(i64::from(*x))).collect(),
        ColumnValues::Boolean(v) => v.iter().map(|x| Key::Word(i64::from(*x))).collect(),
        ColumnValues::Pseudonym(v) => v.chunks_exact(2).map(|p| Key::Pair(p[0], p[1])).collect(),
    }
}

fn type_of(values: &ColumnValues) -> ColumnType {
    match values {
        ColumnValues::Text(_) => ColumnType::Text,
        ColumnValues::Integer(_) => ColumnType::Integer,
        ColumnValues::Decimal(_) => ColumnType::Decimal,
        ColumnValues::Date(_) => ColumnType::Date,
        ColumnValues::Timestamp(_) => ColumnType::Timestamp,
        ColumnValues::Boolean(_) => ColumnType::Boolean,
        ColumnValues::Pseudonym(_) => ColumnType::Pseudonym,
    }
}

struct MemoryIndex {
    columns: Vec<(String, Arc<StoredColumn>)>,
    key_type: ColumnType,
    map: HashMap<Key, Vec<u32>>,
}

impl KeyIndex for MemoryIndex {
    fn get_many(
        &mut self,
        keys: &ColumnValues,
        max_rows: usize,
    ) -> Result<Option<(Batch, Vec<u32>)>, SourceError> {
        if type_of(keys) != self.key_type {
            return Err(SourceError::KeyType(self.key_type));
        }
        let mut rows = Vec::new();
        let mut positions = Vec::new();
        for (i, k) in keys_of(keys).iter().enumerate() {
            if let Some(hits) = self.map.get(k) {
                if rows.len() + hits.len() > max_rows {
                    return Ok(None);
                }
                rows.extend_from_slice(hits);
                positions.extend(std::iter::repeat_n(i as u32, hits.len()));
            }
        }
        let columns = self
            .columns
            .iter()
            .map(|(name, c)| c.gather(name, &Rows::List(&rows)))
            .collect();
        Ok(Some((
            Batch {
                rows: rows.len() as u32,
                columns,
            },
            positions,
        )))
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

    fn index(
        &self,
        request: &ScanRequest,
        key: &ColumnRequest,
    ) -> Result<Box<dyn KeyIndex>, SourceError> {
        if matches!(key.ty, ColumnType::Boolean | ColumnType::Decimal) {
            return Err(SourceError::BadKey(key.name.clone()));
        }
        let mut with_key = request.clone();
        with_key.columns.push(key.clone());
        let (mut columns, selection, total) = self.open(&with_key)?;
        let Some((_, key_col)) = columns.pop() else {
            return Err(SourceError::BadKey(key.name.clone()));
        };
        let keys = keys_of(&key_col.values);
        let mut map: HashMap<Key, Vec<u32>> = HashMap::new();
        let mut add = |i: usize| {
            if key_col.is_valid(i) {
                map.entry(keys[i].clone()).or_default().push(i as u32);
            }
        };
        match selection {
            Some(sel) => sel.iter().for_each(|&i| add(i as usize)),
            None => (0..total).for_each(add),
        }
        Ok(Box::new(MemoryIndex {
            columns,
            key_type: key.ty,
            map,
        }))
    }
}
