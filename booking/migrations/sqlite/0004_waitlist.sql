-- The waitlist after sell-out, as on PostgreSQL (0004_waitlist.sql there): entries in join
-- order, offers of released places, the notification outbox. Every change runs in one
-- `BEGIN IMMEDIATE` transaction, which holds the database's single write lock: promotion
-- passes are serialised (per event and beyond) across every connection and process on the
-- file (docs/adr/0006-waitlist-promotion.md). The indexes below are the safety net.

CREATE TABLE waitlist_entries (
    entry_id       TEXT PRIMARY KEY,
    event          TEXT NOT NULL REFERENCES events (id),
    visitor        TEXT NOT NULL,
    seq            INTEGER NOT NULL UNIQUE,    -- join order (max + 1 under the write lock)
    state          TEXT NOT NULL CHECK (state IN
                     ('waiting', 'offered', 'accepted', 'declined', 'expired', 'left')),
    joined_at_ms   INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL,
    -- One entry per visitor per event, whatever happened to it.
    CONSTRAINT waitlist_one_entry_per_visitor UNIQUE (event, visitor)
);
CREATE INDEX waitlist_waiting ON waitlist_entries (event, seq) WHERE state = 'waiting';

CREATE TABLE waitlist_offers (
    offer_id        TEXT PRIMARY KEY,
    entry_id        TEXT NOT NULL REFERENCES waitlist_entries (entry_id),
    event           TEXT NOT NULL REFERENCES events (id),
    unit_id         INTEGER NOT NULL REFERENCES capacity_released (unit_id),
    seat            TEXT,
    state           TEXT NOT NULL CHECK (state IN
                      ('open', 'accepted', 'declined', 'expired', 'withdrawn')),
    released_at_ms  INTEGER NOT NULL,
    offered_at_ms   INTEGER NOT NULL,
    expires_at_ms   INTEGER NOT NULL,
    closed_at_ms    INTEGER,
    booking_id      TEXT REFERENCES bookings (booking_id)
);
-- Exactly one open offer per released place, and at most one per fan.
CREATE UNIQUE INDEX waitlist_one_open_offer_per_unit ON waitlist_offers (unit_id)
    WHERE state = 'open';
CREATE UNIQUE INDEX waitlist_one_open_offer_per_entry ON waitlist_offers (entry_id)
    WHERE state = 'open';
CREATE INDEX waitlist_offers_open ON waitlist_offers (event, expires_at_ms) WHERE state = 'open';
CREATE INDEX waitlist_offers_entry ON waitlist_offers (entry_id, offered_at_ms);

CREATE TABLE waitlist_outbox (
    message_id          TEXT PRIMARY KEY,
    event               TEXT NOT NULL,
    payload             TEXT NOT NULL,
    created_at_ms       INTEGER NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms  INTEGER NOT NULL,
    delivered_at_ms     INTEGER
);
CREATE INDEX waitlist_outbox_due ON waitlist_outbox (next_attempt_at_ms)
    WHERE delivered_at_ms IS NULL;

CREATE INDEX capacity_released_free ON capacity_released (event, unit_id) WHERE state = 'free';
CREATE INDEX audit_log_entry ON audit_log (entry_id, seq) WHERE entry_id IS NOT NULL;
