-- Cancellation: a confirmed booking can be cancelled once; its places are released in the
-- same transaction, one `capacity_released` row per place (a seat, or one GA place).

-- One cancellation per booking, whatever the key (a second call answers with this one).
CREATE TABLE cancellations (
    booking_id       TEXT PRIMARY KEY REFERENCES bookings (booking_id),
    idempotency_key  TEXT NOT NULL,
    actor            TEXT NOT NULL,            -- the holder's id, or 'operator'
    cancelled_at_ms  BIGINT NOT NULL
);

-- Each released place and what became of it: 'free' (reserved for the waitlist, not yet
-- offered), 'offered' (one open offer), 'taken' (an accepted offer booked it), 'returned'
-- (nobody was waiting: back on public sale).
CREATE TABLE capacity_released (
    unit_id         BIGSERIAL PRIMARY KEY,
    event           TEXT NOT NULL REFERENCES events (id),
    seat            TEXT,                      -- NULL: one general-admission place
    booking_id      TEXT NOT NULL REFERENCES bookings (booking_id),
    released_at_ms  BIGINT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('free', 'offered', 'taken', 'returned'))
);
CREATE INDEX capacity_released_free ON capacity_released (event, unit_id) WHERE state = 'free';

-- Every transition of a booking, waitlist entry, offer or released place; append-only.
CREATE TABLE audit_log (
    seq         BIGSERIAL PRIMARY KEY,
    event       TEXT NOT NULL,
    subject     TEXT NOT NULL CHECK (subject IN ('booking', 'entry', 'offer', 'unit')),
    subject_id  TEXT NOT NULL,
    entry_id    TEXT,                          -- the waitlist entry concerned, if any
    from_state  TEXT,                          -- NULL: created
    to_state    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    at_ms       BIGINT NOT NULL
);
CREATE INDEX audit_log_entry ON audit_log (entry_id, seq) WHERE entry_id IS NOT NULL;

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
