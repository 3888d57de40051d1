-- A count the store moves whenever anything a signed component's check reads may have
-- changed: a component's bytes, a version's hash, signature or key, a key's fingerprint or
-- public key, and any row of theirs added or removed (a publish moves it too). A worker reads
-- it with each batch's runs and reads the component's inputs again only when it has moved
-- since this process verified them (issue 10: the 172 KB read was a county run's longest
-- statement). What runs is always the bytes this process verified; the count is how it learns
-- of a change to the store while it runs. It only goes up: it cannot be set back, reset by a
-- REPLACE or removed without dropping these triggers, which takes the rights to change the
-- schema (a process started after that still checks everything on its first load).
CREATE TABLE component_changes (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n BIGINT NOT NULL
);

INSERT INTO component_changes (id, n) VALUES (1, 0);

CREATE TRIGGER component_changes_added BEFORE INSERT ON component_changes
BEGIN
    SELECT RAISE(ABORT, 'component_changes has its one row');
END;

CREATE TRIGGER component_changes_removed BEFORE DELETE ON component_changes
BEGIN
    SELECT RAISE(ABORT, 'component_changes keeps its one row');
END;

CREATE TRIGGER component_changes_set BEFORE UPDATE ON component_changes
WHEN NEW.id IS NOT OLD.id OR NEW.n IS NULL OR NEW.n <= OLD.n
BEGIN
    SELECT RAISE(ABORT, 'component_changes only goes up');
END;

CREATE TRIGGER blobs_added AFTER INSERT ON blobs
BEGIN
    UPDATE component_changes SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER blobs_changed AFTER UPDATE ON blobs
BEGIN
    UPDATE component_changes SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER blobs_removed AFTER DELETE ON blobs
BEGIN
    UPDATE component_changes SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER model_versions_added AFTER INSERT ON model_versions
BEGIN
    UPDATE component_changes SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER model_versions_signed AFTER UPDATE OF id, sha256, signature, key_fingerprint
ON model_versions
BEGIN
    UPDATE component_changes SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER model_versions_removed AFTER DELETE ON model_versions
BEGIN
    UPDATE component_changes SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER office_keys_added AFTER INSERT ON office_keys
BEGIN
    UPDATE component_changes SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER office_keys_changed AFTER UPDATE OF fingerprint, public_key ON office_keys
BEGIN
    UPDATE component_changes SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER office_keys_removed AFTER DELETE ON office_keys
BEGIN
    UPDATE component_changes SET n = n + 1 WHERE id = 1;
END;
