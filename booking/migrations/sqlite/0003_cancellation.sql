-- Cancellation: a confirmed booking can be cancelled once; its places are released in the
-- same transaction, one `capacity_released` row per place (a seat, or one GA place).
-- (The embedded ledger has no waitlist: released places go straight back on sale.)

CREATE TABLE cancellations (
    booking_id       TEXT PRIMARY KEY REFERENCES bookings (booking_id),
    idempotency_key  TEXT NOT NULL,
    actor            TEXT NOT NULL,
    cancelled_at_ms  INTEGER NOT NULL
);

CREATE TABLE capacity_released (
    unit_id         INTEGER PRIMARY KEY AUTOINCREMENT,
    event           TEXT NOT NULL REFERENCES events (id),
    seat            TEXT,
    booking_id      TEXT NOT NULL REFERENCES bookings (booking_id),
    released_at_ms  INTEGER NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('free', 'offered', 'taken', 'returned'))
);

CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    event       TEXT NOT NULL,
    subject     TEXT NOT NULL CHECK (subject IN ('booking', 'entry', 'offer', 'unit')),
    subject_id  TEXT NOT NULL,
    entry_id    TEXT,
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    at_ms       INTEGER NOT NULL
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
