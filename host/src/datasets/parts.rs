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
//! a format of its own. Each region's parts have a file of their own, with no name (nothing is
//! left if the process dies), in the store's directory for temporary files
//! ([`crate::store::Store::temp_dir`]: on its disk, since the system's may be memory), removed
//! as soon as they are joined and when the import ends, however it ends: the disk they take is
//! bounded by the rows waiting to make a chunk, less than a chunk's worth for each region.
//! Beyond [`MAX_FILES`] regions with rows set aside at once, regions share files (each removed
//! once all its regions are joined).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

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

/// Where one set-aside part lies in its file: its rows, and each column's bytes (offset and
/// length), the schema's then the raw values'.
#[derive(Debug)]
struct Part {
    rows: usize,
    cols: Vec<(u64, u64)>,
    raw: Vec<Option<(u64, u64)>>,
}

/// Most temporary files open at once. Each region with rows set aside writes to a file of its
/// own while fewer than this many are open, and shares the least shared one beyond (an export
/// of more regions than this: a shared file is removed once all its regions are joined).
const MAX_FILES: usize = 64;

/// A temporary file parts are written to: its length and how many regions' parts it holds.
#[derive(Debug)]
struct Spill {
    file: File,
    end: u64,
    regions: usize,
}

impl Spill {
    /// Appends `bytes`; where they lie.
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

    /// `part`'s columns, read back.
    fn read(&mut self, part: &Part) -> io::Result<Columns> {
        let cols = part
            .cols
            .iter()
            .map(|&c| self.column(c, part.rows))
            .collect::<io::Result<Vec<_>>>()?;
        let raw = part
            .raw
            .iter()
            .map(|c| c.map(|c| self.column(c, part.rows)).transpose())
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Columns {
            rows: part.rows,
            cols,
            raw,
        })
    }
}

/// The file in `slot`; an error if it is gone (a region's parts would be lost).
fn spill_at(files: &mut [Option<Spill>], slot: usize) -> io::Result<&mut Spill> {
    files
        .get_mut(slot)
        .and_then(Option::as_mut)
        .ok_or_else(|| io::Error::other("a region's file of rows set aside is gone"))
}

/// `next`'s rows after `joined`'s (`next` itself when there are none yet).
fn append(joined: &mut Option<Columns>, next: Columns) -> io::Result<()> {
    match joined {
        Some(j) => j.append(&next).map_err(io::Error::other),
        None => {
            *joined = Some(next);
            Ok(())
        }
    }
}

/// One region's parts: the file they are in (its slot), where each lies, their rows.
#[derive(Debug)]
struct Region {
    slot: usize,
    parts: Vec<Part>,
    rows: usize,
}

/// The parts set aside so far, by region code, and the files they are in.
#[derive(Debug)]
pub(super) struct Parts {
    by_region: BTreeMap<String, Region>,
    files: Vec<Option<Spill>>,
    /// Where the files are made.
    dir: PathBuf,
}

/// A column's name in a part: what its one-column chunk is called (checked as it is read).
const PART_COLUMN: &str = "part";

impl Parts {
    /// None yet; their files will be made in `dir`.
    pub fn new(dir: &Path) -> Self {
        Parts {
            by_region: BTreeMap::new(),
            files: Vec::new(),
            dir: dir.to_path_buf(),
        }
    }

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

    /// The temporary files open.
    #[cfg(test)]
    fn open_files(&self) -> usize {
        self.files.iter().flatten().count()
    }

