//! Imports: a CSV or JSON Lines export streamed through validation into columnar chunks, in
//! one transaction. Every row is checked (types, required values, known region, unique key);
//! on any problem nothing is written and the report lists the first 100 problems with line,
//! column, value and reason. Memory stays flat: rows are written a chunk at a time, each chunk
//! of one region (see `super::pending`), and key uniqueness is checked through hash buckets
//! spilled to temporary files.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::store::files::Staged;
use crate::store::{Store, StoreError, audit, now_ms};

use super::catalog::{self, CatalogError};
use super::chunk::CHUNK_ROWS;
use super::pending::{ChunkBuilder, Encoded, Pending};
use super::pseudonym::Pseudonymizer;

/// Problems listed in a report; the rest are only counted.
pub const MAX_REPORTED: usize = 100;
/// Longest value of one cell, in bytes.
pub const MAX_CELL: usize = 65_536;
/// Longest line, in bytes.
pub const MAX_LINE: usize = 16 << 20;
/// How a problem that stops reading the file starts.
const READ_FAILED: &str = "reading stopped: ";
/// Bytes of input per key-hash bucket spilled to disk for the uniqueness check: only one
/// bucket's keys are in memory at a time, so memory stays flat as files grow.
const BYTES_PER_KEY_BUCKET: u64 = 8 << 20;

/// File formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

impl Format {
    /// The format a file name implies.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" => Some(Format::JsonLines),
            _ => None,
        }
    }
}

/// How an import relates to earlier ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Adds rows to the dataset.
    Append,
    /// Supersedes every earlier import of the dataset.
    Replace,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Append => "append",
            Mode::Replace => "replace",
        }
    }
}

/// One import to perform.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// Dataset name.
    pub dataset: String,
    /// The file.
    pub path: PathBuf,
    /// Its format; from the extension when `None`.
    pub format: Option<Format>,
    /// Schema version the file follows; the current one when `None`.
    pub schema_version: Option<i64>,
    /// Append or replace.
    pub mode: Mode,
    /// Who imports it.
    pub actor: String,
    /// Show a progress bar on a terminal.
    pub progress: bool,
}

impl ImportRequest {
    /// A request to append `path` to `dataset` as `actor`, with the format from the file's
    /// extension, the current schema version and no progress bar.
    pub fn new(dataset: &str, path: impl Into<PathBuf>, actor: &str) -> Self {
        ImportRequest {
            dataset: dataset.to_string(),
            path: path.into(),
            format: None,
            schema_version: None,
            mode: Mode::Append,
            actor: actor.to_string(),
            progress: false,
        }
    }
}

/// A successful import.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// Import id.
    pub id: i64,
    /// Dataset.
    pub dataset: String,
    /// Schema version followed.
    pub schema_version: i64,
    /// Rows imported.
    pub rows: u64,
    /// Chunks written.
    pub chunks: u64,
    /// sha256 of the file.
    pub sha256: String,
    /// Time taken, seconds.
    pub seconds: f64,
}

