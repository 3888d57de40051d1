-- Offices and their signing keys, content-addressed component blobs, model versions with
-- their review, and enablements with their history.
CREATE TABLE offices (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    region TEXT NOT NULL REFERENCES regions (code),
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE office_keys (
    fingerprint TEXT PRIMARY KEY,
    office TEXT NOT NULL REFERENCES offices (id),
    public_key TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    registered_by TEXT NOT NULL,
    registered_at_ms BIGINT NOT NULL,
    revoked_by TEXT,
    revoked_at_ms BIGINT,
    revoked_reason TEXT
);

CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    bytes BYTEA NOT NULL,
    stored_at_ms BIGINT NOT NULL
);

CREATE TABLE model_versions (
    id BIGSERIAL PRIMARY KEY,
    model_id TEXT NOT NULL,
    version TEXT NOT NULL,
    sha256 TEXT NOT NULL REFERENCES blobs (sha256),
    office TEXT NOT NULL REFERENCES offices (id),
    key_fingerprint TEXT NOT NULL REFERENCES office_keys (fingerprint),
    signature TEXT NOT NULL,
    manifest_json TEXT NOT NULL,
    wit_version TEXT NOT NULL,
    status TEXT NOT NULL,
    submitted_by TEXT NOT NULL,
    submitted_at_ms BIGINT NOT NULL,
    reviewed_by TEXT,
    reviewed_office TEXT,
    reviewed_at_ms BIGINT,
    review_reason TEXT,
    UNIQUE (model_id, version)
);

CREATE TABLE enablements (
    id BIGSERIAL PRIMARY KEY,
    model_id TEXT NOT NULL,
    version_id BIGINT NOT NULL REFERENCES model_versions (id),
    regions_json TEXT NOT NULL,
    params_json TEXT NOT NULL,
    schedule TEXT,
    scope_json TEXT NOT NULL,
    status TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE enablement_history (
    id BIGSERIAL PRIMARY KEY,
    enablement_id BIGINT NOT NULL REFERENCES enablements (id),
    action TEXT NOT NULL,
    version_id BIGINT NOT NULL REFERENCES model_versions (id),
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