    /// A file for a region's first part: an empty slot's new file, else a new one while fewer
    /// than [`MAX_FILES`] are open, else the one shared by the fewest regions.
    fn slot(&mut self) -> io::Result<usize> {
        let slot = match self.files.iter().position(Option::is_none) {
            Some(free) => free,
            None if self.files.len() < MAX_FILES => {
                self.files.push(None);
                self.files.len() - 1
            }
            None => {
                let least = self
                    .files
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, f)| f.as_ref().map_or(0, |f| f.regions))
                    .map(|(i, _)| i);
                least.ok_or_else(|| io::Error::other("no file to set rows aside in"))?
            }
        };
        let spill = match &mut self.files[slot] {
            Some(spill) => spill,
            empty => empty.insert(Spill {
                file: tempfile::tempfile_in(&self.dir)?,
                end: 0,
                regions: 0,
            }),
        };
        spill.regions += 1;
        Ok(slot)
    }

    /// Sets `columns` aside as `region`'s next part.
    pub fn keep(&mut self, region: &str, columns: &Columns) -> io::Result<()> {
        let slot = match self.by_region.get(region) {
            Some(r) => r.slot,
            None => self.slot()?,
        };
        let r = self.by_region.entry(region.to_string()).or_insert(Region {
            slot,
            parts: Vec::new(),
            rows: 0,
        });
        let spill = spill_at(&mut self.files, r.slot)?;
        let mut write =
            |col: &StoredColumn| spill.write(&chunk::encode(columns.rows, &[(PART_COLUMN, col)]));
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
    /// after them (when given); none of the region's parts stay, and their file goes with
    /// the last region it held. `None` when there is nothing.
    pub fn join(&mut self, region: &str, last: Option<Columns>) -> io::Result<Option<Columns>> {
        let mut joined: Option<Columns> = None;
        if let Some(r) = self.by_region.remove(region) {
            let spill = spill_at(&mut self.files, r.slot)?;
            for part in &r.parts {
                append(&mut joined, spill.read(part)?)?;
            }
            spill.regions -= 1;
            if spill.regions == 0 {
                self.files[r.slot] = None;
            }
        }
        if let Some(last) = last {
            append(&mut joined, last)?;
        }
        Ok(joined)
    }

    /// Forgets every part (the import will write nothing).
    pub fn clear(&mut self) {
        self.by_region.clear();
        self.files.clear();
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

    /// How many of this process's open files lie in `dir` (their names, unlinked or never
    /// given, still start with it).
    fn open_in(dir: &Path) -> usize {
        std::fs::read_dir("/proc/self/fd")
            .expect("/proc/self/fd")
            .flatten()
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .filter(|target| target.starts_with(dir))
            .count()
    }

    #[test]
    fn a_regions_parts_join_in_order_and_leave_nothing_behind() {
        let dir = tempfile::tempdir().expect("dir");
        let mut parts = Parts::new(dir.path());
        parts.keep("330102", &part(&["a", "b"])).expect("keep");
        parts.keep("330103", &part(&["x"])).expect("keep");
        parts.keep("330102", &part(&["c"])).expect("keep");
        assert_eq!((parts.rows("330102"), parts.rows("330103")), (3, 1));
        assert_eq!(parts.regions(), ["330102", "330103"]);
        // One file for each region, in the directory given, with no name there.
        assert_eq!(open_in(dir.path()), 2);
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);

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
        assert_eq!(open_in(dir.path()), 1);

        // Nothing set aside and nothing after: nothing.
        assert!(parts.join("330104", None).expect("join").is_none());
        parts.clear();
        assert!(parts.regions().is_empty());
        assert_eq!(open_in(dir.path()), 0);
    }

    #[test]
    fn more_regions_than_files_share_them_and_every_file_goes_once_joined() {
        let mut parts = Parts::new(&std::env::temp_dir());
        let regions: Vec<String> = (0..2 * MAX_FILES + 3).map(|c| format!("{c:06}")).collect();
        for round in 0..2 {
            for r in &regions {
                parts
                    .keep(r, &part(&[&format!("{r}-{round}")]))
                    .expect("keep");
            }
        }
        assert_eq!(parts.open_files(), MAX_FILES);
        for r in &regions {
            let joined = parts.join(r, None).expect("join").expect("rows");
            assert_eq!(
                texts(&joined.cols[0].values),
                [format!("{r}-0"), format!("{r}-1")]
            );
        }
        assert_eq!(parts.open_files(), 0);
        // A slot freed is taken again.
        parts.keep("330102", &part(&["a"])).expect("keep");
        assert_eq!(parts.open_files(), 1);
    }
}
