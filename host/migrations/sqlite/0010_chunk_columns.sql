-- A chunk's columns are stored apart, one row each, so that a scan reads from the file only
-- the columns it asks for (not, say, the raw identifiers kept for re-identification beside
-- the pseudonyms). Each row holds a chunk of one column, in the same encoding as before.
-- Chunks imported before this migration keep their whole blob, every column in one, under
-- the name `*`; it decodes the same way.
CREATE TABLE chunk_columns (
    import_id BIGINT NOT NULL,
    chunk_no BIGINT NOT NULL,
    name TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (import_id, chunk_no, name),
    FOREIGN KEY (import_id, chunk_no) REFERENCES import_chunks (import_id, chunk_no)
);

INSERT INTO chunk_columns (import_id, chunk_no, name, data)
    SELECT import_id, chunk_no, '*', data FROM import_chunks;

ALTER TABLE import_chunks DROP COLUMN data;
