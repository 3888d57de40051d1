//! Procuratorial suggestions: several confirmed clues bundled into one suggestion to one
//! agency (a class-level suggestion), each clue keeping its own outcome. A suggestion is
//! issued → replied → adopted | not adopted, with dates, and has a feedback deadline (by
//! default three months from issue).

use sqlx::Row;

use crate::datasets::region;
use crate::registry::Actor;
use crate::store::{Store, audit, now_ms};

use super::settings::{self, add_months};
use super::triage;
use super::workflow::Action;
use super::{ClueError, actor_region};

/// A suggestion.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Suggestion {
    /// Id.
    pub id: i64,
    /// The agency it is addressed to.
    pub agency: String,
    /// Its title.
    pub title: String,
    /// The narrowest region holding all its clues.
    pub region: String,
    /// issued, replied, adopted, not_adopted.
    pub status: String,
    /// Who issued it.
    pub issued_by: String,
    /// When.
    pub issued_at_ms: i64,
    /// Feedback deadline.
    pub feedback_due_ms: i64,
    /// When the agency replied.
    pub replied_at_ms: Option<i64>,
    /// What it said.
    pub reply_note: Option<String>,
    /// When adopted or not.
    pub decided_at_ms: Option<i64>,
    /// The clues in it.
    pub clues: Vec<i64>,
}

/// Issues a suggestion over confirmed clues; returns its id.
pub async fn issue(
    store: &Store,
    actor: &Actor,
    agency: &str,
    title: &str,
    clues: &[i64],
) -> Result<i64, ClueError> {
    issue_at(store, actor, agency, title, clues, now_ms()).await
}

/// [`issue`] at a given time.
pub async fn issue_at(
    store: &Store,
    actor: &Actor,
    agency: &str,
    title: &str,
    clues: &[i64],
    now: i64,
) -> Result<i64, ClueError> {
    for (what, v) in [("agency (--agency)", agency), ("title (--title)", title)] {
        if v.trim().is_empty() || v.len() > 1000 {
            return Err(ClueError::Invalid(format!(
                "a suggestion needs its {what}, up to 1000 bytes"
            )));
        }
    }
    if clues.is_empty() {
        return Err(ClueError::Invalid(
            "name the confirmed clues the suggestion covers".into(),
        ));
    }
    let scope = actor_region(store, actor).await?;
    let months = settings::get(store).await?.feedback_months;
    // The suggestion belongs to the narrowest region holding all its clues, so that the
    // reviewers of that region see it whoever issued it. Clues the actor may not see are
    // refused below, with the suggestion withdrawn.
    let mut codes = Vec::new();
    for id in clues {
        if let Some(r) = sqlx::query("SELECT region FROM clues WHERE id = $1")
            .bind(id)
            .fetch_optional(store.pool())
            .await?
        {
            let code: String = r.try_get(0)?;
            if region::covers(&scope, &code) {
                codes.push(code);
            }
        }
    }
    let home = common_region(&codes).unwrap_or_else(|| scope.clone());
    let mut tx = store.begin().await?;
    let id: i64 = sqlx::query(
        "INSERT INTO suggestions (agency, title, region, status, issued_by, issued_at_ms, feedback_due_ms) \
         VALUES ($1, $2, $3, 'issued', $4, $5, $6) RETURNING id",
    )
    .bind(agency)
    .bind(title)
    .bind(&home)
    .bind(&actor.user)
    .bind(now)
    .bind(add_months(now, months))
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    audit(
        &mut tx,
        &actor.user,
        "suggestion.issue",
        &format!("suggestion {id}"),
        &serde_json::json!({"agency": agency, "title": title, "clues": clues}),
    )
    .await?;
    tx.commit().await?;
    // The clues move in one transaction of their own; if any is refused, the suggestion is
    // withdrawn again so that nothing is left half issued.
    if let Err(e) = triage::apply_at(
        store,
        actor,
        clues,
        &Action::Suggest { suggestion: id },
        now,
    )
    .await
    {
        let mut tx = store.begin().await?;
        sqlx::query("DELETE FROM suggestions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        audit(
            &mut tx,
            &actor.user,
            "suggestion.withdraw",
            &format!("suggestion {id}"),
            &serde_json::json!({"why": e.to_string()}),
        )
        .await?;
        tx.commit().await?;
        return Err(e);
    }
    Ok(id)
}

/// The narrowest region that holds every code: the county, their city, or the province.
fn common_region(codes: &[String]) -> Option<String> {
    let first = codes.first()?;
    if codes.iter().all(|c| c == first) {
        return Some(first.clone());
    }
    if first.len() == 6 && codes.iter().all(|c| c.get(..4) == first.get(..4)) {
        return Some(format!("{}00", &first[..4]));
    }
    first.get(..2).map(|p| format!("{p}0000"))
}

