-- Regions, dataset schemas, imports stored as columnar chunks, snapshots, audit log.
CREATE TABLE regions (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level TEXT NOT NULL,
    parent TEXT REFERENCES regions (code)
);

CREATE TABLE datasets (
    name TEXT PRIMARY KEY,
    current_version BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE dataset_versions (
    dataset TEXT NOT NULL REFERENCES datasets (name),
    version BIGINT NOT NULL,
    schema_json TEXT NOT NULL,
    schema_sha256 TEXT NOT NULL,
    defined_by TEXT NOT NULL,
    defined_at_ms BIGINT NOT NULL,
    PRIMARY KEY (dataset, version)
);

CREATE TABLE imports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset TEXT NOT NULL REFERENCES datasets (name),
    schema_version BIGINT NOT NULL,
    mode TEXT NOT NULL,
    file_name TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    format TEXT NOT NULL,
    row_count BIGINT NOT NULL,
    chunk_count BIGINT NOT NULL,
    imported_by TEXT NOT NULL,
    imported_at_ms BIGINT NOT NULL,
    UNIQUE (dataset, file_sha256)
);

CREATE TABLE import_chunks (
    import_id BIGINT NOT NULL REFERENCES imports (id),
    chunk_no BIGINT NOT NULL,
    row_count BIGINT NOT NULL,
    region_min TEXT NOT NULL,
    region_max TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (import_id, chunk_no)
);

CREATE TABLE snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    content_sha256 TEXT NOT NULL UNIQUE,
    entries_json TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail_json TEXT NOT NULL
);
