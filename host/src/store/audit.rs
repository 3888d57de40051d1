//! The audit log as a hash chain: every state change appends one event (who, when, what, to
//! which subject, with details such as the old and new values) carrying a sequence number, the
//! previous event's hash and its own. A single head row, updated in the same transaction,
//! serialises appends (so the chain never forks under concurrent writers) and remembers the
//! last event, so that removing events from the end is detected too. [`verify`] walks the
//! chain and reports the first event that is missing or was altered.

use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

use super::{Dialect, Store, StoreError, now_ms};

/// sha256 over an event's fields and the previous hash, hex.
fn event_hash(
    seq: i64,
    prev: &str,
    at_ms: i64,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        &seq.to_string(),
        prev,
        &at_ms.to_string(),
        actor,
        action,
        subject,
        detail,
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Appends an audit event: who did what to which subject, with details. Call it in the same
/// transaction as the change it records, after the change's own writes (the chain's head is
/// locked from here to the commit).
pub async fn audit(
    conn: &mut AnyConnection,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    let entry = Entry {
        actor,
        action,
        subject,
        detail,
    };
    audit_all(conn, &[entry]).await
}

/// One event for [`audit_all`]: who did what to which subject, with details.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// Who.
    pub actor: &'a str,
    /// What, as `noun.verb`.
    pub action: &'a str,
    /// To which subject.
    pub subject: &'a str,
    /// Details, such as the old and new values.
    pub detail: &'a serde_json::Value,
}

/// Events per INSERT statement: 8 bound values each, far below SQLite's and PostgreSQL's
/// limits on bound values.
const EVENTS_PER_STATEMENT: usize = 500;

/// [`audit`] for several events recorded by one transaction (a batch of runs finishing
/// together), in order: their sequence numbers are taken from the head at once and the events
/// written many to a statement (500 to one), so that they cost a statement for the head and
/// one for the events instead of three each.
pub async fn audit_all(conn: &mut AnyConnection, events: &[Entry<'_>]) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let n = i64::try_from(events.len()).unwrap_or(i64::MAX);
    let head = sqlx::query("UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, hash")
        .bind(n)
        .fetch_one(&mut *conn)
        .await?;
    let (last, mut prev): (i64, String) = (head.try_get(0)?, head.try_get(1)?);
    let mut seq = last - n;
    let at = now_ms();
    let dialect = Dialect::of(conn);
    for part in events.chunks(EVENTS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO audit_log (at_ms, actor, action, subject, detail_json, seq, prev_hash, hash) VALUES {}",
            dialect.rows(0, part.len(), 8, "")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for e in part {
            seq += 1;
            let detail = e.detail.to_string();
            let hash = event_hash(seq, &prev, at, e.actor, e.action, e.subject, &detail);
            q = q
                .bind(at)
                .bind(e.actor)
                .bind(e.action)
                .bind(e.subject)
                .bind(detail)
                .bind(seq)
                .bind(std::mem::replace(&mut prev, hash.clone()))
                .bind(hash);
        }
        q.execute(&mut *conn).await?;
    }
    // The head takes the last event's hash as that event is inserted (a trigger: migration
    // `0013_audit_head_by_trigger`).
    Ok(())
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Verification {
    /// Events checked.
    pub events: u64,
    /// Events from before the chain existed (no sequence number), not covered.
    pub unchained: u64,
    /// The first problem, if any: which event and what is wrong.
    pub problem: Option<String>,
}

impl Verification {
    /// Whether the chain is intact.
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// One event of the audit log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Event {
    /// Log id.
    pub id: i64,
    /// When, ms since the epoch.
    pub at_ms: i64,
    /// Who.
    pub actor: String,
    /// What (`clue.assign`, `model.approve`, …).
    pub action: String,
    /// To what (`clue 12`, `pension-after-death@1.0.0`, …).
    pub subject: String,
    /// Details such as the old and new values.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// Which events: all by default, newest first.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only events about this subject.
    pub subject: Option<String>,
    /// Only events by this actor.
    pub actor: Option<String>,
    /// Only events whose action starts with this (`clue.`, `model.approve`).
    pub action_prefix: Option<String>,
    /// Only events older than this log id (the next page).
    pub before_id: Option<i64>,
    /// At most this many (1 to 10,000).
    pub limit: i64,
}

/// Events, newest first.
pub async fn list(store: &Store, f: &EventFilter) -> Result<Vec<Event>, StoreError> {
    let prefix = f.action_prefix.clone().unwrap_or_default();
    let rows = sqlx::query(
        "SELECT id, at_ms, actor, action, subject, detail_json FROM audit_log \
         WHERE ($1 = '' OR subject = $1) AND ($2 = '' OR actor = $2) \
         AND ($3 = '' OR substr(action, 1, length($3)) = $3) AND id < $4 \
         ORDER BY id DESC LIMIT $5",
    )
    .bind(f.subject.clone().unwrap_or_default())
    .bind(f.actor.clone().unwrap_or_default())
    .bind(prefix)
    .bind(f.before_id.unwrap_or(i64::MAX))
    .bind(f.limit.clamp(1, 10_000))
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let detail: String = r.try_get(5)?;
            Ok(Event {
                id: r.try_get(0)?,
                at_ms: r.try_get(1)?,
                actor: r.try_get(2)?,
                action: r.try_get(3)?,
                subject: r.try_get(4)?,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
            })
        })
        .collect()
}

