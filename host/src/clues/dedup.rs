//! Writing a run's clues: deduplicated against the clue store by (model, dedup key), and
//! recorded per run by content hash so that a replay or a backtest can be compared with it.

use std::collections::{BTreeMap, HashMap};

use sha2::{Digest, Sha256};
use sqlx::Row;

use super::json;
use super::overview::WEEK_MS;
use crate::runtime::bindings::Clue;
use crate::store::{AnyQuery, Dialect, WriteTx};

/// The run that produced a set of clues.
#[derive(Debug, Clone)]
pub struct Origin<'a> {
    /// The run.
    pub run_id: i64,
    /// The model.
    pub model_id: &'a str,
    /// The registry id of the version that ran.
    pub version_id: i64,
    /// The snapshot it read.
    pub snapshot_id: i64,
    /// The run's region: the clue's region.
    pub region: &'a str,
    /// When, ms since the epoch.
    pub at_ms: i64,
}

/// What writing a run's clues did to the clue store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ClueCounts {
    /// Clues the store did not have.
    pub new: u64,
    /// Clues it had whose content (reason, score, subject, evidence) changed.
    pub updated: u64,
    /// Clues it had, hit again with the same content.
    pub unchanged: u64,
}

/// sha256 of a clue's content (everything but its dedup key), hex: of its JSON with every
/// object's keys in sorted order, `{"evidence":[…],"kind":…,"reason":…,"score":…,"subject":{…}}`.
/// Stored hashes are compared with new ones, so these bytes must never change. They are
/// written by hand (`clues/json.rs`), without building a JSON tree.
pub fn content_sha256(clue: &Clue) -> String {
    content_sha256_in(clue, &mut String::new())
}

/// [`content_sha256`], its bytes written into `buf` (cleared first, kept for the next clue).
fn content_sha256_in(clue: &Clue, buf: &mut String) -> String {
    buf.clear();
    buf.push_str("{\"evidence\":");
    json::evidence_sorted(buf, &clue.evidence);
    json::text_member(buf, "kind", &clue.kind);
    json::text_member(buf, "reason", &clue.reason);
    buf.push_str(",\"score\":");
    json::score(buf, clue.score);
    let s = &clue.subject;
    buf.push_str(",\"subject\":{\"display_name\":");
    json::string(buf, &s.display_name);
    json::text_member(buf, "id", &s.id);
    json::text_member(buf, "type_", &s.type_);
    buf.push_str("}}");
    hex::encode(Sha256::digest(buf.as_bytes()))
}

/// A run's clues made ready to write: one per dedup key (a key emitted twice in one run keeps
/// its last clue), each with its content hash and its evidence as JSON. Made before the write
/// transaction begins: hashing and serialising cost CPU, and on SQLite the transaction holds
/// the store's one writer.
#[derive(Debug)]
pub struct Keyed<'a> {
    clues: Vec<KeyedClue<'a>>,
}

#[derive(Debug)]
struct KeyedClue<'a> {
    key: &'a str,
    clue: &'a Clue,
    sha: String,
    evidence: String,
}

impl<'a> Keyed<'a> {
    /// Prepares `clues` for [`record`] or [`record_apart`].
    pub fn new(clues: &'a [Clue]) -> Self {
        let last: BTreeMap<&str, &Clue> = clues.iter().map(|c| (c.dedup_key.as_str(), c)).collect();
        let mut buf = String::new();
        Keyed {
            clues: last
                .into_iter()
                .map(|(key, clue)| KeyedClue {
                    key,
                    clue,
                    sha: content_sha256_in(clue, &mut buf),
                    evidence: json::evidence(&clue.evidence),
                })
                .collect(),
        }
    }

    /// How many distinct clues.
    pub fn len(&self) -> usize {
        self.clues.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.clues.is_empty()
    }
}

/// Rows per multi-row statement: far below SQLite's and PostgreSQL's limits on bound values
/// (32,766 and 65,535) at the widest row written here (17 values).
const ROWS_PER_STATEMENT: usize = 500;

