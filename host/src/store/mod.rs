//! The database: a SQLite file by default (created on first use) or PostgreSQL by URL,
//! through sqlx's `Any` driver so every query is written once; migrations per dialect run on
//! open. Also the audit log every state change writes to ([`audit`](mod@audit)).

pub mod audit;
pub mod cache;
pub mod checkpoint;
pub mod files;
mod sqlite_file;

pub use audit::{Entry, audit, audit_all};
pub use cache::{BlockCache, BlockKey, BlockStats};
pub use files::ColumnFiles;

use std::any::Any;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::pool::PoolConnection;
use sqlx::{Any as AnyDb, AnyConnection, AnyPool, Connection, Executor};
use sqlx_core::transaction::TransactionManager;

/// How much of a SQLite file each connection maps into memory (`PRAGMA mmap_size`): none, every
/// page is read with `pread` into the connection's page cache. In WAL mode a connection whose
/// next read finds the log changed since its last one unmaps its whole mapping and maps and
/// faults it in again (`sqlite3PagerSharedLock`), so with the file mapped nearly every read
/// after a commit paid an `munmap` (13 % of the SQLite threads' CPU in a profile of county
/// runs); and mapped pages counted in the process's resident memory (a 10 M cold province
/// peaked near 800 MiB mapped, 450–470 MiB unmapped). Reads of run data mostly come from the
/// column files and the block cache, no longer through SQLite's pages (the mapping once halved
/// a province scan, when they did). Measured in docs/benchmarks.md ("How the platform's path
/// is built", session 37): most of the comparison's rows faster, the nightly cycle a few
/// percent slower. Unmapped, a disk error fails one read instead of stopping the process
/// (`SIGBUS`).
const SQLITE_MMAP_BYTES: u64 = 0;

/// The SQLite pool's connections, all kept open: they serve the reads (this process's writes
/// go through one connection of their own, taken from the pool at open and replaced there).
const SQLITE_READERS: u32 = 8;

/// A statement with its bound values, on either database.
pub type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The embedded default.
    Sqlite,
    /// For several workers.
    Postgres,
}

