//! The scheduler: turns cron schedules and new imports into queued runs. It keeps cursors in
//! the store (the last time each schedule was looked at, the last import seen) and queues with
//! trigger keys (one run per schedule slot or import, per county), so any number of `serve`
//! and `worker` processes may tick at once without queueing a run twice. A schedule that was
//! missed while nothing was running fires once, not once per missed slot.

use std::collections::BTreeSet;

use chrono::{DateTime, Local, TimeZone};
use sqlx::Row;

use crate::registry::enable::{self, Enablement};
use crate::registry::review;
use crate::store::{Store, now_ms};

use super::RunError;
use super::queue::{NewRun, counties, enqueue};

async fn cursor(store: &Store, name: &str) -> Result<Option<i64>, RunError> {
    let row = sqlx::query("SELECT value FROM scheduler_cursors WHERE name = $1")
        .bind(name)
        .fetch_optional(store.pool())
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

async fn set_cursor(store: &Store, name: &str, value: i64) -> Result<(), RunError> {
    sqlx::query(
        "INSERT INTO scheduler_cursors (name, value) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind(name)
    .bind(value)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Queues one run per county of the enablement, unless one is already waiting there.
async fn queue_all(
    store: &Store,
    e: &Enablement,
    trigger: &'static str,
    key: &str,
) -> Result<u64, RunError> {
    let mut n = 0;
    for r in &e.regions {
        for county in counties(store, r).await? {
            let waiting: i64 = sqlx::query(
                "SELECT COUNT(*) FROM runs WHERE enablement_id = $1 AND region = $2 AND status = 'queued' AND kind = 'run'",
            )
            .bind(e.id)
            .bind(&county)
            .fetch_one(store.pool())
            .await?
            .try_get(0)?;
            if waiting > 0 {
                continue;
            }
            let mut run = NewRun::of(e, &county, trigger, "scheduler");
            run.trigger_key = Some(format!("{trigger}:{}:{county}:{key}", e.id));
            if enqueue(store.pool(), &run).await?.is_some() {
                n += 1;
            }
        }
    }
    if n > 0 {
        store.ring_queued();
    }
    Ok(n)
}

/// The latest slot of `schedule` at or before `now`.
fn latest_slot(schedule: &str, now: &DateTime<Local>) -> Option<DateTime<Local>> {
    let cron: croner::Cron = schedule.parse().ok()?;
    cron.find_previous_occurrence(now, true).ok()
}

/// Queues the runs due by schedule since the last tick. Schedules use the server's local
/// time. A schedule seen for the first time starts from now (no backfill).
async fn schedules(store: &Store, enabled: &[Enablement], now: i64) -> Result<u64, RunError> {
    let mut n = 0;
    let Some(at) = Local.timestamp_millis_opt(now).single() else {
        return Ok(0);
    };
    for e in enabled {
        let Some(schedule) = &e.schedule else {
            continue;
        };
        let name = format!("schedule:{}", e.id);
        let last = cursor(store, &name).await?;
        if let (Some(last), Some(slot)) = (last, latest_slot(schedule, &at)) {
            let slot = slot.timestamp_millis();
            if slot > last {
                n += queue_all(store, e, "schedule", &slot.to_string()).await?;
            }
        }
        set_cursor(store, &name, now).await?;
    }
    Ok(n)
}

/// Queues runs of every enablement that reads a dataset imported since the last tick. The
/// first tick starts after the latest import (no backfill).
async fn imports(store: &Store, enabled: &[Enablement]) -> Result<u64, RunError> {
    let last = cursor(store, "imports").await?;
    let rows = sqlx::query("SELECT id, dataset FROM imports WHERE id > $1 ORDER BY id")
        .bind(last.unwrap_or(0))
        .fetch_all(store.pool())
        .await?;
    let Some(max) = rows
        .iter()
        .filter_map(|r| r.try_get::<i64, _>(0).ok())
        .max()
    else {
        return Ok(0);
    };
    let mut n = 0;
    if last.is_some() {
        for e in enabled {
            let reads: BTreeSet<String> = review::get_by_id(store, e.version_id)
                .await?
                .manifest
                .datasets
                .iter()
                .map(|d| d.name.clone())
                .collect();
            for r in &rows {
                let (id, dataset): (i64, String) = (r.try_get(0)?, r.try_get(1)?);
                if reads.contains(&dataset) {
                    n += queue_all(store, e, "import", &id.to_string()).await?;
                }
            }
        }
    }
    set_cursor(store, "imports", max).await?;
    Ok(n)
}

/// One scheduler tick at `now` (ms since the epoch): returns how many runs it queued.
pub async fn tick_at(store: &Store, now: i64) -> Result<u64, RunError> {
    let enabled: Vec<Enablement> = enable::list(store, None)
        .await?
        .into_iter()
        .filter(|e| e.status == "enabled")
        .collect();
    let n = schedules(store, &enabled, now).await? + imports(store, &enabled).await?;
    if n > 0 {
        tracing::info!(queued = n, "scheduler queued runs");
    }
    Ok(n)
}

/// One scheduler tick now.
pub async fn tick(store: &Store) -> Result<u64, RunError> {
    tick_at(store, now_ms()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_slot_is_at_or_before_now() {
        let now = Local
            .with_ymd_and_hms(2026, 3, 5, 2, 30, 0)
            .single()
            .unwrap();
        let slot = latest_slot("0 2 * * *", &now).unwrap();
        assert_eq!(
            slot,
            Local
                .with_ymd_and_hms(2026, 3, 5, 2, 0, 0)
                .single()
                .unwrap()
        );
        let before = Local
            .with_ymd_and_hms(2026, 3, 5, 1, 59, 0)
            .single()
            .unwrap();
        let slot = latest_slot("0 2 * * *", &before).unwrap();
        assert_eq!(
            slot,
            Local
                .with_ymd_and_hms(2026, 3, 4, 2, 0, 0)
                .single()
                .unwrap()
        );
    }
}
