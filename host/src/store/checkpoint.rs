//! Copying a SQLite file's write-ahead log back into the database off the writers' path.
//!
//! SQLite checkpoints by itself in the commit that takes the log past `wal_autocheckpoint`
//! pages (1,000 by default): that commit copies the log's pages into the file and syncs it
//! while holding this process's turn to write, so every writer queued behind it waits. The
//! store raises that threshold to [`AUTOCHECKPOINT_PAGES`], a safety net for bursts, and a
//! task of its own checkpoints every [`EVERY`] on a pooled connection in `PASSIVE` mode,
//! which waits for no reader or writer: writers keep appending to the log meanwhile.
//! PostgreSQL has no such step.

use std::time::Duration;

use sqlx::{AnyPool, Row};

/// WAL pages (4 KiB each) after which a commit checkpoints by itself.
pub const AUTOCHECKPOINT_PAGES: u32 = 16_384;
/// How often the store's task checkpoints.
pub const EVERY: Duration = Duration::from_secs(1);

/// What one checkpoint did: pages in the log, and how many of them are now in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpointed {
    /// Frames in the write-ahead log.
    pub log_pages: i64,
    /// Of those, frames copied into the database file.
    pub copied_pages: i64,
}

/// Checkpoints now without waiting for readers or writers (`PRAGMA wal_checkpoint(PASSIVE)`).
pub async fn passive(pool: &AnyPool) -> Result<Checkpointed, sqlx::Error> {
    let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(pool)
        .await?;
    Ok(Checkpointed {
        log_pages: row.try_get(1)?,
        copied_pages: row.try_get(2)?,
    })
}

/// Starts the task that checkpoints `pool`'s file every [`EVERY`] until the pool is closed,
/// when a Tokio runtime is running (a store opened outside one checkpoints as SQLite does).
pub fn spawn(pool: AnyPool) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if pool.is_closed() {
                return;
            }
            if let Err(e) = passive(&pool).await {
                // A closed pool or a busy file: the next tick, or SQLite's own threshold,
                // checkpoints instead.
                tracing::debug!("checkpoint skipped: {e}");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::store::Store;

    /// Writes about `pages` 4 KiB pages into the log, far below the autocheckpoint threshold.
    async fn write_pages(store: &Store, pages: usize) {
        sqlx::query("CREATE TABLE IF NOT EXISTS filler (b BLOB)")
            .execute(store.pool())
            .await
            .unwrap();
        let mut tx = store.begin().await.unwrap();
        for _ in 0..pages {
            sqlx::query("INSERT INTO filler VALUES (zeroblob(4000))")
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }

    #[tokio::test]
    async fn the_store_copies_its_log_into_the_file_without_a_writer_doing_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&Store::default_url(dir.path())).await.unwrap();
        let file = dir.path().join("supervise.db");
        let size = || std::fs::metadata(&file).unwrap().len();
        // Let the task checkpoint the migrations first.
        tokio::time::sleep(EVERY * 2).await;
        let before = size();
        write_pages(&store, 500).await;
        // No commit checkpoints 500 pages by itself (the threshold is 16,384 pages), so only
        // the store's task can grow the file.
        let deadline = Instant::now() + EVERY * 10;
        while size() < before + 500 * 4000 {
            assert!(
                Instant::now() < deadline,
                "nothing checkpointed the log within {:?}",
                EVERY * 10
            );
            tokio::time::sleep(EVERY / 10).await;
        }
        let done = passive(store.pool()).await.unwrap();
        assert_eq!(done.copied_pages, done.log_pages, "{done:?}");
    }
}