impl Dialect {
    /// The `n`th (1-based) bound value of a statement that binds its values in order. SQLite
    /// gets `?`: it looks a `$n` up by walking the statement's list of parameter names, when
    /// preparing and again at each bind, so a statement with thousands of them (a multi-row
    /// insert) costs time quadratic in their number; `?` is bound by position. A statement
    /// must then use `?` for every value, never mixed with `$n`.
    pub fn param(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => "?".to_string(),
            Dialect::Postgres => format!("${n}"),
        }
    }

    /// `[$1, $2, $3]` for `n = 3` (SQLite: `?` each): a statement's first `n` bound values,
    /// those every row of a multi-row statement shares (its run, its times). They are bound
    /// once, before the rows' values, and must come first in the statement's text.
    pub fn params(self, n: usize) -> Vec<String> {
        (1..=n).map(|i| self.param(i)).collect()
    }

    /// `($4, $5{tail}), ($6, $7{tail})` for `after = 3`, `rows = 2`, `width = 2` (SQLite: `?`
    /// each, see [`Dialect::param`]): the placeholders of a multi-row statement's `rows` rows
    /// of `width` bound values, numbered after the `after` values bound before them, each row
    /// ending in the same literal SQL `tail`.
    pub fn rows(self, after: usize, rows: usize, width: usize, tail: &str) -> String {
        (0..rows)
            .map(|r| {
                let row: Vec<String> = (1..=width)
                    .map(|c| self.param(after + r * width + c))
                    .collect();
                format!("({}{tail})", row.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The dialect of an open connection.
    pub fn of(conn: &sqlx::AnyConnection) -> Dialect {
        if conn.backend_name().eq_ignore_ascii_case("sqlite") {
            Dialect::Sqlite
        } else {
            Dialect::Postgres
        }
    }
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names neither SQLite nor PostgreSQL.
    #[error("database URL `{0}` is neither sqlite://… nor postgres://…")]
    Url(String),
    /// The URL names an in-memory SQLite database: each of the store's connections would
    /// open one of its own, empty.
    #[error(
        "database URL `{0}` names an in-memory SQLite database, which each of the store's connections would open empty of the others' data: give a file, such as sqlite://data/supervise.db?mode=rwc"
    )]
    InMemory(String),
    /// Could not connect.
    #[error("cannot open database {url}: {source}")]
    Open {
        /// URL with any password removed.
        url: String,
        /// Cause.
        source: sqlx::Error,
    },
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// Could not create a directory the store needs (the database file's, or its column
    /// files').
    #[error("cannot create {path}: {source}")]
    Dir {
        /// Directory.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// A connection pool with its dialect.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
    memo: Memo,
    blocks: BlockCache,
    files: Option<Arc<ColumnFiles>>,
    /// Where imports write their temporary files (see [`Store::temp_dir`]); the system's
    /// temporary directory when `None`.
    temp: Option<Arc<Path>>,
    /// SQLite: the one connection this process writes through, taken in turns (see
    /// [`Store::write_lock`]). `None` on PostgreSQL, whose writers take pooled connections.
    writer: Option<Arc<tokio::sync::Mutex<Slot>>>,
    /// Rung each time this process has queued runs (see [`Store::ring_queued`]).
    queued: Arc<tokio::sync::watch::Sender<u64>>,
}

/// Where the SQLite writer's connection is kept between turns: empty once the connection was
/// found lost (its thread gone), until the next turn opens another.
type Slot = Option<AnyConnection>;

/// Whether `e` means the connection itself is gone (its worker thread stopped, its socket or
/// file handle failed) rather than that a statement failed: such a connection is not written
/// through again.
fn connection_lost(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::WorkerCrashed | sqlx::Error::Io(_))
}

/// This process's turn to write (see [`Store::write_lock`]), with the connection to write
/// through, which it derefs to: on SQLite the writer's own, on PostgreSQL a pooled one.
/// Dropping it lets the next writer in.
#[must_use = "the turn to write ends when the guard is dropped"]
pub struct WriteGuard(Turn);

/// What a [`WriteGuard`] holds.
enum Turn {
    /// The SQLite writer's connection, locked: the slot is filled by [`Store::write_lock`]
    /// and emptied only by [`WriteGuard::note_failure`], after which the turn writes nothing
    /// more.
    Writer(tokio::sync::OwnedMutexGuard<Slot>),
    /// A PostgreSQL connection from the pool.
    Pooled(PoolConnection<AnyDb>),
}

/// The message of the invariant [`Store::write_lock`] keeps.
const SLOT_FILLED: &str = "a turn to write always holds a connection";

impl std::ops::Deref for WriteGuard {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match &self.0 {
            Turn::Writer(slot) => slot.as_ref().expect(SLOT_FILLED),
            Turn::Pooled(conn) => conn,
        }
    }
}

impl std::ops::DerefMut for WriteGuard {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match &mut self.0 {
            Turn::Writer(slot) => slot.as_mut().expect(SLOT_FILLED),
            Turn::Pooled(conn) => conn,
        }
    }
}

impl WriteGuard {
    /// Notes a failure of a statement sent through this turn: when `e` means the connection is
    /// gone, the SQLite writer's connection is let go, so that the next turn writes through a
    /// new one instead of failing the same way until the process restarts. Nothing more is
    /// written through this turn once it has let its connection go. (PostgreSQL's pool pings
    /// a connection before it hands it out again, and replaces one that fails.)
    pub fn note_failure(&mut self, e: &sqlx::Error) {
        if let Turn::Writer(slot) = &mut self.0
            && connection_lost(e)
        {
            tracing::warn!(error = %e, "the SQLite writer's connection was lost; the next write opens another");
            slot.take();
        }
    }