/// A row that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RowError {
    /// 1-based line in the file.
    pub line: u64,
    /// Column name (empty for whole-row problems).
    pub column: String,
    /// The value, cut to 80 characters.
    pub value: String,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}", self.line)?;
        if !self.column.is_empty() {
            write!(f, ", column `{}`", self.column)?;
        }
        if !self.value.is_empty() {
            write!(f, ", value `{}`", self.value)?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Why an import failed; in every case nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Unknown dataset or schema version.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file as a whole is unusable (empty, unknown format, bad header).
    #[error("{path}: {reason}")]
    File {
        /// File.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Rows failed validation.
    #[error("{path}: {total} problem(s), nothing imported:\n{}{}", list(.errors), more(*.total, .errors.len()))]
    Invalid {
        /// File.
        path: PathBuf,
        /// The first [`MAX_REPORTED`] problems.
        errors: Vec<RowError>,
        /// How many in all.
        total: u64,
    },
    /// The same file was imported before.
    #[error("{path} was already imported into `{dataset}` as import {id}; nothing imported")]
    AlreadyImported {
        /// File.
        path: PathBuf,
        /// Dataset.
        dataset: String,
        /// Earlier import.
        id: i64,
    },
    /// The import's temporary files could not be written or read back (see
    /// [`Store::temp_dir`]).
    #[error(
        "cannot use temporary files in {dir}: {source}; nothing imported (set --temp-dir to a directory with room)"
    )]
    Temp {
        /// The directory.
        dir: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn list(errors: &[RowError]) -> String {
    errors.iter().map(|e| format!("  {e}\n")).collect()
}

fn more(total: u64, shown: usize) -> String {
    if total > shown as u64 {
        format!("  … and {} more", total - shown as u64)
    } else {
        String::new()
    }
}

impl From<sqlx::Error> for ImportError {
    fn from(e: sqlx::Error) -> Self {
        ImportError::Store(StoreError::Db(e))
    }
}

/// The problems found so far: the first [`MAX_REPORTED`] and a count.
#[derive(Debug, Default)]
struct Problems {
    errors: Vec<RowError>,
    total: u64,
}

impl Problems {
    fn add(&mut self, e: RowError) {
        self.total += 1;
        if self.errors.len() < MAX_REPORTED {
            self.errors.push(e);
        }
    }
}

/// Reads a file, hashing it and refusing lines over [`MAX_LINE`].
struct Guarded<R> {
    inner: R,
    sha: Sha256,
    bytes: u64,
    since_newline: usize,
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let got = &buf[..n];
        self.sha.update(got);
        self.bytes += n as u64;
        self.since_newline = match got.iter().rposition(|b| *b == b'\n') {
            Some(p) => n - p - 1,
            None => self.since_newline + n,
        };
        if self.since_newline > MAX_LINE {
            return Err(std::io::Error::other(format!(
                "a line is longer than {} MiB",
                MAX_LINE >> 20
            )));
        }
        Ok(n)
    }
}

/// Spills (key hash, line) pairs into buckets on disk, then finds duplicates bucket by bucket.
struct KeySpill {
    buckets: Vec<BufWriter<File>>,
}

impl KeySpill {
    /// Buckets for a file of `size` bytes: 16 to 256 of them, temporary files in `dir`.
    fn new(size: u64, dir: &Path) -> std::io::Result<Self> {
        let n = (size / BYTES_PER_KEY_BUCKET).clamp(16, 256);
        let buckets = (0..n)
            .map(|_| tempfile::tempfile_in(dir).map(|f| BufWriter::with_capacity(1 << 14, f)))
            .collect::<std::io::Result<_>>()?;
        Ok(KeySpill { buckets })
    }

    fn add(&mut self, hash: u128, line: u64) -> std::io::Result<()> {
        let n = self.buckets.len() as u128;
        let b = &mut self.buckets[(hash % n) as usize];
        b.write_all(&hash.to_le_bytes())?;
        b.write_all(&line.to_le_bytes())
    }

    /// (line, earlier line with the same key) for every duplicate.
    fn duplicates(self) -> std::io::Result<Vec<(u64, u64)>> {
        let mut dups = Vec::new();
        for b in self.buckets {
            let mut f = b.into_inner().map_err(|e| e.into_error())?;
            f.rewind()?;
            let mut r = BufReader::with_capacity(1 << 16, f);
            let mut seen: HashMap<u128, u64> = HashMap::new();
            let mut rec = [0u8; 24];
            loop {
                match r.read_exact(&mut rec) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
                let mut h = [0u8; 16];
                h.copy_from_slice(&rec[..16]);
                let mut l = [0u8; 8];
                l.copy_from_slice(&rec[16..]);
                let (hash, line) = (u128::from_le_bytes(h), u64::from_le_bytes(l));
                if let Some(first) = seen.get(&hash) {
                    dups.push((line, *first));
                } else {
                    seen.insert(hash, line);
                }
            }
        }
        dups.sort_unstable();
        Ok(dups)
    }
}

