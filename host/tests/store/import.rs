//! Imports: good files in both formats; every kind of bad file reported by line, column,
//! value and reason, with nothing written; the same file twice detected.

use supervise::datasets::import::{self, ImportError, ImportRequest};

use crate::support::*;

const HEADER: &str = "payment_id,id_number,pay_date,amount,region_code\n";

fn request(path: std::path::PathBuf) -> ImportRequest {
    ImportRequest::new("pension_payments", path, "importer@330000")
}

async fn setup(db: &TestDb) {
    load_regions(db).await;
    define(db, "pension_payments").await;
}

async fn imports_csv_and_jsonl_and_records_them(db: &TestDb) {
    setup(db).await;
    let csv = format!(
        "{HEADER}P1,330102194501011234,2024-01-15,3200.00,330102\nP2, 330102194501011234 ,2024-02-15,3200.5,330103\n"
    );
    let report = import::import(&db.store, &key(), &request(file(db, "a.csv", &csv)))
        .await
        .expect("import");
    assert_eq!(
        (report.rows, report.chunks, report.schema_version),
        (2, 2, 1),
        "one chunk per region"
    );

    let jsonl = "{\"payment_id\":\"P3\",\"id_number\":\"330102194501011234\",\"pay_date\":\"2024-03-15\",\"amount\":3200.25,\"region_code\":\"330102\"}\n\n{\"payment_id\":\"P4\",\"id_number\":\"X\",\"pay_date\":\"2024-03-15\",\"amount\":\"1\",\"region_code\":\"330203\"}\n";
    let report = import::import(&db.store, &key(), &request(file(db, "b.jsonl", jsonl)))
        .await
        .expect("import jsonl");
    assert_eq!(report.rows, 2);

    use sqlx::Row;
    let row = sqlx::query("SELECT dataset, schema_version, file_sha256, row_count, imported_by, format FROM imports WHERE id = $1")
        .bind(report.id)
        .fetch_one(db.store.pool())
        .await
        .expect("import record");
    assert_eq!(
        row.try_get::<String, _>(0).expect("dataset"),
        "pension_payments"
    );
    assert_eq!(row.try_get::<i64, _>(1).expect("version"), 1);
    assert_eq!(row.try_get::<String, _>(2).expect("sha"), report.sha256);
    assert_eq!(row.try_get::<i64, _>(3).expect("rows"), 2);
    assert_eq!(row.try_get::<String, _>(4).expect("who"), "importer@330000");
    assert_eq!(row.try_get::<String, _>(5).expect("format"), "jsonl");

    let again = import::import(&db.store, &key(), &request(file(db, "b-copy.jsonl", jsonl)))
        .await
        .expect_err("twice");
    assert!(
        matches!(again, ImportError::AlreadyImported { id, .. } if id == report.id),
        "{again}"
    );
    assert_eq!(count(db, "imports").await, 2);
}
both!(imports_csv_and_jsonl_and_records_them);

/// Imports `text` as `name` and returns the problems it is rejected with.
async fn rejected(db: &TestDb, name: &str, text: &str) -> (String, Vec<import::RowError>) {
    let err = import::import(&db.store, &key(), &request(file(db, name, text)))
        .await
        .expect_err("rejected");
    let message = err.to_string();
    let rows = match err {
        ImportError::Invalid { errors, .. } => errors,
        _ => Vec::new(),
    };
    (message, rows)
}