/// A suggestion the actor may see.
pub async fn get(store: &Store, actor: &Actor, id: i64) -> Result<Suggestion, ClueError> {
    let scope = actor_region(store, actor).await?;
    let r = sqlx::query(
        "SELECT id, agency, title, region, status, issued_by, issued_at_ms, feedback_due_ms, replied_at_ms, reply_note, decided_at_ms \
         FROM suggestions WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(store.pool())
    .await?
    .ok_or_else(|| ClueError::NotFound(format!("suggestion {id}")))?;
    let s = row(&r, store).await?;
    if !region::covers(&scope, &s.region) {
        return Err(ClueError::NotFound(format!("suggestion {id}")));
    }
    Ok(s)
}

async fn row(r: &sqlx::any::AnyRow, store: &Store) -> Result<Suggestion, ClueError> {
    let id: i64 = r.try_get(0)?;
    let clues = sqlx::query("SELECT id FROM clues WHERE suggestion_id = $1 ORDER BY id")
        .bind(id)
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(|x| x.try_get(0))
        .collect::<Result<_, _>>()?;
    Ok(Suggestion {
        id,
        agency: r.try_get(1)?,
        title: r.try_get(2)?,
        region: r.try_get(3)?,
        status: r.try_get(4)?,
        issued_by: r.try_get(5)?,
        issued_at_ms: r.try_get(6)?,
        feedback_due_ms: r.try_get(7)?,
        replied_at_ms: r.try_get(8)?,
        reply_note: r.try_get(9)?,
        decided_at_ms: r.try_get(10)?,
        clues,
    })
}

/// Suggestions within the actor's region, newest first; `overdue_at` keeps only those still
/// waiting for a reply past their feedback deadline at that time.
pub async fn list(
    store: &Store,
    actor: &Actor,
    overdue_at: Option<i64>,
) -> Result<Vec<Suggestion>, ClueError> {
    let scope = actor_region(store, actor).await?;
    let rows = sqlx::query(
        "SELECT id, agency, title, region, status, issued_by, issued_at_ms, feedback_due_ms, replied_at_ms, reply_note, decided_at_ms \
         FROM suggestions WHERE region LIKE $1 AND ($2 = 0 OR (status = 'issued' AND feedback_due_ms < $2)) ORDER BY id DESC",
    )
    .bind(format!("{}%", region::prefix(&scope)))
    .bind(overdue_at.unwrap_or(0))
    .fetch_all(store.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(row(r, store).await?);
    }
    Ok(out)
}

/// What happened to a suggestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The agency replied.
    Reply,
    /// It adopted the suggestion.
    Adopt,
    /// It did not.
    Decline,
}

/// Records a reply, adoption or non-adoption.
pub async fn step(
    store: &Store,
    actor: &Actor,
    id: i64,
    step: Step,
    note: &str,
) -> Result<String, ClueError> {
    let s = get(store, actor, id).await?;
    let (from, to, action) = match step {
        Step::Reply => ("issued", "replied", "reply"),
        Step::Adopt => ("replied", "adopted", "adopt"),
        Step::Decline => ("replied", "not_adopted", "decline"),
    };
    if s.status != from {
        return Err(ClueError::Refused(format!(
            "suggestion {id} is {}; `{action}` needs it {from} (issued → replied → adopted | not_adopted)",
            s.status
        )));
    }
    if step == Step::Reply && note.trim().is_empty() {
        return Err(ClueError::Invalid(
            "say what the agency replied (--note)".into(),
        ));
    }
    let now = now_ms();
    let mut tx = store.begin().await?;
    let n = sqlx::query(
        "UPDATE suggestions SET status = $1, replied_at_ms = CASE WHEN $1 = 'replied' THEN $2 ELSE replied_at_ms END, \
         reply_note = CASE WHEN $1 = 'replied' THEN $3 ELSE reply_note END, \
         decided_at_ms = CASE WHEN $1 <> 'replied' THEN $2 ELSE decided_at_ms END, \
         decided_by = CASE WHEN $1 <> 'replied' THEN $4 ELSE decided_by END WHERE id = $5 AND status = $6",
    )
    .bind(to)
    .bind(now)
    .bind(note)
    .bind(&actor.user)
    .bind(id)
    .bind(from)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n != 1 {
        return Err(ClueError::Invalid(format!(
            "suggestion {id} changed meanwhile; try again"
        )));
    }
    audit(
        &mut tx,
        &actor.user,
        &format!("suggestion.{action}"),
        &format!("suggestion {id}"),
        &serde_json::json!({"old": from, "new": to, "note": note}),
    )
    .await?;
    tx.commit().await?;
    Ok(to.to_string())
}

#[cfg(test)]
mod tests {
    use super::common_region;

    #[test]
    fn the_narrowest_region_holding_all_clues() {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            common_region(&v(&["330102", "330102"])).as_deref(),
            Some("330102")
        );
        assert_eq!(
            common_region(&v(&["330102", "330103"])).as_deref(),
            Some("330100")
        );
        assert_eq!(
            common_region(&v(&["330102", "330203"])).as_deref(),
            Some("330000")
        );
        assert_eq!(common_region(&[]), None);
    }
}
