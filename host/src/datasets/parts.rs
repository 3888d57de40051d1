//! Parts of chunks set aside during an import: when too many rows wait in memory (an export
//! interleaving many regions), a region's waiting rows are written here, to a temporary file,
//! as finished columns, and joined with the region's later rows into a chunk once they make a
//! full one (or at the end of the import). Without them each such early write was a chunk of
//! its own: a provincial export of 90 counties made chunks of 4,000–5,500 rows instead of up
//! to 65,536 (1,629 chunks for 9 M payments where 180 hold them), and every run paid the
//! per-chunk costs (a statement or a file per column, key rows, a read-ahead) that many
//! times over.
//!
//! A part's columns are stored as one-column chunks ([`chunk::encode`]), so nothing here has
//! a format of its own. Each region's parts have a file of their own in the system's temporary
//! directory (`TMPDIR`), removed as soon as they are joined and when the import ends, however
//! it ends: the disk they take is bounded by the rows waiting to make a chunk, less than a
//! chunk's worth for each region.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use super::chunk;
use super::columns::StoredColumn;

/// A chunk's columns, finished: the schema's, in its order, and the raw value of each
/// personal-identifier column (`None` for the others).
#[derive(Debug)]
pub(super) struct Columns {
    /// Rows in every column.
    pub rows: usize,
    /// The schema's columns.
    pub cols: Vec<StoredColumn>,
    /// The raw values kept for re-identification, by schema column.
    pub raw: Vec<Option<StoredColumn>>,
}

impl Columns {
    /// Appends `other`'s rows (columns of the same schema) after these.
    pub fn append(&mut self, other: &Columns) -> Result<(), String> {
        if self.cols.len() != other.cols.len() || self.raw.len() != other.raw.len() {
            return Err("parts of different schemas".into());
        }
        for (a, b) in self.cols.iter_mut().zip(&other.cols) {
            a.append(b)?;
        }
        for (a, b) in self.raw.iter_mut().zip(&other.raw) {
            match (a, b) {
                (Some(a), Some(b)) => a.append(b)?,
                (None, None) => {}
                _ => return Err("parts of different schemas".into()),
            }
        }
        self.rows += other.rows;
        Ok(())
    }
}

/// Where one set-aside part lies in its region's file: its rows, and each column's bytes
/// (offset and length), the schema's then the raw values'.
#[derive(Debug)]
struct Part {
    rows: usize,
    cols: Vec<(u64, u64)>,
    raw: Vec<Option<(u64, u64)>>,
}

/// One region's parts: their file, its length, where each part lies, their rows.
#[derive(Debug)]
struct Region {
    file: File,
    end: u64,
    parts: Vec<Part>,
    rows: usize,
}

impl Region {
    /// Appends `bytes` to the file; where they lie.
    fn write(&mut self, bytes: &[u8]) -> io::Result<(u64, u64)> {
        self.file.seek(SeekFrom::Start(self.end))?;
        self.file.write_all(bytes)?;
        let at = self.end;
        self.end += bytes.len() as u64;
        Ok((at, bytes.len() as u64))
    }

    /// The column whose bytes lie at `(at, len)`, of a part of `rows` rows.
    fn column(&mut self, (at, len): (u64, u64), rows: usize) -> io::Result<StoredColumn> {
        let mut bytes = vec![0u8; usize::try_from(len).map_err(io::Error::other)?];
        self.file.seek(SeekFrom::Start(at))?;
        self.file.read_exact(&mut bytes)?;
        let (n, mut cols) = chunk::decode(&bytes, &[PART_COLUMN]).map_err(io::Error::other)?;
        match cols.pop().flatten() {
            Some(col) if n == rows => Ok(col),
            _ => Err(io::Error::other("a part set aside reads back damaged")),
        }
    }

    /// Part `i`'s columns, read back.
    fn read(&mut self, i: usize) -> io::Result<Columns> {
        let (rows, cols, raw) = {
            let p = &self.parts[i];
            (p.rows, p.cols.clone(), p.raw.clone())
        };
        let cols = cols
            .into_iter()
            .map(|c| self.column(c, rows))
            .collect::<io::Result<Vec<_>>>()?;
        let raw = raw
            .into_iter()
            .map(|c| c.map(|c| self.column(c, rows)).transpose())
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Columns { rows, cols, raw })
    }
}

/// The parts set aside so far, by region code.
#[derive(Debug, Default)]
pub(super) struct Parts {
    by_region: BTreeMap<String, Region>,
}

/// A column's name in a part: what its one-column chunk is called (checked as it is read).
const PART_COLUMN: &str = "part";

