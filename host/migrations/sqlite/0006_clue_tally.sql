-- Clue counts kept by the database itself, so that queue totals and feedback statistics read
-- a few thousand tally rows instead of counting a million clues. Triggers on `clues` move one
-- unit from the old key to the new on every insert, relevant update and delete, whatever
-- code path made the change; the tallies therefore never drift from the clues they count.
-- `model_key` is the model id, or '(reported)' for clues reported by people.
CREATE TABLE clue_tally (
    region TEXT NOT NULL,
    model_key TEXT NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    dismiss_reason TEXT NOT NULL,
    verified BIGINT NOT NULL,
    confirmed BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (region, model_key, source, status, dismiss_reason, verified, confirmed)
);

-- Closed clues by whole days from first seen to closed (for the median time to close).
CREATE TABLE clue_close_days (
    region TEXT NOT NULL,
    model_key TEXT NOT NULL,
    source TEXT NOT NULL,
    days BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (region, model_key, source, days)
);

-- New clues by region, model and the week they were first seen (weeks since the epoch,
-- counted from Thursday 1970-01-01): the dashboard's trend. First seen never changes, so
-- only inserts and deletes move it.
CREATE TABLE clue_weekly (
    region TEXT NOT NULL,
    model_key TEXT NOT NULL,
    week BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (region, model_key, week)
);

INSERT INTO clue_weekly
SELECT region, COALESCE(model_id, '(reported)'), first_seen_ms / 604800000, COUNT(*)
FROM clues GROUP BY 1, 2, 3;

INSERT INTO clue_tally
SELECT region, COALESCE(model_id, '(reported)'), source, status, COALESCE(dismiss_reason, ''),
       verifying_at_ms IS NOT NULL, confirmed_at_ms IS NOT NULL, COUNT(*)
FROM clues GROUP BY 1, 2, 3, 4, 5, 6, 7;

INSERT INTO clue_close_days
SELECT region, COALESCE(model_id, '(reported)'), source, (closed_at_ms - first_seen_ms) / 86400000, COUNT(*)
FROM clues WHERE closed_at_ms IS NOT NULL GROUP BY 1, 2, 3, 4;

CREATE TRIGGER clue_tally_insert AFTER INSERT ON clues
BEGIN
    INSERT INTO clue_weekly
    VALUES (NEW.region, COALESCE(NEW.model_id, '(reported)'), NEW.first_seen_ms / 604800000, 1)
    ON CONFLICT (region, model_key, week) DO UPDATE SET n = n + 1;
    INSERT INTO clue_tally
    VALUES (NEW.region, COALESCE(NEW.model_id, '(reported)'), NEW.source, NEW.status,
            COALESCE(NEW.dismiss_reason, ''), NEW.verifying_at_ms IS NOT NULL, NEW.confirmed_at_ms IS NOT NULL, 1)
    ON CONFLICT (region, model_key, source, status, dismiss_reason, verified, confirmed) DO UPDATE SET n = n + 1;
    INSERT INTO clue_close_days
    SELECT NEW.region, COALESCE(NEW.model_id, '(reported)'), NEW.source, (NEW.closed_at_ms - NEW.first_seen_ms) / 86400000, 1
    WHERE NEW.closed_at_ms IS NOT NULL
    ON CONFLICT (region, model_key, source, days) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER clue_tally_delete AFTER DELETE ON clues
BEGIN
    UPDATE clue_weekly SET n = n - 1
    WHERE region = OLD.region AND model_key = COALESCE(OLD.model_id, '(reported)')
      AND week = OLD.first_seen_ms / 604800000;
    UPDATE clue_tally SET n = n - 1
    WHERE region = OLD.region AND model_key = COALESCE(OLD.model_id, '(reported)') AND source = OLD.source
      AND status = OLD.status AND dismiss_reason = COALESCE(OLD.dismiss_reason, '')
      AND verified = (OLD.verifying_at_ms IS NOT NULL) AND confirmed = (OLD.confirmed_at_ms IS NOT NULL);
    UPDATE clue_close_days SET n = n - 1
    WHERE OLD.closed_at_ms IS NOT NULL AND region = OLD.region AND model_key = COALESCE(OLD.model_id, '(reported)')
      AND source = OLD.source AND days = (OLD.closed_at_ms - OLD.first_seen_ms) / 86400000;
END;

CREATE TRIGGER clue_tally_update AFTER UPDATE ON clues
WHEN OLD.region IS NOT NEW.region OR OLD.model_id IS NOT NEW.model_id OR OLD.source IS NOT NEW.source
  OR OLD.status IS NOT NEW.status OR OLD.dismiss_reason IS NOT NEW.dismiss_reason
  OR OLD.verifying_at_ms IS NOT NEW.verifying_at_ms OR OLD.confirmed_at_ms IS NOT NEW.confirmed_at_ms
  OR OLD.closed_at_ms IS NOT NEW.closed_at_ms OR OLD.first_seen_ms IS NOT NEW.first_seen_ms
BEGIN
    UPDATE clue_tally SET n = n - 1
    WHERE region = OLD.region AND model_key = COALESCE(OLD.model_id, '(reported)') AND source = OLD.source
      AND status = OLD.status AND dismiss_reason = COALESCE(OLD.dismiss_reason, '')
      AND verified = (OLD.verifying_at_ms IS NOT NULL) AND confirmed = (OLD.confirmed_at_ms IS NOT NULL);
    INSERT INTO clue_tally
    VALUES (NEW.region, COALESCE(NEW.model_id, '(reported)'), NEW.source, NEW.status,
            COALESCE(NEW.dismiss_reason, ''), NEW.verifying_at_ms IS NOT NULL, NEW.confirmed_at_ms IS NOT NULL, 1)
    ON CONFLICT (region, model_key, source, status, dismiss_reason, verified, confirmed) DO UPDATE SET n = n + 1;
    UPDATE clue_close_days SET n = n - 1
    WHERE OLD.closed_at_ms IS NOT NULL AND region = OLD.region AND model_key = COALESCE(OLD.model_id, '(reported)')
      AND source = OLD.source AND days = (OLD.closed_at_ms - OLD.first_seen_ms) / 86400000;
    INSERT INTO clue_close_days
    SELECT NEW.region, COALESCE(NEW.model_id, '(reported)'), NEW.source, (NEW.closed_at_ms - NEW.first_seen_ms) / 86400000, 1
    WHERE NEW.closed_at_ms IS NOT NULL
    ON CONFLICT (region, model_key, source, days) DO UPDATE SET n = n + 1;
END;

-- Every sort of the queue has an index to read pages from in order: within a county
-- (region first) and across a city or the province (the sort key, then the id that breaks
-- ties, so that a page is read in order without sorting). The handling deadline sorts with
-- clues that have none last.
CREATE INDEX clues_region_score ON clues (region, score);
CREATE INDEX clues_region_first_seen ON clues (region, first_seen_ms);
CREATE INDEX clues_region_due ON clues (region, COALESCE(handling_due_ms, 9223372036854775807));
CREATE INDEX clues_score ON clues (score, id);
CREATE INDEX clues_first_seen ON clues (first_seen_ms, id);
CREATE INDEX clues_due_order ON clues (COALESCE(handling_due_ms, 9223372036854775807), id);
