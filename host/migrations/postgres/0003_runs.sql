-- Runs: the job queue and the run record in one table (a run is queued, leased by a worker,
-- and finished in place); the clues each run emitted (by dedup key and content hash, with the
-- clue itself for runs kept apart from the reviewers' queue); the clue store with one clue per
-- (model, dedup key) (clues reported by people have no model or run); quarantined models; the scheduler's cursors.
CREATE TABLE runs (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    enablement_id BIGINT REFERENCES enablements (id),
    model_id TEXT NOT NULL,
    version_id BIGINT NOT NULL REFERENCES model_versions (id),
    region TEXT NOT NULL REFERENCES regions (code),
    params_json TEXT NOT NULL,
    scope_json TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    trigger_key TEXT UNIQUE,
    replay_of BIGINT REFERENCES runs (id),
    backtest_group TEXT,
    status TEXT NOT NULL,
    priority BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    not_before_ms BIGINT NOT NULL,
    lease_owner TEXT,
    lease_token TEXT,
    lease_expires_ms BIGINT,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    snapshot_id BIGINT REFERENCES snapshots (id),
    as_of_days BIGINT,
    sha256 TEXT,
    version TEXT,
    rows_read_json TEXT,
    fuel_used BIGINT,
    peak_memory_bytes BIGINT,
    wall_ms BIGINT,
    clues_emitted BIGINT,
    clues_new BIGINT,
    clues_updated BIGINT,
    error TEXT,
    host_fault BIGINT NOT NULL DEFAULT 0,
    log_excerpt TEXT,
    requested_by TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    started_at_ms BIGINT,
    finished_at_ms BIGINT
);
CREATE INDEX runs_queue ON runs (status, not_before_ms, priority, id);
CREATE INDEX runs_model ON runs (model_id, kind, finished_at_ms);
CREATE INDEX runs_enablement ON runs (enablement_id, region, status);

CREATE TABLE run_clues (
    run_id BIGINT NOT NULL REFERENCES runs (id),
    dedup_key TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    clue_json TEXT,
    PRIMARY KEY (run_id, dedup_key)
);

CREATE TABLE clues (
    id BIGSERIAL PRIMARY KEY,
    model_id TEXT,
    dedup_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    region TEXT NOT NULL REFERENCES regions (code),
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    subject_name TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    reason TEXT NOT NULL,
    evidence_json TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    evidence_changed BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    occurrences BIGINT NOT NULL,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL,
    first_run_id BIGINT REFERENCES runs (id),
    last_run_id BIGINT REFERENCES runs (id),
    version_id BIGINT REFERENCES model_versions (id),
    snapshot_id BIGINT REFERENCES snapshots (id),
    UNIQUE (model_id, dedup_key)
);
CREATE INDEX clues_region ON clues (region, status);

CREATE TABLE quarantines (
    id BIGSERIAL PRIMARY KEY,
    model_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    since_ms BIGINT NOT NULL,
    released_by TEXT,
    released_reason TEXT,
    released_at_ms BIGINT
);
CREATE UNIQUE INDEX quarantines_active ON quarantines (model_id) WHERE released_at_ms IS NULL;

CREATE TABLE scheduler_cursors (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
