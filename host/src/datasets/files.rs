//! Column files for committed imports that have none: made before the store kept column
//! files, or imported through another machine (see [`crate::store::files`]). Each import's
//! columns are read from the database chunk by chunk, written into a staging directory and
//! moved under the import's number whole, as an import does; raw identifiers stay behind.
//! Beside each pseudonym column go its key rows: those its import kept, or, for an import made
//! before imports kept them, built here ([`stage_chunk`]).

use sqlx::Row;

use crate::runtime::bindings::ColumnType;
use crate::store::files::Staged;
use crate::store::{Store, StoreError};

use super::chunk;
use super::feed::WHOLE;
use super::keys;

/// Keeps chunk `chunk`'s stored columns `columns` (name and bytes: one-column chunks, and the
/// key rows its import kept) in `staged`, and, for a pseudonym column whose import kept no
/// key rows (made before imports kept them), its key rows built here, so that a run's first
/// look-up reads them instead of building them. Returns how many files were written.
pub fn stage_chunk<B: AsRef<[u8]>>(
    staged: &Staged<'_>,
    chunk: i64,
    columns: &[(String, B)],
) -> std::io::Result<usize> {
    let mut written = 0;
    for (name, data) in columns {
        let data = data.as_ref();
        if !staged.write(chunk, name, data)? {
            continue;
        }
        written += 1;
        if chunk::type_of(data) != Some(ColumnType::Pseudonym) {
            continue;
        }
        let kept = keys::kept_name(name);
        if columns.iter().any(|(n, _)| *n == kept) {
            continue;
        }
        let built = chunk::decode(data, &[name])
            .ok()
            .and_then(|(_, mut cols)| cols.pop().flatten())
            .and_then(|column| keys::kept(name, &column));
        if let Some((kept, bytes)) = built {
            written += usize::from(staged.write(chunk, &kept, &bytes)?);
        }
    }
    Ok(written)
}

/// What was written for one import.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Written {
    /// The import.
    pub import: i64,
    /// Column files written.
    pub files: usize,
    /// Chunks stored whole (imported before their columns were stored apart): left to the
    /// database.
    pub whole_chunks: usize,
}

fn dir_error(store: &Store, source: std::io::Error) -> StoreError {
    StoreError::Dir {
        path: store
            .column_files()
            .map(|f| f.dir().display().to_string())
            .unwrap_or_default(),
        source,
    }
}

/// Writes the column files of every committed import that has none, oldest first, showing
/// progress per chunk when `progress`. Does nothing for a store without column files.
pub async fn write_missing(store: &Store, progress: bool) -> Result<Vec<Written>, StoreError> {
    let Some(files) = store.column_files() else {
        return Ok(Vec::new());
    };
    let imports: Vec<(i64, i64)> = sqlx::query("SELECT id, chunk_count FROM imports ORDER BY id")
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()?;
    let missing: Vec<(i64, i64)> = imports
        .into_iter()
        .filter(|&(id, _)| !files.has(id))
        .collect();
    let bar = (progress && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
        let bar = indicatif::ProgressBar::new(missing.iter().map(|&(_, n)| n as u64).sum());
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:40}] {pos}/{len} chunks eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut written = Vec::with_capacity(missing.len());
    for (import, _) in missing {
        if let Some(bar) = &bar {
            bar.set_message(format!("import {import}"));
        }
        let staged = files.stage().map_err(|e| dir_error(store, e))?;
        let mut done = Written {
            import,
            files: 0,
            whole_chunks: 0,
        };
        let chunks: Vec<i64> = sqlx::query_scalar(
            "SELECT chunk_no FROM import_chunks WHERE import_id = $1 ORDER BY chunk_no",
        )
        .bind(import)
        .fetch_all(store.pool())
        .await?;
        for no in chunks {
            let rows = sqlx::query(
                "SELECT name, data FROM chunk_columns WHERE import_id = $1 AND chunk_no = $2",
            )
            .bind(import)
            .bind(no)
            .fetch_all(store.pool())
            .await?;
            let mut columns: Vec<(String, &[u8])> = Vec::with_capacity(rows.len());
            for row in &rows {
                let name: String = row.try_get(0)?;
                if name == WHOLE {
                    done.whole_chunks += 1;
                    continue;
                }
                columns.push((name, row.try_get(1)?));
            }
            done.files += stage_chunk(&staged, no, &columns).map_err(|e| dir_error(store, e))?;
            if let Some(bar) = &bar {
                bar.inc(1);
            }
        }
        staged.publish(import).map_err(|e| dir_error(store, e))?;
        written.push(done);
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    Ok(written)
}