    /// `result` of a statement sent through this turn, its failure noted first (see
    /// [`WriteGuard::note_failure`]).
    pub fn checked<T>(&mut self, result: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
        if let Err(e) = &result {
            self.note_failure(e);
        }
        result
    }
}

/// A transaction that holds this process's turn to write (see [`Store::begin`]). It reads and
/// writes as the connection it derefs to. Dropped before it is committed, it is rolled back
/// (the rollback is sent to the connection at once and runs before its next statement).
#[must_use = "a transaction is rolled back unless committed"]
pub struct WriteTx {
    turn: WriteGuard,
    /// Begun and neither committed nor rolled back yet.
    open: bool,
    dialect: Dialect,
}

/// sqlx's transaction control for the `Any` driver, used on a [`WriteGuard`]'s connection
/// directly: a `sqlx::Transaction` would borrow the connection from the guard it lives beside.
type Control = <AnyDb as sqlx::Database>::TransactionManager;

impl WriteTx {
    /// The database it writes to.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Commits, then lets the next writer in.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        let result = Control::commit(&mut self.turn).await;
        self.end(result)
    }

    /// Rolls back, then lets the next writer in.
    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        let result = Control::rollback(&mut self.turn).await;
        self.end(result)
    }

    /// The transaction's end, as `result` (of its commit or rollback) tells it: ended when it
    /// went through; when the connection was lost, the transaction with it, and the
    /// connection is let go (see [`WriteGuard::note_failure`]).
    fn end(&mut self, result: Result<(), sqlx::Error>) -> Result<(), sqlx::Error> {
        let lost = result.as_ref().is_err_and(connection_lost);
        if result.is_ok() || lost {
            self.open = false;
        }
        self.turn.checked(result)
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if self.open {
            // Queued on the connection before the turn passes on with the guard.
            Control::start_rollback(&mut self.turn);
        }
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &Self::Target {
        &self.turn
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.turn
    }
}

impl std::fmt::Debug for WriteTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteTx")
    }
}

impl std::fmt::Debug for WriteGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Turn::Writer(_) => "WriteGuard(writer)",
            Turn::Pooled(_) => "WriteGuard(pooled)",
        })
    }
}

/// Facts derived from rows that never change once committed (an import's schema version and
/// chunk list), kept beside the pool so that every run does not read them again. Shared by
/// the store's clones; a new store starts empty.
#[derive(Clone, Default)]
struct Memo(Arc<Mutex<HashMap<(&'static str, i64), Fact>>>);

/// One remembered fact, of whatever type its kind holds.
type Fact = Arc<dyn Any + Send + Sync>;

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Memo")
    }
}

/// Most facts kept; beyond it the memo starts again (a province has hundreds of imports).
const MEMO_ENTRIES: usize = 100_000;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What every SQLite connection is set to when it opens: write-ahead log, foreign keys, a
/// busy timeout, the file read rather than mapped (see [`SQLITE_MMAP_BYTES`]), checkpoints
/// left to [`checkpoint`].
async fn sqlite_settings(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    let pragmas = format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
         PRAGMA mmap_size = {SQLITE_MMAP_BYTES}; \
         PRAGMA wal_autocheckpoint = {};",
        checkpoint::AUTOCHECKPOINT_PAGES
    );
    conn.execute(sqlx::AssertSqlSafe(pragmas)).await?;
    Ok(())
}

/// The URL without a password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

impl Store {
    /// The default database: a SQLite file in `dir`.
    pub fn default_url(dir: &Path) -> String {
        format!("sqlite://{}?mode=rwc", dir.join("supervise.db").display())
    }

