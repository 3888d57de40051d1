-- Triage: the clue workflow's fields, comments, procuratorial suggestions, province settings,
-- and the hash chain over the audit log (each event carries its sequence number, the previous
-- event's hash and its own; the head row serialises appends).
ALTER TABLE audit_log ADD COLUMN seq BIGINT;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
CREATE UNIQUE INDEX audit_log_seq ON audit_log (seq);
CREATE INDEX audit_log_subject ON audit_log (subject, id);

CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');

ALTER TABLE clues ADD COLUMN source TEXT NOT NULL DEFAULT 'model';
ALTER TABLE clues ADD COLUMN source_detail TEXT;
ALTER TABLE clues ADD COLUMN assignee TEXT;
ALTER TABLE clues ADD COLUMN assigned_at_ms BIGINT;
ALTER TABLE clues ADD COLUMN verifying_at_ms BIGINT;
ALTER TABLE clues ADD COLUMN confirmed_at_ms BIGINT;
ALTER TABLE clues ADD COLUMN closed_at_ms BIGINT;
ALTER TABLE clues ADD COLUMN handling_due_ms BIGINT;
ALTER TABLE clues ADD COLUMN dismiss_reason TEXT;
ALTER TABLE clues ADD COLUMN dismiss_note TEXT;
ALTER TABLE clues ADD COLUMN outcome_note TEXT;
ALTER TABLE clues ADD COLUMN suggestion_id BIGINT;
ALTER TABLE clues ADD COLUMN updated_at_ms BIGINT;
CREATE INDEX clues_model_region ON clues (model_id, region);
CREATE INDEX clues_due ON clues (status, handling_due_ms);
CREATE INDEX clues_suggestion ON clues (suggestion_id);
CREATE INDEX clues_last_seen ON clues (last_seen_ms);
CREATE INDEX clues_region_seen ON clues (region, last_seen_ms);
CREATE INDEX clues_status_score ON clues (status, score);

CREATE TABLE clue_comments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    clue_id BIGINT NOT NULL REFERENCES clues (id),
    actor TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX clue_comments_clue ON clue_comments (clue_id, id);

CREATE TABLE suggestions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agency TEXT NOT NULL,
    title TEXT NOT NULL,
    region TEXT NOT NULL REFERENCES regions (code),
    status TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at_ms BIGINT NOT NULL,
    feedback_due_ms BIGINT NOT NULL,
    replied_at_ms BIGINT,
    reply_note TEXT,
    decided_at_ms BIGINT,
    decided_by TEXT
);

CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