/// Records a run's clues without touching the clue store: for replays and backtests, whose
/// clues are kept apart from the reviewers' queue. `keep` stores each clue itself too.
pub async fn record_apart(
    tx: &mut WriteTx,
    run_id: i64,
    keyed: &Keyed<'_>,
    keep: bool,
) -> Result<(), sqlx::Error> {
    let rows: Vec<(i64, &KeyedClue<'_>)> = keyed.clues.iter().map(|c| (run_id, c)).collect();
    write_run_clues(tx, &rows, keep).await
}

/// Records clues against the runs that emitted them (run, clue), many to a statement.
async fn write_run_clues(
    tx: &mut WriteTx,
    rows: &[(i64, &KeyedClue<'_>)],
    keep: bool,
) -> Result<(), sqlx::Error> {
    for part in rows.chunks(ROWS_PER_STATEMENT) {
        // The rows' columns are named column1, column2… in SQLite and PostgreSQL alike.
        let d = tx.dialect();
        let sql = format!(
            "INSERT INTO run_clues (run_id, dedup_key, content_sha256, clue_json) \
             SELECT v.column1, v.column2, v.column3, v.column4 FROM (VALUES {}) AS v",
            d.rows(0, part.len(), 4, "")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (run_id, c) in part {
            let json = keep.then(|| serde_json::to_string(c.clue).unwrap_or_default());
            q = q.bind(*run_id).bind(c.key).bind(c.sha.as_str()).bind(json);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// The stored clues of `model` among `keys`: dedup key → (id, content hash).
async fn existing(
    tx: &mut WriteTx,
    model: &str,
    keys: &[&str],
) -> Result<HashMap<String, (i64, String)>, sqlx::Error> {
    let mut found = HashMap::new();
    for part in keys.chunks(ROWS_PER_STATEMENT) {
        let d = tx.dialect();
        let list: Vec<String> = (2..part.len() + 2).map(|i| d.param(i)).collect();
        let sql = format!(
            "SELECT dedup_key, id, content_sha256 FROM clues WHERE model_id = {} AND dedup_key IN ({})",
            d.param(1),
            list.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(model);
        for key in part {
            q = q.bind(*key);
        }
        for row in q.fetch_all(&mut **tx).await? {
            found.insert(row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?));
        }
    }
    Ok(found)
}

/// Writes a run's clues into the clue store, one clue per (model, dedup key), and records them
/// against the run. Call it in the transaction that finishes the run. New clues are inserted,
/// and clues found again updated, many to a statement.
pub async fn record(
    tx: &mut WriteTx,
    origin: &Origin<'_>,
    keyed: &Keyed<'_>,
) -> Result<ClueCounts, sqlx::Error> {
    let counts = record_batch(tx, &[(origin, keyed)]).await?;
    Ok(counts.first().copied().unwrap_or_default())
}

/// [`record`] for the runs of a batch (one model, version and snapshot, finished at one
/// time, in several regions), in one transaction: their clue records, the look-up of their
/// keys, their new clues and the clues they found again go many runs to a statement (each
/// row names its run and county), so that a batch of county runs costs a handful of
/// statements, not a handful per run. Runs that do not share those, or that emitted the same
/// dedup key (the second must find the first's clue), are recorded one after another, as
/// [`record`] does. Returns each run's counts, in order.
pub async fn record_batch(
    tx: &mut WriteTx,
    runs: &[(&Origin<'_>, &Keyed<'_>)],
) -> Result<Vec<ClueCounts>, sqlx::Error> {
    if shareable(runs) {
        return record_together(tx, runs).await;
    }
    let mut counts = Vec::with_capacity(runs.len());
    for run in runs {
        counts.extend(record_together(tx, std::slice::from_ref(run)).await?);
    }
    Ok(counts)
}

/// Whether `runs` can be recorded together: what [`insert`] binds once a statement is the
/// same for all, and no dedup key comes from two of them.
fn shareable(runs: &[(&Origin<'_>, &Keyed<'_>)]) -> bool {
    let Some((head, _)) = runs.first() else {
        return true;
    };
    let same = runs.iter().all(|(o, _)| {
        (o.model_id, o.version_id, o.snapshot_id, o.at_ms)
            == (head.model_id, head.version_id, head.snapshot_id, head.at_ms)
    });
    let mut keys = std::collections::HashSet::new();
    same && runs
        .iter()
        .flat_map(|(_, k)| k.clues.iter())
        .all(|c| keys.insert(c.key))
}

/// Records `runs`, which are [`shareable`].
async fn record_together(
    tx: &mut WriteTx,
    runs: &[(&Origin<'_>, &Keyed<'_>)],
) -> Result<Vec<ClueCounts>, sqlx::Error> {
    let Some((head, _)) = runs.first() else {
        return Ok(Vec::new());
    };
    lock_model(tx, head.model_id).await?;
    let rows: Vec<(i64, &KeyedClue<'_>)> = runs
        .iter()
        .flat_map(|(o, k)| k.clues.iter().map(|c| (o.run_id, c)))
        .collect();
    write_run_clues(tx, &rows, false).await?;
    let keys: Vec<&str> = rows.iter().map(|(_, c)| c.key).collect();
    let stored = existing(tx, head.model_id, &keys).await?;
    let mut all = Vec::with_capacity(runs.len());
    let (mut fresh, mut again) = (Vec::new(), Vec::new());
    for (origin, keyed) in runs {
        let mut counts = ClueCounts::default();
        for c in &keyed.clues {
            match stored.get(c.key) {
                None => {
                    fresh.push((*origin, c));
                    counts.new += 1;
                }
                Some((id, old_sha)) => {
                    let changed = *old_sha != c.sha;
                    if changed {
                        counts.updated += 1;
                    } else {
                        counts.unchanged += 1;
                    }
                    again.push((origin.run_id, *id, changed, c));
                }
            }
        }
        all.push(counts);
    }
    update(tx, head, &again).await?;
    insert(tx, &fresh).await?;
    Ok(all)
}

/// Holds `model`'s clues for the rest of the transaction. On PostgreSQL two transactions can
/// record one model's clues at once (two workers, or a worker's batches whose records
/// overlap): both would find a key missing and insert it, and the second would fail on the
/// unique (model, dedup key), losing its whole batch. A transaction-scoped advisory lock per
/// model makes the second wait for the first and then find its clues. On SQLite writers
/// already take turns ([`crate::store::Store::write_lock`]).
async fn lock_model(tx: &mut WriteTx, model: &str) -> Result<(), sqlx::Error> {
    if tx.dialect() == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('clues:' || $1, 0))")
            .bind(model)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Updates clues found again (the run that found it, the clue's id, whether its content
/// changed, the clue; all [`shareable`]), many to a statement: a hit counts and moves last
/// seen and last run; a changed clue takes the new content, and is flagged when it was
/// dismissed.
async fn update(
    tx: &mut WriteTx,
    head: &Origin<'_>,
    again: &[(i64, i64, bool, &KeyedClue<'_>)],
) -> Result<(), sqlx::Error> {
    let (changed, same): (Vec<_>, Vec<_>) = again.iter().partition(|(_, _, changed, _)| *changed);
    // The shared values come first in the text: SET is written before FROM. Each row's run
    // is its second column.
    let found_again = |d: Dialect| {
        let s = d.params(3);
        format!(
            "occurrences = occurrences + 1, last_seen_ms = {}, last_run_id = v.column2, \
             version_id = {}, snapshot_id = {}",
            s[0], s[1], s[2]
        )
    };
    let bind_head = |q: AnyQuery<'static>| {
        q.bind(head.at_ms)
            .bind(head.version_id)
            .bind(head.snapshot_id)
    };
    for part in same.chunks(ROWS_PER_STATEMENT) {
        let d = tx.dialect();
        let sql = format!(
            "UPDATE clues SET {} FROM (VALUES {}) AS v WHERE clues.id = v.column1",
            found_again(d),
            d.rows(3, part.len(), 2, "")
        );
        let mut q = bind_head(sqlx::query(sqlx::AssertSqlSafe(sql)));
        for (run_id, id, _, _) in part {
            q = q.bind(*id).bind(*run_id);
        }
        q.execute(&mut **tx).await?;
    }
    for part in changed.chunks(ROWS_PER_STATEMENT) {
        // The rows' columns are named column1, column2… in SQLite and PostgreSQL alike.
        let d = tx.dialect();
        let sql = format!(
            "UPDATE clues SET {}, kind = v.column3, \
             subject_type = v.column4, subject_id = v.column5, subject_name = v.column6, \
             score = v.column7, reason = v.column8, evidence_json = v.column9, \
             content_sha256 = v.column10, evidence_changed = CASE WHEN \
             clues.status = 'dismissed' THEN 1 ELSE clues.evidence_changed END \
             FROM (VALUES {}) AS v WHERE clues.id = v.column1",
            found_again(d),
            d.rows(3, part.len(), 10, "")
        );
        let mut q = bind_head(sqlx::query(sqlx::AssertSqlSafe(sql)));
        for (run_id, id, _, c) in part {
            q = q
                .bind(*id)
                .bind(*run_id)
                .bind(&c.clue.kind)
                .bind(&c.clue.subject.type_)
                .bind(&c.clue.subject.id)
                .bind(&c.clue.subject.display_name)
                .bind(c.clue.score)
                .bind(&c.clue.reason)
                .bind(c.evidence.as_str())
                .bind(c.sha.as_str());
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Inserts new clues (each with the run that found it, all [`shareable`]), many to a
/// statement.
async fn insert(
    tx: &mut WriteTx,
    fresh: &[(&Origin<'_>, &KeyedClue<'_>)],
) -> Result<(), sqlx::Error> {
    let Some((head, _)) = fresh.first() else {
        return Ok(());
    };
    for part in fresh.chunks(ROWS_PER_STATEMENT) {
        // What the clues share is bound once: model, time, version, snapshot; each row has
        // its own region and run. The rows' columns are named column1, column2… in SQLite
        // and PostgreSQL.
        let d = tx.dialect();
        let s = d.params(5);
        let sql = format!(
            "INSERT INTO clues (model_id, dedup_key, kind, region, subject_type, subject_id, subject_name, score, \
             reason, evidence_json, content_sha256, first_seen_ms, last_seen_ms, first_run_id, last_run_id, \
             version_id, snapshot_id, status, occurrences) \
             SELECT {}, v.column1, v.column2, v.column10, v.column3, v.column4, v.column5, v.column6, \
             v.column7, v.column8, v.column9, {}, {}, v.column11, v.column11, {}, {}, 'new', 1 FROM (VALUES {}) AS v",
            s[0],
            s[1],
            s[2],
            s[3],
            s[4],
            d.rows(5, part.len(), 11, "")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(head.model_id)
            .bind(head.at_ms)
            .bind(head.at_ms)
            .bind(head.version_id)
            .bind(head.snapshot_id);
        let mut per_region: BTreeMap<&str, i64> = BTreeMap::new();
        for (origin, c) in part {
            let clue = c.clue;
            q = q
                .bind(&clue.dedup_key)
                .bind(&clue.kind)
                .bind(&clue.subject.type_)
                .bind(&clue.subject.id)
                .bind(&clue.subject.display_name)
                .bind(clue.score)
                .bind(&clue.reason)
                .bind(c.evidence.as_str())
                .bind(c.sha.as_str())
                .bind(origin.region)
                .bind(origin.run_id);
            *per_region.entry(origin.region).or_default() += 1;
        }
        q.execute(&mut **tx).await?;
        if d == Dialect::Sqlite {
            tally_inserted(tx, head, &per_region).await?;
        }
    }
    Ok(())
}

/// Adds clues just inserted by [`insert`] (how many per region) to the tallies. SQLite has
/// no statement-level triggers, and its row-level insert trigger leaves clues that have a
/// first run to this (migration `0009_clue_insert_cost`): one upsert per tally for the whole
/// statement instead of two per clue. The key is what [`insert`] writes: `origin`'s model,
/// source `model` (the column's default), status `new`, no dismissal, neither verified nor
/// confirmed, first seen `origin.at_ms`. On PostgreSQL a statement-level trigger does the
/// same from the inserted rows.
async fn tally_inserted(
    tx: &mut WriteTx,
    origin: &Origin<'_>,
    per_region: &BTreeMap<&str, i64>,
) -> Result<(), sqlx::Error> {
    let rows = |width: usize, tail: &str| Dialect::Sqlite.rows(0, per_region.len(), width, tail);
    let weekly = format!(
        "INSERT INTO clue_weekly (region, model_key, n, week) VALUES {} \
         ON CONFLICT (region, model_key, week) DO UPDATE SET n = n + excluded.n",
        rows(4, "")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(weekly));
    for (region, n) in per_region {
        q = q
            .bind(*region)
            .bind(origin.model_id)
            .bind(*n)
            .bind(origin.at_ms / WEEK_MS);
    }
    q.execute(&mut **tx).await?;
    let tally = format!(
        "INSERT INTO clue_tally (region, model_key, n, source, status, dismiss_reason, verified, confirmed) \
         VALUES {} ON CONFLICT (region, model_key, source, status, dismiss_reason, verified, confirmed) \
         DO UPDATE SET n = n + excluded.n",
        rows(3, ", 'model', 'new', '', 0, 0")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(tally));
    for (region, n) in per_region {
        q = q.bind(*region).bind(origin.model_id).bind(*n);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::bindings::{Evidence, Field, Subject, Value};

    /// How the content hash was first defined: every stored hash was made this way.
    fn reference_sha256(clue: &Clue) -> String {
        let content = serde_json::json!({
            "kind": clue.kind,
            "subject": clue.subject,
            "score": clue.score,
            "reason": clue.reason,
            "evidence": clue.evidence,
        });
        hex::encode(Sha256::digest(content.to_string().as_bytes()))
    }

    #[test]
    fn the_content_hash_has_never_changed() {
        let field = |name: &str, value| Field {
            name: name.into(),
            value,
        };
        let evidence = |dataset: &str, keys: &[&str], fields| Evidence {
            dataset: dataset.into(),
            row_keys: keys.iter().map(|k| k.to_string()).collect(),
            fields,
        };
        let clue = |score, reason: &str, evidence| Clue {
            kind: "pension-after-death".into(),
            subject: Subject {
                type_: "person".into(),
                id: "0f\u{1}e".into(),
                display_name: "王\"小\"明".into(),
            },
            score,
            reason: reason.into(),
            evidence,
            dedup_key: "person:1".into(),
        };
        let every_value = vec![
            field("n", Value::Null),
            field("t", Value::Text("a\\b\n\u{7f}é".into())),
            field("i", Value::Integer(i64::MIN)),
            field("d", Value::Decimal(-125_000)),
            field("day", Value::Date(-3)),
            field("at", Value::Timestamp(1_700_000_000_000_000)),
            field("b", Value::Boolean(true)),
            field("p", Value::Pseudonym((u64::MAX, 7))),
        ];
        let clues = [
            clue(0.1, "", vec![]),
            clue(1.0, "paid ¥6,400.00", vec![evidence("d", &[], vec![])]),
            clue(
                0.7000000000000001,
                "x",
                vec![
                    evidence("death_registrations", &["D1"], every_value),
                    evidence("pension_payments", &["P1", "P2"], vec![]),
                ],
            ),
            clue(f64::NAN, "not finite", vec![]),
        ];
        for c in &clues {
            assert_eq!(content_sha256(c), reference_sha256(c), "{c:?}");
        }
    }
}
