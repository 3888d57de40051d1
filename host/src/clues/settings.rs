//! The province's triage settings: the handling deadline after assignment, the feedback
//! deadline after a suggestion is issued, and how early a deadline counts as due soon.

use sqlx::Row;

use crate::registry::Actor;
use crate::registry::keys::require_admin;
use crate::store::{Store, audit};

use super::ClueError;

/// Deadlines and windows.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Days from assignment to the handling deadline.
    pub handling_days: i64,
    /// Months from issuing a suggestion to the feedback deadline.
    pub feedback_months: i64,
    /// Days before a deadline when it counts as due soon.
    pub due_soon_days: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            handling_days: 7,
            feedback_months: 3,
            due_soon_days: 2,
        }
    }
}

const NAMES: [&str; 3] = ["handling_days", "feedback_months", "due_soon_days"];

/// The current settings (defaults where none were set).
pub async fn get(store: &Store) -> Result<Settings, ClueError> {
    let rows = sqlx::query("SELECT name, value FROM settings")
        .fetch_all(store.pool())
        .await?;
    let mut s = Settings::default();
    for r in rows {
        let (name, value): (String, String) = (r.try_get(0)?, r.try_get(1)?);
        let Ok(v) = value.parse::<i64>() else {
            continue;
        };
        match name.as_str() {
            "handling_days" => s.handling_days = v,
            "feedback_months" => s.feedback_months = v,
            "due_soon_days" => s.due_soon_days = v,
            _ => {}
        }
    }
    Ok(s)
}

/// Changes the settings (provincial admins); every value from 1 to 365.
pub async fn set(store: &Store, actor: &Actor, new: Settings) -> Result<(), ClueError> {
    require_admin(store, actor).await?;
    let values = [new.handling_days, new.feedback_months, new.due_soon_days];
    for (name, v) in NAMES.iter().zip(values) {
        if !(1..=365).contains(&v) {
            return Err(ClueError::Invalid(format!(
                "{name} must be from 1 to 365, not {v}"
            )));
        }
    }
    let old = get(store).await?;
    let mut tx = store.begin().await?;
    for (name, v) in NAMES.iter().zip(values) {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(*name)
        .bind(v.to_string())
        .execute(&mut *tx)
        .await?;
    }
    audit(
        &mut tx,
        &actor.user,
        "settings.change",
        "triage settings",
        &serde_json::json!({"old": old, "new": new}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// `ms` plus `months` calendar months (clamped to the month's last day).
pub fn add_months(ms: i64, months: i64) -> i64 {
    use chrono::{DateTime, Months};
    let Some(t) = DateTime::from_timestamp_millis(ms) else {
        return ms;
    };
    let m = Months::new(u32::try_from(months.max(0)).unwrap_or(0));
    t.checked_add_months(m).map_or(ms, |t| t.timestamp_millis())
}

/// Milliseconds in `days` days.
pub fn days_ms(days: i64) -> i64 {
    days * 86_400_000
}

#[cfg(test)]
mod tests {
    use super::add_months;

    #[test]
    fn months_are_calendar_months() {
        let jan31 = chrono::NaiveDate::from_ymd_opt(2025, 1, 31)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis();
        let apr30 = chrono::NaiveDate::from_ymd_opt(2025, 4, 30)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis();
        assert_eq!(add_months(jan31, 3), apr30);
    }
}
