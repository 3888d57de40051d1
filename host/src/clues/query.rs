//! Finding clues: one by id, or a filtered, sorted page (model or source, region subtree,
//! status, score, dates, assignee, text, overdue), and the same as CSV. Filters are bound
//! parameters of one fixed statement: no SQL is ever built from input.

use std::io::Write;

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::datasets::region;
use crate::store::{Dialect, Store};

use super::ClueError;
use super::workflow::Status;

/// A clue as listed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ClueRow {
    /// Id.
    pub id: i64,
    /// The model that found it (none for clues reported by people).
    pub model: Option<String>,
    /// `model`, `grid_member` or `agency`.
    pub source: String,
    /// Who reported it, for clues from people.
    pub source_detail: Option<String>,
    /// Clue kind.
    pub kind: String,
    /// County (or the region of the run).
    pub region: String,
    /// Subject type.
    pub subject_type: String,
    /// Subject id (a pseudonym for people).
    pub subject_id: String,
    /// Subject name, when known.
    pub subject_name: String,
    /// 0..1.
    pub score: f64,
    /// One line.
    pub reason: String,
    /// Workflow status.
    pub status: Status,
    /// Who has it.
    pub assignee: Option<String>,
    /// Times a run found it.
    pub occurrences: i64,
    /// First found, ms since the epoch.
    pub first_seen_ms: i64,
    /// Last found.
    pub last_seen_ms: i64,
    /// Handling deadline.
    pub handling_due_ms: Option<i64>,
    /// Dismissal reason.
    pub dismiss_reason: Option<String>,
    /// The suggestion it is part of.
    pub suggestion_id: Option<i64>,
    /// A dismissed clue found again with different evidence.
    pub evidence_changed: bool,
    /// The run that last found it.
    pub last_run_id: Option<i64>,
}

const COLUMNS: &str = "id, model_id, source, source_detail, kind, region, subject_type, subject_id, subject_name, score, \
    reason, status, assignee, occurrences, first_seen_ms, last_seen_ms, handling_due_ms, dismiss_reason, suggestion_id, \
    evidence_changed, last_run_id";

fn from_row(r: &AnyRow) -> Result<ClueRow, ClueError> {
    let status: String = r.try_get(11)?;
    Ok(ClueRow {
        id: r.try_get(0)?,
        model: r.try_get(1)?,
        source: r.try_get(2)?,
        source_detail: r.try_get(3)?,
        kind: r.try_get(4)?,
        region: r.try_get(5)?,
        subject_type: r.try_get(6)?,
        subject_id: r.try_get(7)?,
        subject_name: r.try_get(8)?,
        score: r.try_get(9)?,
        reason: r.try_get(10)?,
        status: status.parse().map_err(ClueError::Invalid)?,
        assignee: r.try_get(12)?,
        occurrences: r.try_get(13)?,
        first_seen_ms: r.try_get(14)?,
        last_seen_ms: r.try_get(15)?,
        handling_due_ms: r.try_get(16)?,
        dismiss_reason: r.try_get(17)?,
        suggestion_id: r.try_get(18)?,
        evidence_changed: r.try_get::<i64, _>(19)? != 0,
        last_run_id: r.try_get(20)?,
    })
}

/// One clue, whatever its region (callers check the actor's region).
pub async fn get(store: &Store, id: i64) -> Result<ClueRow, ClueError> {
    let sql = format!("SELECT {COLUMNS} FROM clues WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(store.pool())
        .await?
        .ok_or_else(|| ClueError::NotFound(format!("clue {id}")))?;
    from_row(&row)
}

/// How to sort a list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// Most recently found first.
    #[default]
    LastSeen,
    /// Highest score first.
    Score,
    /// Oldest first.
    FirstSeen,
    /// Earliest handling deadline first.
    Due,
}

impl std::str::FromStr for Sort {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "last-seen" => Ok(Sort::LastSeen),
            "score" => Ok(Sort::Score),
            "first-seen" => Ok(Sort::FirstSeen),
            "due" => Ok(Sort::Due),
            _ => Err(format!(
                "unknown sort `{s}` (one of: last-seen, score, first-seen, due)"
            )),
        }
    }
}

impl Sort {
    fn order_by(self) -> &'static str {
        match self {
            Sort::LastSeen => "last_seen_ms DESC, id DESC",
            Sort::Score => "score DESC, id DESC",
            Sort::FirstSeen => "first_seen_ms, id",
            Sort::Due => "COALESCE(handling_due_ms, 9223372036854775807), id",
        }
    }

    /// The index to read a page over many regions from, in this order (the rowid breaks
    /// ties on SQLite): by score within one status when the filter names one status, else
    /// the sort key's own index over every clue.
    fn index(self, f: &ClueFilter) -> &'static str {
        match self {
            Sort::Score if f.statuses.len() == 1 => "clues_status_score",
            Sort::LastSeen => "clues_last_seen",
            Sort::Score => "clues_score",
            Sort::FirstSeen => "clues_first_seen",
            Sort::Due => "clues_due_order",
        }
    }
}

