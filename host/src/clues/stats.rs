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
/// A row being summed, its clues' days to close (days → clues), and its suggestions (adopted?).
type Group = (Feedback, BTreeMap<i64, u64>, BTreeMap<i64, bool>);

fn group(code: &str, level: Level) -> String {
    match level {
        Level::County => code.to_string(),
        Level::City if code.len() == 6 => format!("{}00", &code[..4]),
        Level::City => code.to_string(),
        Level::Province if code.len() == 6 => format!("{}0000", &code[..2]),
        Level::Province => code.to_string(),
    }
}

/// Feedback within `scope` (the actor's region), optionally for one model (`(reported)` for
/// clues reported by people). Counts come from the tallies the database keeps per region,
/// model, source and status (`clue_tally`, `clue_close_days`, kept by triggers on `clues`),
/// so the cost follows the number of regions and models, not of clues; only the clues that
/// went into suggestions are read one by one. The median is taken over whole days to close.
pub async fn feedback(
    store: &Store,
    scope: &str,
    model: Option<&str>,
    level: Level,
) -> Result<Vec<Feedback>, ClueError> {
    let prefix = region::prefix(scope).to_string();
    let range = "region >= $1 AND region < $2 AND ($3 = '' OR model_key = $3) AND n > 0";
    let bind = |sql: String| {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(prefix.clone())
            .bind(format!("{prefix}:"))
            .bind(model.unwrap_or("").to_string())
    };
    let mut groups: BTreeMap<GroupKey, Group> = BTreeMap::new();
    let counts = bind(format!(
        "SELECT model_key, source, region, CAST(SUM(n) AS BIGINT), \
         CAST(SUM(CASE WHEN verified = 1 THEN n ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN confirmed = 1 THEN n ELSE 0 END) AS BIGINT) \
         FROM clue_tally WHERE {range} GROUP BY model_key, source, region"
    ))
    .fetch_all(store.pool())
    .await?;
    for r in counts {
        let e = entry(
            &mut groups,
            level,
            r.try_get(0)?,
            r.try_get(1)?,
            &r.try_get::<String, _>(2)?,
        );
        e.0.clues += r.try_get::<i64, _>(3)? as u64;
        e.0.verified += r.try_get::<i64, _>(4)? as u64;
        e.0.confirmed += r.try_get::<i64, _>(5)? as u64;
    }
    let dismissed = bind(format!(
        "SELECT model_key, source, region, dismiss_reason, CAST(SUM(n) AS BIGINT) FROM clue_tally \
         WHERE {range} AND status = 'dismissed' GROUP BY model_key, source, region, dismiss_reason"
    ))
    .fetch_all(store.pool())
    .await?;
    for r in dismissed {
        let e = entry(
            &mut groups,
            level,
            r.try_get(0)?,
            r.try_get(1)?,
            &r.try_get::<String, _>(2)?,
        );
        let reason: String = r.try_get(3)?;
        let reason = if reason.is_empty() {
            "other".to_string()
        } else {
            reason
        };
        *e.0.dismissed.entry(reason).or_default() += r.try_get::<i64, _>(4)? as u64;
    }
    let closes = bind(format!(
        "SELECT model_key, source, region, days, CAST(SUM(n) AS BIGINT) FROM clue_close_days \
         WHERE {range} GROUP BY model_key, source, region, days"
    ))
    .fetch_all(store.pool())
    .await?;
    for r in closes {
        let e = entry(
            &mut groups,
            level,
            r.try_get(0)?,
            r.try_get(1)?,
            &r.try_get::<String, _>(2)?,
        );
        *e.1.entry(r.try_get::<i64, _>(3)?).or_default() += r.try_get::<i64, _>(4)? as u64;
    }
    // Only clues in a suggestion are read here: from each suggestion to its clues (CROSS
    // JOIN keeps that order on SQLite, whose planner would otherwise scan the region's clues).
    let suggested = bind(
        "SELECT COALESCE(c.model_id, '(reported)') AS model_key, c.source, c.region, c.suggestion_id, s.status \
         FROM suggestions s CROSS JOIN clues c \
         WHERE c.suggestion_id = s.id AND c.region >= $1 AND c.region < $2 \
         AND ($3 = '' OR COALESCE(c.model_id, '(reported)') = $3) \
         GROUP BY COALESCE(c.model_id, '(reported)'), c.source, c.region, c.suggestion_id, s.status"
            .to_string(),
    )
    .fetch_all(store.pool())
    .await?;
    for r in suggested {
        let e = entry(
            &mut groups,
            level,
            r.try_get(0)?,
            r.try_get(1)?,
            &r.try_get::<String, _>(2)?,
        );
        let status: String = r.try_get(4)?;
        e.2.insert(r.try_get::<i64, _>(3)?, status == "adopted");
    }
    Ok(groups
        .into_values()
        .map(|(mut f, days, suggestions)| {
            f.suggestions = suggestions.len() as u64;
            f.adopted = suggestions.values().filter(|a| **a).count() as u64;
            f.confirmed_rate = (f.verified > 0).then(|| f.confirmed as f64 / f.verified as f64);
            f.adoption_rate = (f.suggestions > 0).then(|| f.adopted as f64 / f.suggestions as f64);
            f.median_days_to_close = median(&days);
            f
        })
        .collect())
}

/// The group a row of a query adds to.
fn entry<'a>(
    groups: &'a mut BTreeMap<GroupKey, Group>,
    level: Level,
    model: String,
    source: String,
    code: &str,
) -> &'a mut Group {
    let region = group(code, level);
    groups
        .entry((model.clone(), source.clone(), region.clone()))
        .or_insert_with(|| {
            (
                Feedback {
                    model,
                    source,
                    region,
                    ..Feedback::default()
                },
                BTreeMap::new(),
                BTreeMap::new(),
            )
        })
}

/// The median of a histogram (value → count).
fn median(histogram: &BTreeMap<i64, u64>) -> Option<f64> {
    let n: u64 = histogram.values().sum();
    if n == 0 {
        return None;
    }
    let at = |k: u64| {
        let mut seen = 0;
        histogram.iter().find_map(|(v, c)| {
            seen += c;
            (seen > k).then_some(*v as f64)
        })
    };
    match (at((n - 1) / 2), at(n / 2)) {
        (Some(a), Some(b)) => Some((a + b) / 2.0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_grouping() {
        let h = |v: &[(i64, u64)]| v.iter().copied().collect::<BTreeMap<_, _>>();
        assert_eq!(median(&h(&[])), None);
        assert_eq!(median(&h(&[(1, 1), (3, 1), (10, 1)])), Some(3.0));
        assert_eq!(median(&h(&[(1, 1), (3, 1)])), Some(2.0));
        assert_eq!(median(&h(&[(2, 5), (9, 1)])), Some(2.0));
        assert_eq!(group("330102", Level::City), "330100");
        assert_eq!(group("330102", Level::Province), "330000");
        assert_eq!(group("330102", Level::County), "330102");
    }
}
