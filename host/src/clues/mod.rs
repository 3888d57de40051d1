//! Clues: the clue store with one clue per (model, dedup key) across runs and versions (a
//! repeat hit updates the clue it matches; a repeat hit on a dismissed clue stays dismissed but
//! is counted, and flagged when its evidence changed); clues reported by people; the triage
//! workflow with deadlines; procuratorial suggestions; search, export and statistics. Every
//! change is an event in the hash-chained audit log.

pub mod dedup;
pub mod identity;
mod json;
pub mod overview;
pub mod query;
pub mod report;
pub mod settings;
pub mod stats;
pub mod suggestions;
pub mod triage;
pub mod workflow;

pub use dedup::{ClueCounts, Origin, content_sha256};
pub use workflow::{Action, DismissReason, Status};

use crate::registry::{Actor, RegistryError};
use crate::store::{Store, StoreError};

/// Why a clue action was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ClueError {
    /// No such thing, or not in the actor's regions (the same answer, so existence does not leak).
    #[error("{0} not found")]
    NotFound(String),
    /// The actor may not do this.
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// The request is malformed.
    #[error("{0}")]
    Invalid(String),
    /// Not allowed in the clue's (or suggestion's) current state.
    #[error("{0}")]
    Refused(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ClueError {
    fn from(e: sqlx::Error) -> Self {
        ClueError::Store(StoreError::Db(e))
    }
}

impl From<RegistryError> for ClueError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::NotFound(s) => ClueError::NotFound(s),
            RegistryError::Forbidden(s) => ClueError::Forbidden(s),
            RegistryError::Store(s) => ClueError::Store(s),
            other => ClueError::Invalid(other.to_string()),
        }
    }
}

/// The region subtree the actor's office may see and act on.
pub async fn actor_region(store: &Store, actor: &Actor) -> Result<String, ClueError> {
    Ok(crate::registry::keys::office(store, &actor.office)
        .await?
        .region)
}
