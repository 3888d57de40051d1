//! Triage actions on clues, one or many at once (all or nothing: one refused clue refuses the
//! batch, with every problem listed), comments, and the detail of a clue with its timeline and
//! the actions it allows next. Only an office whose region covers a clue's region sees or acts
//! on it; to others it does not exist.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::datasets::region;
use crate::registry::Actor;
use crate::store::{Store, WriteTx, audit, now_ms};

use super::settings::{self, days_ms};
use super::workflow::{Action, Status};
use super::{ClueError, actor_region};

/// Most clues one bulk action may touch.
pub const MAX_BULK: usize = 1000;

/// The triage state of a clue that an action reads and changes.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
struct State {
    status: Status,
    assignee: Option<String>,
    region: String,
    handling_due_ms: Option<i64>,
}

async fn state(tx: &mut WriteTx, id: i64) -> Result<Option<State>, ClueError> {
    let row =
        sqlx::query("SELECT status, assignee, region, handling_due_ms FROM clues WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    row.map(|r: AnyRow| {
        let status: String = r.try_get(0)?;
        Ok(State {
            status: status.parse().map_err(ClueError::Invalid)?,
            assignee: r.try_get(1)?,
            region: r.try_get(2)?,
            handling_due_ms: r.try_get(3)?,
        })
    })
    .transpose()
}

/// Applies `action` to every clue in `ids` in one transaction; returns their new status.
pub async fn apply(
    store: &Store,
    actor: &Actor,
    ids: &[i64],
    action: &Action,
) -> Result<Status, ClueError> {
    apply_at(store, actor, ids, action, now_ms()).await
}

