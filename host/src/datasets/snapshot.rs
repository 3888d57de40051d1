//! Snapshots: the fixed set of imports a run reads, per dataset, stored by content so that a
//! run can be repeated on the same data after later imports.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::store::{Store, StoreError, now_ms};

/// Imports per dataset, in import order.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// Dataset → import ids.
    pub datasets: BTreeMap<String, Vec<i64>>,
}

impl Snapshot {
    /// The current data of `datasets`: for each, its imports since (and including) the latest
    /// `replace` import. A dataset with no import maps to no imports.
    pub async fn current<S: AsRef<str>>(
        store: &Store,
        datasets: &[S],
    ) -> Result<Snapshot, StoreError> {
        let mut snap = Snapshot {
            datasets: datasets
                .iter()
                .map(|d| (d.as_ref().to_string(), Vec::new()))
                .collect(),
        };
        if datasets.is_empty() {
            return Ok(snap);
        }
        // One query for every dataset: a run's preparation waits for it.
        let list: Vec<String> = (1..=datasets.len())
            .map(|i| store.dialect().param(i))
            .collect();
        let sql = format!(
            "SELECT dataset, id, mode FROM imports WHERE dataset IN ({}) ORDER BY id",
            list.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for d in datasets {
            q = q.bind(d.as_ref());
        }
        for r in q.fetch_all(store.pool()).await? {
            let (dataset, id, mode): (String, i64, String) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            let Some(ids) = snap.datasets.get_mut(&dataset) else {
                continue;
            };
            if mode == "replace" {
                ids.clear();
            }
            ids.push(id);
        }
        Ok(snap)
    }

    /// Stores the snapshot (once per distinct content) and returns its id. A snapshot already
    /// stored (every run after the first on unchanged data) is found without writing.
    pub async fn save(&self, store: &Store) -> Result<i64, StoreError> {
        let json = serde_json::to_string(self).unwrap_or_default();
        let sha = hex::encode(Sha256::digest(json.as_bytes()));
        if let Some(id) = Self::stored(store, &sha).await? {
            return Ok(id);
        }
        let mut write = store.write_lock().await?;
        let saved = sqlx::query(
            "INSERT INTO snapshots (content_sha256, entries_json, created_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (content_sha256) DO NOTHING",
        )
        .bind(&sha)
        .bind(&json)
        .bind(now_ms())
        .execute(&mut *write)
        .await;
        write.checked(saved)?;
        drop(write);
        Self::stored(store, &sha)
            .await?
            .ok_or_else(|| StoreError::Db(sqlx::Error::RowNotFound))
    }

    async fn stored(store: &Store, sha: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT id FROM snapshots WHERE content_sha256 = $1")
            .bind(sha)
            .fetch_optional(store.pool())
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// A stored snapshot.
    pub async fn load(store: &Store, id: i64) -> Result<Option<Snapshot>, StoreError> {
        let row = sqlx::query("SELECT entries_json FROM snapshots WHERE id = $1")
            .bind(id)
            .fetch_optional(store.pool())
            .await?;
        Ok(row
            .map(|r| r.try_get::<String, _>(0))
            .transpose()?
            .and_then(|j| serde_json::from_str(&j).ok()))
    }
}
