//! Rows of an import waiting to be written, grouped by region code so that each chunk holds
//! one region's rows. Chunks carry their region range, and a county's run skips every chunk
//! outside it, so a county reads only its own rows however the export interleaves them (a
//! provincial export usually does), and the runs of a whole province read each chunk once.
//!
//! A region's chunk is written when it is full. Memory is bounded: when more than
//! [`BUFFERED_ROWS`] rows wait in all, the region with the most waiting rows is written early
//! (a smaller chunk, still of one region).

use std::collections::BTreeMap;

use crate::runtime::bindings::ColumnType;

use super::chunk::{self, CHUNK_ROWS};
use super::columns::{ColumnBuilder, StoredColumn};
use super::keys;
use super::schema::DatasetSchema;

/// Most rows waiting to be written across all regions.
pub const BUFFERED_ROWS: usize = 4 * CHUNK_ROWS;

/// One chunk being built: a builder per schema column, plus the raw text of pii columns.
pub(super) struct ChunkBuilder<'s> {
    schema: &'s DatasetSchema,
    /// The schema's columns, in its order.
    pub cols: Vec<ColumnBuilder>,
    /// The raw value of each personal-identifier column (kept for re-identification).
    pub raw: Vec<Option<ColumnBuilder>>,
    /// Complete rows.
    pub rows: usize,
    region_min: String,
    region_max: String,
}

impl<'s> ChunkBuilder<'s> {
    /// An empty chunk of `schema`'s columns.
    pub fn new(schema: &'s DatasetSchema) -> Self {
        ChunkBuilder {
            schema,
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
            region_min: String::new(),
            region_max: String::new(),
        }
    }

    /// Counts a row whose every column was pushed, in `region`.
    fn complete(&mut self, region: &str) {
        if self.rows == 0 || region < self.region_min.as_str() {
            self.region_min = region.to_string();
        }
        if region > self.region_max.as_str() {
            self.region_max = region.to_string();
        }
        self.rows += 1;
    }

    /// The chunk's columns, each encoded apart (see [`chunk::encode_apart`]), then the key
    /// rows of its pseudonym columns ([`keys::kept`]: a run's first look-up reads them
    /// instead of reading the key column and building them), its rows and its region range.
    pub fn encode(self) -> (Vec<(String, Vec<u8>)>, usize, String, String) {
        let finished: Vec<StoredColumn> =
            self.cols.into_iter().map(ColumnBuilder::finish).collect();
        let raw: Vec<Option<StoredColumn>> = self
            .raw
            .into_iter()
            .map(|r| r.map(ColumnBuilder::finish))
            .collect();
        let raw_names: Vec<String> = self
            .schema
            .columns
            .iter()
            .map(|c| format!("{}{}", chunk::RAW_PREFIX, c.name))
            .collect();
        let mut named: Vec<(&str, &StoredColumn)> = self
            .schema
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .zip(finished.iter())
            .collect();
        for (name, col) in raw_names.iter().zip(raw.iter()) {
            if let Some(col) = col {
                named.push((name, col));
            }
        }
        let mut encoded = chunk::encode_apart(self.rows, &named);
        encoded.extend(
            self.schema
                .columns
                .iter()
                .zip(&finished)
                .filter_map(|(c, col)| keys::kept(&c.name, col)),
        );
        (encoded, self.rows, self.region_min, self.region_max)
    }
}

/// The chunks being built, one per region code.
pub(super) struct Pending<'s> {
    schema: &'s DatasetSchema,
    open: BTreeMap<String, ChunkBuilder<'s>>,
    rows: usize,
}

impl<'s> Pending<'s> {
    /// Nothing waiting yet.
    pub fn new(schema: &'s DatasetSchema) -> Self {
        Pending {
            schema,
            open: BTreeMap::new(),
            rows: 0,
        }
    }

    /// The chunk that `region`'s next row goes into: push every column, then call
    /// [`Pending::complete`] (or [`Pending::discard`] if the row turned out invalid).
    pub fn builder(&mut self, region: &str) -> &mut ChunkBuilder<'s> {
        if !self.open.contains_key(region) {
            self.open
                .insert(region.to_string(), ChunkBuilder::new(self.schema));
        }
        self.open
            .get_mut(region)
            .expect("the builder was inserted above")
    }

    /// Counts the row just pushed into `region`'s chunk; returns a chunk to write now: that
    /// region's when it is full, or the largest waiting one when too many rows wait.
    pub fn complete(&mut self, region: &str) -> Option<ChunkBuilder<'s>> {
        let b = self.builder(region);
        b.complete(region);
        let full = b.rows >= CHUNK_ROWS;
        self.rows += 1;
        let take = if full {
            Some(region.to_string())
        } else if self.rows > BUFFERED_ROWS {
            // The most rows, and of equals the lowest code: the same file gives the same chunks.
            self.open
                .iter()
                .max_by(|a, b| a.1.rows.cmp(&b.1.rows).then(b.0.cmp(a.0)))
                .map(|(k, _)| k.clone())
        } else {
            None
        };
        let chunk = self.open.remove(&take?)?;
        self.rows -= chunk.rows;
        Some(chunk)
    }

    /// Drops everything waiting (nothing of this import will be written).
    pub fn discard(&mut self) {
        self.open.clear();
        self.rows = 0;
    }

    /// The chunks left at the end, by region code.
    pub fn finish(self) -> impl Iterator<Item = ChunkBuilder<'s>> {
        self.open.into_values().filter(|b| b.rows > 0)
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

    fn push<'s>(p: &mut Pending<'s>, id: &str, region: &str) -> Option<ChunkBuilder<'s>> {
        let pseudo = Pseudonymizer::new(b"k");
        let b = p.builder(region);
        b.cols[0].push_str(id, &pseudo).expect("id");
        b.cols[1].push_str(region, &pseudo).expect("region");
        p.complete(region)
    }

    #[test]
    fn interleaved_regions_make_chunks_of_one_region_each() {
        let schema = schema();
        let mut p = Pending::new(&schema);
        let mut written = Vec::new();
        for i in 0..CHUNK_ROWS + 10 {
            for region in ["330102", "330103"] {
                if let Some(full) = push(&mut p, &format!("{region}-{i}"), region) {
                    written.push(full.encode());
                }
            }
        }
        assert_eq!(written.len(), 2, "each region's first chunk is full");
        written.extend(p.finish().map(ChunkBuilder::encode));
        let ranges: Vec<(usize, &str, &str)> = written
            .iter()
            .map(|(_, rows, min, max)| (*rows, min.as_str(), max.as_str()))
            .collect();
        assert_eq!(
            ranges,
            [
                (CHUNK_ROWS, "330102", "330102"),
                (CHUNK_ROWS, "330103", "330103"),
                (10, "330102", "330102"),
                (10, "330103", "330103"),
            ]
        );
    }

    #[test]
    fn waiting_rows_stay_bounded() {
        let schema = schema();
        let mut p = Pending::new(&schema);
        let regions: Vec<String> = (0..100).map(|c| format!("3301{c:02}")).collect();
        let mut rows_written = 0;
        for i in 0..2 * BUFFERED_ROWS {
            let region = &regions[i % regions.len()];
            if let Some(full) = push(&mut p, &i.to_string(), region) {
                let (_, rows, min, max) = full.encode();
                assert_eq!(min, max, "a chunk holds one region");
                rows_written += rows;
            }
            assert!(p.rows <= BUFFERED_ROWS);
        }
        let left: usize = p.finish().map(|b| b.rows).sum();
        assert_eq!(rows_written + left, 2 * BUFFERED_ROWS);
    }
}
