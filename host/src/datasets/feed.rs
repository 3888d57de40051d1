//! The scoped feed: the runtime's [`DataSource`] backed by the store. A run reads a fixed
//! snapshot; it sees only rows whose region code lies under the run's region (whole chunks are
//! skipped by their region range), only the requested columns (the runtime has already checked
//! them against the approved scope), and personal identifiers only as pseudonyms: the raw
//! values kept for re-identification are stored under names no model can ask for.
//!
//! Decoded columns of a chunk are kept in the store's block cache ([`Store::blocks`]): a
//! committed chunk never changes, so every later scan of that column reads memory instead of
//! the database. A chunk is read from the database only for the columns the cache lacks.
//! A look-up (`index`) keeps each chunk's rows grouped by key there too ([`super::keys`]).
//!
//! The sandbox is synchronous, so chunks are fetched with [`tokio::runtime::Handle::block_on`]:
//! run models on a blocking thread (`spawn_blocking`), never inside an async task.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use sqlx::Row;
use sqlx::any::AnyRow;
use tokio::runtime::Handle;

use crate::runtime::bindings::{Batch, ColumnType};
use crate::runtime::source::{
    BatchReader, ColumnRequest, DataSource, KeyIndex, ScanRequest, SourceError,
};
use crate::store::{BlockKey, Store};

use super::catalog;
use super::chunk;
use super::columns::{Rows, StoredColumn};
use super::keys::{self, KeyRows, Part, PartsIndex};
use super::region;
use super::schema::DatasetSchema;
use super::snapshot::Snapshot;

/// Where one chunk is, how many rows it holds and which regions it spans.
#[derive(Debug, Clone)]
struct ChunkRef {
    import: i64,
    no: i64,
    rows: usize,
    region_min: String,
    region_max: String,
}

#[derive(Debug)]
struct DatasetFeed {
    schema: Arc<DatasetSchema>,
    chunks: Vec<ChunkRef>,
}

/// What a run needs to know of one import: the schema it was imported under and its chunks.
/// A committed import never changes, nor does a schema version, so this is read once per
/// store (see [`Store::recall`]).
#[derive(Debug)]
struct ImportFacts {
    schema: Arc<DatasetSchema>,
    chunks: Vec<ChunkRef>,
}

