//! Feedback per model (or source) and region: clues, verified, confirmed and the confirmed
//! rate, dismissed by reason, suggestions issued and adopted (the adoption rate), and the
//! median days from first seen to closed. What tells authors and admins which models work.

use std::collections::BTreeMap;

use sqlx::Row;

use crate::datasets::region;
use crate::store::Store;

use super::ClueError;

/// How to group regions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Level {
    /// One row per county.
    #[default]
    County,
    /// Counties rolled up to their city.
    City,
    /// Everything in one row per model.
    Province,
}

impl std::str::FromStr for Level {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "county" => Ok(Level::County),
            "city" => Ok(Level::City),
            "province" => Ok(Level::Province),
            _ => Err(format!(
                "unknown level `{s}` (one of: county, city, province)"
            )),
        }
    }
}

/// One row of feedback.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Feedback {
    /// The model, or `(reported)` for clues from people.
    pub model: String,
    /// `model`, `grid_member` or `agency`.
    pub source: String,
    /// Region at the chosen level.
    pub region: String,
    /// Clues.
    pub clues: u64,
    /// Clues someone started verifying.
    pub verified: u64,
    /// Clues confirmed.
    pub confirmed: u64,
    /// confirmed / verified.
    pub confirmed_rate: Option<f64>,
    /// Dismissed clues by reason.
    pub dismissed: BTreeMap<String, u64>,
    /// Distinct suggestions its clues went into.
    pub suggestions: u64,
    /// Of those, adopted.
    pub adopted: u64,
    /// adopted / suggestions.
    pub adoption_rate: Option<f64>,
    /// Median days from first seen to closed, over closed clues.
    pub median_days_to_close: Option<f64>,
}

/// (model, source, region) of a feedback row.
type GroupKey = (String, String, String);
/// A row being summed, the close times of its clues (ms), and its suggestions (adopted?).
type Group = (Feedback, Vec<i64>, BTreeMap<i64, bool>);

fn group(code: &str, level: Level) -> String {
    match level {
        Level::County => code.to_string(),
        Level::City if code.len() == 6 => format!("{}00", &code[..4]),
        Level::City => code.to_string(),
        Level::Province if code.len() == 6 => format!("{}0000", &code[..2]),
        Level::Province => code.to_string(),
    }
}

/// Feedback within `scope` (the actor's region), optionally for one model.
pub async fn feedback(
    store: &Store,
    scope: &str,
    model: Option<&str>,
    level: Level,
) -> Result<Vec<Feedback>, ClueError> {
    let rows = sqlx::query(
        "SELECT COALESCE(c.model_id, '(reported)'), c.source, c.region, CASE WHEN c.verifying_at_ms IS NULL THEN 0 ELSE 1 END, \
         CASE WHEN c.confirmed_at_ms IS NULL THEN 0 ELSE 1 END, c.status, c.dismiss_reason, c.suggestion_id, s.status, c.closed_at_ms - c.first_seen_ms \
         FROM clues c LEFT JOIN suggestions s ON s.id = c.suggestion_id \
         WHERE c.region LIKE $1 AND ($2 = '' OR c.model_id = $2)",
    )
    .bind(format!("{}%", region::prefix(scope)))
    .bind(model.unwrap_or(""))
    .fetch_all(store.pool())
    .await?;
    let mut groups: BTreeMap<GroupKey, Group> = BTreeMap::new();
    for r in rows {
        let (m, source, code): (String, String, String) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        let (verified, confirmed): (i64, i64) = (r.try_get(3)?, r.try_get(4)?);
        let (status, reason): (String, Option<String>) = (r.try_get(5)?, r.try_get(6)?);
        let (suggestion, sstatus, close): (Option<i64>, Option<String>, Option<i64>) =
            (r.try_get(7)?, r.try_get(8)?, r.try_get(9)?);
        let region = group(&code, level);
        let entry = groups
            .entry((m.clone(), source.clone(), region.clone()))
            .or_insert_with(|| {
                (
                    Feedback {
                        model: m,
                        source,
                        region,
                        ..Feedback::default()
                    },
                    Vec::new(),
                    BTreeMap::new(),
                )
            });
        let f = &mut entry.0;
        f.clues += 1;
        f.verified += u64::from(verified != 0);
        f.confirmed += u64::from(confirmed != 0);
        if status == "dismissed" {
            *f.dismissed
                .entry(reason.unwrap_or_else(|| "other".into()))
                .or_default() += 1;
        }
        if let Some(s) = suggestion {
            entry.2.insert(s, sstatus.as_deref() == Some("adopted"));
        }
        if let Some(ms) = close {
            entry.1.push(ms);
        }
    }
    Ok(groups
        .into_values()
        .map(|(mut f, mut closes, suggestions)| {
            f.suggestions = suggestions.len() as u64;
            f.adopted = suggestions.values().filter(|a| **a).count() as u64;
            f.confirmed_rate = (f.verified > 0).then(|| f.confirmed as f64 / f.verified as f64);
            f.adoption_rate = (f.suggestions > 0).then(|| f.adopted as f64 / f.suggestions as f64);
            closes.sort_unstable();
            f.median_days_to_close = median(&closes).map(|ms| ms / 86_400_000.0);
            f
        })
        .collect())
}

fn median(sorted: &[i64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2] as f64),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) as f64 / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_grouping() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1, 3, 10]), Some(3.0));
        assert_eq!(median(&[1, 3]), Some(2.0));
        assert_eq!(group("330102", Level::City), "330100");
        assert_eq!(group("330102", Level::Province), "330000");
        assert_eq!(group("330102", Level::County), "330102");
    }
}
