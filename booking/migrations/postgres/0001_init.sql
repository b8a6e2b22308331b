-- Anteroom bookings ledger, PostgreSQL. Applied by PostgresLedger::migrate() in one
-- transaction, recorded in schema_migrations.

-- An event sells named seats (kind 'seats', rows in event_seats) or a number of
-- general-admission places (kind 'ga', one row in ga_inventory).
CREATE TABLE events (
    id             TEXT PRIMARY KEY,
    room           TEXT,
    kind           TEXT NOT NULL CHECK (kind IN ('seats', 'ga')),
    created_at_ms  BIGINT NOT NULL
);

CREATE TABLE event_seats (
    event     TEXT NOT NULL REFERENCES events (id),
    seat      TEXT NOT NULL,
    position  INTEGER NOT NULL,
    PRIMARY KEY (event, seat)
);

CREATE TABLE ga_inventory (
    event     TEXT PRIMARY KEY REFERENCES events (id),
    capacity  BIGINT NOT NULL CHECK (capacity >= 0),
    sold      BIGINT NOT NULL DEFAULT 0 CHECK (sold >= 0),
    -- Never sell more than the capacity: a violating UPDATE is SoldOut.
    CONSTRAINT ga_inventory_sold_within_capacity CHECK (sold <= capacity)
);

-- One row per booking; its seats (seated events) in booking_seats.
CREATE TABLE bookings (
    booking_id     TEXT PRIMARY KEY,
    event          TEXT NOT NULL REFERENCES events (id),
    holder         TEXT NOT NULL,
    hold_id        TEXT NOT NULL,
    quantity       BIGINT NOT NULL CHECK (quantity > 0),
    status         TEXT NOT NULL DEFAULT 'confirmed',
    fencing_token  BIGINT NOT NULL,
    created_at_ms  BIGINT NOT NULL
);
CREATE INDEX bookings_event ON bookings (event);

-- One row per booked seat. `status` mirrors the booking's so that the partial unique index
-- below can see it (an index cannot look into another table).
CREATE TABLE booking_seats (
    booking_id  TEXT NOT NULL REFERENCES bookings (booking_id),
    event       TEXT NOT NULL,
    seat        TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'confirmed',
    PRIMARY KEY (booking_id, seat),
    FOREIGN KEY (event, seat) REFERENCES event_seats (event, seat)
);
-- THE final guard: at most one confirmed booking per seat, whatever the hold store says.
CREATE UNIQUE INDEX booking_seats_one_confirmed ON booking_seats (event, seat)
    WHERE status = 'confirmed';

-- The highest fencing token that confirmed each seat; a confirmation whose token is not
-- greater is refused (StaleFence).
CREATE TABLE seat_fences (
    event  TEXT NOT NULL,
    seat   TEXT NOT NULL,
    token  BIGINT NOT NULL,
    PRIMARY KEY (event, seat)
);

-- (key, holder) -> the booking it produced, written in the booking's transaction. The
-- key row is inserted first, so a concurrent confirmation with the same key waits on it.
CREATE TABLE idempotency_keys (
    key            TEXT NOT NULL,
    holder         TEXT NOT NULL,
    hold_id        TEXT NOT NULL,
    booking_id     TEXT NOT NULL REFERENCES bookings (booking_id) DEFERRABLE INITIALLY DEFERRED,
    created_at_ms  BIGINT NOT NULL,
    PRIMARY KEY (key, holder)
);
