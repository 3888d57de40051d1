//! Clues: the clue store with one clue per (model, dedup key) across runs and versions. A
//! repeat hit updates the clue it matches (last seen, occurrences, evidence) and never adds a
//! second one; a repeat hit on a dismissed clue stays dismissed but is counted, and flagged
//! when its evidence changed.

pub mod dedup;

pub use dedup::{ClueCounts, Origin, content_sha256};
