//! Write transactions: one that reads first and writes later still commits when another
//! connection (a worker's heartbeat, another process) commits a write in between.

use std::time::Duration;

use sqlx::Row;

use crate::support::*;

async fn a_transaction_that_reads_then_writes_survives_a_write_in_between(db: &TestDb) {
    let pool = db.store.pool().clone();
    sqlx::query("INSERT INTO settings (name, value) VALUES ('a', '0'), ('b', '0')")
        .execute(&pool)
        .await
        .expect("seed");
    let mut tx = db.store.begin().await.expect("begin");
    let a: String = sqlx::query("SELECT value FROM settings WHERE name = 'a'")
        .fetch_one(&mut *tx)
        .await
        .expect("read")
        .try_get(0)
        .expect("value");
    // Another connection writes without this process's write lock, as a heartbeat does.
    let other = tokio::spawn(async move {
        sqlx::query("UPDATE settings SET value = '1' WHERE name = 'b'")
            .execute(&pool)
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A deferred transaction fails here on SQLite ("database is locked", SQLITE_BUSY_SNAPSHOT)
    // when the other write committed during its read.
    sqlx::query("UPDATE settings SET value = $1 WHERE name = 'a'")
        .bind(format!("{a}+"))
        .execute(&mut *tx)
        .await
        .expect("the transaction's write");
    tx.commit().await.expect("commit");
    other.await.expect("task").expect("the other write");
    let rows =
        sqlx::query("SELECT name, value FROM settings WHERE name IN ('a', 'b') ORDER BY name")
            .fetch_all(db.store.pool())
            .await
            .expect("settings");
    let values: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.try_get(0).expect("name"), r.try_get(1).expect("value")))
        .collect();
    assert_eq!(
        values,
        [
            ("a".to_string(), "0+".to_string()),
            ("b".to_string(), "1".to_string())
        ]
    );
}

both!(a_transaction_that_reads_then_writes_survives_a_write_in_between);