async fn bad_files_are_reported_and_nothing_is_written(db: &TestDb) {
    setup(db).await;
    let good = "P1,330102194501011234,2024-01-15,3200.00,330102\n";

    let (msg, rows) = rejected(
        db,
        "types.csv",
        &format!("{HEADER}{good}P2,X,2024-13-01,3200,330102\nP3,X,2024-01-01,lots,330102\n"),
    )
    .await;
    assert_eq!(rows.len(), 2, "{msg}");
    assert_eq!(
        (
            rows[0].line,
            rows[0].column.as_str(),
            rows[0].value.as_str()
        ),
        (3, "pay_date", "2024-13-01")
    );
    assert!(rows[0].reason.contains("not a date"), "{msg}");
    assert_eq!(
        (
            rows[1].line,
            rows[1].column.as_str(),
            rows[1].value.as_str()
        ),
        (4, "amount", "lots")
    );

    let (msg, rows) = rejected(
        db,
        "region.csv",
        &format!("{HEADER}{good}P2,X,2024-01-15,1,339999\n"),
    )
    .await;
    assert_eq!(
        (rows[0].line, rows[0].column.as_str()),
        (3, "region_code"),
        "{msg}"
    );
    assert!(rows[0].reason.contains("unknown region"), "{msg}");

    let (msg, rows) = rejected(
        db,
        "required.csv",
        &format!("{HEADER}P2,,2024-01-15,1,330102\n"),
    )
    .await;
    assert_eq!(
        (rows[0].line, rows[0].column.as_str()),
        (2, "id_number"),
        "{msg}"
    );
    assert!(rows[0].reason.contains("required value is missing"));

    let (msg, rows) = rejected(
        db,
        "dup.csv",
        &format!("{HEADER}{good}P2,X,2024-01-15,1,330102\n{good}"),
    )
    .await;
    assert_eq!(rows[0].line, 4, "{msg}");
    assert!(
        rows[0]
            .reason
            .contains("duplicate key: line 2 has the same"),
        "{msg}"
    );

    let (msg, rows) = rejected(db, "truncated.csv", &format!("{HEADER}{good}P2,X,2024-01")).await;
    assert_eq!(rows[0].line, 3, "{msg}");
    assert!(
        rows[0].reason.contains("has 3 fields, the header has 5"),
        "{msg}"
    );

    let (msg, _) = rejected(
        db,
        "quotes.csv",
        &format!("{HEADER}{good}\"P2,X,2024-01-15,1,330102\n"),
    )
    .await;
    assert!(msg.contains("problem(s), nothing imported"), "{msg}");

    let (msg, rows) = rejected(
        db,
        "long.csv",
        &format!("{HEADER}P2,{},2024-01-15,1,330102\n", "9".repeat(10 << 20)),
    )
    .await;
    assert!(rows[0].reason.contains("the limit is 65536"), "{msg}");
    assert!(msg.len() < 10_000, "the report does not echo a 10 MB value");

    let (msg, _) = rejected(db, "empty.csv", "").await;
    assert!(msg.contains("the file is empty"), "{msg}");
    let (msg, _) = rejected(db, "header-only.csv", HEADER).await;
    assert!(msg.contains("header but no rows"), "{msg}");
    let (msg, _) = rejected(db, "columns.csv", "payment_id,amount,extra\nP1,1,2\n").await;
    assert!(
        msg.contains("missing [id_number, pay_date, region_code], not in the schema [extra]"),
        "{msg}"
    );
    let (msg, _) = rejected(db, "bad.jsonl", "{\"payment_id\": \"P1\"\n").await;
    assert!(
        msg.contains("line 1") && msg.contains("not a JSON object"),
        "{msg}"
    );

    let many: String = (0..250)
        .map(|i| format!("P{i},X,never,1,330102\n"))
        .collect();
    let err = import::import(
        &db.store,
        &key(),
        &request(file(db, "many.csv", &format!("{HEADER}{many}"))),
    )
    .await
    .expect_err("rejected");
    let ImportError::Invalid { errors, total, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!((errors.len(), *total), (100, 250));
    assert!(err.to_string().contains("… and 150 more"));

    assert_eq!(count(db, "imports").await, 0, "nothing written");
    assert_eq!(count(db, "import_chunks").await, 0, "nothing written");
    assert_eq!(count(db, "chunk_columns").await, 0, "nothing written");
}
both!(bad_files_are_reported_and_nothing_is_written);

async fn large_imports_span_chunks(db: &TestDb) {
    setup(db).await;
    let mut csv = String::from(HEADER);
    for i in 0..150_000 {
        let county = if i % 3 == 0 { "330203" } else { "330102" };
        csv.push_str(&format!(
            "P{i},ID{},2024-01-15,{}.50,{county}\n",
            i % 5000,
            i % 9000
        ));
    }
    let report = import::import(&db.store, &key(), &request(file(db, "big.csv", &csv)))
        .await
        .expect("import");
    assert_eq!((report.rows, report.chunks), (150_000, 3));
}
both!(large_imports_span_chunks);

async fn imports_write_their_temporary_files_where_the_store_says(db: &TestDb) {
    setup(db).await;
    let temp = db.dir.path().join("tmp");
    let store = db.store.clone().with_temp_dir(&temp).expect("temp dir");
    assert_eq!(store.temp_dir(), temp);
    let csv = format!("{HEADER}P1,330102194501011234,2024-01-15,3200.00,330102\n");
    import::import(&store, &key(), &request(file(db, "a.csv", &csv)))
        .await
        .expect("import");
    assert_eq!(
        std::fs::read_dir(&temp).expect("temp dir").count(),
        0,
        "nothing left behind"
    );

    // A directory that is gone (or full) fails the import, naming it, and writes nothing.
    std::fs::remove_dir(&temp).expect("remove");
    let csv = format!("{HEADER}P2,330102194501011234,2024-02-15,3200.00,330102\n");
    let err = import::import(&store, &key(), &request(file(db, "b.csv", &csv)))
        .await
        .expect_err("no temporary directory");
    assert!(
        matches!(&err, ImportError::Temp { dir, .. } if *dir == temp),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&temp.display().to_string()) && message.contains("--temp-dir"),
        "{message}"
    );
    assert_eq!(count(db, "imports").await, 1, "nothing written");
    assert_eq!(
        count(db, "import_failures").await,
        0,
        "not the file's failure"
    );
}
both!(imports_write_their_temporary_files_where_the_store_says);