/// [`apply`] at a given time (tests of deadlines).
pub async fn apply_at(
    store: &Store,
    actor: &Actor,
    ids: &[i64],
    action: &Action,
    now: i64,
) -> Result<Status, ClueError> {
    action.validate().map_err(ClueError::Invalid)?;
    if ids.is_empty() {
        return Err(ClueError::Invalid("name at least one clue".into()));
    }
    if ids.len() > MAX_BULK {
        return Err(ClueError::Invalid(format!(
            "at most {MAX_BULK} clues at once, not {}",
            ids.len()
        )));
    }
    let scope = actor_region(store, actor).await?;
    let handling = settings::get(store).await?.handling_days;
    let mut tx = store.begin().await?;
    let (mut problems, mut missing) = (Vec::new(), Vec::new());
    let mut changes = Vec::new();
    for &id in ids {
        match state(&mut tx, id).await? {
            Some(s) if region::covers(&scope, &s.region) => match action.refuse(s.status) {
                Some(why) => problems.push(format!("clue {id}: {why}")),
                None => changes.push((id, s)),
            },
            _ => missing.push(id),
        }
    }
    if !missing.is_empty() {
        // A clue outside the actor's region does not exist for them: say only that.
        let ids: Vec<String> = missing.iter().take(20).map(i64::to_string).collect();
        return Err(ClueError::NotFound(format!(
            "nothing changed: clue(s) {}",
            ids.join(", ")
        )));
    }
    if !problems.is_empty() {
        let more = problems.len().saturating_sub(20);
        problems.truncate(20);
        let mut text = problems.join("; ");
        if more > 0 {
            text.push_str(&format!("; and {more} more"));
        }
        return Err(ClueError::Refused(format!("nothing changed: {text}")));
    }
    let mut events = Vec::with_capacity(changes.len());
    let mut result = Status::New;
    for (id, old) in changes {
        let to = action.to(old.status);
        result = to;
        let mut new = old.clone();
        new.status = to;
        let (mut dismiss_reason, mut dismiss_note, mut outcome_note) = (None, None, None);
        match action {
            Action::Assign { to } => {
                new.assignee = Some(to.clone());
                if old.handling_due_ms.is_none() {
                    new.handling_due_ms = Some(now + days_ms(handling));
                }
            }
            Action::Confirm { note } | Action::FileCase { note } => {
                outcome_note = Some(note.clone())
            }
            Action::Transfer { agency } => outcome_note = Some(agency.clone()),
            Action::Dismiss { reason, note } => {
                dismiss_reason = Some(reason.as_str().to_string());
                dismiss_note = Some(note.clone());
            }
            Action::Verify | Action::Suggest { .. } => {}
        }
        let suggestion = match action {
            Action::Suggest { suggestion } => Some(*suggestion),
            _ => None,
        };
        sqlx::query(
            "UPDATE clues SET status = $1, assignee = $2, handling_due_ms = $3, updated_at_ms = $4, \
             assigned_at_ms = CASE WHEN $5 = 'assign' AND assigned_at_ms IS NULL THEN $4 ELSE assigned_at_ms END, \
             verifying_at_ms = CASE WHEN $5 = 'verify' THEN $4 ELSE verifying_at_ms END, \
             confirmed_at_ms = CASE WHEN $5 = 'confirm' THEN $4 ELSE confirmed_at_ms END, \
             closed_at_ms = CASE WHEN $6 = 1 THEN $4 ELSE closed_at_ms END, \
             dismiss_reason = COALESCE($7, dismiss_reason), dismiss_note = COALESCE($8, dismiss_note), \
             outcome_note = COALESCE($9, outcome_note), suggestion_id = COALESCE($10, suggestion_id) \
             WHERE id = $11",
        )
        .bind(to.as_str())
        .bind(new.assignee.clone())
        .bind(new.handling_due_ms)
        .bind(now)
        .bind(action.name())
        .bind(i64::from(to.is_closed()))
        .bind(dismiss_reason.clone())
        .bind(dismiss_note.clone())
        .bind(outcome_note.clone())
        .bind(suggestion)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let detail = serde_json::json!({
            "old": old, "new": new,
            "dismiss_reason": dismiss_reason, "note": dismiss_note.or(outcome_note), "suggestion": suggestion,
        });
        events.push((id, detail));
    }
    // Events last: the audit chain's head stays locked only until the commit.
    for (id, detail) in events {
        audit(
            &mut tx,
            &actor.user,
            &format!("clue.{}", action.name()),
            &format!("clue {id}"),
            &detail,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(result)
}

/// Adds a comment to a clue.
pub async fn comment(store: &Store, actor: &Actor, id: i64, text: &str) -> Result<(), ClueError> {
    let text = text.trim();
    if text.is_empty() || text.len() > 4000 {
        return Err(ClueError::Invalid(
            "a comment is 1 to 4000 bytes of text".into(),
        ));
    }
    let scope = actor_region(store, actor).await?;
    let mut tx = store.begin().await?;
    match state(&mut tx, id).await? {
        Some(s) if region::covers(&scope, &s.region) => {}
        _ => return Err(ClueError::NotFound(format!("clue {id}"))),
    }
    sqlx::query("INSERT INTO clue_comments (clue_id, actor, at_ms, text) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(&actor.user)
        .bind(now_ms())
        .bind(text)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut tx,
        &actor.user,
        "clue.comment",
        &format!("clue {id}"),
        &serde_json::json!({"text": text}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// One event of a clue's timeline.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Event {
    /// When, ms since the epoch.
    pub at_ms: i64,
    /// Who.
    pub actor: String,
    /// What (`clue.assign`, `clue.comment`…).
    pub action: String,
    /// Old and new values, notes.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// A comment on a clue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Comment {
    /// Who.
    pub actor: String,
    /// When, ms since the epoch.
    pub at_ms: i64,
    /// What.
    pub text: String,
}

/// A clue with everything a reviewer needs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Detail {
    /// The clue as listed.
    pub clue: super::query::ClueRow,
    /// Evidence as emitted: per dataset, the row keys and the fields that triggered the clue.
    #[schema(value_type = Vec<Object>)]
    pub evidence: serde_json::Value,
    /// Its events, oldest first.
    pub timeline: Vec<Event>,
    /// Comments, oldest first.
    pub comments: Vec<Comment>,
    /// Actions allowed next.
    pub next: Vec<&'static str>,
}

/// The detail of a clue the actor may see.
pub async fn detail(store: &Store, actor: &Actor, id: i64) -> Result<Detail, ClueError> {
    let scope = actor_region(store, actor).await?;
    let clue = super::query::get(store, id).await?;
    if !region::covers(&scope, &clue.region) {
        return Err(ClueError::NotFound(format!("clue {id}")));
    }
    let evidence: String = sqlx::query("SELECT evidence_json FROM clues WHERE id = $1")
        .bind(id)
        .fetch_one(store.pool())
        .await?
        .try_get(0)?;
    let events = sqlx::query(
        "SELECT at_ms, actor, action, detail_json FROM audit_log WHERE subject = $1 ORDER BY id",
    )
    .bind(format!("clue {id}"))
    .fetch_all(store.pool())
    .await?;
    let timeline = events
        .iter()
        .map(|r| {
            let d: String = r.try_get(3)?;
            Ok(Event {
                at_ms: r.try_get(0)?,
                actor: r.try_get(1)?,
                action: r.try_get(2)?,
                detail: serde_json::from_str(&d).unwrap_or(serde_json::Value::Null),
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    let comments =
        sqlx::query("SELECT actor, at_ms, text FROM clue_comments WHERE clue_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(store.pool())
            .await?
            .iter()
            .map(|r| {
                Ok(Comment {
                    actor: r.try_get(0)?,
                    at_ms: r.try_get(1)?,
                    text: r.try_get(2)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
    Ok(Detail {
        next: Action::menu(clue.status),
        evidence: serde_json::from_str(&evidence).unwrap_or(serde_json::Value::Null),
        clue,
        timeline,
        comments,
    })
}
