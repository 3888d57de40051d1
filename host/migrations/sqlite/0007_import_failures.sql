-- Imports that failed: kept so the datasets page can list them with their problems (a failed
-- import writes no rows, so nothing else records it).
CREATE TABLE import_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset TEXT NOT NULL REFERENCES datasets (name),
    file_name TEXT NOT NULL,
    failed_by TEXT NOT NULL,
    failed_at_ms BIGINT NOT NULL,
    -- The whole-file reason, or a summary of the row problems.
    error TEXT NOT NULL,
    -- The first 100 row problems as JSON: [{line, column, value, reason}].
    problems_json TEXT NOT NULL,
    problem_total BIGINT NOT NULL
);

CREATE INDEX import_failures_dataset ON import_failures (dataset, id);
