//! Re-identifying a clue's subject: models see people only as pseudonyms, and a reviewer who
//! must act on a clue needs the real identifier. Only a reviewer whose region covers the
//! clue's may look; every look is recorded in the audit trail (and so in the clue's timeline),
//! whether or not anything was found.

use sqlx::Row;

use crate::auth::Role;
use crate::datasets::catalog::CatalogError;
use crate::datasets::identify::{self, Identity};
use crate::datasets::region;
use crate::registry::Actor;
use crate::store::{Store, StoreError, audit};

use super::{ClueError, actor_region};

/// The identities behind a clue's subject.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SubjectIdentity {
    /// The subject's kind, as the model named it.
    pub subject_type: String,
    /// The subject's id as the model saw it.
    pub subject_id: String,
    /// Whether the id is a pseudonym (otherwise it is shown as it is and nothing is looked up).
    pub pseudonymous: bool,
    /// Rows of the clue's region that carry the pseudonym, with their identifiers.
    pub found: Vec<Identity>,
}

/// Looks up who a clue is about, for `actor` acting as `role`, and records the look.
pub async fn identify(
    store: &Store,
    actor: &Actor,
    role: Role,
    id: i64,
) -> Result<SubjectIdentity, ClueError> {
    let scope = actor_region(store, actor).await?;
    let row = sqlx::query(
        "SELECT region, subject_type, subject_id, evidence_json FROM clues WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(store.pool())
    .await?;
    let Some(row) = row else {
        return Err(ClueError::NotFound(format!("clue {id}")));
    };
    let clue_region: String = row.try_get(0)?;
    if !region::covers(&scope, &clue_region) {
        return Err(ClueError::NotFound(format!("clue {id}")));
    }
    if role != Role::Reviewer {
        return Err(ClueError::Forbidden(format!(
            "only a reviewer of the clue's region may re-identify its subject, not the {} role",
            role.as_str()
        )));
    }
    let (subject_type, subject_id): (String, String) = (row.try_get(1)?, row.try_get(2)?);
    let evidence: String = row.try_get(3)?;
    let datasets = evidence_datasets(&evidence);
    let pseudonym = identify::parse_hex(&subject_id);
    let found = match pseudonym {
        Some(p) => identify::lookup(store, &clue_region, p, &datasets)
            .await
            .map_err(|e| match e {
                CatalogError::Store(e) => ClueError::Store(e),
                // A stored schema that no longer parses: the store is damaged, not the request.
                other => ClueError::Store(StoreError::Db(sqlx::Error::Protocol(other.to_string()))),
            })?,
        None => Vec::new(),
    };
    let mut tx = store.begin().await?;
    let seen: Vec<&str> = found.iter().map(|f| f.dataset.as_str()).collect();
    audit(
        &mut tx,
        &actor.user,
        "clue.identify",
        &format!("clue {id}"),
        &serde_json::json!({"subject_type": subject_type, "found_in": seen}),
    )
    .await?;
    tx.commit().await?;
    Ok(SubjectIdentity {
        subject_type,
        subject_id,
        pseudonymous: pseudonym.is_some(),
        found,
    })
}

/// The datasets a clue's evidence cites, in order.
fn evidence_datasets(json: &str) -> Vec<String> {
    let value: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    let mut out: Vec<String> = Vec::new();
    for e in value.as_array().into_iter().flatten() {
        if let Some(d) = e.get("dataset").and_then(|d| d.as_str())
            && !out.iter().any(|o| o == d)
        {
            out.push(d.to_string());
        }
    }
    out
}
