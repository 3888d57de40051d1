//! Column files: copies of imported columns on local disk, read by runs instead of the
//! database when their columns are not in memory.

use std::path::Path;

use supervise::datasets::feed::StoreSource;
use supervise::datasets::import::{self, ImportRequest, Mode};
use supervise::datasets::snapshot::Snapshot;
use supervise::runtime::bindings::{Batch, ColumnType, ColumnValues};
use supervise::runtime::source::{ColumnRequest, DataSource, ScanRequest};
use supervise::store::Store;

use crate::support::*;

/// Imports `rows` payments into `store` (two counties, more than one chunk each way).
/// The import replaces the dataset's earlier ones.
async fn import_payments(db: &TestDb, store: &Store, name: &str, rows: usize) -> i64 {
    let mut csv = String::from("payment_id,id_number,pay_date,amount,region_code\n");
    for i in 0..rows {
        let county = if i % 3 == 0 { "330103" } else { "330102" };
        csv.push_str(&format!(
            "{name}{i:07},{},2024-01-15,{i},{county}\n",
            person(i % 5_000)
        ));
    }
    let mut req = ImportRequest::new(
        "pension_payments",
        file(db, &format!("{name}.csv"), &csv),
        "test",
    );
    req.mode = Mode::Replace;
    import::import(store, &key(), &req)
        .await
        .expect("import")
        .id
}

/// The people the tests look up: three with payments, and person 5,000, who has none.
const PEOPLE: [usize; 4] = [0, 7, 4_999, 5_000];

/// How many of the `rows` payments [`import_payments`] imports are [`PEOPLE`]'s.
fn paid(rows: usize) -> usize {
    (0..rows).filter(|i| PEOPLE.contains(&(i % 5_000))).count()
}

/// The identity number of person `n`.
fn person(n: usize) -> String {
    format!("33010219500101{n:04}")
}

/// The payment ids of persons `people` under `region`, looked up by identity number through
/// `store` with an empty column cache.
async fn look_up(store: &Store, region: &str, people: &[usize]) -> Vec<String> {
    store.blocks().clear();
    let snap = Snapshot::current(store, &["pension_payments"])
        .await
        .expect("snapshot");
    let source = StoreSource::new(store, &snap).await.expect("source");
    let keys: Vec<u64> = people
        .iter()
        .flat_map(|&n| key().pseudonym(&person(n)))
        .collect();
    let request = payment_id_scan(region);
    tokio::task::spawn_blocking(move || {
        let mut index = source.index(&request, &id_number_key()).expect("index");
        let (batch, _) = index
            .get_many(&ColumnValues::Pseudonym(keys), usize::MAX)
            .expect("look-up")
            .expect("under the cap");
        payment_ids(&batch)
    })
    .await
    .expect("join")
}

/// Every payment id and amount of the current snapshot under `region`, read through `store`
/// with an empty column cache; the error's text when the read fails.
async fn read(store: &Store, region: &str) -> Result<Vec<(String, i64)>, String> {
    store.blocks().clear();
    let snap = Snapshot::current(store, &["pension_payments"])
        .await
        .expect("snapshot");
    let source = StoreSource::new(store, &snap).await.expect("source");
    let request = ScanRequest {
        dataset: "pension_payments".into(),
        columns: vec![
            ColumnRequest {
                name: "payment_id".into(),
                ty: ColumnType::Text,
            },
            ColumnRequest {
                name: "amount".into(),
                ty: ColumnType::Decimal,
            },
        ],
        region: region.into(),
    };
    tokio::task::spawn_blocking(move || {
        let mut scan = source.scan(&request).map_err(|e| e.to_string())?;
        let mut seen = Vec::new();
        while let Some(batch) = scan.next_batch(5_000).map_err(|e| e.to_string())? {
            seen.extend(rows_of(&batch));
        }
        Ok(seen)
    })
    .await
    .expect("join")
}

fn rows_of(batch: &Batch) -> Vec<(String, i64)> {
    let (ColumnValues::Text(ids), ColumnValues::Decimal(amounts)) =
        (&batch.columns[0].values, &batch.columns[1].values)
    else {
        panic!("payment_id is text, amount decimal");
    };
    ids.offsets
        .windows(2)
        .map(|w| String::from_utf8(ids.data[w[0] as usize..w[1] as usize].to_vec()).expect("utf-8"))
        .zip(amounts.iter().copied())
        .collect()
}