    /// Opens (creating a SQLite file if needed) and migrates.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            return Err(StoreError::Url(url.to_string()));
        };
        if dialect == Dialect::Sqlite {
            let path = url
                .trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:");
            let (path, query) = path.split_once('?').unwrap_or((path, ""));
            if path == ":memory:" || query.split('&').any(|p| p == "mode=memory") {
                return Err(StoreError::InMemory(url.to_string()));
            }
            sqlite_file::prepare(Path::new(path), query)?;
            // A file not yet in the write-ahead log (a new one) turns to it on one connection
            // first: the change takes the file for itself, and the pool's connections, opened
            // at once, would race for it (the losers fail with "database is locked"). The mode
            // stays with the file, so later starts skip this.
            if sqlite_file::needs_wal(Path::new(path)) {
                let opened = async {
                    let mut first = AnyConnection::connect(url).await?;
                    sqlite_settings(&mut first).await?;
                    first.close().await
                };
                opened.await.map_err(|source| StoreError::Open {
                    url: redact(url),
                    source,
                })?;
            }
        }
        let mut options = AnyPoolOptions::new().max_connections(match dialect {
            Dialect::Sqlite => SQLITE_READERS,
            Dialect::Postgres => 16,
        });
        if dialect == Dialect::Postgres {
            // Plan every execution with its parameters: the same statement serves a county
            // (a thousandth of the clues) and the province (all of them), and a cached generic
            // plan chosen for one is ruinous for the other. Random reads cost little more
            // than sequential ones on the SSDs this runs on, which makes ordered index walks
            // for paged queries look as cheap as they are.
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(
                        "SET plan_cache_mode = force_custom_plan; SET random_page_cost = 1.1",
                    )
                    .await?;
                    Ok(())
                })
            });
        }
        if dialect == Dialect::Sqlite {
            // A SQLite connection is a file handle in this process, not a socket that a
            // server restart can cut: pinging it before every use (the pool's default) only
            // added a round trip to the connection's thread to each statement outside a
            // transaction. PostgreSQL's connections keep the check.
            options = options.test_before_acquire(false);
            // All opened at once and kept: a connection opened when a run's reads first need
            // it (its settings applied, its schema read) cost that run half a millisecond or
            // more on its path, and a file handle has nothing to gain from being closed when
            // idle or recycled by age (PostgreSQL's connections keep the pool's defaults).
            options = options
                .min_connections(SQLITE_READERS)
                .idle_timeout(None)
                .max_lifetime(None);
            options = options.after_connect(|conn, _| Box::pin(sqlite_settings(conn)));
        }
        let pool = options
            .connect(url)
            .await
            .map_err(|source| StoreError::Open {
                url: redact(url),
                source,
            })?;
        match dialect {
            Dialect::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
            Dialect::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
        }
        let writer = match dialect {
            Dialect::Sqlite => {
                checkpoint::spawn(pool.clone());
                // Taken out of the pool (which opens another in its place), so that it is
                // opened and set up as the pool's are.
                let conn = pool.acquire().await.map_err(|source| StoreError::Open {
                    url: redact(url),
                    source,
                })?;
                Some(Arc::new(tokio::sync::Mutex::new(Some(conn.detach()))))
            }
            Dialect::Postgres => None,
        };
        Ok(Store {
            pool,
            dialect,
            memo: Memo::default(),
            blocks: BlockCache::default(),
            files: None,
            temp: None,
            writer,
            queued: Arc::new(tokio::sync::watch::Sender::new(0)),
        })
    }

    /// This store, keeping copies of its imports' columns as files under `root` (see
    /// [`files`]): made as an import commits, read by runs instead of the database. Files of
    /// imports the database does not hold (it was restored from an older backup) are removed.
    pub async fn with_column_files(mut self, root: &Path) -> Result<Store, StoreError> {
        let identity: String = sqlx::query_scalar("SELECT id FROM store_identity")
            .fetch_one(&self.pool)
            .await?;
        let committed: std::collections::HashSet<i64> =
            sqlx::query_scalar("SELECT id FROM imports")
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .collect();
        let dir_error = |source| StoreError::Dir {
            path: root.display().to_string(),
            source,
        };
        let files = ColumnFiles::open(root, &identity).map_err(dir_error)?;
        files.retain(&committed).map_err(dir_error)?;
        self.files = Some(Arc::new(files));
        Ok(self)
    }

    /// This store, its imports writing their temporary files (rows set aside until they fill
    /// a chunk, the key check's buckets: up to about 1.6 times the file imported) under `dir`,
    /// made if missing (the owner's alone). A directory on the store's own disk keeps
    /// them out of memory where the system's temporary directory is a `tmpfs`.
    pub fn with_temp_dir(mut self, dir: &Path) -> Result<Store, StoreError> {
        files::make_dir(dir).map_err(|source| StoreError::Dir {
            path: dir.display().to_string(),
            source,
        })?;
        self.temp = Some(Arc::from(dir));
        Ok(self)
    }

    /// Where imports write their temporary files: the directory given to
    /// [`Store::with_temp_dir`], else the system's (`TMPDIR`).
    pub fn temp_dir(&self) -> std::path::PathBuf {
        self.temp
            .as_deref()
            .map_or_else(std::env::temp_dir, Path::to_path_buf)
    }

    /// This store without its column files: its runs read every column they lack in memory
    /// from the database (what a store opened without them does).
    pub fn without_column_files(&self) -> Store {
        Store {
            files: None,
            ..self.clone()
        }
    }

    /// The column files, when this store keeps them (see [`Store::with_column_files`]).
    pub fn column_files(&self) -> Option<&Arc<ColumnFiles>> {
        self.files.as_ref()
    }

    /// A fact remembered by [`Store::remember`] under (`kind`, `id`), if any. Only for facts
    /// of immutable rows: nothing ever invalidates them.
    pub fn recall<T: Any + Send + Sync>(&self, kind: &'static str, id: i64) -> Option<Arc<T>> {
        let memo = self.memo.0.lock().unwrap_or_else(|p| p.into_inner());
        memo.get(&(kind, id)).cloned()?.downcast().ok()
    }

    /// Remembers a fact of an immutable row (see [`Store::recall`]).
    pub fn remember<T: Any + Send + Sync>(&self, kind: &'static str, id: i64, fact: Arc<T>) {
        let mut memo = self.memo.0.lock().unwrap_or_else(|p| p.into_inner());
        if memo.len() >= MEMO_ENTRIES {
            memo.clear();
        }
        memo.insert((kind, id), fact);
    }

    /// Tells this process's workers that runs were queued (or became runnable again): call it
    /// once they are committed. A worker wakes at once instead of at its next poll, and one
    /// that found nothing due asks the store again only after a ring or a poll (see
    /// [`crate::runs::Worker::run`]). Runs queued by other processes are found at the poll.
    pub fn ring_queued(&self) {
        self.queued.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Sees every [`Store::ring_queued`] of this process from now on.
    pub fn queued_bell(&self) -> tokio::sync::watch::Receiver<u64> {
        self.queued.subscribe()
    }

    /// Large values derived from immutable rows (decoded column chunks), kept up to a byte
    /// budget (see [`BlockCache`]).
    pub fn blocks(&self) -> &BlockCache {
        &self.blocks
    }

    /// Waits for this process's turn to write, and returns it with the connection to write
    /// through. A SQLite file has one writer at a time: this process writes through one
    /// connection of its own, taken in turns, in order, each writer waking as soon as the one
    /// before it is done (a pooled connection that found the file locked would sleep in
    /// SQLite's busy handler, 1, 2, 5, 10 ms…, before trying again). Keeping to one connection
    /// also keeps its prepared statements and its page cache, which another connection's
    /// write would empty: a statement is prepared once, not again on whichever of the pool's
    /// connections comes next. Other processes on the same file still meet the busy handler.
    /// PostgreSQL locks rows, not the database: there it is a pooled connection, taken at
    /// once.
    ///
    /// Never take it while holding it (it is not re-entrant): a function that writes within
    /// a transaction it was given must not call one that begins its own (or wait for a task
    /// that does) before that transaction ends.
    ///
    /// A writer's connection found lost (see [`WriteGuard::note_failure`]) is replaced by a new one
    /// from the pool when the next turn begins.
    pub async fn write_lock(&self) -> Result<WriteGuard, sqlx::Error> {
        let Some(writer) = &self.writer else {
            return Ok(WriteGuard(Turn::Pooled(self.pool.acquire().await?)));
        };
        let mut slot = writer.clone().lock_owned().await;
        if slot.is_none() {
            *slot = Some(self.pool.acquire().await?.detach());
            tracing::info!("the SQLite writer writes through a new connection");
        }
        Ok(WriteGuard(Turn::Writer(slot)))
    }

    /// Begins a transaction that writes, in this process's turn (see [`Store::write_lock`]);
    /// the turn passes on when the transaction is committed, rolled back or dropped.
    ///
    /// On SQLite it takes the file's write lock at once (`BEGIN IMMEDIATE`). A transaction
    /// begun deferred reads from a snapshot and asks for the lock at its first write; if any
    /// other connection committed in between (a heartbeat, another process) that write fails
    /// at once with "database is locked" (`SQLITE_BUSY_SNAPSHOT`), which no busy handler can
    /// wait out. Taken first, the lock is waited for in the busy handler instead.
    pub async fn begin(&self) -> Result<WriteTx, sqlx::Error> {
        let statement = || match self.dialect {
            Dialect::Sqlite => Some(sqlx::SqlStr::from_static("BEGIN IMMEDIATE")),
            Dialect::Postgres => None,
        };
        let mut turn = self.write_lock().await?;
        let begun = Control::begin(&mut turn, statement()).await;
        if let Err(e) = turn.checked(begun) {
            if !connection_lost(&e) {
                return Err(e);
            }
            // Nothing was written yet: begin again, once, on a new connection.
            drop(turn);
            turn = self.write_lock().await?;
            let begun = Control::begin(&mut turn, statement()).await;
            turn.checked(begun)?;
        }
        Ok(WriteTx {
            turn,
            open: true,
            dialect: self.dialect,
        })
    }

    /// Refreshes the statistics the query planner chooses indexes by (SQLite: `PRAGMA
    /// optimize`, which analyses only tables that changed much; PostgreSQL: `VACUUM (ANALYZE)`,
    /// which also marks pages all-visible so that counts read indexes alone). The server runs
    /// it at start and hourly; cheap when little changed.
    pub async fn optimize(&self) -> Result<(), StoreError> {
        let sql = match self.dialect {
            Dialect::Sqlite => "PRAGMA analysis_limit = 2000; PRAGMA optimize = 0x10002;",
            Dialect::Postgres => "VACUUM (ANALYZE)",
        };
        self.pool.execute(sql).await?;
        Ok(())
    }

    /// The pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The dialect.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }
}

