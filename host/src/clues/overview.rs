//! The dashboard's overview of one region: its clues by city or county, the weekly trend of
//! new clues, the triage funnel (found → verified → confirmed → suggested → adopted), what is
//! overdue, and which models' clues get confirmed. Counts come from the tallies the database
//! keeps (`clue_tally`, `clue_weekly`), so the cost follows regions and weeks, not clues.

use std::collections::BTreeMap;

use sqlx::Row;

use crate::datasets::region::{self, Level};
use crate::store::Store;

use super::ClueError;

/// Clues of one region under the one asked about.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct RegionCount {
    /// City or county code.
    pub code: String,
    /// Clues.
    pub clues: i64,
    /// Still open (new, assigned, verifying).
    pub open: i64,
    /// Confirmed (and what followed).
    pub confirmed: i64,
}

/// New clues in one week.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct WeekCount {
    /// The week's first day (Thursday, as weeks since the epoch count), ms since the epoch.
    pub week_start_ms: i64,
    /// Clues first seen that week.
    pub clues: i64,
}

/// How far clues got.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Funnel {
    /// All clues.
    pub clues: i64,
    /// Someone started verifying them.
    pub verified: i64,
    /// Confirmed.
    pub confirmed: i64,
    /// In a procuratorial suggestion.
    pub suggested: i64,
    /// In a suggestion the agency adopted.
    pub adopted: i64,
}

/// A model's record in the region.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ModelRate {
    /// The model, or `(reported)` for clues from people.
    pub model: String,
    /// Clues.
    pub clues: i64,
    /// Verified.
    pub verified: i64,
    /// Confirmed.
    pub confirmed: i64,
    /// confirmed / verified.
    pub confirmed_rate: Option<f64>,
}

/// The overview of a region.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Overview {
    /// The region shown.
    pub region: String,
    /// Its cities (for the province) or counties (for a city); empty for a county.
    pub children: Vec<RegionCount>,
    /// New clues per week, oldest first, the last `weeks` weeks including this one.
    pub weekly: Vec<WeekCount>,
    /// The triage funnel.
    pub funnel: Funnel,
    /// Open clues past their handling deadline.
    pub overdue: i64,
    /// Models by confirmed rate, then clues (at most ten).
    pub top_models: Vec<ModelRate>,
}

/// A week in ms: the tallies' weeks are first seen ÷ this, counted from Thursday 1970-01-01.
pub(crate) const WEEK_MS: i64 = 604_800_000;

/// The overview of `asked` (or of `scope`, the actor's region), which must lie within scope.
pub async fn overview(
    store: &Store,
    scope: &str,
    asked: Option<&str>,
    now_ms: i64,
    weeks: i64,
) -> Result<Overview, ClueError> {
    let code = match asked {
        None => scope.to_string(),
        Some(r) => {
            region::level(r).map_err(ClueError::Invalid)?;
            if !region::covers(scope, r) {
                return Err(ClueError::NotFound(format!("region {r}")));
            }
            r.to_string()
        }
    };
    let level = region::level(&code).map_err(ClueError::Invalid)?;
    let prefix = region::prefix(&code).to_string();
    let range = |sql: &str| {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .bind(prefix.clone())
            .bind(format!("{prefix}:"))
    };
    // Children and the funnel from the status tally.
    let rows = range(
        "SELECT region, model_key, status, verified, confirmed, CAST(SUM(n) AS BIGINT) FROM clue_tally \
         WHERE region >= $1 AND region < $2 AND n > 0 GROUP BY region, model_key, status, verified, confirmed",
    )
    .fetch_all(store.pool())
    .await?;
    let child_of = |c: &str| match level {
        Level::Province => Some(format!("{}00", &c[..4])),
        Level::City => Some(c.to_string()),
        Level::County => None,
    };
    let mut children: BTreeMap<String, RegionCount> = BTreeMap::new();
    let mut models: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    let mut funnel = Funnel::default();
    for r in rows {
        let (county, model, status): (String, String, String) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        let (verified, confirmed, n): (i64, i64, i64) =
            (r.try_get(3)?, r.try_get(4)?, r.try_get(5)?);
        funnel.clues += n;
        funnel.verified += verified * n;
        funnel.confirmed += confirmed * n;
        if status == "suggestion_issued" {
            funnel.suggested += n;
        }
        let m = models.entry(model).or_default();
        m.0 += n;
        m.1 += verified * n;
        m.2 += confirmed * n;
        if let Some(child) = child_of(&county) {
            let c = children
                .entry(child.clone())
                .or_insert_with(|| RegionCount {
                    code: child,
                    ..RegionCount::default()
                });
            c.clues += n;
            c.confirmed += confirmed * n;
            if matches!(status.as_str(), "new" | "assigned" | "verifying") {
                c.open += n;
            }
        }
    }
    funnel.adopted = range(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM suggestions s CROSS JOIN clues c \
         WHERE c.suggestion_id = s.id AND s.status = 'adopted' AND c.region >= $1 AND c.region < $2",
    )
    .fetch_one(store.pool())
    .await?
    .try_get(0)?;
    let overdue: i64 = range(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM clues WHERE status IN ('assigned', 'verifying') \
         AND handling_due_ms < $3 AND region >= $1 AND region < $2",
    )
    .bind(now_ms)
    .fetch_one(store.pool())
    .await?
    .try_get(0)?;
    let weeks = weeks.clamp(1, 104);
    let this_week = now_ms.div_euclid(WEEK_MS);
    let first = this_week - weeks + 1;
    let counted: BTreeMap<i64, i64> = range(
        "SELECT week, CAST(SUM(n) AS BIGINT) FROM clue_weekly \
         WHERE region >= $1 AND region < $2 AND week >= $3 GROUP BY week",
    )
    .bind(first)
    .fetch_all(store.pool())
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .collect::<Result<_, sqlx::Error>>()?;
    let weekly = (first..=this_week)
        .map(|w| WeekCount {
            week_start_ms: w * WEEK_MS,
            clues: counted.get(&w).copied().unwrap_or(0),
        })
        .collect();
    let mut top_models: Vec<ModelRate> = models
        .into_iter()
        .map(|(model, (clues, verified, confirmed))| ModelRate {
            model,
            clues,
            verified,
            confirmed,
            confirmed_rate: (verified > 0).then(|| confirmed as f64 / verified as f64),
        })
        .collect();
    top_models.sort_by(|a, b| {
        b.confirmed_rate
            .unwrap_or(-1.0)
            .total_cmp(&a.confirmed_rate.unwrap_or(-1.0))
            .then(b.clues.cmp(&a.clues))
            .then(a.model.cmp(&b.model))
    });
    top_models.truncate(10);
    Ok(Overview {
        region: code,
        children: children.into_values().collect(),
        weekly,
        funnel,
        overdue,
        top_models,
    })
}