/// Rows of the file, as text cells in schema column order.
enum Rows<R: Read> {
    Csv {
        reader: csv::Reader<R>,
        record: csv::ByteRecord,
        map: Vec<usize>,
    },
    Json {
        reader: BufReader<R>,
        line: u64,
        buf: String,
        names: Vec<String>,
    },
}

/// One row's cells: `None` for empty or missing.
type Cells = Vec<Option<String>>;

impl<R: Read> Rows<R> {
    /// The next row into `cells`, with its line; a whole-row problem as `Err`.
    fn next(&mut self, cells: &mut Cells) -> Result<Option<u64>, RowError> {
        match self {
            Rows::Csv {
                reader,
                record,
                map,
            } => {
                let ok = reader.read_byte_record(record).map_err(|e| RowError {
                    line: e.position().map_or(0, |p| p.line()),
                    column: String::new(),
                    value: String::new(),
                    reason: csv_reason(&e),
                })?;
                if !ok {
                    return Ok(None);
                }
                let line = record.position().map_or(0, |p| p.line());
                for (slot, &at) in cells.iter_mut().zip(map.iter()) {
                    let raw = record.get(at).unwrap_or(b"");
                    *slot = if raw.is_empty() {
                        None
                    } else {
                        Some(String::from_utf8(raw.to_vec()).map_err(|_| RowError {
                            line,
                            column: String::new(),
                            value: String::new(),
                            reason: "not valid UTF-8 (export the file as UTF-8)".into(),
                        })?)
                    };
                }
                Ok(Some(line))
            }
            Rows::Json {
                reader,
                line,
                buf,
                names,
            } => loop {
                buf.clear();
                *line += 1;
                let n = reader.read_line(buf).map_err(|e| RowError {
                    line: *line,
                    column: String::new(),
                    value: String::new(),
                    reason: format!("{READ_FAILED}{e}"),
                })?;
                if n == 0 {
                    return Ok(None);
                }
                if buf.trim().is_empty() {
                    continue;
                }
                let obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(buf)
                    .map_err(|e| RowError {
                        line: *line,
                        column: String::new(),
                        value: String::new(),
                        reason: format!("not a JSON object: {e}"),
                    })?;
                if let Some(extra) = obj.keys().find(|k| !names.contains(k)) {
                    return Err(RowError {
                        line: *line,
                        column: extra.clone(),
                        value: String::new(),
                        reason: "not a column of the schema".into(),
                    });
                }
                for (slot, name) in cells.iter_mut().zip(names.iter()) {
                    *slot = match obj.get(name) {
                        None | Some(serde_json::Value::Null) => None,
                        Some(serde_json::Value::String(s)) if s.is_empty() => None,
                        Some(serde_json::Value::String(s)) => Some(s.clone()),
                        Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
                            Some(v.to_string())
                        }
                        Some(_) => {
                            return Err(RowError {
                                line: *line,
                                column: name.clone(),
                                value: String::new(),
                                reason: "arrays and objects are not values".into(),
                            });
                        }
                    };
                }
                return Ok(Some(*line));
            },
        }
    }

    fn position(&self) -> Option<u64> {
        match self {
            Rows::Csv { reader, .. } => Some(reader.position().byte()),
            Rows::Json { .. } => None,
        }
    }
}

fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!(
                "has {len} fields, the header has {expected_len} (a truncated or malformed line)"
            )
        }
        csv::ErrorKind::Io(io) => format!("{READ_FAILED}{io}"),
        _ => e.to_string(),
    }
}

/// Imports a file into a dataset. A failure caused by the file is recorded (see
/// [`super::failures`]) before it is returned.
pub async fn import(
    store: &Store,
    pseudo: &Pseudonymizer,
    req: &ImportRequest,
) -> Result<ImportReport, ImportError> {
    let result = import_file(store, pseudo, req).await;
    if let Err(e) = &result {
        super::failures::record(store, req, e).await;
    }
    result
}

