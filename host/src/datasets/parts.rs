//! Parts of chunks set aside during an import: when too many rows wait in memory (an export
//! interleaving many regions), a region's waiting rows are written here, to a temporary file,
//! as finished columns, and joined with the region's later rows into a chunk once they make a
//! full one (or at the end of the import). Without them each such early write was a chunk of
//! its own: a provincial export of 90 counties made chunks of about 4,000 rows instead of
//! 65,536, and every run paid the per-chunk costs (a statement or a file per column, key rows,
//! a read-ahead) twelve times over.
//!
//! A part's columns are stored as one-column chunks ([`chunk::encode`]), so nothing here has
//! a format of its own; the file is removed when the import ends, however it ends.

use std::collections::BTreeMap;
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

/// Where one set-aside part lies in the file: its rows, and each column's bytes (offset and
/// length), the schema's then the raw values'.
#[derive(Debug)]
struct Part {
    rows: usize,
    cols: Vec<(u64, u64)>,
    raw: Vec<Option<(u64, u64)>>,
}

/// The parts set aside so far, by region code.
#[derive(Debug, Default)]
pub(super) struct Parts {
    file: Option<File>,
    end: u64,
    by_region: BTreeMap<String, Vec<Part>>,
    rows: BTreeMap<String, usize>,
}

/// A column's name in a part: what its one-column chunk is called (checked as it is read).
const PART_COLUMN: &str = "part";

impl Parts {
    /// Rows of `region` set aside.
    pub fn rows(&self, region: &str) -> usize {
        self.rows.get(region).copied().unwrap_or(0)
    }

    /// The regions with rows set aside, in code order.
    pub fn regions(&self) -> Vec<String> {
        self.by_region.keys().cloned().collect()
    }

    /// Sets `columns` aside as `region`'s next part.
    pub fn keep(&mut self, region: &str, columns: &Columns) -> io::Result<()> {
        let mut write = |col: &StoredColumn| -> io::Result<(u64, u64)> {
            let bytes = chunk::encode(columns.rows, &[(PART_COLUMN, col)]);
            let file = match &mut self.file {
                Some(f) => f,
                None => self.file.insert(tempfile::tempfile()?),
            };
            file.seek(SeekFrom::Start(self.end))?;
            file.write_all(&bytes)?;
            let at = self.end;
            self.end += bytes.len() as u64;
            Ok((at, bytes.len() as u64))
        };
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
        self.by_region
            .entry(region.to_string())
            .or_default()
            .push(Part {
                rows: columns.rows,
                cols,
                raw,
            });
        *self.rows.entry(region.to_string()).or_default() += columns.rows;
        Ok(())
    }

    /// `region`'s parts, read back in the order they were set aside and joined, then `last`
    /// after them (when given); none of the region's parts stay. `None` when there is
    /// nothing.
    pub fn join(&mut self, region: &str, last: Option<Columns>) -> io::Result<Option<Columns>> {
        self.rows.remove(region);
        let parts = self.by_region.remove(region).unwrap_or_default();
        let mut joined: Option<Columns> = None;
        for part in &parts {
            let columns = self.read(part)?;
            match &mut joined {
                Some(j) => j.append(&columns).map_err(io::Error::other)?,
                None => joined = Some(columns),
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
        self.rows.clear();
    }

    /// A part's columns, read back from the file.
    fn read(&mut self, part: &Part) -> io::Result<Columns> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("a part was set aside without its file"))?;
        let mut column = |(at, len): (u64, u64)| -> io::Result<StoredColumn> {
            let mut bytes = vec![0u8; usize::try_from(len).map_err(io::Error::other)?];
            file.seek(SeekFrom::Start(at))?;
            file.read_exact(&mut bytes)?;
            let (rows, mut cols) =
                chunk::decode(&bytes, &[PART_COLUMN]).map_err(io::Error::other)?;
            match cols.pop().flatten() {
                Some(col) if rows == part.rows => Ok(col),
                _ => Err(io::Error::other("a part set aside reads back damaged")),
            }
        };
        let cols = part
            .cols
            .iter()
            .map(|&c| column(c))
            .collect::<io::Result<Vec<_>>>()?;
        let raw = part
            .raw
            .iter()
            .map(|c| c.map(&mut column).transpose())
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Columns {
            rows: part.rows,
            cols,
            raw,
        })
    }
}
