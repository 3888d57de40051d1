-- What a new clue costs to store, made smaller (issue 10: a province's first run is bound by
-- writing its new clues).
--
-- SQLite has no statement-level triggers, so the insert trigger ran two upserts for every new
-- clue, all onto the same two tally rows of the run's county: about a fifth of writing a run's
-- new clues. A clue inserted by a run (it has a first run) is now tallied by the code that
-- records the run (`clues::dedup`), one upsert per statement with the count of its rows, in
-- the same transaction; every other insert (clues reported by people, restored ones) is
-- still tallied here, row by row. The tallies count what they counted before.
DROP TRIGGER clue_tally_insert;

CREATE TRIGGER clue_tally_insert AFTER INSERT ON clues
WHEN NEW.first_run_id IS NULL
BEGIN
    INSERT INTO clue_weekly
    VALUES (NEW.region, COALESCE(NEW.model_id, '(reported)'), NEW.first_seen_ms / 604800000, 1)
    ON CONFLICT (region, model_key, week) DO UPDATE SET n = n + 1;
    INSERT INTO clue_tally
    VALUES (NEW.region, COALESCE(NEW.model_id, '(reported)'), NEW.source, NEW.status,
            COALESCE(NEW.dismiss_reason, ''), NEW.verifying_at_ms IS NOT NULL, NEW.confirmed_at_ms IS NOT NULL, 1)
    ON CONFLICT (region, model_key, source, status, dismiss_reason, verified, confirmed) DO UPDATE SET n = n + 1;
END;

-- Two indexes serve only clues that have a value in them: a suggestion's clues, and open
-- clues past their handling deadline (set when a clue is assigned). A new clue has neither,
-- so it no longer goes into them; the queries that read them (`suggestion_id = …`,
-- `handling_due_ms < …`) imply the condition, so the planner still uses them.
DROP INDEX clues_suggestion;
CREATE INDEX clues_suggestion ON clues (suggestion_id) WHERE suggestion_id IS NOT NULL;
DROP INDEX clues_due;
CREATE INDEX clues_due ON clues (status, handling_due_ms) WHERE handling_due_ms IS NOT NULL;
