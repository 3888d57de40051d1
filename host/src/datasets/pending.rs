//! Rows of an import waiting to be written, grouped by region code so that each chunk holds
//! one region's rows. Chunks carry their region range, and a county's run skips every chunk
//! outside it, so a county reads only its own rows however the export interleaves them (a
//! provincial export usually does), and the runs of a whole province read each chunk once.
//!
//! A region's chunk is written when it is full. Memory is bounded: when more than
//! [`BUFFERED_ROWS`] rows wait in all, the region with the most waiting rows is set aside on
//! disk ([`Parts`]) and joined with the region's later rows into a full chunk (before session
//! 29 it was written early as a smaller chunk: an export interleaving 90 counties gave chunks
//! of about 4,000 rows).

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use crate::runtime::bindings::ColumnType;

use super::chunk::{self, CHUNK_ROWS};
use super::columns::{ColumnBuilder, StoredColumn};
use super::keys;
use super::parts::{Columns, Parts};
use super::schema::DatasetSchema;

/// Most rows waiting to be written across all regions.
pub const BUFFERED_ROWS: usize = 4 * CHUNK_ROWS;

/// One chunk being built: a builder per schema column, plus the raw text of pii columns.
pub(super) struct ChunkBuilder {
    /// The schema's columns, in its order.
    pub cols: Vec<ColumnBuilder>,
    /// The raw value of each personal-identifier column (kept for re-identification).
    pub raw: Vec<Option<ColumnBuilder>>,
    /// Complete rows.
    pub rows: usize,
}

impl ChunkBuilder {
    /// An empty chunk of `schema`'s columns.
    pub fn new(schema: &DatasetSchema) -> Self {
        ChunkBuilder {
            cols: schema
                .columns
                .iter()
                .map(|c| ColumnBuilder::new(c.model_type()))
                .collect(),
            raw: schema
                .columns
                .iter()
                .map(|c| c.pii.then(|| ColumnBuilder::new(ColumnType::Text)))
                .collect(),
            rows: 0,
        }
    }

    /// Its columns, finished.
    fn finish(self) -> Columns {
        Columns {
            rows: self.rows,
            cols: self.cols.into_iter().map(ColumnBuilder::finish).collect(),
            raw: self
                .raw
                .into_iter()
                .map(|r| r.map(ColumnBuilder::finish))
                .collect(),
        }
    }
}

/// A chunk ready to write: its stored columns (name and bytes), its rows, its region (every
/// chunk holds one).
pub(super) type Encoded = (Vec<(String, Vec<u8>)>, usize, String);

/// A chunk of `schema`'s `columns`, all in `region`: each column encoded apart (see
/// [`chunk::encode_apart`]), the raw identifiers under their own names, then the key rows of
/// its pseudonym columns ([`keys::kept`]: a run's first look-up reads them instead of reading
/// the key column and building them).
fn encode(schema: &DatasetSchema, columns: Columns, region: &str) -> Encoded {
    let raw_names: Vec<String> = schema
        .columns
        .iter()
        .map(|c| format!("{}{}", chunk::RAW_PREFIX, c.name))
        .collect();
    let mut named: Vec<(&str, &StoredColumn)> = schema
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .zip(columns.cols.iter())
        .collect();
    for (name, col) in raw_names.iter().zip(columns.raw.iter()) {
        if let Some(col) = col {
            named.push((name, col));
        }
    }
    let mut encoded = chunk::encode_apart(columns.rows, &named);
    encoded.extend(
        schema
            .columns
            .iter()
            .zip(&columns.cols)
            .filter_map(|(c, col)| keys::kept(&c.name, col)),
    );
    (encoded, columns.rows, region.to_string())
}

/// The chunks being built, one per region code, and the rows of regions set aside early
/// ([`Parts`]).
pub(super) struct Pending<'s> {
    schema: &'s DatasetSchema,
    open: BTreeMap<String, ChunkBuilder>,
    rows: usize,
    parts: Parts,
}