/// Which clues.
#[derive(Debug, Clone, Default)]
pub struct ClueFilter {
    /// Only this model.
    pub model: Option<String>,
    /// Only this source (`model`, `grid_member`, `agency`).
    pub source: Option<String>,
    /// Only regions under this one (always within the actor's).
    pub region: Option<String>,
    /// Only these statuses.
    pub statuses: Vec<Status>,
    /// Score at least.
    pub min_score: Option<f64>,
    /// Score at most.
    pub max_score: Option<f64>,
    /// Last found at or after, ms.
    pub seen_from_ms: Option<i64>,
    /// Last found before, ms.
    pub seen_to_ms: Option<i64>,
    /// Only open clues past their handling deadline.
    pub overdue: bool,
    /// Only this assignee.
    pub assignee: Option<String>,
    /// Only clues whose reason or subject name contains this text.
    pub text: Option<String>,
    /// Sort.
    pub sort: Sort,
    /// Page size (1..=1000; 50 when 0).
    pub limit: i64,
    /// Rows to skip.
    pub offset: i64,
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The region prefix for a filter within the actor's scope, or `None` when the asked region
/// lies outside it.
fn region_pattern(scope: &str, asked: Option<&str>) -> Result<Option<String>, ClueError> {
    let r = match asked {
        None => scope,
        Some(r) => {
            region::level(r).map_err(ClueError::Invalid)?;
            if region::covers(scope, r) {
                r
            } else if region::covers(r, scope) {
                scope
            } else {
                return Ok(None);
            }
        }
    };
    Ok(Some(region::prefix(r).to_string()))
}

/// A bound value of the WHERE clause.
enum Bind {
    Text(String),
    Int(i64),
    Float(f64),
}

/// The WHERE clause of a filter, built from fixed fragments with numbered placeholders (no
/// input ever becomes SQL text), and its values. Only the filters in use appear, so the
/// database can use its indexes; the region prefix becomes a range (`'3301' <= region <
/// '3301:'`, ':' sorting right after '9'), a county an equality.
fn where_clause(prefix: &str, whole_store: bool, f: &ClueFilter, now: i64) -> (String, Vec<Bind>) {
    // A county is one code: an equality lets the database read (region, sort key) indexes
    // in order instead of sorting the county's clues. A scope that covers every region in
    // the store needs no region condition at all (one that matches everything would only
    // mislead the planner into reading a region index).
    let (mut sql, mut binds) = if whole_store {
        (String::from("WHERE 1 = 1"), Vec::new())
    } else if prefix.len() == 6 {
        (
            String::from("WHERE region = $1"),
            vec![Bind::Text(prefix.to_string())],
        )
    } else {
        (
            String::from("WHERE region >= $1 AND region < $2"),
            vec![
                Bind::Text(prefix.to_string()),
                Bind::Text(format!("{prefix}:")),
            ],
        )
    };
    let mut add = |sql: &mut String, fragment: &str, values: Vec<Bind>| {
        let mut frag = fragment.to_string();
        for v in values {
            binds.push(v);
            frag = frag.replacen('?', &format!("${}", binds.len()), 1);
        }
        sql.push_str(" AND ");
        sql.push_str(&frag);
    };
    if let Some(m) = &f.model {
        add(&mut sql, "model_id = ?", vec![Bind::Text(m.clone())]);
    }
    if let Some(src) = &f.source {
        add(&mut sql, "source = ?", vec![Bind::Text(src.clone())]);
    }
    if !f.statuses.is_empty() {
        let marks = vec!["?"; f.statuses.len()].join(", ");
        let values = f
            .statuses
            .iter()
            .map(|s| Bind::Text(s.as_str().to_string()))
            .collect();
        add(&mut sql, &format!("status IN ({marks})"), values);
    }
    if let Some(v) = f.min_score {
        add(&mut sql, "score >= ?", vec![Bind::Float(v)]);
    }
    if let Some(v) = f.max_score {
        add(&mut sql, "score <= ?", vec![Bind::Float(v)]);
    }
    if let Some(v) = f.seen_from_ms {
        add(&mut sql, "last_seen_ms >= ?", vec![Bind::Int(v)]);
    }
    if let Some(v) = f.seen_to_ms {
        add(&mut sql, "last_seen_ms < ?", vec![Bind::Int(v)]);
    }
    if f.overdue {
        add(
            &mut sql,
            "status IN ('assigned', 'verifying') AND handling_due_ms < ?",
            vec![Bind::Int(now)],
        );
    }
    if let Some(a) = &f.assignee {
        add(&mut sql, "assignee = ?", vec![Bind::Text(a.clone())]);
    }
    if let Some(t) = f.text.as_deref().filter(|t| !t.is_empty()) {
        let pattern = format!("%{}%", escape_like(t));
        add(
            &mut sql,
            "(reason LIKE ? ESCAPE '\\' OR subject_name LIKE ? ESCAPE '\\')",
            vec![Bind::Text(pattern.clone()), Bind::Text(pattern)],
        );
    }
    (sql, binds)
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    binds: &[Bind],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for b in binds {
        q = match b {
            Bind::Text(v) => q.bind(v.clone()),
            Bind::Int(v) => q.bind(*v),
            Bind::Float(v) => q.bind(*v),
        };
    }
    q
}

/// Totals up to this are counted exactly whatever the filter; past it, a filter the tallies
/// cannot answer reports "at least this many" (as search engines do), so that no page ever
/// counts a million rows.
pub const COUNT_LIMIT: i64 = 10_000;

/// How many clues match a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Total {
    /// Clues that match (a lower bound when `exact` is false).
    pub count: i64,
    /// False when there are more than `count` (at least [`COUNT_LIMIT`]).
    pub exact: bool,
}

