-- One hold, one booking: a hold confirmed under a second Idempotency-Key must not sell its
-- places twice (general admission has no per-seat index to stop it). The service answers
-- the second key with the existing booking.
CREATE UNIQUE INDEX bookings_one_per_hold ON bookings (hold_id);
