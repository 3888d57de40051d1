//! Failed imports: a failed import writes no rows, so its failure is recorded here (with the
//! first problems by line and column) for the people who did not upload it, and audited.

use sqlx::Row;

use crate::store::{Store, StoreError, audit, now_ms};

use super::import::{ImportError, ImportRequest, RowError};

/// A failed import as recorded.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ImportFailure {
    /// Record id.
    pub id: i64,
    /// Dataset.
    pub dataset: String,
    /// The file's name as given.
    pub file_name: String,
    /// Who tried.
    pub failed_by: String,
    /// When, ms since the epoch.
    pub failed_at_ms: i64,
    /// Why, in one line.
    pub error: String,
    /// The first row problems.
    pub problems: Vec<RowError>,
    /// How many row problems in all.
    pub problem_total: i64,
}

/// Records `err`, the failure of `req`, when it is about the file (unreadable, malformed,
/// invalid rows, imported before); failures of the catalogue, the database or the import's
/// temporary files are not the file's and are only returned. The record is best effort: if it
/// cannot be written, that is logged and the import's own error still reaches the caller.
pub async fn record(store: &Store, req: &ImportRequest, err: &ImportError) {
    let (error, problems, total) = match err {
        ImportError::Invalid { errors, total, .. } => (
            format!("{total} problem(s) in the rows; nothing imported"),
            errors.as_slice(),
            *total as i64,
        ),
        ImportError::Io { source, .. } => (format!("cannot read the file: {source}"), &[][..], 0),
        ImportError::File { reason, .. } => (reason.clone(), &[][..], 0),
        ImportError::AlreadyImported { id, .. } => {
            (format!("already imported as import {id}"), &[][..], 0)
        }
        ImportError::Catalog(_) | ImportError::Store(_) | ImportError::Temp { .. } => return,
    };
    let file_name = req
        .path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Err(e) = insert(store, req, &file_name, &error, problems, total).await {
        tracing::warn!(dataset = %req.dataset, file = %file_name, "could not record a failed import: {e}");
    }
}

async fn insert(
    store: &Store,
    req: &ImportRequest,
    file_name: &str,
    error: &str,
    problems: &[RowError],
    total: i64,
) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    sqlx::query(
        "INSERT INTO import_failures (dataset, file_name, failed_by, failed_at_ms, error, problems_json, problem_total) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&req.dataset)
    .bind(file_name)
    .bind(&req.actor)
    .bind(now_ms())
    .bind(error)
    .bind(serde_json::to_string(problems).unwrap_or_else(|_| "[]".into()))
    .bind(total)
    .execute(&mut *tx)
    .await?;
    audit(
        &mut tx,
        &req.actor,
        "import.fail",
        &format!("dataset {}", req.dataset),
        &serde_json::json!({"file": file_name, "error": error, "problems": total}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Failed imports, newest first: of one dataset or all, at most `limit` (1 to 1000).
pub async fn list(
    store: &Store,
    dataset: Option<&str>,
    limit: i64,
) -> Result<Vec<ImportFailure>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, dataset, file_name, failed_by, failed_at_ms, error, problems_json, problem_total \
         FROM import_failures WHERE ($1 = '' OR dataset = $1) ORDER BY id DESC LIMIT $2",
    )
    .bind(dataset.unwrap_or("").to_string())
    .bind(limit.clamp(1, 1000))
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let problems: String = r.try_get(6)?;
            Ok(ImportFailure {
                id: r.try_get(0)?,
                dataset: r.try_get(1)?,
                file_name: r.try_get(2)?,
                failed_by: r.try_get(3)?,
                failed_at_ms: r.try_get(4)?,
                error: r.try_get(5)?,
                problems: serde_json::from_str(&problems).unwrap_or_default(),
                problem_total: r.try_get(7)?,
            })
        })
        .collect()
}