impl std::fmt::Display for Total {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.count, if self.exact { "" } else { "+" })
    }
}

/// Whether the tallies kept per region, model, source and status answer this filter's count.
fn tally_answers(f: &ClueFilter) -> bool {
    f.min_score.is_none()
        && f.max_score.is_none()
        && f.seen_from_ms.is_none()
        && f.seen_to_ms.is_none()
        && !f.overdue
        && f.assignee.is_none()
        && f.text.as_deref().is_none_or(str::is_empty)
        && f.model.as_deref() != Some(REPORTED)
}

/// The model key the tallies use for clues reported by people.
const REPORTED: &str = "(reported)";

/// The count of a filter: summed from the tallies when they answer it, else counted up to
/// [`COUNT_LIMIT`] + 1 rows.
async fn total(
    store: &Store,
    prefix: &str,
    f: &ClueFilter,
    clause: &str,
    binds: &[Bind],
) -> Result<Total, ClueError> {
    if tally_answers(f) {
        let tally = TallyFilter {
            model: f.model.as_deref(),
            source: f.source.as_deref(),
            statuses: &f.statuses,
        };
        return Ok(Total {
            count: count_from_tally(store, prefix, &tally).await?,
            exact: true,
        });
    }
    let sql = format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM clues {clause} LIMIT {}) AS matching",
        COUNT_LIMIT + 1
    );
    let n: i64 = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), binds)
        .fetch_one(store.pool())
        .await?
        .try_get(0)?;
    Ok(Total {
        count: n.min(COUNT_LIMIT),
        exact: n <= COUNT_LIMIT,
    })
}

/// A count the tallies answer: regions under a prefix, optionally one model, one source and
/// some statuses.
#[derive(Debug, Clone, Copy, Default)]
pub struct TallyFilter<'a> {
    /// Only this model (`(reported)` for clues reported by people).
    pub model: Option<&'a str>,
    /// Only this source.
    pub source: Option<&'a str>,
    /// Only these statuses (all when empty).
    pub statuses: &'a [Status],
}

/// Clues under a region prefix that match `f`, summed from the tallies (exact, and cheap:
/// the cost follows regions × models × statuses, not clues).
pub async fn count_from_tally(
    store: &Store,
    prefix: &str,
    f: &TallyFilter<'_>,
) -> Result<i64, ClueError> {
    let mut sql = String::from(
        "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM clue_tally WHERE region >= $1 AND region < $2 \
         AND ($3 = '' OR model_key = $3) AND ($4 = '' OR source = $4)",
    );
    if !f.statuses.is_empty() {
        let marks: Vec<String> = (0..f.statuses.len())
            .map(|i| format!("${}", i + 5))
            .collect();
        sql.push_str(&format!(" AND status IN ({})", marks.join(", ")));
    }
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(prefix.to_string())
        .bind(format!("{prefix}:"))
        .bind(f.model.unwrap_or("").to_string())
        .bind(f.source.unwrap_or("").to_string());
    for s in f.statuses {
        q = q.bind(s.as_str().to_string());
    }
    Ok(q.fetch_one(store.pool()).await?.try_get(0)?)
}

