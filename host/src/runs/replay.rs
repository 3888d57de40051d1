//! Replays: a past run re-run with the same component, parameters, as-of date and snapshot,
//! its clues compared with the original's by dedup key and content hash. A replay's clues are
//! kept apart: it never touches the reviewers' queue.

use std::collections::BTreeMap;

use crate::registry::Actor;
use crate::store::{Store, audit};

use super::queue::{NewRun, enqueue};
use super::record::{self, clue_hashes};
use super::{Kind, RunError, Status};

/// Queues a replay of run `id`; returns the replay's run id.
pub async fn queue(store: &Store, actor: &Actor, id: i64) -> Result<i64, RunError> {
    let orig = record::get(store, id).await?;
    super::authorize(store, actor, &orig.region).await?;
    if orig.status != Status::Succeeded {
        return Err(RunError::Conflict(format!(
            "run {id} is {}; only a succeeded run has clues to compare a replay with",
            orig.status
        )));
    }
    let (Some(snapshot), Some(as_of)) = (orig.snapshot_id, orig.as_of_days) else {
        return Err(RunError::Conflict(format!(
            "run {id} has no recorded snapshot; it cannot be replayed"
        )));
    };
    let run = NewRun {
        kind: Kind::Replay,
        enablement_id: orig.enablement_id,
        model_id: orig.model.clone(),
        version_id: orig.version_id,
        region: orig.region.clone(),
        params: orig.params.clone(),
        scope: orig.scope.clone(),
        trigger: "replay",
        trigger_key: None,
        replay_of: Some(id),
        backtest_group: None,
        snapshot_id: Some(snapshot),
        as_of_days: Some(as_of),
        priority: 10,
        requested_by: actor.user.clone(),
    };
    let mut tx = store.begin().await?;
    let new = enqueue(&mut *tx, &run)
        .await?
        .ok_or_else(|| RunError::Conflict("the replay was not queued".into()))?;
    audit(
        &mut tx,
        &actor.user,
        "run.replay",
        &format!("run {id}"),
        &serde_json::json!({"replay": new}),
    )
    .await?;
    tx.commit().await?;
    store.ring_queued();
    Ok(new)
}

/// How a replay's clues compare with the original run's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Comparison {
    /// The original run.
    pub original: i64,
    /// The replay.
    pub replay: i64,
    /// How the replay ended.
    pub status: Status,
    /// Clues in both with the same content.
    pub same: usize,
    /// Dedup keys only the original emitted.
    pub missing: Vec<String>,
    /// Dedup keys only the replay emitted.
    pub extra: Vec<String>,
    /// Dedup keys in both whose content differs.
    pub changed: Vec<String>,
}

impl Comparison {
    /// Whether the replay succeeded and emitted exactly the original's clues.
    pub fn identical(&self) -> bool {
        self.status == Status::Succeeded
            && self.missing.is_empty()
            && self.extra.is_empty()
            && self.changed.is_empty()
    }
}

/// Compares two clue sets (dedup key → content hash): same, only-left, only-right, changed.
pub fn diff(
    left: &BTreeMap<String, String>,
    right: &BTreeMap<String, String>,
) -> (usize, Vec<String>, Vec<String>, Vec<String>) {
    let mut same = 0;
    let (mut only_left, mut only_right, mut changed) = (Vec::new(), Vec::new(), Vec::new());
    for (k, h) in left {
        match right.get(k) {
            None => only_left.push(k.clone()),
            Some(h2) if h2 == h => same += 1,
            Some(_) => changed.push(k.clone()),
        }
    }
    for k in right.keys() {
        if !left.contains_key(k) {
            only_right.push(k.clone());
        }
    }
    (same, only_left, only_right, changed)
}

/// Compares a finished replay with the run it replays.
pub async fn compare(store: &Store, replay: i64) -> Result<Comparison, RunError> {
    let r = record::get(store, replay).await?;
    let original = r
        .replay_of
        .ok_or_else(|| RunError::Invalid(format!("run {replay} is not a replay")))?;
    let (same, missing, extra, changed) = diff(
        &clue_hashes(store, original).await?,
        &clue_hashes(store, replay).await?,
    );
    Ok(Comparison {
        original,
        replay,
        status: r.status,
        same,
        missing,
        extra,
        changed,
    })
}

#[cfg(test)]
mod tests {
    use super::diff;
    use std::collections::BTreeMap;

    #[test]
    fn diff_sorts_keys_into_same_missing_extra_changed() {
        let m = |v: &[(&str, &str)]| -> BTreeMap<String, String> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let (same, left, right, changed) = diff(
            &m(&[("a", "1"), ("b", "2"), ("c", "3")]),
            &m(&[("a", "1"), ("c", "9"), ("d", "4")]),
        );
        assert_eq!(same, 1);
        assert_eq!(left, vec!["b"]);
        assert_eq!(right, vec!["d"]);
        assert_eq!(changed, vec!["c"]);
    }
}