/// `store` keeping its column files under `root`.
async fn with_files(store: &Store, root: &Path) -> Store {
    store
        .clone()
        .with_column_files(root)
        .await
        .expect("column files")
}

/// The names of the files of import `import` under `dir`, the column names decoded.
fn files_of(dir: &Path, import: i64) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join(import.to_string())) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let (chunk, column) = name.split_once('.').expect("chunk.column");
            let column = String::from_utf8(hex::decode(column).expect("hex")).expect("utf-8");
            format!("{chunk}.{column}")
        })
        .collect();
    names.sort();
    names
}

async fn columns_are_read_from_their_files_and_the_database_stays_the_record(db: &TestDb) {
    load_regions(db).await;
    define(db, "pension_payments").await;
    let rows = 2 * supervise::datasets::chunk::CHUNK_ROWS + 500;
    // Imported by a store that keeps no column files: none are made, and runs read the
    // database.
    let first = import_payments(db, &db.store, "A", rows).await;
    let root = db.dir.path().join("columns");
    let with_files = with_files(&db.store, &root).await;
    let dir = with_files
        .column_files()
        .expect("files")
        .dir()
        .to_path_buf();
    let expected = read(&db.store, "330000").await.expect("read");
    assert_eq!(expected.len(), rows);
    assert_eq!(read(&with_files, "330000").await.as_ref(), Ok(&expected));
    assert!(files_of(&dir, first).is_empty(), "runs make no files");

    // An import through the files' store makes its files as it commits: every column of
    // every chunk (two counties, three chunks), never the raw identifiers.
    let second = import_payments(db, &with_files, "B", rows).await;
    let made = files_of(&dir, second);
    assert_eq!(
        made.len(),
        3 * 6,
        "five columns and the key rows of `id_number`, per chunk: {made:?}"
    );
    assert!(!made.iter().any(|f| f.contains("raw:")), "{made:?}");

    // A look-up reads the key rows the import kept (pseudonym columns) from its files: the
    // same rows as a store without files finds, and the same again with the files damaged.
    let people = PEOPLE;
    let want_looked_up = look_up(&db.store, "330000", &people).await;
    assert_eq!(want_looked_up.len(), paid(rows), "person 5,000 has none");
    assert_eq!(
        look_up(&with_files, "330000", &people).await,
        want_looked_up
    );
    // Kept key rows are enough: the key column itself is not read, neither its files (here
    // removed) nor its database copy (here made unreadable, then put back).
    let saved = stored(db, second, "id_number").await;
    set_rows(db, second, "id_number", &[0; 4]).await;
    for (no, _) in &saved {
        let file = dir
            .join(second.to_string())
            .join(format!("{no}.{}", hex::encode("id_number")));
        std::fs::remove_file(&file).expect("the key column's file");
    }
    assert_eq!(
        look_up(&with_files, "330000", &people).await,
        want_looked_up
    );
    put_back(db, second, "id_number", &saved).await;

    let kept = dir
        .join(second.to_string())
        .join(format!("1.{}", hex::encode("keys:id_number")));
    let mut bytes = std::fs::read(&kept).expect("kept key rows");
    bytes[20] ^= 1;
    std::fs::write(&kept, &bytes).expect("damage");
    assert_eq!(
        look_up(&with_files, "330000", &people).await,
        want_looked_up
    );
    assert!(!kept.exists(), "the damaged key rows are removed");

    // With the database's copy of two columns made unreadable, the files still serve them.
    let want = read(&db.store, "330103").await.expect("read the database");
    assert_eq!(want.len(), rows.div_ceil(3));
    sqlx::query("UPDATE chunk_columns SET data = $1 WHERE name IN ('payment_id', 'amount')")
        .bind(vec![0u8; 4])
        .execute(db.store.pool())
        .await
        .expect("corrupt");
    let county = read(&with_files, "330103")
        .await
        .expect("read from the files");
    assert!(county == want, "the files give the rows the database gave");
    let err = read(&db.store, "330103")
        .await
        .expect_err("the database's copy");
    assert!(err.contains("not a column chunk"), "{err}");

    // A damaged file is not read: the run goes to the database (here unreadable, so it
    // fails and says so) and the damaged file is removed.
    let victim = dir
        .join(second.to_string())
        .join(format!("0.{}", hex::encode("amount")));
    let mut bytes = std::fs::read(&victim).expect("file");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&victim, &bytes).expect("damage");
    let err = read(&with_files, "330000").await.expect_err("damaged");
    assert!(err.contains("not a column chunk"), "{err}");
    assert!(!victim.exists());

    // An import that fails leaves no files behind, staged or not.
    let bad = file(
        db,
        "bad.csv",
        "payment_id,id_number,pay_date,amount,region_code\nX,1,not a date,1,330102\n",
    );
    import::import(
        &with_files,
        &key(),
        &ImportRequest::new("pension_payments", bad, "test"),
    )
    .await
    .expect_err("a bad date");
    let left: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, [second.to_string()]);
}
both!(columns_are_read_from_their_files_and_the_database_stays_the_record);

