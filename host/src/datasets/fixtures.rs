//! Fixture files: one CSV per dataset in a directory, typed by the model's manifest, loaded
//! into a [`MemorySource`]. This is what `supervise model test --data DIR` runs a model on.
//!
//! `DIR/<dataset>.csv` must have a header naming at least every column the model declares for
//! that dataset; an optional `region_code` column scopes rows to the run's region. Empty
//! cells are nulls. Pseudonym columns hold raw identifiers, hashed with the public
//! [`FIXTURE_KEY`](super::pseudonym::FIXTURE_KEY).

use std::path::{Path, PathBuf};

use crate::runtime::bindings::{ColumnType, Manifest};

use super::columns::ColumnBuilder;
use super::memory::{MemorySource, MemoryTable, REGION_COLUMN};
use super::pseudonym::Pseudonymizer;

/// Why fixture files could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// The data directory does not exist.
    #[error("data directory {0} does not exist")]
    NoDir(PathBuf),
    /// A declared dataset has no file.
    #[error("no fixture file {path} for dataset `{dataset}` (the model reads it)")]
    Missing {
        /// Dataset.
        dataset: String,
        /// Expected path.
        path: PathBuf,
    },
    /// A declared column is not in the header.
    #[error("{path}: no column `{column}` (the model reads it as {ty}); the header has: {header}")]
    Column {
        /// File.
        path: PathBuf,
        /// Column.
        column: String,
        /// Declared type.
        ty: ColumnType,
        /// The header found.
        header: String,
    },
    /// A cell that does not parse.
    #[error("{path} line {line}, column `{column}`: {reason}")]
    Value {
        /// File.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// Column.
        column: String,
        /// What is wrong.
        reason: String,
    },
    /// The CSV is malformed or unreadable.
    #[error("{path}: {reason}")]
    Csv {
        /// File.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Loads `DIR/<dataset>.csv` for every dataset `manifest` declares.
pub fn load_dir(
    dir: &Path,
    manifest: &Manifest,
    pseudo: &Pseudonymizer,
) -> Result<MemorySource, FixtureError> {
    if !dir.is_dir() {
        return Err(FixtureError::NoDir(dir.to_path_buf()));
    }
    let mut source = MemorySource::default();
    for d in &manifest.datasets {
        let path = dir.join(format!("{}.csv", d.name));
        if !path.is_file() {
            return Err(FixtureError::Missing {
                dataset: d.name.clone(),
                path,
            });
        }
        let mut columns: Vec<(String, ColumnType)> = d
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.type_))
            .collect();
        let table = load_csv(&path, &mut columns, pseudo)?;
        source.insert(&d.name, table);
    }
    Ok(source)
}

fn csv_error(path: &Path, e: &csv::Error) -> FixtureError {
    let reason = match e.position() {
        Some(p) => format!("line {}: {e}", p.line()),
        None => e.to_string(),
    };
    FixtureError::Csv {
        path: path.to_path_buf(),
        reason,
    }
}

/// Loads one CSV with the given columns (plus `region_code` when present).
pub fn load_csv(
    path: &Path,
    columns: &mut Vec<(String, ColumnType)>,
    pseudo: &Pseudonymizer,
) -> Result<MemoryTable, FixtureError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .map_err(|e| csv_error(path, &e))?;
    let header = reader.headers().map_err(|e| csv_error(path, &e))?.clone();
    let position = |name: &str| header.iter().position(|h| h.trim() == name);
    if position(REGION_COLUMN).is_some() && !columns.iter().any(|(n, _)| n == REGION_COLUMN) {
        columns.push((REGION_COLUMN.to_string(), ColumnType::Text));
    }
    let mut slots = Vec::with_capacity(columns.len());
    for (name, ty) in columns.iter() {
        let at = position(name).ok_or_else(|| FixtureError::Column {
            path: path.to_path_buf(),
            column: name.clone(),
            ty: *ty,
            header: header.iter().collect::<Vec<_>>().join(", "),
        })?;
        slots.push((at, name.clone(), ColumnBuilder::new(*ty)));
    }
    let mut record = csv::StringRecord::new();
    while reader
        .read_record(&mut record)
        .map_err(|e| csv_error(path, &e))?
    {
        let line = record.position().map_or(0, |p| p.line());
        for (at, name, builder) in &mut slots {
            let cell = record.get(*at).unwrap_or("");
            if cell.is_empty() {
                builder.push_null();
            } else {
                builder
                    .push_str(cell, pseudo)
                    .map_err(|reason| FixtureError::Value {
                        path: path.to_path_buf(),
                        line,
                        column: name.clone(),
                        reason,
                    })?;
            }
        }
    }
    let mut table = MemoryTable::default();
    for (_, name, builder) in slots {
        table
            .add(&name, builder.finish())
            .map_err(|reason| FixtureError::Csv {
                path: path.to_path_buf(),
                reason,
            })?;
    }
    Ok(table)
}
