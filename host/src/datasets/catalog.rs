//! The dataset catalogue: schema definitions and their versions. Defining a changed schema
//! makes a new version; imports name the version they follow.

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::store::{Store, StoreError, audit, now_ms};

use super::schema::DatasetSchema;

/// Why a catalogue call failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// No such dataset.
    #[error("dataset `{0}` is not defined (define it with `supervise data define FILE.toml`)")]
    UnknownDataset(String),
    /// No such version.
    #[error("dataset `{dataset}` has no schema version {version} (the latest is {latest})")]
    UnknownVersion {
        /// Dataset.
        dataset: String,
        /// Asked for.
        version: i64,
        /// Latest.
        latest: i64,
    },
    /// A stored schema does not parse.
    #[error("stored schema of `{0}` is corrupt: {1}")]
    Corrupt(String, String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CatalogError {
    fn from(e: sqlx::Error) -> Self {
        CatalogError::Store(StoreError::Db(e))
    }
}

/// What `define` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", content = "version", rename_all = "snake_case")]
pub enum Defined {
    /// A new dataset, version 1.
    Created(i64),
    /// A changed schema, this new version.
    NewVersion(i64),
    /// The same schema as the current version.
    Unchanged(i64),
}

/// One dataset in the catalogue.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct DatasetSummary {
    /// Name.
    pub name: String,
    /// Current schema version.
    pub version: i64,
    /// Description.
    pub description: String,
    /// Imports so far.
    pub imports: i64,
    /// Rows imported so far.
    pub rows: i64,
}

/// Defines a dataset or a new version of its schema.
pub async fn define(
    store: &Store,
    schema: &DatasetSchema,
    actor: &str,
) -> Result<Defined, CatalogError> {
    let json = serde_json::to_string(schema)
        .map_err(|e| CatalogError::Corrupt(schema.name.clone(), e.to_string()))?;
    let sha = hex::encode(Sha256::digest(json.as_bytes()));
    let mut tx = store.begin().await?;
    let current: Option<i64> = sqlx::query("SELECT current_version FROM datasets WHERE name = $1")
        .bind(&schema.name)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    let version = match current {
        Some(v) => {
            let same: Option<String> = sqlx::query(
                "SELECT schema_sha256 FROM dataset_versions WHERE dataset = $1 AND version = $2",
            )
            .bind(&schema.name)
            .bind(v)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
            if same.as_deref() == Some(sha.as_str()) {
                return Ok(Defined::Unchanged(v));
            }
            sqlx::query("UPDATE datasets SET current_version = $1 WHERE name = $2")
                .bind(v + 1)
                .bind(&schema.name)
                .execute(&mut *tx)
                .await?;
            v + 1
        }
        None => {
            sqlx::query(
                "INSERT INTO datasets (name, current_version, created_at_ms) VALUES ($1, 1, $2)",
            )
            .bind(&schema.name)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            1
        }
    };
    sqlx::query(
        "INSERT INTO dataset_versions (dataset, version, schema_json, schema_sha256, defined_by, defined_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&schema.name)
    .bind(version)
    .bind(&json)
    .bind(&sha)
    .bind(actor)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    let detail = serde_json::json!({"version": version, "schema_sha256": sha});
    audit(&mut tx, actor, "dataset.define", &schema.name, &detail).await?;
    tx.commit().await?;
    Ok(if version == 1 {
        Defined::Created(1)
    } else {
        Defined::NewVersion(version)
    })
}

/// A dataset's schema at `version` (the current one when `None`), with its version number.
pub async fn schema(
    store: &Store,
    dataset: &str,
    version: Option<i64>,
) -> Result<(i64, DatasetSchema), CatalogError> {
    let latest: i64 = sqlx::query("SELECT current_version FROM datasets WHERE name = $1")
        .bind(dataset)
        .fetch_optional(store.pool())
        .await?
        .ok_or_else(|| CatalogError::UnknownDataset(dataset.to_string()))?
        .try_get(0)?;
    let version = version.unwrap_or(latest);
    let row =
        sqlx::query("SELECT schema_json FROM dataset_versions WHERE dataset = $1 AND version = $2")
            .bind(dataset)
            .bind(version)
            .fetch_optional(store.pool())
            .await?
            .ok_or_else(|| CatalogError::UnknownVersion {
                dataset: dataset.to_string(),
                version,
                latest,
            })?;
    let json: String = row.try_get(0)?;
    let schema = serde_json::from_str(&json)
        .map_err(|e| CatalogError::Corrupt(dataset.to_string(), e.to_string()))?;
    Ok((version, schema))
}

/// Every dataset with its import totals.
pub async fn list(store: &Store) -> Result<Vec<DatasetSummary>, CatalogError> {
    let rows = sqlx::query(
        "SELECT d.name, d.current_version, v.schema_json, \
                CAST(COUNT(i.id) AS BIGINT) AS imports, CAST(COALESCE(SUM(i.row_count), 0) AS BIGINT) AS row_total \
         FROM datasets d \
         JOIN dataset_versions v ON v.dataset = d.name AND v.version = d.current_version \
         LEFT JOIN imports i ON i.dataset = d.name \
         GROUP BY d.name, d.current_version, v.schema_json ORDER BY d.name",
    )
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let name: String = r.try_get("name")?;
            let json: String = r.try_get("schema_json")?;
            let schema: DatasetSchema = serde_json::from_str(&json)
                .map_err(|e| CatalogError::Corrupt(name.clone(), e.to_string()))?;
            Ok(DatasetSummary {
                version: r.try_get("current_version")?,
                description: schema.description,
                imports: r.try_get("imports")?,
                rows: r.try_get("row_total")?,
                name,
            })
        })
        .collect()
}

/// An import as recorded.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ImportRecord {
    /// Import id.
    pub id: i64,
    /// Dataset.
    pub dataset: String,
    /// Schema version the file followed.
    pub schema_version: i64,
    /// `append` or `replace`.
    pub mode: String,
    /// The file's name as given.
    pub file_name: String,
    /// sha256 of the file.
    pub sha256: String,
    /// `csv` or `jsonl`.
    pub format: String,
    /// Rows imported.
    pub rows: i64,
    /// Chunks written.
    pub chunks: i64,
    /// Who imported it.
    pub imported_by: String,
    /// When, ms since the epoch.
    pub imported_at_ms: i64,
}

/// Imports, newest first: of one dataset or all, at most `limit` (1 to 1000).
pub async fn imports(
    store: &Store,
    dataset: Option<&str>,
    limit: i64,
) -> Result<Vec<ImportRecord>, CatalogError> {
    let rows = sqlx::query(
        "SELECT id, dataset, schema_version, mode, file_name, file_sha256, format, row_count, chunk_count, \
         imported_by, imported_at_ms FROM imports WHERE ($1 = '' OR dataset = $1) ORDER BY id DESC LIMIT $2",
    )
    .bind(dataset.unwrap_or("").to_string())
    .bind(limit.clamp(1, 1000))
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ImportRecord {
                id: r.try_get(0)?,
                dataset: r.try_get(1)?,
                schema_version: r.try_get(2)?,
                mode: r.try_get(3)?,
                file_name: r.try_get(4)?,
                sha256: r.try_get(5)?,
                format: r.try_get(6)?,
                rows: r.try_get(7)?,
                chunks: r.try_get(8)?,
                imported_by: r.try_get(9)?,
                imported_at_ms: r.try_get(10)?,
            })
        })
        .collect()
}