async fn each_database_keeps_its_files_apart(db: &TestDb) {
    let other = sqlite().await;
    let root = db.dir.path().join("columns");
    let (a, b) = (
        with_files(&db.store, &root).await,
        with_files(&other.store, &root).await,
    );
    let (a, b) = (a.column_files().expect("a"), b.column_files().expect("b"));
    assert_ne!(
        a.dir(),
        b.dir(),
        "import 1 of one is not import 1 of the other"
    );
    assert_eq!(a.dir().parent(), Some(root.as_path()));
    other.cleanup().await;
}
both!(each_database_keeps_its_files_apart);

async fn imports_made_without_files_get_them_on_demand(db: &TestDb) {
    load_regions(db).await;
    define(db, "pension_payments").await;
    let rows = 2 * supervise::datasets::chunk::CHUNK_ROWS + 500;
    let import = import_payments(db, &db.store, "A", rows).await;
    let store = with_files(&db.store, &db.dir.path().join("columns")).await;
    let dir = store.column_files().expect("files").dir().to_path_buf();
    assert!(files_of(&dir, import).is_empty());

    // As an import made before imports kept key rows: the files' key rows are built.
    sqlx::query("DELETE FROM chunk_columns WHERE name = 'keys:id_number'")
        .execute(db.store.pool())
        .await
        .expect("forget the kept key rows");

    let written = supervise::datasets::files::write_missing(&store, false)
        .await
        .expect("write");
    assert_eq!(written.len(), 1);
    assert_eq!(
        (written[0].import, written[0].files, written[0].whole_chunks),
        (import, 3 * 6, 0)
    );
    let made = files_of(&dir, import);
    assert_eq!(made.len(), 18, "{made:?}");
    assert!(!made.iter().any(|f| f.contains("raw:")), "{made:?}");
    let again = supervise::datasets::files::write_missing(&store, false)
        .await
        .expect("again");
    assert!(again.is_empty(), "nothing left to write: {again:?}");

    // Runs now read them: the database's copy made unreadable, the files serve the rows.
    let want = read(&db.store, "330000").await.expect("read the database");
    sqlx::query("UPDATE chunk_columns SET data = $1 WHERE name IN ('payment_id', 'amount')")
        .bind(vec![0u8; 4])
        .execute(db.store.pool())
        .await
        .expect("corrupt");
    let got = read(&store, "330000").await.expect("read the files");
    assert!(got == want, "the files give the rows the database gave");
}
both!(imports_made_without_files_get_them_on_demand);

/// Import `import`'s `chunk_columns` rows named `name`: (chunk number, data), by chunk.
async fn stored(db: &TestDb, import: i64, name: &str) -> Vec<(i64, Vec<u8>)> {
    sqlx::query_as(
        "SELECT chunk_no, data FROM chunk_columns WHERE import_id = $1 AND name = $2 \
         ORDER BY chunk_no",
    )
    .bind(import)
    .bind(name)
    .fetch_all(db.store.pool())
    .await
    .expect("stored rows")
}

/// Puts import `import`'s `chunk_columns` rows named `name` back as [`stored`] read them.
async fn put_back(db: &TestDb, import: i64, name: &str, rows: &[(i64, Vec<u8>)]) {
    for (no, data) in rows {
        sqlx::query(
            "UPDATE chunk_columns SET data = $1 WHERE import_id = $2 AND chunk_no = $3 \
             AND name = $4",
        )
        .bind(data)
        .bind(import)
        .bind(no)
        .bind(name)
        .execute(db.store.pool())
        .await
        .expect("put back");
    }
}

