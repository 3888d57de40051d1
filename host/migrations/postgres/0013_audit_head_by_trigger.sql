-- The audit chain's head takes its last hash from the event that reaches its sequence number,
-- as the events are inserted, instead of from a statement of its own after them (one round
-- trip to the database less for every transaction that records a change; issue 10). The
-- appender still takes the sequence numbers from the head first, in the same transaction, so
-- the last event of an append is the one whose number the head holds.
CREATE FUNCTION audit_log_head() RETURNS trigger AS $$
BEGIN
    UPDATE audit_head h SET hash = a.hash FROM appended a WHERE h.id = 1 AND a.seq = h.seq;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_log_head AFTER INSERT ON audit_log
REFERENCING NEW TABLE AS appended FOR EACH STATEMENT EXECUTE FUNCTION audit_log_head();
