-- A clue is inserted new, never closed, so the insert trigger's statement for the closed
-- clues' tally did nothing for it yet cost a quarter of writing a new clue (SQLite runs each
-- statement of a trigger for every row). It moves to a trigger of its own that fires only
-- for a clue inserted already closed. What the tallies count does not change.
DROP TRIGGER clue_tally_insert;

CREATE TRIGGER clue_tally_insert AFTER INSERT ON clues
BEGIN
    INSERT INTO clue_weekly
    VALUES (NEW.region, COALESCE(NEW.model_id, '(reported)'), NEW.first_seen_ms / 604800000, 1)
    ON CONFLICT (region, model_key, week) DO UPDATE SET n = n + 1;
    INSERT INTO clue_tally
    VALUES (NEW.region, COALESCE(NEW.model_id, '(reported)'), NEW.source, NEW.status,
            COALESCE(NEW.dismiss_reason, ''), NEW.verifying_at_ms IS NOT NULL, NEW.confirmed_at_ms IS NOT NULL, 1)
    ON CONFLICT (region, model_key, source, status, dismiss_reason, verified, confirmed) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER clue_tally_insert_closed AFTER INSERT ON clues
WHEN NEW.closed_at_ms IS NOT NULL
BEGIN
    INSERT INTO clue_close_days
    VALUES (NEW.region, COALESCE(NEW.model_id, '(reported)'), NEW.source, (NEW.closed_at_ms - NEW.first_seen_ms) / 86400000, 1)
    ON CONFLICT (region, model_key, source, days) DO UPDATE SET n = n + 1;
END;
