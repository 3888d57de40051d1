-- A count the store moves whenever anything a signed component's check reads may have
-- changed: a component's bytes, a version's hash, signature or key, a key's fingerprint or
-- public key, and any row of theirs added or removed (a publish moves it too). A worker reads
-- it with each batch's runs and reads the component's inputs again only when it has moved
-- since this process verified them (issue 10: the 172 KB read was a county run's longest
-- statement). What runs is always the bytes this process verified; the count is how it learns
-- of a change to the store while it runs. It only goes up: it cannot be set back, truncated
-- or removed without dropping or disabling these triggers, which takes the rights to change
-- the schema (a process started after that still checks everything on its first load).
CREATE TABLE component_changes (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n BIGINT NOT NULL
);

INSERT INTO component_changes (id, n) VALUES (1, 0);

CREATE FUNCTION component_changes_kept() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'component_changes keeps its one row, and its count only goes up';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER component_changes_added_or_removed BEFORE INSERT OR DELETE ON component_changes
FOR EACH ROW EXECUTE FUNCTION component_changes_kept();

CREATE TRIGGER component_changes_truncated BEFORE TRUNCATE ON component_changes
FOR EACH STATEMENT EXECUTE FUNCTION component_changes_kept();

CREATE TRIGGER component_changes_set BEFORE UPDATE ON component_changes
FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id OR NEW.n IS NULL OR NEW.n <= OLD.n)
EXECUTE FUNCTION component_changes_kept();

CREATE FUNCTION component_changed() RETURNS trigger AS $$
BEGIN
    UPDATE component_changes SET n = n + 1 WHERE id = 1;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER blobs_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON blobs
FOR EACH STATEMENT EXECUTE FUNCTION component_changed();

CREATE TRIGGER model_versions_added_or_removed AFTER INSERT OR DELETE OR TRUNCATE
ON model_versions FOR EACH STATEMENT EXECUTE FUNCTION component_changed();

CREATE TRIGGER model_versions_signed AFTER UPDATE OF id, sha256, signature, key_fingerprint
ON model_versions FOR EACH STATEMENT EXECUTE FUNCTION component_changed();

CREATE TRIGGER office_keys_added_or_removed AFTER INSERT OR DELETE OR TRUNCATE ON office_keys
FOR EACH STATEMENT EXECUTE FUNCTION component_changed();

CREATE TRIGGER office_keys_changed AFTER UPDATE OF fingerprint, public_key ON office_keys
FOR EACH STATEMENT EXECUTE FUNCTION component_changed();