impl<'s> Pending<'s> {
    /// Nothing waiting yet; rows set aside go to temporary files in `dir`.
    pub fn new(schema: &'s DatasetSchema, dir: &Path) -> Self {
        Pending {
            schema,
            open: BTreeMap::new(),
            rows: 0,
            parts: Parts::new(dir),
        }
    }

    /// The chunk that `region`'s next row goes into: push every column, then call
    /// [`Pending::complete`] (or [`Pending::discard`] if the row turned out invalid).
    pub fn builder(&mut self, region: &str) -> &mut ChunkBuilder {
        if !self.open.contains_key(region) {
            self.open
                .insert(region.to_string(), ChunkBuilder::new(self.schema));
        }
        self.open
            .get_mut(region)
            .expect("the builder was inserted above")
    }

    /// Counts the row just pushed into `region`'s chunk; returns a chunk to write now when
    /// that region's rows (those set aside and those waiting) fill one. When too many rows
    /// wait in all, the region with the most waiting rows is set aside (see [`Parts`]).
    pub fn complete(&mut self, region: &str) -> io::Result<Option<Encoded>> {
        let b = self.builder(region);
        b.rows += 1;
        let waiting = b.rows;
        self.rows += 1;
        if waiting + self.parts.rows(region) >= CHUNK_ROWS {
            let Some(b) = self.open.remove(region) else {
                return Ok(None);
            };
            self.rows -= b.rows;
            return self.join(region, Some(b));
        }
        if self.rows > BUFFERED_ROWS {
            // The most rows, and of equals the lowest code: the same file gives the same chunks.
            let largest = self
                .open
                .iter()
                .max_by(|a, b| a.1.rows.cmp(&b.1.rows).then(b.0.cmp(a.0)))
                .map(|(k, _)| k.clone());
            if let Some(set_aside) = largest
                && let Some(b) = self.open.remove(&set_aside)
            {
                self.rows -= b.rows;
                self.parts.keep(&set_aside, &b.finish())?;
            }
        }
        Ok(None)
    }

    /// `region`'s parts set aside and then `last`'s rows, as one chunk.
    fn join(&mut self, region: &str, last: Option<ChunkBuilder>) -> io::Result<Option<Encoded>> {
        let last = last.map(ChunkBuilder::finish);
        let joined = self.parts.join(region, last)?;
        Ok(joined.map(|c| encode(self.schema, c, region)))
    }

    /// Drops everything waiting (nothing of this import will be written).
    pub fn discard(&mut self) {
        self.open.clear();
        self.parts.clear();
        self.rows = 0;
    }