/// Walks the whole chain in order and stops at the first missing or altered event.
pub async fn verify(store: &Store) -> Result<Verification, StoreError> {
    const PAGE: i64 = 10_000;
    let unchained: i64 = sqlx::query("SELECT COUNT(*) FROM audit_log WHERE seq IS NULL")
        .fetch_one(store.pool())
        .await?
        .try_get(0)?;
    let mut v = Verification {
        events: 0,
        unchained: unchained as u64,
        problem: None,
    };
    let (mut expected, mut prev) = (1i64, String::new());
    loop {
        let rows = sqlx::query(
            "SELECT id, seq, at_ms, actor, action, subject, detail_json, prev_hash, hash FROM audit_log \
             WHERE seq >= $1 ORDER BY seq LIMIT $2",
        )
        .bind(expected)
        .bind(PAGE)
        .fetch_all(store.pool())
        .await?;
        let n = rows.len();
        for r in rows {
            let (id, seq, at): (i64, i64, i64) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            let (actor, action, subject, detail): (String, String, String, String) =
                (r.try_get(3)?, r.try_get(4)?, r.try_get(5)?, r.try_get(6)?);
            let (prev_hash, hash): (Option<String>, Option<String>) =
                (r.try_get(7)?, r.try_get(8)?);
            let problem = if seq != expected {
                Some(format!(
                    "event {expected} is missing (the next one is {seq})"
                ))
            } else if prev_hash.as_deref() != Some(prev.as_str()) {
                Some(format!(
                    "event {seq} (log id {id}) does not follow event {}: an event before it was altered or removed",
                    seq - 1
                ))
            } else if hash.as_deref()
                != Some(event_hash(seq, &prev, at, &actor, &action, &subject, &detail).as_str())
            {
                Some(format!(
                    "event {seq} (log id {id}, {action} on {subject} by {actor}) was altered"
                ))
            } else {
                None
            };
            if problem.is_some() {
                v.problem = problem;
                return Ok(v);
            }
            v.events += 1;
            expected += 1;
            prev = hash.unwrap_or_default();
        }
        if (n as i64) < PAGE {
            break;
        }
    }
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(store.pool())
        .await?;
    let (last, last_hash): (i64, String) = (head.try_get(0)?, head.try_get(1)?);
    if last != expected - 1 {
        v.problem = Some(format!(
            "events {expected} to {last} are missing from the end of the log"
        ));
    } else if last_hash != prev {
        v.problem = Some(format!("event {last}, the last one, was altered"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::event_hash;

    #[test]
    fn hash_depends_on_every_field_and_their_boundaries() {
        let base = event_hash(1, "", 5, "a", "b", "c", "{}");
        assert_ne!(base, event_hash(2, "", 5, "a", "b", "c", "{}"));
        assert_ne!(base, event_hash(1, "x", 5, "a", "b", "c", "{}"));
        assert_ne!(base, event_hash(1, "", 5, "ab", "", "c", "{}"));
        assert_eq!(base, event_hash(1, "", 5, "a", "b", "c", "{}"));
    }
}