async fn import_facts(store: &Store, import: i64) -> Result<Arc<ImportFacts>, SourceError> {
    const KIND: &str = "feed.import";
    if let Some(facts) = store.recall::<ImportFacts>(KIND, import) {
        return Ok(facts);
    }
    let row = sqlx::query(
        "SELECT i.dataset, v.schema_json FROM imports i \
         JOIN dataset_versions v ON v.dataset = i.dataset AND v.version = i.schema_version \
         WHERE i.id = $1",
    )
    .bind(import)
    .fetch_one(store.pool())
    .await
    .map_err(backend)?;
    let (dataset, json): (String, String) = (
        row.try_get(0).map_err(backend)?,
        row.try_get(1).map_err(backend)?,
    );
    let schema: DatasetSchema = serde_json::from_str(&json).map_err(|e| {
        backend(format!(
            "dataset `{dataset}`: stored schema is corrupt: {e}"
        ))
    })?;
    let rows = sqlx::query(
        "SELECT chunk_no, region_min, region_max, row_count FROM import_chunks WHERE import_id = $1 \
         ORDER BY chunk_no",
    )
    .bind(import)
    .fetch_all(store.pool())
    .await
    .map_err(backend)?;
    let chunks = rows
        .iter()
        .map(|r| {
            Ok(ChunkRef {
                import,
                no: r.try_get(0)?,
                region_min: r.try_get(1)?,
                region_max: r.try_get(2)?,
                rows: usize::try_from(r.try_get::<i64, _>(3)?).unwrap_or_default(),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(backend)?;
    let facts = Arc::new(ImportFacts {
        schema: Arc::new(schema),
        chunks,
    });
    store.remember(KIND, import, facts.clone());
    Ok(facts)
}

/// A store-backed data source over one snapshot.
#[derive(Debug, Clone)]
pub struct StoreSource {
    store: Store,
    handle: Handle,
    datasets: Arc<BTreeMap<String, DatasetFeed>>,
    /// The snapshot's imports that have column files, looked up once for the source (a
    /// directory each) instead of at every scan a run opens; a file gone since is read from
    /// the database, as any file that cannot be read is.
    with_files: Arc<BTreeSet<i64>>,
}

fn backend(e: impl std::fmt::Display) -> SourceError {
    SourceError::Backend(e.to_string())
}

impl StoreSource {
    /// A source over `snapshot`, reading with the schema of each dataset's latest import in it.
    pub async fn new(store: &Store, snapshot: &Snapshot) -> Result<StoreSource, SourceError> {
        let mut datasets = BTreeMap::new();
        for (name, imports) in &snapshot.datasets {
            let mut latest = None;
            let mut chunks = Vec::new();
            for &import in imports {
                let facts = import_facts(store, import).await?;
                latest = Some(facts.schema.clone());
                chunks.extend(facts.chunks.iter().cloned());
            }
            // Rows are read with the schema of the latest import; a dataset with none yet
            // reads (nothing) with its current schema.
            let schema = match latest {
                Some(s) => s,
                None => match catalog::schema(store, name, None).await {
                    Ok((_, s)) => Arc::new(s),
                    Err(catalog::CatalogError::UnknownDataset(_)) => continue,
                    Err(e) => return Err(backend(e)),
                },
            };
            datasets.insert(name.clone(), DatasetFeed { schema, chunks });
        }
        let with_files = match store.column_files() {
            Some(files) => snapshot
                .datasets
                .values()
                .flatten()
                .copied()
                .filter(|&import| files.has(import))
                .collect(),
            None => BTreeSet::new(),
        };
        Ok(StoreSource {
            store: store.clone(),
            handle: Handle::current(),
            datasets: Arc::new(datasets),
            with_files: Arc::new(with_files),
        })
    }

    /// The feed of a dataset, with the requested columns checked against its schema.
    fn feed(&self, request: &ScanRequest) -> Result<&DatasetFeed, SourceError> {
        let feed = self
            .datasets
            .get(&request.dataset)
            .ok_or_else(|| SourceError::UnknownDataset(request.dataset.clone()))?;
        for c in &request.columns {
            let def = feed
                .schema
                .column(&c.name)
                .ok_or_else(|| SourceError::UnknownColumn {
                    dataset: request.dataset.clone(),
                    column: c.name.clone(),
                })?;
            if def.model_type() != c.ty {
                return Err(SourceError::TypeMismatch {
                    dataset: request.dataset.clone(),
                    column: c.name.clone(),
                    actual: def.model_type(),
                    expected: c.ty,
                });
            }
        }
        Ok(feed)
    }

    fn reader(&self, request: &ScanRequest) -> Result<StoreScan, SourceError> {
        Ok(self.reader_of(self.feed(request)?, request))
    }

    /// A scan of `feed` (already checked against `request`, see [`StoreSource::feed`]).
    fn reader_of(&self, feed: &DatasetFeed, request: &ScanRequest) -> StoreScan {
        let prefix = region::prefix(&request.region).to_string();
        let chunks = feed
            .chunks
            .iter()
            .filter(|c| {
                !(c.region_max.as_str() < prefix.as_str()
                    || (c.region_min.as_str() > prefix.as_str()
                        && !c.region_min.starts_with(&prefix)))
            })
            .cloned()
            .collect::<Vec<ChunkRef>>();
        StoreScan {
            store: self.store.clone(),
            handle: self.handle.clone(),
            columns: request.columns.iter().map(|c| c.name.clone()).collect(),
            region_column: feed.schema.region_column.clone(),
            scope: request.region.clone(),
            prefix,
            chunks,
            with_files: self.with_files.clone(),
            kept: None,
            kept_read: BTreeSet::new(),
            next_chunk: 0,
            current: None,
            ahead: None,
        }
    }
}

/// The block-cache kind of a chunk's decoded column (key: import, chunk number, column).
const CHUNK_COLUMN: &str = "chunk.column";

/// The block-cache kind of a chunk's key rows (key: import, chunk number, key column).
const CHUNK_KEYS: &str = "chunk.keys";

/// How many chunks past the current one a scan looks for one to read ahead.
const READ_AHEAD_WINDOW: usize = 4;

/// The name under which a chunk imported before its columns were stored apart keeps its
/// whole blob in `chunk_columns` (see the `chunk` module).
pub(super) const WHOLE: &str = "*";

/// A decoded chunk being served.
struct Current {
    columns: Vec<Arc<StoredColumn>>,
    selection: Option<Vec<u32>>,
    rows: usize,
    pos: usize,
}

struct StoreScan {
    store: Store,
    handle: Handle,
    columns: Vec<String>,
    region_column: String,
    scope: String,
    prefix: String,
    chunks: Vec<ChunkRef>,
    /// The source's imports that have column files (see [`StoreSource`]).
    with_files: Arc<BTreeSet<i64>>,
    /// A look-up's pseudonym key: its column's name and the name of the key rows its imports
    /// kept (see [`keys::kept_name`]), read with each chunk's columns.
    kept: Option<(String, String)>,
    /// The chunks whose kept key rows were read with their columns, found or not: a look-up
    /// does not read them again (an older import keeps none; damaged ones are built instead).
    kept_read: BTreeSet<usize>,
    next_chunk: usize,
    current: Option<Current>,
    /// The read of a chunk (its index) after the current one, under way while the model
    /// works on this one.
    ahead: Option<(usize, Fetch)>,
}

/// A chunk's columns being read from the store: the names asked for, whether with the chunk's
/// kept key rows, and the read (the bytes of each column found, one-column chunks, from its
/// column file or the database).
struct Fetch {
    names: Vec<String>,
    with_keys: bool,
    read: tokio::task::JoinHandle<Result<Vec<Stored>, sqlx::Error>>,
}

/// A chunk column as read: decoded from its column file as it was read (its name, the
/// chunk's rows the file holds, the column), or a row of `chunk_columns` (its name and its
/// bytes), to decode; or the chunk's kept key rows (see [`keys::kept_name`]), as kept.
enum Stored {
    File(String, usize, StoredColumn),
    Row(AnyRow),
    Keys(Vec<u8>),
}

/// A chunk's columns as read: each asked for (`None` for one it does not have), and its kept
/// key rows when they were asked for and it has them.
type Assembled = (Vec<Option<StoredColumn>>, Option<Vec<u8>>);

/// Columns `names` of a chunk of `count` rows from what [`fetch_columns`] read, and its kept
/// key rows. Fails on a column whose rows are not the chunk's `count`.
fn assemble(stored: Vec<Stored>, names: &[String], count: usize) -> Result<Assembled, String> {
    let mut files = Vec::new();
    let mut rows = Vec::new();
    let mut kept = None;
    for s in stored {
        match s {
            Stored::File(name, n, col) => files.push((name, n, col)),
            Stored::Row(row) => rows.push(row),
            Stored::Keys(bytes) => kept = Some(bytes),
        }
    }
    let mut got = decode_columns(&rows, names, count)?;
    for (name, n, col) in files {
        if n != count {
            return Err(format!("a column holds {n} rows, the chunk {count}"));
        }
        if let Some(slot) = names.iter().position(|w| *w == name) {
            got[slot] = Some(col);
        }
    }
    Ok((got, kept))
}

/// Columns `names` of chunk `chunk` (import, chunk number), and its key rows kept under
/// `kept` when given: from the store's column files where they hold them, else from the
/// database, in one statement. (Files are made by imports only: written while a run reads,
/// on a disk slower than the read, they made that first run slower.)
async fn fetch_columns(
    store: &Store,
    chunk: (i64, i64),
    names: &[String],
    kept: Option<&str>,
) -> Result<Vec<Stored>, sqlx::Error> {
    let (import, no) = chunk;
    let mut got = Vec::with_capacity(names.len() + 1);
    let mut rest = Vec::new();
    for name in names {
        let file = store.column_files().and_then(|f| {
            f.read_with(import, no, name, |r, len| {
                chunk::decode_column(r, len, name)
            })
        });
        match file {
            Some((rows, col)) => got.push(Stored::File(name.clone(), rows, col)),
            None => rest.push(name.clone()),
        }
    }
    if let Some(kept) = kept {
        match store.column_files().and_then(|f| f.read(import, no, kept)) {
            Some(bytes) => got.push(Stored::Keys(bytes)),
            None => rest.push(kept.to_string()),
        }
    }
    if !rest.is_empty() {
        for row in read_columns(store, chunk, &rest).await? {
            let name: &str = row.try_get(0)?;
            got.push(match kept.filter(|k| *k == name) {
                Some(_) => Stored::Keys(row.try_get(1)?),
                None => Stored::Row(row),
            });
        }
    }
    Ok(got)
}

impl StoreScan {
    /// Starts reading the columns `names` of chunk `at` on the async runtime, with its kept
    /// key rows when `with_keys`.
    fn fetch(&self, at: usize, names: Vec<String>, with_keys: bool) -> Fetch {
        let c = &self.chunks[at];
        let (store, import, no) = (self.store.clone(), c.import, c.no);
        let asked = names.clone();
        let kept = self.kept_to_read(with_keys);
        let read = self.handle.spawn(async move {
            fetch_columns(&store, (import, no), &asked, kept.as_deref()).await
        });
        Fetch {
            names,
            with_keys,
            read,
        }
    }

    /// The name of the key rows to read with a chunk's columns, when `with_keys`.
    fn kept_to_read(&self, with_keys: bool) -> Option<String> {
        self.kept
            .as_ref()
            .filter(|_| with_keys)
            .map(|(_, kept)| kept.clone())
    }

    /// Whether chunk `at`'s kept key rows are to be read with its columns: a look-up's whose
    /// key rows are not in the cache.
    fn wants_keys(&self, at: usize) -> bool {
        self.kept
            .as_ref()
            .is_some_and(|(key, _)| !self.store.blocks().contains(&self.keys_key(at, key)))
    }

    /// Whether the chunk's rows all lie under the scan's region (no row filter needed).
    fn all_in(&self, c: &ChunkRef) -> bool {
        c.region_min.starts_with(&self.prefix) && c.region_max.starts_with(&self.prefix)
    }

    /// The columns to read of chunk `at`: the requested ones, then the region column when
    /// its rows must be filtered and the model did not ask for it.
    fn wanted(&self, at: usize) -> Vec<&str> {
        let mut wanted: Vec<&str> = self.columns.iter().map(String::as_str).collect();
        if !self.all_in(&self.chunks[at]) && !self.columns.contains(&self.region_column) {
            wanted.push(&self.region_column);
        }
        wanted
    }

    fn key(c: &ChunkRef, column: &str) -> BlockKey {
        BlockKey {
            kind: CHUNK_COLUMN,
            id: c.import,
            part: c.no,
            name: column.into(),
        }
    }

    /// The wanted columns of chunk `at` the cache holds (`None` where it does not).
    fn cached(&self, at: usize, wanted: &[&str]) -> Vec<Option<Arc<StoredColumn>>> {
        let c = &self.chunks[at];
        let blocks = self.store.blocks();
        wanted
            .iter()
            .map(|name| blocks.get::<StoredColumn>(&Self::key(c, name)))
            .collect()
    }

    /// The wanted columns of chunk `at` the cache lacks.
    fn missing(&self, at: usize) -> Vec<String> {
        let wanted = self.wanted(at);
        absent(&wanted, &self.cached(at, &wanted))
    }

    /// Columns `names` of chunk `at`, decoded straight from the rows read: from the read
    /// started ahead when it is that chunk's and asked for all of them. Its kept key rows,
    /// when a look-up lacks them, are read with them and kept in the cache.
    fn read(&mut self, at: usize, names: &[String]) -> Result<Vec<StoredColumn>, SourceError> {
        let with_keys = self.wants_keys(at);
        let fetch = match self.ahead.take() {
            Some((i, f))
                if i == at
                    && names.iter().all(|n| f.names.contains(n))
                    && (f.with_keys || !with_keys) =>
            {
                Some(f)
            }
            Some((_, f)) => {
                f.read.abort();
                None
            }
            None => None,
        };
        let stored = match fetch {
            Some(f) => self.handle.block_on(f.read),
            // A chunk not read ahead is read on this thread, from its column files or the
            // database: handing the read to the runtime and waiting for it cost twice the
            // thread switches (a cold 1 M pension province: 8,000 against 4,000 in five runs).
            None => {
                let c = &self.chunks[at];
                let kept = self.kept_to_read(with_keys);
                Ok(self.handle.block_on(fetch_columns(
                    &self.store,
                    (c.import, c.no),
                    names,
                    kept.as_deref(),
                )))
            }
        }
        .map_err(|e| backend(format!("reading a chunk stopped: {e}")))?
        .map_err(backend)?;
        let c = &self.chunks[at];
        let (import, no) = (c.import, c.no);
        let (got, kept) = assemble(stored, names, c.rows)
            .map_err(|e| backend(format!("import {import} chunk {no}: {e}")))?;
        if let (true, Some((key, _))) = (with_keys, &self.kept) {
            if let Some(bytes) = kept {
                self.keep_key_rows(at, key, &bytes);
            }
            self.kept_read.insert(at);
        }
        names
            .iter()
            .zip(got)
            .map(|(name, col)| {
                col.ok_or_else(|| {
                    backend(format!(
                        "import {import} has no column `{name}` (it follows an older schema version)"
                    ))
                })
            })
            .collect()
    }

    /// Starts reading the first of the next few chunks that the cache cannot serve whole, so
    /// that the store reads while the model computes (not when that chunk's import has column
    /// files: [`StoreScan::read`] reads those itself). (Not further: a read far ahead holds a
    /// chunk's bytes for long, and a scan given up early never needs it.)
    fn read_ahead(&mut self, at: usize) {
        if self.ahead.is_some() {
            return;
        }
        let end = (at + 1 + READ_AHEAD_WINDOW).min(self.chunks.len());
        let next = (at + 1..end)
            .map(|i| (i, self.missing(i)))
            .find(|(_, missing)| !missing.is_empty());
        if let Some((i, missing)) = next.filter(|&(i, _)| !self.has_files(i)) {
            let with_keys = self.wants_keys(i);
            self.ahead = Some((i, self.fetch(i, missing, with_keys)));
        }
    }

    /// Whether chunk `at`'s import has column files (read on the scan's thread, not ahead).
    fn has_files(&self, at: usize) -> bool {
        self.with_files.contains(&self.chunks[at].import)
    }

    /// Chunk `at`'s wanted columns: from the cache, else read from the store, decoded and
    /// kept in the cache.
    fn columns(&mut self, at: usize) -> Result<Vec<Arc<StoredColumn>>, SourceError> {
        let wanted: Vec<String> = self.wanted(at).into_iter().map(String::from).collect();
        self.columns_named(at, &wanted)
    }

    /// Chunk `at`'s columns `wanted`, as [`StoreScan::columns`].
    fn columns_named(
        &mut self,
        at: usize,
        wanted: &[String],
    ) -> Result<Vec<Arc<StoredColumn>>, SourceError> {
        let names: Vec<&str> = wanted.iter().map(String::as_str).collect();
        let mut got = self.cached(at, &names);
        let missing = absent(&names, &got);
        if !missing.is_empty() {
            let decoded = self.read(at, &missing)?;
            let c = &self.chunks[at];
            let blocks = self.store.blocks();
            for (name, col) in missing.iter().zip(decoded) {
                let col = Arc::new(col);
                blocks.put(Self::key(c, name), col.clone(), col.heap_bytes());
                let slot = names.iter().position(|n| n == name).unwrap_or_default();
                got[slot] = Some(col);
            }
        }
        self.read_ahead(at);
        got.into_iter()
            .map(|c| c.ok_or_else(|| backend("a decoded chunk lacks a column")))
            .collect()
    }

    /// Chunk `at`'s requested columns, and its region column when some of its rows lie
    /// outside the scan's region (the model's own copy when it asked for that column).
    #[allow(clippy::type_complexity)]
    fn chunk(
        &mut self,
        at: usize,
    ) -> Result<(Vec<Arc<StoredColumn>>, Option<Arc<StoredColumn>>), SourceError> {
        let mut columns = self.columns(at)?;
        if self.all_in(&self.chunks[at]) {
            return Ok((columns, None));
        }
        let region = match self.columns.iter().position(|c| *c == self.region_column) {
            Some(i) => columns.get(i).cloned(),
            None => columns.pop(),
        }
        .ok_or_else(|| backend("chunk lacks its region column"))?;
        Ok((columns, Some(region)))
    }

    /// The cache's key of chunk `at`'s key rows by column `name`.
    fn keys_key(&self, at: usize, name: &str) -> BlockKey {
        let c = &self.chunks[at];
        BlockKey {
            kind: CHUNK_KEYS,
            id: c.import,
            part: c.no,
            name: name.into(),
        }
    }

    /// Chunk `at`'s rows grouped by the keys of its column `key` without reading that
    /// column: from the cache, else (a pseudonym column) from the key rows its import kept,
    /// read from the column files or else the database (unless read with the chunk's columns
    /// already), then kept in the cache; `None` when none are kept (an import made before
    /// imports kept them) or they cannot be used.
    fn kept_key_rows(
        &self,
        at: usize,
        key: &ColumnRequest,
    ) -> Result<Option<Arc<KeyRows>>, SourceError> {
        let blocks = self.store.blocks();
        let cache_key = self.keys_key(at, &key.name);
        if let Some(rows) = blocks.get::<KeyRows>(&cache_key) {
            return Ok(Some(rows));
        }
        if key.ty != ColumnType::Pseudonym || self.kept_read.contains(&at) {
            return Ok(None);
        }
        let c = &self.chunks[at];
        let name = keys::kept_name(&key.name);
        let file = self
            .store
            .column_files()
            .and_then(|f| f.read(c.import, c.no, &name));
        let bytes = match file {
            Some(bytes) => Some(bytes),
            None => self
                .handle
                .block_on(read_kept(&self.store, (c.import, c.no), &name))
                .map_err(|e| backend(format!("reading a chunk's key rows stopped: {e}")))?,
        };
        Ok(bytes.and_then(|bytes| self.keep_key_rows(at, &key.name, &bytes)))
    }

    /// Chunk `at`'s key rows by column `key` from the `bytes` its import kept, kept in the
    /// cache; `None` (and a warning) when they cannot be used, so that they are built.
    fn keep_key_rows(&self, at: usize, key: &str, bytes: &[u8]) -> Option<Arc<KeyRows>> {
        let c = &self.chunks[at];
        let rows = KeyRows::from_bytes(bytes, c.rows)
            .inspect_err(|e| {
                tracing::warn!(
                    import = c.import,
                    chunk = c.no,
                    "kept key rows of `{key}` not used ({e}); building them"
                )
            })
            .ok()?;
        let rows = Arc::new(rows);
        self.store
            .blocks()
            .put(self.keys_key(at, key), rows.clone(), rows.heap_bytes());
        Some(rows)
    }

    /// Chunk `at`'s key rows built from its key column `column` (named `name`), kept in the
    /// cache.
    fn build_key_rows(&self, at: usize, name: &str, column: &StoredColumn) -> Arc<KeyRows> {
        let rows = Arc::new(KeyRows::build(column));
        self.store
            .blocks()
            .put(self.keys_key(at, name), rows.clone(), rows.heap_bytes());
        rows
    }

    fn load(&mut self, at: usize) -> Result<Current, SourceError> {
        let (columns, region) = self.chunk(at)?;
        let rows = columns.first().map_or(0, |c| c.len());
        // The region column filters the rows.
        let selection = region.map(|region| {
            (0..rows)
                .filter(|&i| {
                    region
                        .text_at(i)
                        .is_some_and(|code| region::covers(&self.scope, code))
                })
                .map(|i| i as u32)
                .collect()
        });
        Ok(Current {
            columns,
            selection,
            rows,
            pos: 0,
        })
    }
}

/// Reads columns `names` of a chunk (import, chunk number): their rows of `chunk_columns`, and
/// the chunk's whole blob ([`WHOLE`]) if it was imported before its columns were stored apart.
/// Decode them with [`decode_columns`].
pub(super) async fn read_columns(
    store: &Store,
    (import, no): (i64, i64),
    names: &[String],
) -> Result<Vec<AnyRow>, sqlx::Error> {
    let d = store.dialect();
    let sql = format!(
        "SELECT name, data FROM chunk_columns WHERE import_id = {} AND chunk_no = {} AND name IN {}",
        d.param(1),
        d.param(2),
        d.rows(2, 1, names.len() + 1, "")
    );
    // Placeholders only: the names are bound.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(import).bind(no);
    for name in names {
        q = q.bind(name.as_str());
    }
    q.bind(WHOLE).fetch_all(store.pool()).await
}

/// The bytes of chunk `chunk`'s (import, chunk number) row `name` of `chunk_columns` (here
/// kept key rows, see [`keys::kept_name`]); `None` when it has none.
async fn read_kept(
    store: &Store,
    (import, no): (i64, i64),
    name: &str,
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT data FROM chunk_columns WHERE import_id = $1 AND chunk_no = $2 AND name = $3",
    )
    .bind(import)
    .bind(no)
    .bind(name)
    .fetch_optional(store.pool())
    .await
}

/// Columns `names` decoded from rows read by [`read_columns`], straight from the rows' bytes;
/// `None` for a column the chunk does not have. Fails on a column whose rows are not the
/// chunk's `count`.
pub(super) fn decode_columns(
    rows: &[AnyRow],
    names: &[String],
    count: usize,
) -> Result<Vec<Option<StoredColumn>>, String> {
    let wanted: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut got: Vec<Option<StoredColumn>> = vec![None; names.len()];
    for row in rows {
        let data: &[u8] = row.try_get(1).map_err(|e| e.to_string())?;
        let (n, decoded) = chunk::decode(data, &wanted)?;
        if n != count {
            return Err(format!("a column holds {n} rows, the chunk {count}"));
        }
        for (slot, col) in got.iter_mut().zip(decoded) {
            if slot.is_none() {
                *slot = col;
            }
        }
    }
    Ok(got)
}

/// The names whose column is `None` in `got`.
fn absent(names: &[&str], got: &[Option<Arc<StoredColumn>>]) -> Vec<String> {
    names
        .iter()
        .zip(got)
        .filter(|(_, c)| c.is_none())
        .map(|(n, _)| n.to_string())
        .collect()
}

impl Drop for StoreScan {
    /// A scan given up early does not leave its read-ahead running.
    fn drop(&mut self) {
        if let Some((_, f)) = self.ahead.take() {
            f.read.abort();
        }
    }
}

impl BatchReader for StoreScan {
    fn next_batch(&mut self, max_rows: usize) -> Result<Option<Batch>, SourceError> {
        loop {
            if let Some(cur) = &mut self.current {
                let n = cur.selection.as_ref().map_or(cur.rows, Vec::len);
                if cur.pos < n {
                    let end = (cur.pos + max_rows).min(n);
                    let rows = match &cur.selection {
                        None => Rows::Range(cur.pos..end),
                        Some(sel) => Rows::List(&sel[cur.pos..end]),
                    };
                    let columns = cur
                        .columns
                        .iter()
                        .zip(&self.columns)
                        .map(|(c, name)| c.gather(name, &rows))
                        .collect();
                    let count = (end - cur.pos) as u32;
                    cur.pos = end;
                    return Ok(Some(Batch {
                        rows: count,
                        columns,
                    }));
                }
            }
            let at = self.next_chunk;
            if at >= self.chunks.len() {
                return Ok(None);
            }
            self.next_chunk += 1;
            self.current = Some(self.load(at)?);
        }
    }
}

impl DataSource for StoreSource {
    fn scan(&self, request: &ScanRequest) -> Result<Box<dyn BatchReader>, SourceError> {
        Ok(Box::new(self.reader(request)?))
    }

    /// One part per chunk in scope; each chunk's key rows are read back from its import's
    /// kept key rows (pseudonym keys) or built on its first look-up, and kept in the block
    /// cache beside its decoded columns, so later runs only look up. A chunk's key column is
    /// read only when its key rows must be built or its keys are text.
    fn index(
        &self,
        request: &ScanRequest,
        key: &ColumnRequest,
    ) -> Result<Box<dyn KeyIndex>, SourceError> {
        if !keys::can_be_key(key.ty) {
            return Err(SourceError::BadKey(key.name.clone()));
        }
        // The key column is checked against the schema with the others.
        let mut with_key = request.clone();
        with_key.columns.push(key.clone());
        let mut scan = self.reader_of(self.feed(&with_key)?, request);
        if key.ty == ColumnType::Pseudonym {
            scan.kept = Some((key.name.clone(), keys::kept_name(&key.name)));
        }
        let key_name = [key.name.clone()];
        let mut parts = Vec::with_capacity(scan.chunks.len());
        for at in 0..scan.chunks.len() {
            let (columns, region) = scan.chunk(at)?;
            let kept = scan.kept_key_rows(at, key)?;
            // Text keys are confirmed against their column; word and pseudonym keys are
            // whole in their key rows, so their column is read only to build them.
            let key_column = match (&kept, key.ty) {
                (Some(_), ty) if ty != ColumnType::Text => None,
                _ => scan.columns_named(at, &key_name)?.pop(),
            };
            let keys = match (kept, &key_column) {
                (Some(keys), _) => keys,
                (None, Some(column)) => scan.build_key_rows(at, &key.name, column),
                (None, None) => return Err(backend("a decoded chunk lacks its key column")),
            };
            parts.push(Part {
                columns,
                keys,
                key_column,
                region,
            });
        }
        Ok(Box::new(PartsIndex::new(
            request.columns.clone(),
            key.ty,
            &request.region,
            parts,
        )))
    }
}