/// Sets the data of import `import`'s `chunk_columns` rows named `name` to `data`.
async fn set_rows(db: &TestDb, import: i64, name: &str, data: &[u8]) {
    sqlx::query("UPDATE chunk_columns SET data = $1 WHERE import_id = $2 AND name = $3")
        .bind(data.to_vec())
        .bind(import)
        .bind(name)
        .execute(db.store.pool())
        .await
        .expect("update");
}

async fn a_store_without_files_looks_up_through_the_key_rows_its_import_kept(db: &TestDb) {
    load_regions(db).await;
    define(db, "pension_payments").await;
    let rows = 2 * supervise::datasets::chunk::CHUNK_ROWS + 500;
    let import = import_payments(db, &db.store, "A", rows).await;
    let kept = stored(db, import, "keys:id_number").await;
    assert_eq!(kept.len(), 3, "one per chunk, beside the key column");
    assert!(kept.iter().all(|(_, b)| b.starts_with(b"SVK1")));

    let people = PEOPLE;
    let want = look_up(&db.store, "330000", &people).await;
    assert_eq!(want.len(), paid(rows), "person 5,000 has none");
    assert_eq!(
        look_up(&db.store, "330103", &people).await.len(),
        paid(rows).div_ceil(3)
    );

    // The key column itself is not read: made unreadable, the look-up gives the same rows.
    let column = stored(db, import, "id_number").await;
    set_rows(db, import, "id_number", &[0; 4]).await;
    assert_eq!(look_up(&db.store, "330000", &people).await, want);

    // Kept key rows that cannot be used are not: the rows are built from the key column
    // (put back), the same as before; so they are with none kept (an older import).
    put_back(db, import, "id_number", &column).await;
    set_rows(db, import, "keys:id_number", b"SVK1 cut short").await;
    assert_eq!(look_up(&db.store, "330000", &people).await, want);
    sqlx::query("DELETE FROM chunk_columns WHERE name = 'keys:id_number'")
        .execute(db.store.pool())
        .await
        .expect("forget them");
    assert_eq!(look_up(&db.store, "330000", &people).await, want);
}
both!(a_store_without_files_looks_up_through_the_key_rows_its_import_kept);

/// The column cache's misses while `payment_id` is read under `region` with an empty cache:
/// by a look-up of [`PEOPLE`] when `look`, else by a scan.
async fn misses_reading_ids(store: &Store, region: &str, look: bool) -> u64 {
    let before = store.blocks().stats().misses;
    if look {
        look_up(store, region, &PEOPLE).await;
    } else {
        store.blocks().clear();
        let snap = Snapshot::current(store, &["pension_payments"])
            .await
            .expect("snapshot");
        let source = StoreSource::new(store, &snap).await.expect("source");
        let request = payment_id_scan(region);
        tokio::task::spawn_blocking(move || {
            let mut scan = source.scan(&request).expect("scan");
            while scan.next_batch(5_000).expect("batch").is_some() {}
        })
        .await
        .expect("join");
    }
    store.blocks().stats().misses - before
}

async fn a_look_up_reads_each_chunks_kept_key_rows_with_its_columns(db: &TestDb) {
    load_regions(db).await;
    define(db, "pension_payments").await;
    let rows = 2 * supervise::datasets::chunk::CHUNK_ROWS + 500;
    import_payments(db, &db.store, "A", rows).await;
    // A look-up asks the cache for each chunk's payment ids, then for its key rows. The key
    // rows are there already, read with the ids (in one statement, and ahead of the look-up
    // with them): it misses no more than a scan of the ids does.
    let scanned = misses_reading_ids(&db.store, "330000", false).await;
    assert!(scanned >= 3, "three chunks, each missed: {scanned}");
    assert_eq!(misses_reading_ids(&db.store, "330000", true).await, scanned);
    // So with the import's column files.
    let with_files = with_files(&db.store, &db.dir.path().join("columns")).await;
    import_payments(db, &with_files, "B", rows).await;
    let scanned = misses_reading_ids(&with_files, "330000", false).await;
    assert_eq!(
        misses_reading_ids(&with_files, "330000", true).await,
        scanned
    );
}
both!(a_look_up_reads_each_chunks_kept_key_rows_with_its_columns);