#[cfg(test)]
mod tests {
    use super::{SQLITE_MMAP_BYTES, Store, WriteTx, redact};
    use sqlx::Row;

    /// The settings of the connection `c`: journal mode, mapped bytes, foreign keys,
    /// pages between automatic checkpoints.
    async fn settings(c: &mut sqlx::AnyConnection) -> (String, i64, i64, i64) {
        let mut one = async |sql: &'static str| sqlx::query(sql).fetch_one(&mut *c).await.unwrap();
        let mode: String = one("PRAGMA journal_mode").await.get(0);
        let mmap: i64 = one("PRAGMA mmap_size").await.get(0);
        let fk: i64 = one("PRAGMA foreign_keys").await.get(0);
        let autocheckpoint: i64 = one("PRAGMA wal_autocheckpoint").await.get(0);
        (mode, mmap, fk, autocheckpoint)
    }

    #[tokio::test]
    async fn every_sqlite_connection_gets_the_settings() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&Store::default_url(dir.path())).await.unwrap();
        let expected = (
            "wal".to_string(),
            SQLITE_MMAP_BYTES as i64,
            1,
            i64::from(super::checkpoint::AUTOCHECKPOINT_PAGES),
        );
        let mut conns = Vec::new();
        for _ in 0..3 {
            conns.push(store.pool().acquire().await.unwrap());
        }
        for c in &mut conns {
            assert_eq!(settings(c).await, expected);
        }
        let mut writer = store.write_lock().await.unwrap();
        assert_eq!(
            settings(&mut writer).await,
            expected,
            "the writer's own connection"
        );
    }

    #[tokio::test]
    async fn the_sqlite_pool_opens_its_connections_at_once_and_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&Store::default_url(dir.path())).await.unwrap();
        // Opened with the store; the one taken for the writer is replaced in the background.
        let full = async {
            while store.pool().size() < super::SQLITE_READERS {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), full)
            .await
            .expect("the pool opens all its connections");
        let options = store.pool().options();
        assert_eq!(options.get_idle_timeout(), None, "never closed when idle");
        assert_eq!(options.get_max_lifetime(), None, "never recycled by age");
    }

    /// Counts the ERROR events of the subscriber it is a layer of.
    #[derive(Clone, Default)]
    struct Errors(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Errors {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            if *event.metadata().level() == tracing::Level::ERROR {
                self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    // A new file is in rollback-journal mode until a connection sets it to the write-ahead
    // log, which takes the file for itself: the pool's connections, opened at once on a
    // runtime's threads, must not race for that (the loser's settings failed with "database
    // is locked", an error in the log of one first start in ten here, before the pool opened
    // that connection again). Two hundred new databases (with the race, about one in fifty
    // logged it), the pool's errors counted, and shown, on every thread.
    #[test]
    fn a_new_database_opens_every_connection_at_the_first_try() {
        use tracing_subscriber::Layer;
        use tracing_subscriber::layer::SubscriberExt;
        let errors = Errors::default();
        let dispatch = tracing::Dispatch::new(
            tracing_subscriber::registry().with(errors.clone()).with(
                tracing_subscriber::fmt::layer()
                    .with_test_writer()
                    .with_filter(tracing_subscriber::filter::LevelFilter::ERROR),
            ),
        );
        let on_start = dispatch.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            // The runtime's threads end with it, and their default with them.
            .on_thread_start(move || std::mem::forget(tracing::dispatcher::set_default(&on_start)))
            .build()
            .unwrap();
        let _here = tracing::dispatcher::set_default(&dispatch);
        runtime.block_on(async {
            for _ in 0..200 {
                let dir = tempfile::tempdir().unwrap();
                let store = Store::open(&Store::default_url(dir.path())).await.unwrap();
                while store.pool().size() < super::SQLITE_READERS {
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                }
                // Every connection opened and closed before the file goes with `dir`.
                store.pool().close().await;
            }
        });
        assert_eq!(
            errors.0.load(std::sync::atomic::Ordering::Relaxed),
            0,
            "errors logged while opening new databases"
        );
    }

    /// What `snapshots` holds, read through the pool (not the writer's connection).
    async fn snapshot_keys(store: &Store) -> Vec<String> {
        sqlx::query_scalar("SELECT content_sha256 FROM snapshots ORDER BY content_sha256")
            .fetch_all(store.pool())
            .await
            .unwrap()
    }

    async fn add_snapshot(tx: &mut WriteTx, key: &str) {
        sqlx::query(
            "INSERT INTO snapshots (content_sha256, entries_json, created_at_ms) VALUES ($1, '[]', 1)",
        )
        .bind(key)
        .execute(&mut **tx)
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn a_write_dropped_or_rolled_back_leaves_nothing_and_the_next_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&Store::default_url(dir.path())).await.unwrap();
        {
            let mut dropped = store.begin().await.unwrap();
            add_snapshot(&mut dropped, "dropped").await;
        }
        let mut rolled_back = store.begin().await.unwrap();
        add_snapshot(&mut rolled_back, "rolled back").await;
        rolled_back.rollback().await.unwrap();
        let mut committed = store.begin().await.unwrap();
        add_snapshot(&mut committed, "committed").await;
        committed.commit().await.unwrap();
        assert_eq!(snapshot_keys(&store).await, ["committed"]);
        // Dropped, it lets go of the file's write lock too: another connection's write goes
        // through (rather than timing out in the busy handler).
        let mut dropped = store.begin().await.unwrap();
        add_snapshot(&mut dropped, "dropped").await;
        drop(dropped);
        sqlx::query("INSERT INTO snapshots (content_sha256, entries_json, created_at_ms) VALUES ('pool', '[]', 1)")
            .execute(store.pool())
            .await
            .expect("the file is not left locked");
        assert_eq!(snapshot_keys(&store).await, ["committed", "pool"]);
    }

    #[tokio::test]
    async fn a_begin_given_up_while_it_waits_for_the_file_leaves_the_writer_usable() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&Store::default_url(dir.path())).await.unwrap();
        // Another connection holds the file's write lock, so the writer's BEGIN waits in the
        // busy handler; its caller gives up (a request dropped), and the BEGIN goes through
        // later, with no one to end it.
        let other = store.pool().begin_with("BEGIN IMMEDIATE").await.unwrap();
        let waited = tokio::time::timeout(std::time::Duration::from_millis(100), store.begin());
        assert!(
            waited.await.is_err(),
            "the writer waits for the file's lock"
        );
        other.commit().await.unwrap();
        let mut tx = store
            .begin()
            .await
            .expect("the writer is not left inside the abandoned transaction");
        add_snapshot(&mut tx, "after").await;
        tx.commit().await.unwrap();
        assert_eq!(snapshot_keys(&store).await, ["after"]);
    }

    #[tokio::test]
    async fn a_lost_writer_connection_is_replaced_at_the_next_turn() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&Store::default_url(dir.path())).await.unwrap();
        // A table only the writer's current connection sees.
        let marker = "SELECT count(*) FROM temp.marker";
        let mut turn = store.write_lock().await.unwrap();
        sqlx::query("CREATE TEMP TABLE marker (x)")
            .execute(&mut *turn)
            .await
            .unwrap();
        // A statement's own failure keeps the connection.
        turn.note_failure(&sqlx::Error::RowNotFound);
        drop(turn);
        let mut turn = store.write_lock().await.unwrap();
        sqlx::query(marker)
            .fetch_one(&mut *turn)
            .await
            .expect("the same connection");
        // A failure of the connection itself lets it go: the next turn opens another, set
        // up as the pool's are, and writes through it.
        turn.note_failure(&sqlx::Error::WorkerCrashed);
        drop(turn);
        let mut tx = store.begin().await.unwrap();
        let err = sqlx::query(marker)
            .fetch_one(&mut *tx)
            .await
            .err()
            .expect("the table is not there");
        assert!(err.to_string().contains("no such table"), "{err}");
        add_snapshot(&mut tx, "after").await;
        tx.commit().await.unwrap();
        assert_eq!(snapshot_keys(&store).await, ["after"]);
        let mut writer = store.write_lock().await.unwrap();
        let (mode, _, foreign_keys, _) = settings(&mut writer).await;
        assert_eq!(mode, "wal");
        assert_eq!(foreign_keys, 1, "foreign keys on");
    }

    #[tokio::test]
    async fn an_in_memory_database_is_refused_with_what_to_give_instead() {
        for url in ["sqlite::memory:", "sqlite://x.db?mode=memory&cache=shared"] {
            let e = Store::open(url).await.unwrap_err().to_string();
            assert!(
                e.contains("in-memory SQLite database") && e.contains("give a file"),
                "{url}: {e}"
            );
        }
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