async fn import_file(
    store: &Store,
    pseudo: &Pseudonymizer,
    req: &ImportRequest,
) -> Result<ImportReport, ImportError> {
    let started = Instant::now();
    let path = req.path.clone();
    let io_err = |source| ImportError::Io {
        path: path.clone(),
        source,
    };
    let file_err = |reason: String| ImportError::File {
        path: path.clone(),
        reason,
    };
    let (version, schema) = catalog::schema(store, &req.dataset, req.schema_version).await?;
    let format = match req.format.or_else(|| Format::from_path(&path)) {
        Some(f) => f,
        None => {
            return Err(file_err(
                "cannot tell the format: name it .csv or .jsonl, or pass --format".into(),
            ));
        }
    };
    // First pass: the file's hash, to refuse a file imported before without reading it twice.
    let size = std::fs::metadata(&path).map_err(io_err)?.len();
    if size == 0 {
        return Err(file_err("the file is empty".into()));
    }
    let sha = {
        let mut f = BufReader::with_capacity(1 << 20, File::open(&path).map_err(io_err)?);
        let mut h = Sha256::new();
        std::io::copy(&mut f, &mut h).map_err(io_err)?;
        hex::encode(h.finalize())
    };
    let earlier: Option<i64> =
        sqlx::query("SELECT id FROM imports WHERE dataset = $1 AND file_sha256 = $2")
            .bind(&req.dataset)
            .bind(&sha)
            .fetch_optional(store.pool())
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
    if let Some(id) = earlier {
        return Err(ImportError::AlreadyImported {
            path,
            dataset: req.dataset.clone(),
            id,
        });
    }
    let regions: HashSet<String> = sqlx::query("SELECT code FROM regions")
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    if regions.is_empty() {
        return Err(file_err(
            "no regions are loaded: load them first with `supervise regions load FILE.csv`".into(),
        ));
    }

    let guarded = Guarded {
        inner: File::open(&path).map_err(io_err)?,
        sha: Sha256::new(),
        bytes: 0,
        since_newline: 0,
    };
    let names: Vec<String> = schema.columns.iter().map(|c| c.name.clone()).collect();
    let mut rows = match format {
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .flexible(false)
                .buffer_capacity(1 << 16)
                .from_reader(guarded);
            let header = reader
                .byte_headers()
                .map_err(|e| file_err(csv_reason(&e)))?
                .clone();
            let header: Vec<String> = header
                .iter()
                .map(|h| {
                    String::from_utf8_lossy(h)
                        .trim()
                        .trim_start_matches('\u{feff}')
                        .to_string()
                })
                .collect();
            if header.iter().all(String::is_empty) {
                return Err(file_err("the file has no header row".into()));
            }
            let missing: Vec<&str> = names
                .iter()
                .filter(|n| !header.contains(n))
                .map(String::as_str)
                .collect();
            let unknown: Vec<&str> = header
                .iter()
                .filter(|h| !names.contains(h))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() || !unknown.is_empty() {
                return Err(file_err(format!(
                    "the header does not follow schema version {version} of `{}`: missing [{}], not in the schema [{}]",
                    req.dataset,
                    missing.join(", "),
                    unknown.join(", ")
                )));
            }
            let map = names
                .iter()
                .filter_map(|n| header.iter().position(|h| h == n))
                .collect();
            Rows::Csv {
                reader,
                record: csv::ByteRecord::new(),
                map,
            }
        }
        Format::JsonLines => Rows::Json {
            reader: BufReader::with_capacity(1 << 16, guarded),
            line: 0,
            buf: String::new(),
            names: names.clone(),
        },
    };

    let progress =
        (req.progress && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
            let bar = indicatif::ProgressBar::new(size);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:40}] {bytes}/{total_bytes} {per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_message(format!("importing {}", req.dataset));
            bar
        });

    let region_at = schema
        .columns
        .iter()
        .position(|c| c.name == schema.region_column)
        .unwrap_or(0);
    let key_at: Vec<usize> = schema
        .key
        .iter()
        .filter_map(|k| schema.columns.iter().position(|c| &c.name == k))
        .collect();
    let temp = store.temp_dir();
    let temp_err = |source| ImportError::Temp {
        dir: temp.clone(),
        source,
    };
    let mut spill = KeySpill::new(size, &temp).map_err(temp_err)?;
    let mut problems = Problems::default();

    // The import's column files, moved in place once it commits (see `store::files`).
    let staged = store.column_files().and_then(|f| {
        f.stage()
            .inspect_err(
                |e| tracing::warn!(dir = %f.dir().display(), "cannot stage column files: {e}"),
            )
            .ok()
    });
    let mut tx = store.begin().await?;
    let id: i64 = sqlx::query(
        "INSERT INTO imports (dataset, schema_version, mode, file_name, file_sha256, format, row_count, chunk_count, imported_by, imported_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, 0, $7, $8) RETURNING id",
    )
    .bind(&req.dataset)
    .bind(version)
    .bind(req.mode.as_str())
    .bind(path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default())
    .bind(&sha)
    .bind(match format { Format::Csv => "csv", Format::JsonLines => "jsonl" })
    .bind(&req.actor)
    .bind(now_ms())
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;

    let mut cells: Cells = vec![None; names.len()];
    let mut pending = Pending::new(&schema, &temp);
    // Once a problem is found nothing will be written: later rows are still validated, into
    // this builder, emptied whenever it fills.
    let mut scratch = ChunkBuilder::new(&schema);
    let (mut total_rows, mut chunks) = (0u64, 0u64);
    loop {
        let line = match rows.next(&mut cells) {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) if e.reason.starts_with(READ_FAILED) => {
                problems.add(e);
                break;
            }
            Err(e) => {
                problems.add(e);
                continue;
            }
        };
        total_rows += 1;
        let mut row_ok = true;
        let region = cells[region_at].as_deref().unwrap_or("").trim();
        let chunk = if problems.total > 0 {
            &mut scratch
        } else {
            pending.builder(region)
        };
        for (i, col) in schema.columns.iter().enumerate() {
            let problem = match &cells[i] {
                None if col.nullable => {
                    chunk.cols[i].push_null();
                    if let Some(r) = &mut chunk.raw[i] {
                        r.push_null();
                    }
                    None
                }
                None => Some(("required value is missing".to_string(), String::new())),
                Some(v) if v.len() > MAX_CELL => Some((
                    format!("value is {} bytes, the limit is {MAX_CELL}", v.len()),
                    v.chars().take(80).collect(),
                )),
                Some(v) if i == region_at && !regions.contains(v.trim()) => Some((
                    "unknown region code (not in the loaded regions)".to_string(),
                    v.clone(),
                )),
                Some(v) => match chunk.cols[i].push_str(v, pseudo) {
                    Ok(()) => {
                        if let Some(r) = &mut chunk.raw[i] {
                            r.push_str(v.trim(), pseudo).ok();
                        }
                        None
                    }
                    Err(reason) => Some((reason, v.chars().take(80).collect())),
                },
            };
            if let Some((reason, value)) = problem {
                row_ok = false;
                problems.add(RowError {
                    line,
                    column: col.name.clone(),
                    value,
                    reason,
                });
                break;
            }
        }
        if !row_ok || problems.total > 0 {
            // Nothing will be written: keep validating, but bound what the builders hold.
            pending.discard();
            scratch.rows += 1;
            if scratch.rows >= CHUNK_ROWS {
                scratch = ChunkBuilder::new(&schema);
            }
            continue;
        }
        let mut h1 = DefaultHasher::new();
        let mut h2 = DefaultHasher::new();
        0xa5u8.hash(&mut h2);
        for &k in &key_at {
            let v = cells[k].as_deref().unwrap_or("").trim();
            v.hash(&mut h1);
            v.hash(&mut h2);
        }
        spill
            .add(
                (u128::from(h1.finish()) << 64) | u128::from(h2.finish()),
                line,
            )
            .map_err(temp_err)?;
        if let Some(full) = pending.complete(region).map_err(temp_err)? {
            write_chunk(&mut tx, staged.as_ref(), id, chunks, full).await?;
            chunks += 1;
            if let (Some(bar), Some(pos)) = (&progress, rows.position()) {
                bar.set_position(pos);
            }
        }
    }
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    if problems.total == 0 {
        for (line, first) in spill.duplicates().map_err(temp_err)? {
            let key = schema.key.join(", ");
            problems.add(RowError {
                line,
                column: key,
                value: String::new(),
                reason: format!("duplicate key: line {first} has the same"),
            });
        }
    }
    if problems.total > 0 {
        tx.rollback().await?;
        problems.errors.sort_by_key(|e| e.line);
        return Err(ImportError::Invalid {
            path,
            errors: problems.errors,
            total: problems.total,
        });
    }
    if total_rows == 0 {
        tx.rollback().await?;
        return Err(file_err("the file has a header but no rows".into()));
    }
    while let Some(rest) = pending.next_left().map_err(temp_err)? {
        write_chunk(&mut tx, staged.as_ref(), id, chunks, rest).await?;
        chunks += 1;
    }
    let read_sha = match &rows {
        Rows::Csv { reader, .. } => hex::encode(reader.get_ref().sha.clone().finalize()),
        Rows::Json { reader, .. } => hex::encode(reader.get_ref().sha.clone().finalize()),
    };
    if read_sha != sha {
        tx.rollback().await?;
        return Err(file_err(
            "the file changed while it was being imported".into(),
        ));
    }
    sqlx::query("UPDATE imports SET row_count = $1, chunk_count = $2 WHERE id = $3")
        .bind(total_rows as i64)
        .bind(chunks as i64)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let detail = serde_json::json!({
        "import": id, "file": path.display().to_string(), "sha256": sha, "rows": total_rows,
        "schema_version": version, "mode": req.mode.as_str(),
    });
    audit(&mut tx, &req.actor, "dataset.import", &req.dataset, &detail).await?;
    tx.commit().await?;
    if let Some(Err(e)) = staged.map(|s| s.publish(id)) {
        tracing::warn!("import {id}'s column files were not kept (runs read the database): {e}");
    }
    Ok(ImportReport {
        id,
        dataset: req.dataset.clone(),
        schema_version: version,
        rows: total_rows,
        chunks,
        sha256: sha,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Writes a chunk of import `import` in `tx`, and its column files into `staged`.
async fn write_chunk(
    tx: &mut crate::store::WriteTx,
    staged: Option<&Staged<'_>>,
    import: i64,
    no: u64,
    (columns, rows, region): Encoded,
) -> Result<(), ImportError> {
    if let Some(Err(e)) = staged.map(|s| super::files::stage_chunk(s, no as i64, &columns)) {
        tracing::warn!("a column file was not kept (runs read the database): {e}");
    }
    sqlx::query("INSERT INTO import_chunks (import_id, chunk_no, row_count, region_min, region_max) VALUES ($1, $2, $3, $4, $5)")
        .bind(import)
        .bind(no as i64)
        .bind(rows as i64)
        .bind(&region)
        .bind(&region)
        .execute(&mut **tx)
        .await?;
    let values = tx.dialect().rows(0, columns.len(), 4, "");
    let sql =
        format!("INSERT INTO chunk_columns (import_id, chunk_no, name, data) VALUES {values}");
    // Placeholders only: the values are bound.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (name, data) in columns {
        q = q.bind(import).bind(no as i64).bind(name).bind(data);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}