/// A page of clues within `scope` (the actor's region) and how many match in all.
pub async fn list(
    store: &Store,
    scope: &str,
    f: &ClueFilter,
    now: i64,
) -> Result<(Vec<ClueRow>, Total), ClueError> {
    let Some(prefix) = region_pattern(scope, f.region.as_deref())? else {
        return Ok((
            Vec::new(),
            Total {
                count: 0,
                exact: true,
            },
        ));
    };
    let limit = if f.limit <= 0 { 50 } else { f.limit.min(1000) };
    let offset = f.offset.max(0);
    let (clause, binds) = where_clause(&prefix, covers_store(store, &prefix).await?, f, now);
    let total = total(store, &prefix, f, &clause, &binds).await?;
    let source = if walk_sort_index(store, &prefix, total, limit + offset).await? {
        format!("clues INDEXED BY {}", f.sort.index(f))
    } else {
        "clues".to_string()
    };
    let n = binds.len();
    let sql = format!(
        "SELECT {COLUMNS} FROM {source} {clause} ORDER BY {} LIMIT ${} OFFSET ${}",
        f.sort.order_by(),
        n + 1,
        n + 2
    );
    let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &binds)
        .bind(limit)
        .bind(offset)
        .fetch_all(store.pool())
        .await?;
    Ok((rows.iter().map(from_row).collect::<Result<_, _>>()?, total))
}

/// Whether every region in the store lies under `prefix` (the usual case for the province).
async fn covers_store(store: &Store, prefix: &str) -> Result<bool, ClueError> {
    let outside: i64 =
        sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM regions WHERE code < $1 OR code >= $2")
            .bind(prefix.to_string())
            .bind(format!("{prefix}:"))
            .fetch_one(store.pool())
            .await?
            .try_get(0)?;
    Ok(outside == 0)
}

/// Whether a page over a city or the province should be read by walking the sort's index
/// and skipping clues that do not match, rather than collecting every match and sorting it.
/// Walking reads about `wanted × all / matching` clues, sorting reads `matching`: walk when
/// that is fewer. PostgreSQL's planner weighs this itself from its histograms; SQLite's
/// guesses that any range holds a fixed share of the table, so for a city or the province it
/// sorts hundreds of thousands of rows to show fifty. The counts come from the tallies.
async fn walk_sort_index(
    store: &Store,
    prefix: &str,
    matching: Total,
    wanted: i64,
) -> Result<bool, ClueError> {
    if store.dialect() != Dialect::Sqlite || prefix.len() == 6 || matching.count == 0 {
        return Ok(false);
    }
    let all = count_from_tally(store, "", &TallyFilter::default()).await?;
    Ok(wanted.saturating_mul(all) / matching.count <= matching.count)
}

fn time(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// The columns of an export, in order.
pub const CSV_HEADER: [&str; 19] = [
    "id",
    "model",
    "source",
    "reported_by",
    "kind",
    "region",
    "status",
    "score",
    "subject_type",
    "subject_id",
    "subject_name",
    "reason",
    "occurrences",
    "first_seen",
    "last_seen",
    "assignee",
    "handling_due",
    "dismiss_reason",
    "suggestion",
];

/// One clue as a row of an export ([`CSV_HEADER`]'s columns).
pub fn csv_record(c: &ClueRow) -> [String; 19] {
    [
        c.id.to_string(),
        c.model.clone().unwrap_or_default(),
        c.source.clone(),
        c.source_detail.clone().unwrap_or_default(),
        c.kind.clone(),
        c.region.clone(),
        c.status.to_string(),
        format!("{:.3}", c.score),
        c.subject_type.clone(),
        c.subject_id.clone(),
        c.subject_name.clone(),
        c.reason.clone(),
        c.occurrences.to_string(),
        time(Some(c.first_seen_ms)),
        time(Some(c.last_seen_ms)),
        c.assignee.clone().unwrap_or_default(),
        time(c.handling_due_ms),
        c.dismiss_reason.clone().unwrap_or_default(),
        c.suggestion_id.map(|s| s.to_string()).unwrap_or_default(),
    ]
}

/// Rows an export reads per query.
pub const EXPORT_PAGE: i64 = 1000;

/// Writes every matching clue as CSV (header first); returns how many.
pub async fn export(
    store: &Store,
    scope: &str,
    f: &ClueFilter,
    now: i64,
    out: impl Write,
) -> Result<u64, ClueError> {
    let mut w = csv::Writer::from_writer(out);
    let io = |e: csv::Error| ClueError::Invalid(format!("cannot write the CSV: {e}"));
    w.write_record(CSV_HEADER).map_err(io)?;
    let mut page = f.clone();
    page.limit = EXPORT_PAGE;
    page.offset = 0;
    let mut n = 0u64;
    loop {
        let (rows, _) = list(store, scope, &page, now).await?;
        for c in &rows {
            w.write_record(csv_record(c)).map_err(io)?;
            n += 1;
        }
        if (rows.len() as i64) < EXPORT_PAGE {
            break;
        }
        page.offset += EXPORT_PAGE;
    }
    w.flush()
        .map_err(|e| ClueError::Invalid(format!("cannot write the CSV: {e}")))?;
    Ok(n)
}
