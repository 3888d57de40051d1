//! Where a run's data comes from: the [`DataSource`] trait the sandbox's scans and look-ups
//! are served by, and the [`Scope`] that says what a run may see. Scope is enforced by the
//! runtime before a source is asked; a source only has to honour the region.

use std::collections::BTreeMap;

use super::bindings::{Batch, ColumnType, ColumnValues, DatasetUse};

/// A fault of the data source: the run fails with it as the reason (it is not the model's
/// mistake, so the model does not get to handle it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The dataset does not exist in the source.
    #[error("dataset `{0}` is not available")]
    UnknownDataset(String),
    /// The column does not exist in the dataset.
    #[error("dataset `{dataset}` has no column `{column}`")]
    UnknownColumn {
        /// Dataset.
        dataset: String,
        /// Column.
        column: String,
    },
    /// The column exists with another type than the model expects.
    #[error("column `{dataset}.{column}` is {actual}, the model expects {expected}")]
    TypeMismatch {
        /// Dataset.
        dataset: String,
        /// Column.
        column: String,
        /// Type in the source.
        actual: ColumnType,
        /// Type declared by the model.
        expected: ColumnType,
    },
    /// The key column cannot be indexed.
    #[error("column `{0}` cannot be a look-up key (booleans and decimals cannot)")]
    BadKey(String),
    /// Look-up keys of the wrong type; the model's mistake, returned as a WIT error.
    #[error("look-up keys are not of the key column's type {0}")]
    KeyType(ColumnType),
    /// Look-up keys whose layout is broken (text offsets out of order or past the data, a
    /// pseudonym list of odd length); the model's mistake, returned as a WIT error.
    #[error("look-up keys are malformed: {0}")]
    MalformedKeys(String),
    /// The backing store failed.
    #[error("data source failed: {0}")]
    Backend(String),
}

/// A column requested with the type the model declared for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnRequest {
    /// Column name.
    pub name: String,
    /// Declared type.
    pub ty: ColumnType,
}

/// A scan or index request that passed the scope check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanRequest {
    /// Dataset name.
    pub dataset: String,
    /// Columns, in the order to return them.
    pub columns: Vec<ColumnRequest>,
    /// The region code the run covers: only rows under it may be returned.
    pub region: String,
}

/// Batches of one scan, in order.
pub trait BatchReader: Send {
    /// The next batch of at most `max_rows` rows, `None` at the end.
    fn next_batch(&mut self, max_rows: usize) -> Result<Option<Batch>, SourceError>;
}

/// A keyed look-up built once per run.
pub trait KeyIndex: Send {
    /// The rows matching `keys` (at most `max_rows`, else `Ok(None)`), with per row the
    /// position of its key.
    fn get_many(
        &mut self,
        keys: &ColumnValues,
        max_rows: usize,
    ) -> Result<Option<(Batch, Vec<u32>)>, SourceError>;
}

/// The data a run reads.
pub trait DataSource: Send + Sync {
    /// Opens a scan.
    fn scan(&self, request: &ScanRequest) -> Result<Box<dyn BatchReader>, SourceError>;

    /// Builds an index of `request.dataset` on `key`, returning `request.columns`.
    fn index(
        &self,
        request: &ScanRequest,
        key: &ColumnRequest,
    ) -> Result<Box<dyn KeyIndex>, SourceError>;
}

/// What a run may read: per dataset, the columns and their types. Built from the manifest
/// (everything declared) or from an enablement's approved scope (possibly narrower).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    datasets: BTreeMap<String, BTreeMap<String, ColumnType>>,
}

impl Scope {
    /// Everything a manifest declares.
    pub fn declared(datasets: &[DatasetUse]) -> Self {
        let mut scope = Scope::default();
        for d in datasets {
            for c in &d.columns {
                scope.allow(&d.name, &c.name, c.type_);
            }
        }
        scope
    }

    /// Allows one column.
    pub fn allow(&mut self, dataset: &str, column: &str, ty: ColumnType) {
        self.datasets
            .entry(dataset.to_string())
            .or_default()
            .insert(column.to_string(), ty);
    }

    /// The type of an allowed column, or the `dataset` or `dataset.column` that is not allowed.
    pub fn check(&self, dataset: &str, column: &str) -> Result<ColumnType, String> {
        let cols = self
            .datasets
            .get(dataset)
            .ok_or_else(|| format!("dataset `{dataset}`"))?;
        cols.get(column)
            .copied()
            .ok_or_else(|| format!("column `{dataset}.{column}`"))
    }

    /// The allowed datasets and their columns.
    pub fn datasets(&self) -> impl Iterator<Item = (&str, &BTreeMap<String, ColumnType>)> {
        self.datasets.iter().map(|(k, v)| (k.as_str(), v))
    }
}
