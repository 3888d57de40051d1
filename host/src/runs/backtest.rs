//! Backtests: before approving a version, an admin dry-runs it over the current snapshot of
//! chosen regions, next to the version enabled there (same snapshot, same as-of date), and
//! sees per county which clues are new, gone, changed and unchanged. Backtest clues are kept
//! with their runs, never in the reviewers' queue.

use std::collections::{BTreeMap, BTreeSet};

use crate::datasets::region;
use crate::datasets::snapshot::Snapshot;
use crate::registry::enable::{self, Enablement};
use crate::registry::keys::require_admin;
use crate::registry::review::{self, VersionRecord};
use crate::registry::{Actor, VersionRef};
use crate::store::{Store, audit, now_ms};

use super::execute::today;
use super::queue::{NewRun, counties, enqueue_all};
use super::record::{self, RunFilter, clue_hashes};
use super::replay::diff;
use super::{Kind, RunError, Status};

/// The trigger of the candidate's runs.
const CANDIDATE: &str = "backtest";
/// The trigger of the enabled version's runs.
const BASELINE: &str = "baseline";

fn run(v: &VersionRecord, county: &str, trigger: &'static str, group: &str) -> NewRun {
    NewRun {
        kind: Kind::Backtest,
        enablement_id: None,
        model_id: v.model.clone(),
        version_id: v.id,
        region: county.to_string(),
        params: BTreeMap::new(),
        scope: enable::requested_scope(&v.manifest),
        trigger,
        trigger_key: None,
        replay_of: None,
        backtest_group: Some(group.to_string()),
        snapshot_id: None,
        as_of_days: None,
        priority: 5,
        requested_by: String::new(),
    }
}

/// Queues a backtest of `version` over the counties of `regions`; returns its id (the group
/// its runs share) and the runs.
pub async fn queue(
    store: &Store,
    actor: &Actor,
    version: &VersionRef,
    regions: &[String],
) -> Result<(String, Vec<i64>), RunError> {
    require_admin(store, actor).await?;
    let v = review::get(store, version).await?;
    if !matches!(v.status.as_str(), "submitted" | "approved") {
        return Err(RunError::Conflict(format!(
            "{version} is {}; only submitted or approved versions are backtested",
            v.status
        )));
    }
    if regions.is_empty() {
        return Err(RunError::Invalid(
            "name at least one region (--region)".into(),
        ));
    }
    let enabled: Vec<Enablement> = enable::list(store, Some(&v.model))
        .await?
        .into_iter()
        .filter(|e| e.status == "enabled")
        .collect();
    let mut datasets: BTreeSet<String> =
        v.manifest.datasets.iter().map(|d| d.name.clone()).collect();
    let mut baselines = BTreeMap::new();
    for e in &enabled {
        let b = review::get_by_id(store, e.version_id).await?;
        datasets.extend(b.manifest.datasets.iter().map(|d| d.name.clone()));
        baselines.insert(e.id, b);
    }
    let datasets: Vec<String> = datasets.into_iter().collect();
    let snapshot = Snapshot::current(store, &datasets)
        .await?
        .save(store)
        .await?;
    let group = format!("bt-{}-{}", v.model, now_ms());
    let as_of = today();
    let mut queued = Vec::new();
    let mut tx = store.begin().await?;
    for r in regions {
        region::level(r).map_err(RunError::Invalid)?;
        for county in counties(store, r).await? {
            let mut cand = run(&v, &county, CANDIDATE, &group);
            let covering = enabled
                .iter()
                .find(|e| e.regions.iter().any(|x| region::covers(x, &county)));
            if let Some(e) = covering
                && enable::typed_params(&v.manifest, &e.params).is_ok()
            {
                cand.params = e.params.clone();
            }
            let mut runs = vec![cand];
            if let Some(e) = covering
                && let Some(b) = baselines.get(&e.id)
            {
                let mut base = run(b, &county, BASELINE, &group);
                base.enablement_id = Some(e.id);
                base.params = e.params.clone();
                base.scope = e.scope.clone();
                runs.push(base);
            }
            for mut x in runs {
                x.snapshot_id = Some(snapshot);
                x.as_of_days = Some(as_of);
                x.requested_by = actor.user.clone();
                queued.push(x);
            }
        }
    }
    let ids = enqueue_all(&mut tx, &queued).await?;
    audit(
        &mut tx,
        &actor.user,
        "model.backtest",
        &format!("version {version}"),
        &serde_json::json!({"group": group, "regions": regions, "runs": ids, "snapshot": snapshot}),
    )
    .await?;
    tx.commit().await?;
    store.ring_queued();
    Ok((group, ids))
}

/// One county of a backtest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CountyResult {
    /// County.
    pub region: String,
    /// The candidate's run and how it ended.
    pub candidate: (i64, Status),
    /// The enabled version's run there, if any.
    pub baseline: Option<(i64, Status)>,
    /// Clues only the candidate finds.
    pub new: usize,
    /// Clues only the enabled version finds.
    pub gone: usize,
    /// Clues both find, with different content.
    pub changed: usize,
    /// Clues both find alike.
    pub unchanged: usize,
}

/// The comparison so far (runs still queued or running show as such).
pub async fn report(store: &Store, group: &str) -> Result<Vec<CountyResult>, RunError> {
    let runs = record::list(
        store,
        &RunFilter {
            backtest_group: Some(group.to_string()),
            limit: i64::MAX,
            ..RunFilter::default()
        },
    )
    .await?;
    if runs.is_empty() {
        return Err(RunError::NotFound(format!("backtest {group}")));
    }
    let mut out = Vec::new();
    for cand in runs.iter().filter(|r| r.trigger == CANDIDATE) {
        let base = runs
            .iter()
            .find(|r| r.trigger == BASELINE && r.region == cand.region);
        let left = match base {
            Some(b) => clue_hashes(store, b.id).await?,
            None => BTreeMap::new(),
        };
        let right = clue_hashes(store, cand.id).await?;
        let (unchanged, gone, new, changed) = diff(&left, &right);
        out.push(CountyResult {
            region: cand.region.clone(),
            candidate: (cand.id, cand.status),
            baseline: base.map(|b| (b.id, b.status)),
            new: new.len(),
            gone: gone.len(),
            changed: changed.len(),
            unchanged,
        });
    }
    out.sort_by(|a, b| a.region.cmp(&b.region));
    Ok(out)
}