    /// The chunks left at the end, one region at a time in code order: its parts set aside
    /// and its waiting rows. `None` once all are written.
    pub fn next_left(&mut self) -> io::Result<Option<Encoded>> {
        loop {
            let first_open = self.open.keys().next().map(String::as_str);
            let Some(region) = [first_open, self.parts.first_region()]
                .into_iter()
                .flatten()
                .min()
                .map(str::to_string)
            else {
                return Ok(None);
            };
            let last = self.open.remove(&region).filter(|b| b.rows > 0);
            if let Some(b) = &last {
                self.rows -= b.rows;
            }
            if let Some(chunk) = self.join(&region, last)? {
                return Ok(Some(chunk));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datasets::pseudonym::Pseudonymizer;

    fn schema() -> DatasetSchema {
        DatasetSchema::from_toml(
            r#"
name = "t"
description = "test"
owner_office = "330000"
region_column = "region_code"
key = ["id"]
[[columns]]
name = "id"
type = "text"
[[columns]]
name = "region_code"
type = "text"
"#,
        )
        .expect("schema")
    }

    fn push(p: &mut Pending<'_>, id: &str, region: &str) -> Option<Encoded> {
        let pseudo = Pseudonymizer::new(b"k");
        let b = p.builder(region);
        b.cols[0].push_str(id, &pseudo).expect("id");
        b.cols[1].push_str(region, &pseudo).expect("region");
        p.complete(region).expect("complete")
    }

    /// Every chunk left at the end.
    fn left(p: &mut Pending<'_>) -> Vec<Encoded> {
        std::iter::from_fn(|| p.next_left().expect("left")).collect()
    }

    /// The ids a chunk holds, in its order.
    fn ids(chunk: &Encoded) -> Vec<String> {
        let (columns, ..) = chunk;
        let (_, data) = columns.iter().find(|(n, _)| n == "id").expect("id column");
        let (_, mut cols) = chunk::decode(data, &["id"]).expect("decode");
        crate::datasets::columns::texts(&cols.pop().flatten().expect("id").values)
    }

    #[test]
    fn interleaved_regions_make_chunks_of_one_region_each() {
        let schema = schema();
        let mut p = Pending::new(&schema, &std::env::temp_dir());
        let mut written = Vec::new();
        for i in 0..CHUNK_ROWS + 10 {
            for region in ["330102", "330103"] {
                if let Some(full) = push(&mut p, &format!("{region}-{i}"), region) {
                    written.push(full);
                }
            }
        }
        assert_eq!(written.len(), 2, "each region's first chunk is full");
        written.extend(left(&mut p));
        let regions: Vec<(usize, &str)> = written
            .iter()
            .map(|(_, rows, region)| (*rows, region.as_str()))
            .collect();
        assert_eq!(
            regions,
            [
                (CHUNK_ROWS, "330102"),
                (CHUNK_ROWS, "330103"),
                (10, "330102"),
                (10, "330103"),
            ]
        );
    }

    #[test]
    fn many_interleaved_regions_still_make_full_chunks_with_bounded_memory() {
        // Eight regions of a chunk and a hundred rows each, one row of each in turn: twice
        // what may wait in memory, so rows are set aside, and joined back in their order.
        let schema = schema();
        let mut p = Pending::new(&schema, &std::env::temp_dir());
        let regions: Vec<String> = (0..8).map(|c| format!("3301{c:02}")).collect();
        let per_region = CHUNK_ROWS + 100;
        let (mut written, mut set_aside) = (Vec::new(), false);
        for i in 0..per_region {
            for region in &regions {
                written.extend(push(&mut p, &format!("{region}-{i}"), region));
                assert!(p.rows <= BUFFERED_ROWS);
                set_aside |= !p.parts.regions().is_empty();
            }
        }
        assert!(set_aside, "rows were set aside on the way");
        written.extend(left(&mut p));
        let mut sizes: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for chunk @ (_, rows, region) in &written {
            let prefix = format!("{region}-");
            assert!(
                ids(chunk).iter().all(|id| id.starts_with(&prefix)),
                "a chunk holds one region"
            );
            sizes.entry(region.as_str()).or_default().push(*rows);
        }
        for region in &regions {
            assert_eq!(sizes[region.as_str()], [CHUNK_ROWS, 100], "{region}");
        }
        // A region's rows keep their order across what was set aside.
        let first = written
            .iter()
            .find(|(_, _, region)| region == "330100")
            .expect("a chunk of 330100");
        let want: Vec<String> = (0..CHUNK_ROWS).map(|i| format!("330100-{i}")).collect();
        assert_eq!(ids(first), want);
    }

    #[test]
    fn rows_discarded_leave_nothing_set_aside() {
        let schema = schema();
        let mut p = Pending::new(&schema, &std::env::temp_dir());
        for i in 0..BUFFERED_ROWS + 10 {
            push(&mut p, &i.to_string(), &format!("3301{:02}", i % 50));
        }
        assert!(!p.parts.regions().is_empty());
        p.discard();
        assert!(left(&mut p).is_empty());
    }
}
