-- What a new clue costs to store, made smaller (issue 10: a province's first run is bound by
-- writing its new clues).
--
-- The tallies moved one row at a time on insert: a run's new clues all land on the same few
-- tally rows, so each statement now moves them once, by a statement-level trigger reading
-- the inserted rows as a transition table and adding their counts per key. Deletes and
-- updates still move them row by row. The tallies count what they counted before.
CREATE FUNCTION clue_tally_inserted() RETURNS trigger AS $$
BEGIN
    INSERT INTO clue_weekly
    SELECT region, COALESCE(model_id, '(reported)'), first_seen_ms / 604800000, COUNT(*)
    FROM added GROUP BY 1, 2, 3
    ON CONFLICT (region, model_key, week) DO UPDATE SET n = clue_weekly.n + EXCLUDED.n;
    INSERT INTO clue_tally
    SELECT region, COALESCE(model_id, '(reported)'), source, status, COALESCE(dismiss_reason, ''),
           CASE WHEN verifying_at_ms IS NULL THEN 0 ELSE 1 END,
           CASE WHEN confirmed_at_ms IS NULL THEN 0 ELSE 1 END, COUNT(*)
    FROM added GROUP BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT (region, model_key, source, status, dismiss_reason, verified, confirmed)
    DO UPDATE SET n = clue_tally.n + EXCLUDED.n;
    INSERT INTO clue_close_days
    SELECT region, COALESCE(model_id, '(reported)'), source, (closed_at_ms - first_seen_ms) / 86400000, COUNT(*)
    FROM added WHERE closed_at_ms IS NOT NULL GROUP BY 1, 2, 3, 4
    ON CONFLICT (region, model_key, source, days) DO UPDATE SET n = clue_close_days.n + EXCLUDED.n;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

DROP TRIGGER clue_tally_insert_delete ON clues;

CREATE TRIGGER clue_tally_delete AFTER DELETE ON clues
FOR EACH ROW EXECUTE FUNCTION clue_tally_trigger();

CREATE TRIGGER clue_tally_insert AFTER INSERT ON clues
REFERENCING NEW TABLE AS added
FOR EACH STATEMENT EXECUTE FUNCTION clue_tally_inserted();

-- Two indexes serve only clues that have a value in them: a suggestion's clues, and open
-- clues past their handling deadline (set when a clue is assigned). A new clue has neither,
-- so it no longer goes into them; the queries that read them (`suggestion_id = …`,
-- `handling_due_ms < …`) imply the condition, so the planner still uses them.
DROP INDEX clues_suggestion;
CREATE INDEX clues_suggestion ON clues (suggestion_id) WHERE suggestion_id IS NOT NULL;
DROP INDEX clues_due;
CREATE INDEX clues_due ON clues (status, handling_due_ms) WHERE handling_due_ms IS NOT NULL;
