//! The administrative divisions known to the platform, loaded from a CSV
//! (`code,name` with optional `level` and `parent` columns that must agree with the code).

use std::collections::BTreeMap;
use std::path::Path;

use sqlx::Row;

use crate::store::{Store, StoreError, audit};

use super::region::{self, Level};

/// Why regions could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RegionError {
    /// The file could not be read or is not CSV.
    #[error("{path}: {reason}")]
    File {
        /// File.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Rows with problems; nothing was written.
    #[error("{path}: {} problem(s), nothing loaded:\n{}", .problems.len(), .problems.join("\n"))]
    Invalid {
        /// File.
        path: String,
        /// `line N: reason`, one per problem.
        problems: Vec<String>,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for RegionError {
    fn from(e: sqlx::Error) -> Self {
        RegionError::Store(StoreError::Db(e))
    }
}

/// A region.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Region {
    /// 6-digit code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Level.
    pub level: Level,
    /// Parent code; none for the province.
    pub parent: Option<String>,
}

fn level_name(l: Level) -> &'static str {
    match l {
        Level::Province => "province",
        Level::City => "city",
        Level::County => "county",
    }
}

/// The parent a code must have: county → its city, city → its province.
pub fn parent_of(code: &str) -> Option<String> {
    match region::level(code).ok()? {
        Level::Province => None,
        Level::City => Some(format!("{}0000", &code[..2])),
        Level::County => Some(format!("{}00", &code[..4])),
    }
}

/// Loads (or renames) regions from a CSV; every row is checked first and nothing is written
/// when any is wrong.
pub async fn load_csv(store: &Store, path: &Path, actor: &str) -> Result<usize, RegionError> {
    let reader = csv::Reader::from_path(path).map_err(|e| RegionError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    load(store, reader, &path.display().to_string(), actor).await
}

/// The same from CSV text (an upload); `source` names it in messages and the audit log.
pub async fn load_csv_text(
    store: &Store,
    text: &str,
    source: &str,
    actor: &str,
) -> Result<usize, RegionError> {
    load(
        store,
        csv::Reader::from_reader(text.as_bytes()),
        source,
        actor,
    )
    .await
}

async fn load<R: std::io::Read>(
    store: &Store,
    mut reader: csv::Reader<R>,
    source: &str,
    actor: &str,
) -> Result<usize, RegionError> {
    let file_err = |reason: String| RegionError::File {
        path: source.to_string(),
        reason,
    };
    let header = reader
        .headers()
        .map_err(|e| file_err(e.to_string()))?
        .clone();
    let col = |n: &str| header.iter().position(|h| h.trim() == n);
    let (Some(code_at), Some(name_at)) = (col("code"), col("name")) else {
        return Err(file_err(format!(
            "needs columns `code` and `name`; the header has: {}",
            header.iter().collect::<Vec<_>>().join(", ")
        )));
    };
    let (level_at, parent_at) = (col("level"), col("parent"));
    let mut known: BTreeMap<String, Region> = list(store)
        .await?
        .into_iter()
        .map(|r| (r.code.clone(), r))
        .collect();
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let code = rec.get(code_at).unwrap_or("").trim().to_string();
        let name = rec.get(name_at).unwrap_or("").trim().to_string();
        let level = match region::level(&code) {
            Ok(l) => l,
            Err(e) => {
                problems.push(format!("line {line}: {e}"));
                continue;
            }
        };
        if name.is_empty() {
            problems.push(format!("line {line}: region {code} has no name"));
        }
        if let Some(given) = level_at
            .and_then(|at| rec.get(at))
            .filter(|s| !s.trim().is_empty())
            && given.trim() != level_name(level)
        {
            problems.push(format!(
                "line {line}: {code} is a {} code, not a {}",
                level_name(level),
                given.trim()
            ));
        }
        let parent = parent_of(&code);
        if let Some(given) = parent_at
            .and_then(|at| rec.get(at))
            .filter(|s| !s.trim().is_empty())
            && Some(given.trim()) != parent.as_deref()
        {
            problems.push(format!(
                "line {line}: the parent of {code} is {}, not {}",
                parent.as_deref().unwrap_or("none"),
                given.trim()
            ));
        }
        let region = Region {
            code: code.clone(),
            name,
            level,
            parent,
        };
        known.insert(code, region.clone());
        rows.push((line, region));
    }
    for (line, r) in &rows {
        if let Some(p) = &r.parent
            && !known.contains_key(p)
        {
            problems.push(format!(
                "line {line}: parent {p} of {} is neither in the file nor loaded",
                r.code
            ));
        }
    }
    if !problems.is_empty() {
        return Err(RegionError::Invalid {
            path: source.to_string(),
            problems,
        });
    }
    // Parents before children, so the foreign key holds at every insert.
    rows.sort_by_key(|(_, r)| (r.level as u8, r.code.clone()));
    let mut tx = store.begin().await?;
    for (_, r) in &rows {
        sqlx::query(
            "INSERT INTO regions (code, name, level, parent) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (code) DO UPDATE SET name = excluded.name",
        )
        .bind(&r.code)
        .bind(&r.name)
        .bind(level_name(r.level))
        .bind(r.parent.clone())
        .execute(&mut *tx)
        .await?;
    }
    let detail = serde_json::json!({"file": source, "regions": rows.len()});
    audit(&mut tx, actor, "regions.load", "regions", &detail).await?;
    tx.commit().await?;
    Ok(rows.len())
}

/// Every region, by code.
pub async fn list(store: &Store) -> Result<Vec<Region>, StoreError> {
    let rows = sqlx::query("SELECT code, name, parent FROM regions ORDER BY code")
        .fetch_all(store.pool())
        .await?;
    rows.iter()
        .map(|r| {
            let code: String = r.try_get("code")?;
            Ok(Region {
                level: region::level(&code).unwrap_or(Level::County),
                name: r.try_get("name")?,
                parent: r.try_get("parent")?,
                code,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::Db)
}