impl Parts {
    /// Rows of `region` set aside.
    pub fn rows(&self, region: &str) -> usize {
        self.by_region.get(region).map_or(0, |r| r.rows)
    }

    /// The lowest region code with rows set aside.
    pub fn first_region(&self) -> Option<&str> {
        self.by_region.keys().next().map(String::as_str)
    }

    /// The regions with rows set aside, in code order.
    #[cfg(test)]
    pub fn regions(&self) -> Vec<String> {
        self.by_region.keys().cloned().collect()
    }

    /// Sets `columns` aside as `region`'s next part.
    pub fn keep(&mut self, region: &str, columns: &Columns) -> io::Result<()> {
        let r = match self.by_region.entry(region.to_string()) {
            Entry::Occupied(r) => r.into_mut(),
            Entry::Vacant(v) => v.insert(Region {
                file: tempfile::tempfile()?,
                end: 0,
                parts: Vec::new(),
                rows: 0,
            }),
        };
        let mut write =
            |col: &StoredColumn| r.write(&chunk::encode(columns.rows, &[(PART_COLUMN, col)]));
        let cols = columns
            .cols
            .iter()
            .map(&mut write)
            .collect::<io::Result<Vec<_>>>()?;
        let raw = columns
            .raw
            .iter()
            .map(|c| c.as_ref().map(&mut write).transpose())
            .collect::<io::Result<Vec<_>>>()?;
        r.parts.push(Part {
            rows: columns.rows,
            cols,
            raw,
        });
        r.rows += columns.rows;
        Ok(())
    }

    /// `region`'s parts, read back in the order they were set aside and joined, then `last`
    /// after them (when given); none of the region's parts stay, nor their file. `None` when
    /// there is nothing.
    pub fn join(&mut self, region: &str, last: Option<Columns>) -> io::Result<Option<Columns>> {
        let mut joined: Option<Columns> = None;
        if let Some(mut r) = self.by_region.remove(region) {
            for i in 0..r.parts.len() {
                let columns = r.read(i)?;
                match &mut joined {
                    Some(j) => j.append(&columns).map_err(io::Error::other)?,
                    None => joined = Some(columns),
                }
            }
        }
        match (&mut joined, last) {
            (Some(j), Some(last)) => j.append(&last).map_err(io::Error::other)?,
            (None, last) => joined = last,
            (Some(_), None) => {}
        }
        Ok(joined)
    }

    /// Forgets every part (the import will write nothing).
    pub fn clear(&mut self) {
        self.by_region.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datasets::columns::{ColumnBuilder, texts};
    use crate::datasets::pseudonym::Pseudonymizer;
    use crate::runtime::bindings::{ColumnType, ColumnValues};

    /// A part of text ids `ids`, with a raw column beside the second of two.
    fn part(ids: &[&str]) -> Columns {
        let p = Pseudonymizer::new(b"k");
        let column = |ty| {
            let mut b = ColumnBuilder::new(ty);
            for id in ids {
                b.push_str(id, &p).expect("value");
            }
            b.finish()
        };
        Columns {
            rows: ids.len(),
            cols: vec![column(ColumnType::Text), column(ColumnType::Pseudonym)],
            raw: vec![None, Some(column(ColumnType::Text))],
        }
    }

    #[test]
    fn a_regions_parts_join_in_order_and_leave_nothing_behind() {
        let mut parts = Parts::default();
        parts.keep("330102", &part(&["a", "b"])).expect("keep");
        parts.keep("330103", &part(&["x"])).expect("keep");
        parts.keep("330102", &part(&["c"])).expect("keep");
        assert_eq!((parts.rows("330102"), parts.rows("330103")), (3, 1));
        assert_eq!(parts.regions(), ["330102", "330103"]);

        let joined = parts
            .join("330102", Some(part(&["d"])))
            .expect("join")
            .expect("rows");
        assert_eq!(joined.rows, 4);
        assert_eq!(texts(&joined.cols[0].values), ["a", "b", "c", "d"]);
        let raw = joined.raw[1].as_ref().expect("raw kept");
        assert_eq!(texts(&raw.values), ["a", "b", "c", "d"]);
        let (ColumnValues::Pseudonym(got), ColumnValues::Pseudonym(want)) = (
            &joined.cols[1].values,
            &part(&["a", "b", "c", "d"]).cols[1].values,
        ) else {
            panic!("not pseudonyms")
        };
        assert_eq!(got, want);
        assert_eq!(parts.rows("330102"), 0);
        assert_eq!(parts.regions(), ["330103"]);

        // Nothing set aside and nothing after: nothing.
        assert!(parts.join("330104", None).expect("join").is_none());
        parts.clear();
        assert!(parts.regions().is_empty());
    }
}
