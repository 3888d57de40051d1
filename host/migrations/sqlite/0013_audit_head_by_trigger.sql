-- The audit chain's head takes its last hash from the event that reaches its sequence number,
-- as that event is inserted, instead of from a statement of its own after the events (one
-- round trip to the database less for every transaction that records a change; issue 10).
-- The appender still takes the sequence numbers from the head first, in the same transaction,
-- so the last event of an append is the one whose number the head holds.
CREATE TRIGGER audit_log_head AFTER INSERT ON audit_log
WHEN NEW.seq = (SELECT seq FROM audit_head WHERE id = 1)
BEGIN
    UPDATE audit_head SET hash = NEW.hash WHERE id = 1;
END;
