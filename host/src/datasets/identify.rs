//! Re-identification: the identifiers behind a pseudonym, read from the raw values an import
//! keeps beside each personal-identifier column (under names no model can ask for). Only the
//! current data of a region is searched, and whole chunks outside the region are skipped by
//! their region range. Who may ask, and the audit record of asking, are the caller's business
//! (see `clues::identity`).

use std::collections::BTreeMap;

use sqlx::Row;

use crate::runtime::bindings::ColumnValues;
use crate::store::Store;

use super::catalog::{self, CatalogError};
use super::chunk;
use super::columns::StoredColumn;
use super::feed;
use super::region;
use super::snapshot::Snapshot;

/// Datasets a lookup reports at most: enough to show an identifier and a name.
const MAX_FOUND: usize = 4;

/// One row of one dataset where a pseudonym was found, with the row's personal identifiers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Identity {
    /// The dataset.
    pub dataset: String,
    /// Each personal-identifier column of the row and its value as imported.
    pub fields: BTreeMap<String, String>,
}

/// Parses the 32 hex digits of a pseudonym (as models write it in subject ids).
pub fn parse_hex(text: &str) -> Option<[u64; 2]> {
    if text.len() != 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let hi = u64::from_str_radix(&text[..16], 16).ok()?;
    let lo = u64::from_str_radix(&text[16..], 16).ok()?;
    Some([hi, lo])
}

/// The identities behind `pseudonym` in the current data of `region`: for each dataset with
/// personal identifiers (those in `first` before the others), the first row under `region`
/// where one of its identifier columns has that pseudonym.
pub async fn lookup(
    store: &Store,
    region: &str,
    pseudonym: [u64; 2],
    first: &[String],
) -> Result<Vec<Identity>, CatalogError> {
    let mut names: Vec<String> = catalog::list(store)
        .await?
        .into_iter()
        .map(|d| d.name)
        .collect();
    names.sort_by_key(|n| !first.contains(n));
    let mut found = Vec::new();
    for name in names {
        if found.len() == MAX_FOUND {
            break;
        }
        if let Some(identity) = search(store, &name, region, pseudonym).await? {
            found.push(identity);
        }
    }
    Ok(found)
}

/// The first row of dataset `name` under `region` whose identifiers include `pseudonym`.
async fn search(
    store: &Store,
    name: &str,
    region: &str,
    pseudonym: [u64; 2],
) -> Result<Option<Identity>, CatalogError> {
    let (_, schema) = catalog::schema(store, name, None).await?;
    let pii: Vec<&str> = schema
        .columns
        .iter()
        .filter(|c| c.pii)
        .map(|c| c.name.as_str())
        .collect();
    if pii.is_empty() {
        return Ok(None);
    }
    let mut wanted: Vec<String> = pii.iter().map(|c| c.to_string()).collect();
    wanted.extend(pii.iter().map(|c| format!("{}{c}", chunk::RAW_PREFIX)));
    wanted.push(schema.region_column.clone());
    let prefix = region::prefix(region);
    let snapshot = Snapshot::current(store, &[name]).await?;
    for &import in snapshot.datasets.get(name).into_iter().flatten() {
        let chunks = sqlx::query(
            "SELECT chunk_no, row_count FROM import_chunks WHERE import_id = $1 \
             AND region_max >= $2 AND (region_min <= $2 OR region_min LIKE $3) ORDER BY chunk_no",
        )
        .bind(import)
        .bind(prefix)
        .bind(format!("{prefix}%"))
        .fetch_all(store.pool())
        .await?;
        for c in chunks {
            let (no, rows): (i64, i64) = (c.try_get(0)?, c.try_get(1)?);
            let rows = usize::try_from(rows).unwrap_or_default();
            let read = feed::read_columns(store, (import, no), &wanted).await?;
            let cols = feed::decode_columns(&read, &wanted, rows).map_err(|e| {
                CatalogError::Corrupt(name.to_string(), format!("import {import} chunk {no}: {e}"))
            })?;
            if let Some(fields) = find_row(rows, &cols, &pii, region, pseudonym) {
                return Ok(Some(Identity {
                    dataset: name.to_string(),
                    fields,
                }));
            }
        }
    }
    Ok(None)
}

/// In one decoded chunk (pseudonym columns, then their raw values, then the region column):
/// the raw identifiers of the first row under `region` carrying `pseudonym`.
fn find_row(
    rows: usize,
    cols: &[Option<StoredColumn>],
    pii: &[&str],
    region: &str,
    pseudonym: [u64; 2],
) -> Option<BTreeMap<String, String>> {
    let n = pii.len();
    let regions = cols.get(2 * n)?.as_ref()?;
    for row in 0..rows {
        let hit = cols[..n].iter().flatten().any(|c| {
            c.is_valid(row)
                && matches!(&c.values, ColumnValues::Pseudonym(v)
                    if v[2 * row] == pseudonym[0] && v[2 * row + 1] == pseudonym[1])
        });
        if !hit
            || !regions
                .text_at(row)
                .is_some_and(|r| region::covers(region, r))
        {
            continue;
        }
        let fields = pii
            .iter()
            .zip(&cols[n..2 * n])
            .filter_map(|(name, raw)| {
                let raw = raw.as_ref()?;
                raw.is_valid(row)
                    .then(|| raw.text_at(row))
                    .flatten()
                    .map(|v| (name.to_string(), v.to_string()))
            })
            .collect();
        return Some(fields);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datasets::pseudonym::{Pseudonymizer, to_hex};

    #[test]
    fn hex_round_trips_and_rejects_other_text() {
        let p = Pseudonymizer::new(b"0123456789abcdef").pseudonym("110105194912310021");
        assert_eq!(parse_hex(&to_hex(p)), Some(p));
        assert_eq!(parse_hex("91330102MA2XXXXXXX"), None);
        assert_eq!(parse_hex(&"g".repeat(32)), None);
    }
}
