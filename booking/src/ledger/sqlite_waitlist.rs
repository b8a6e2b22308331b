//! `SqliteWaitlist`: the waitlist in the embedded ledger's SQLite file, on the ledger's own
//! database thread (one connection).
//!
//! Every change is one `BEGIN IMMEDIATE` transaction: it takes SQLite's single write lock
//! before it reads, so a promotion pass, a join, an accept, a decline or a leave never
//! interleave — not in this process (one connection, one job at a time) and not with
//! another process on the same file (it waits up to `busy_timeout`). That is the per-event
//! serialisation PostgreSQL gets from its advisory lock, held for the whole database
//! (docs/adr/0006-waitlist-promotion.md). The same partial unique indexes and constraints
//! are the safety net; the decisions are shared with PostgreSQL (`waitlist_common`).

use async_trait::async_trait;
use rusqlite::{ffi, params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use anteroom_admission::VisitorId;

use super::common::{now_ms, parse_holder, STATUS_CONFIRMED};
use super::sqlite::{extended_code, key_row, load_booking, sqlite_err, Worker};
use super::waitlist_common::{
    self as shared, accept_step, check_accept_input, check_entry_id, check_offer_id, leave_step,
    ms, AcceptStep, Close, LeaveStep, OfferRow, Transition, Unit,
};
use super::LedgerError;
use crate::waitlist::{
    AuditRecord, Entry, Offer, OutboxMessage, Overview, Promotion, PromotionRules, Waitlist,
    WaitlistError,
};
use crate::{new_id, Booking};

type Result<T> = std::result::Result<T, WaitlistError>;

/// The waitlist next to [`super::SqliteLedger`] (`Ledger::waitlist`).
pub struct SqliteWaitlist {
    worker: Worker,
}

impl std::fmt::Debug for SqliteWaitlist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteWaitlist").finish()
    }
}

impl SqliteWaitlist {
    pub(super) fn new(worker: Worker) -> SqliteWaitlist {
        SqliteWaitlist { worker }
    }
}

fn err(e: rusqlite::Error) -> WaitlistError {
    WaitlistError::Ledger(sqlite_err(e))
}

fn immediate(conn: &mut Connection) -> Result<Transaction<'_>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)
}

const OFFER_COLUMNS: &str = "offer_id, entry_id, event, seat, state, released_at_ms, \
     offered_at_ms, expires_at_ms, booking_id";

fn offer_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<Offer> {
    Ok(Offer {
        offer_id: row.get(0)?,
        entry_id: row.get(1)?,
        event: row.get(2)?,
        seat: row.get(3)?,
        state: row.get(4)?,
        released_at_ms: ms(row.get(5)?),
        offered_at_ms: ms(row.get(6)?),
        expires_at_ms: ms(row.get(7)?),
        booking_id: row.get(8)?,
        token: None,
    })
}

fn load_entry(conn: &Connection, entry_id: &str) -> Result<Option<Entry>> {
    let row = conn
        .prepare_cached(
            "SELECT e.event, e.visitor, e.state, e.joined_at_ms, \
             CASE WHEN e.state = 'waiting' THEN (SELECT count(*) FROM waitlist_entries w \
               WHERE w.event = e.event AND w.state = 'waiting' AND w.seq <= e.seq) END \
             FROM waitlist_entries e WHERE e.entry_id = ?1",
        )
        .and_then(|mut s| {
            s.query_row(params![entry_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                ))
            })
            .optional()
        })
        .map_err(err)?;
    let Some((event, visitor, state, joined_at, position)) = row else {
        return Ok(None);
    };
    let offer = conn
        .prepare_cached(&format!(
            "SELECT {OFFER_COLUMNS} FROM waitlist_offers WHERE entry_id = ?1 \
             ORDER BY offered_at_ms DESC LIMIT 1"
        ))
        .and_then(|mut s| s.query_row(params![entry_id], offer_of).optional())
        .map_err(err)?;
    Ok(Some(Entry {
        entry_id: entry_id.to_string(),
        event,
        visitor: parse_holder(&visitor)?,
        state,
        position: position.map(ms),
        joined_at_ms: ms(joined_at),
        offer,
    }))
}

fn entry_or_unknown(conn: &Connection, entry_id: &str) -> Result<Entry> {
    load_entry(conn, entry_id)?.ok_or(WaitlistError::UnknownEntry)
}

/// Who the audit rows of one transition are about, and why.
struct Step<'a> {
    event: &'a str,
    entry_id: Option<&'a str>,
    reason: &'a str,
    at_ms: i64,
}

impl Step<'_> {
    fn record(&self, conn: &Connection, rows: &[Transition]) -> Result<()> {
        let mut insert = conn
            .prepare_cached(
                "INSERT INTO audit_log (event, subject, subject_id, entry_id, from_state, \
                 to_state, reason, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(err)?;
        for row in rows {
            insert
                .execute(params![
                    self.event,
                    row.subject,
                    row.subject_id,
                    self.entry_id,
                    row.from,
                    row.to,
                    self.reason,
                    self.at_ms
                ])
                .map_err(err)?;
        }
        Ok(())
    }

    /// Close an open offer (`to`: declined, expired, withdrawn), its entry (`entry_to`) and
    /// give its place back to the pool of free places, all audited.
    fn close_offer(
        &self,
        conn: &Connection,
        offer_id: &str,
        unit_id: i64,
        to: &'static str,
        entry_to: &'static str,
    ) -> Result<()> {
        let entry_id = self.entry_id.unwrap_or_default();
        conn.execute(
            "UPDATE waitlist_offers SET state = ?2, closed_at_ms = ?3 WHERE offer_id = ?1",
            params![offer_id, to, self.at_ms],
        )
        .map_err(err)?;
        move_entry_and_place(conn, entry_id, entry_to, unit_id, "free", self.at_ms)?;
        self.record(
            conn,
            &shared::closed(offer_id, entry_id, unit_id, to, entry_to),
        )
    }
}

/// The entry and its place move together (offered, accepted, back to the pool...).
fn move_entry_and_place(
    conn: &Connection,
    entry_id: &str,
    entry_to: &str,
    unit_id: i64,
    unit_to: &str,
    at_ms: i64,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE waitlist_entries SET state = ?2, updated_at_ms = ?3 WHERE entry_id = ?1",
    )
    .and_then(|mut s| s.execute(params![entry_id, entry_to, at_ms]))
    .map_err(err)?;
    conn.prepare_cached("UPDATE capacity_released SET state = ?2 WHERE unit_id = ?1")
        .and_then(|mut s| s.execute(params![unit_id, unit_to]))
        .map_err(err)?;
    Ok(())
}

fn join_in(
    conn: &mut Connection,
    event: &str,
    visitor: VisitorId,
    max_depth: u64,
) -> Result<(Entry, bool)> {
    let holder = visitor.to_hex();
    let tx = immediate(conn)?;
    let existing: Option<String> = tx
        .query_row(
            "SELECT entry_id FROM waitlist_entries WHERE event = ?1 AND visitor = ?2",
            params![event, holder],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)?;
    if let Some(id) = existing {
        return Ok((entry_or_unknown(&tx, &id)?, false));
    }
    let depth: i64 = tx
        .query_row(
            "SELECT count(*) FROM waitlist_entries WHERE event = ?1 \
             AND state IN ('waiting', 'offered')",
            params![event],
            |r| r.get(0),
        )
        .map_err(err)?;
    if ms(depth) >= max_depth {
        return Err(WaitlistError::Full(ms(depth)));
    }
    let entry_id = new_id();
    let now = now_ms();
    // Join order: the next sequence number, read and written under the write lock. The
    // UNIQUE (event, visitor) constraint is the safety net under the check above.
    tx.execute(
        "INSERT INTO waitlist_entries (entry_id, event, visitor, seq, state, joined_at_ms, \
         updated_at_ms) VALUES (?1, ?2, ?3, \
         (SELECT coalesce(max(seq), 0) + 1 FROM waitlist_entries), 'waiting', ?4, ?4)",
        params![entry_id, event, holder, now],
    )
    .map_err(err)?;
    Step {
        event,
        entry_id: Some(&entry_id),
        reason: shared::REASON_JOINED,
        at_ms: now,
    }
    .record(&tx, &shared::joined(&entry_id))?;
    let entry = entry_or_unknown(&tx, &entry_id)?;
    tx.commit().map_err(err)?;
    Ok((entry, true))
}

fn promote_in(conn: &mut Connection, event: &str, rules: &PromotionRules) -> Result<Promotion> {
    // THE serialisation point: the write lock, taken before anything is read.
    let tx = immediate(conn)?;
    let now = now_ms();
    let mut promotion = Promotion::default();

    // 1. Overdue offers expire; their places go back to the free pool.
    let overdue: Vec<(String, String, i64)> = tx
        .prepare_cached(
            "SELECT offer_id, entry_id, unit_id FROM waitlist_offers \
             WHERE event = ?1 AND state = 'open' AND expires_at_ms <= ?2 ORDER BY offered_at_ms",
        )
        .and_then(|mut s| {
            s.query_map(params![event, now], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect()
        })
        .map_err(err)?;
    for (offer_id, entry_id, unit_id) in &overdue {
        Step {
            event,
            entry_id: Some(entry_id),
            reason: shared::REASON_EXPIRED,
            at_ms: now,
        }
        .close_offer(&tx, offer_id, *unit_id, "expired", "expired")?;
        promotion.expired += 1;
    }

    // 2. Waves: at most notify_per_second offers per second for this event.
    let recent: i64 = tx
        .query_row(
            "SELECT count(*) FROM waitlist_offers WHERE event = ?1 AND offered_at_ms > ?2",
            params![event, now - 1000],
            |r| r.get(0),
        )
        .map_err(err)?;
    let budget = shared::wave_budget(rules.notify_per_second, recent);
    let free: Vec<Unit> = tx
        .prepare_cached(
            "SELECT unit_id, seat, released_at_ms FROM capacity_released \
             WHERE event = ?1 AND state = 'free' ORDER BY unit_id LIMIT ?2",
        )
        .and_then(|mut s| {
            s.query_map(params![event, budget], |r| {
                Ok(Unit {
                    unit_id: r.get(0)?,
                    seat: r.get(1)?,
                    released_at_ms: r.get(2)?,
                })
            })?
            .collect()
        })
        .map_err(err)?;
    let fans: Vec<(String, String)> = tx
        .prepare_cached(
            "SELECT entry_id, visitor FROM waitlist_entries WHERE event = ?1 \
             AND state = 'waiting' ORDER BY seq LIMIT ?2",
        )
        .and_then(|mut s| {
            s.query_map(params![event, free.len() as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect()
        })
        .map_err(err)?;
    for (unit, (entry_id, visitor)) in free.iter().zip(fans.iter()) {
        let made = shared::new_offer(
            event,
            entry_id,
            parse_holder(visitor)?,
            unit,
            now,
            rules.offer_ttl_ms,
            &rules.keyring,
        );
        let offer = made.offer;
        tx.prepare_cached(
            "INSERT INTO waitlist_offers (offer_id, entry_id, event, unit_id, seat, state, \
             released_at_ms, offered_at_ms, expires_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?7, ?8)",
        )
        .and_then(|mut s| {
            s.execute(params![
                offer.offer_id,
                entry_id,
                event,
                unit.unit_id,
                unit.seat,
                unit.released_at_ms,
                now,
                offer.expires_at_ms as i64
            ])
        })
        .map_err(err)?;
        move_entry_and_place(&tx, entry_id, "offered", unit.unit_id, "offered", now)?;
        tx.prepare_cached(
            "INSERT INTO waitlist_outbox (message_id, event, payload, created_at_ms, \
             next_attempt_at_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
        )
        .and_then(|mut s| s.execute(params![offer.offer_id, event, made.payload, now]))
        .map_err(err)?;
        Step {
            event,
            entry_id: Some(entry_id),
            reason: shared::REASON_RELEASED,
            at_ms: now,
        }
        .record(
            &tx,
            &shared::offered(&offer.offer_id, entry_id, unit.unit_id),
        )?;
        promotion.offered.push(offer);
    }

    // 3. Nobody waits: free places go back on public sale.
    let anyone_waiting: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM waitlist_entries WHERE event = ?1 \
             AND state = 'waiting')",
            params![event],
            |r| r.get(0),
        )
        .map_err(err)?;
    if !anyone_waiting {
        let returned: Vec<(i64, Option<String>)> = tx
            .prepare(
                "UPDATE capacity_released SET state = 'returned' \
                 WHERE event = ?1 AND state = 'free' RETURNING unit_id, seat",
            )
            .and_then(|mut s| {
                s.query_map(params![event], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect()
            })
            .map_err(err)?;
        let step = Step {
            event,
            entry_id: None,
            reason: shared::REASON_RETURNED,
            at_ms: now,
        };
        for (unit_id, seat) in returned {
            step.record(&tx, &[shared::returned(unit_id)])?;
            match seat {
                Some(seat) => promotion.returned_seats.push(seat),
                None => promotion.returned_quantity += 1,
            }
        }
        promotion.returned_seats.sort();
    }
    tx.commit().map_err(err)?;
    Ok(promotion)
}

fn accept_in(
    conn: &mut Connection,
    offer_id: &str,
    key: &str,
    visitor: VisitorId,
) -> Result<(Booking, bool)> {
    let holder = visitor.to_hex();
    let hold_id = shared::offer_hold_id(offer_id);
    let tx = immediate(conn)?;
    // 1. The key: this fan already accepted with it → the same answer.
    if let Some((other, existing)) = key_row(&tx, key, &holder)? {
        if other != hold_id {
            return Err(WaitlistError::Ledger(LedgerError::IdempotencyKeyReused));
        }
        let booking = load_booking(&tx, &existing)?.ok_or(LedgerError::UnknownBooking)?;
        return Ok((booking, false));
    }
    // 2. The offer and its entry (nothing else writes while we hold the lock).
    let row = tx
        .query_row(
            "SELECT o.state, o.expires_at_ms, o.booking_id, o.unit_id, o.seat, o.event, \
             o.entry_id, e.visitor FROM waitlist_offers o JOIN waitlist_entries e \
             USING (entry_id) WHERE o.offer_id = ?1",
            params![offer_id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                ))
            },
        )
        .optional()
        .map_err(err)?
        .ok_or(WaitlistError::OfferClosed)?;
    let (state, expires_at, existing, unit_id, seat, event, entry_id, owner) = row;
    let now = now_ms();
    let step = accept_step(
        &OfferRow {
            state: &state,
            expires_at_ms: expires_at,
            booking_id: existing.as_deref(),
            owner: &owner,
        },
        &holder,
        now,
    )?;
    let record_key = |booking_id: &str| {
        tx.prepare_cached(
            "INSERT INTO idempotency_keys (key, holder, hold_id, booking_id, created_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut s| s.execute(params![key, holder, hold_id, booking_id, now]))
        .map_err(err)
    };
    if let AcceptStep::Repeat(existing) = step {
        // Accepted already (another key, a double tap): that booking, and this key names it.
        record_key(&existing)?;
        let booking = load_booking(&tx, &existing)?.ok_or(LedgerError::UnknownBooking)?;
        tx.commit().map_err(err)?;
        return Ok((booking, false));
    }
    // 3. The booking, under the same constraints as any: one per "hold" (this offer), the
    // seat's partial unique index, the GA CHECK.
    let booking_id = new_id();
    record_key(&booking_id)?;
    tx.execute(
        "INSERT INTO bookings (booking_id, event, holder, hold_id, quantity, status, \
         fencing_token, created_at_ms) VALUES (?1, ?2, ?3, ?4, 1, ?5, 0, ?6)",
        params![booking_id, event, holder, hold_id, STATUS_CONFIRMED, now],
    )
    .map_err(err)?;
    match &seat {
        Some(seat) => {
            let inserted = tx.execute(
                "INSERT INTO booking_seats (booking_id, event, seat, status) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![booking_id, event, seat, STATUS_CONFIRMED],
            );
            match inserted {
                Ok(_) => {}
                Err(e) if extended_code(&e) == Some(ffi::SQLITE_CONSTRAINT_UNIQUE) => {
                    return Err(LedgerError::SeatsAlreadyBooked(vec![seat.clone()]).into())
                }
                Err(e) => return Err(err(e)),
            }
        }
        None => {
            let updated = tx.execute(
                "UPDATE ga_inventory SET sold = sold + 1 WHERE event = ?1",
                params![event],
            );
            match updated {
                Ok(_) => {}
                Err(e) if extended_code(&e) == Some(ffi::SQLITE_CONSTRAINT_CHECK) => {
                    return Err(LedgerError::SoldOut.into())
                }
                Err(e) => return Err(err(e)),
            }
        }
    }
    tx.execute(
        "UPDATE waitlist_offers SET state = 'accepted', closed_at_ms = ?2, booking_id = ?3 \
         WHERE offer_id = ?1",
        params![offer_id, now, booking_id],
    )
    .map_err(err)?;
    move_entry_and_place(&tx, &entry_id, "accepted", unit_id, "taken", now)?;
    Step {
        event: &event,
        entry_id: Some(&entry_id),
        reason: shared::REASON_ACCEPTED,
        at_ms: now,
    }
    .record(
        &tx,
        &shared::accepted(offer_id, &entry_id, unit_id, &booking_id),
    )?;
    tx.commit().map_err(err)?;
    let booking = Booking {
        booking_id,
        event,
        holder: visitor,
        seats: seat.into_iter().collect(),
        quantity: 1,
        status: STATUS_CONFIRMED.to_string(),
        created_at_ms: ms(now),
    };
    Ok((booking, true))
}

/// Close the visitor's open offer (decline) or entry (leave) in one transaction.
fn close_in(conn: &mut Connection, target: Close<'_>, visitor: VisitorId) -> Result<Entry> {
    let tx = immediate(conn)?;
    let now = now_ms();
    let entry_id = match target {
        Close::Decline(offer_id) => {
            let row = tx
                .query_row(
                    "SELECT o.entry_id, o.event, o.state, o.expires_at_ms, o.unit_id, e.visitor \
                     FROM waitlist_offers o JOIN waitlist_entries e USING (entry_id) \
                     WHERE o.offer_id = ?1",
                    params![offer_id],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, i64>(4)?,
                            r.get::<_, String>(5)?,
                        ))
                    },
                )
                .optional()
                .map_err(err)?
                .ok_or(WaitlistError::OfferClosed)?;
            let (entry_id, event, state, expires_at, unit_id, owner) = row;
            shared::may_close(&state, expires_at, &owner, visitor, now)?;
            Step {
                event: &event,
                entry_id: Some(&entry_id),
                reason: shared::REASON_DECLINED,
                at_ms: now,
            }
            .close_offer(&tx, offer_id, unit_id, "declined", "declined")?;
            entry_id
        }
        Close::Leave(entry_id) => {
            let (event, owner, state): (String, String, String) = tx
                .query_row(
                    "SELECT event, visitor, state FROM waitlist_entries WHERE entry_id = ?1",
                    params![entry_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(err)?
                .ok_or(WaitlistError::UnknownEntry)?;
            if owner != visitor.to_hex() {
                return Err(WaitlistError::UnknownEntry);
            }
            let step = Step {
                event: &event,
                entry_id: Some(entry_id),
                reason: shared::REASON_LEFT,
                at_ms: now,
            };
            match leave_step(&state) {
                LeaveStep::Waiting => {
                    tx.execute(
                        "UPDATE waitlist_entries SET state = 'left', updated_at_ms = ?2 \
                         WHERE entry_id = ?1",
                        params![entry_id, now],
                    )
                    .map_err(err)?;
                    step.record(&tx, &shared::left_waiting(entry_id))?;
                }
                LeaveStep::Offered => {
                    let (offer_id, unit_id): (String, i64) = tx
                        .query_row(
                            "SELECT offer_id, unit_id FROM waitlist_offers \
                             WHERE entry_id = ?1 AND state = 'open'",
                            params![entry_id],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )
                        .map_err(err)?;
                    step.close_offer(&tx, &offer_id, unit_id, "withdrawn", "left")?;
                }
                LeaveStep::Over => {}
            }
            entry_id.to_string()
        }
    };
    let entry = entry_or_unknown(&tx, &entry_id)?;
    tx.commit().map_err(err)?;
    Ok(entry)
}

fn overview_in(conn: &Connection, event: &str) -> Result<Overview> {
    let now = now_ms();
    conn.query_row(
        "SELECT \
             (SELECT count(*) FROM waitlist_entries WHERE event = ?1 AND state = 'waiting'), \
             (SELECT count(*) FROM waitlist_offers WHERE event = ?1 AND state = 'open'), \
             (SELECT count(*) FROM waitlist_offers WHERE event = ?1 AND state = 'accepted'), \
             (SELECT count(*) FROM waitlist_offers WHERE event = ?1 AND state = 'declined'), \
             (SELECT count(*) FROM waitlist_offers WHERE event = ?1 AND state = 'expired'), \
             (SELECT count(*) FROM waitlist_entries WHERE event = ?1 AND state = 'left'), \
             (SELECT count(*) FROM capacity_released WHERE event = ?1 AND state = 'free'), \
             (SELECT min(released_at_ms) FROM capacity_released \
                WHERE event = ?1 AND state = 'free'), \
             (SELECT count(*) FROM waitlist_outbox \
                WHERE event = ?1 AND delivered_at_ms IS NULL)",
        params![event],
        |r| {
            let count = |i: usize| r.get::<_, i64>(i).map(ms);
            Ok(Overview {
                event: event.to_string(),
                waiting: count(0)?,
                open_offers: count(1)?,
                accepted: count(2)?,
                declined: count(3)?,
                expired: count(4)?,
                left: count(5)?,
                unoffered_places: count(6)?,
                promotion_lag_ms: r
                    .get::<_, Option<i64>>(7)?
                    .map(|oldest| ms(now - oldest))
                    .unwrap_or(0),
                outbox_backlog: count(8)?,
            })
        },
    )
    .map_err(err)
}

fn audit_in(conn: &Connection, entry_id: &str) -> Result<Vec<AuditRecord>> {
    // The entry's own rows, and the rows of the booking its offer became.
    let rows: Vec<AuditRecord> = conn
        .prepare_cached(
            "SELECT seq, subject, subject_id, from_state, to_state, reason, at_ms \
             FROM audit_log WHERE entry_id = ?1 ORDER BY seq",
        )
        .and_then(|mut s| {
            s.query_map(params![entry_id], |r| {
                Ok(AuditRecord {
                    seq: ms(r.get(0)?),
                    subject: r.get(1)?,
                    subject_id: r.get(2)?,
                    from: r.get(3)?,
                    to: r.get(4)?,
                    reason: r.get(5)?,
                    at_ms: ms(r.get(6)?),
                })
            })?
            .collect()
        })
        .map_err(err)?;
    if rows.is_empty() {
        return Err(WaitlistError::UnknownEntry);
    }
    Ok(rows)
}

#[async_trait]
impl Waitlist for SqliteWaitlist {
    async fn join(&self, event: &str, visitor: VisitorId, max_depth: u64) -> Result<(Entry, bool)> {
        let event = event.to_string();
        self.worker
            .call(move |conn| join_in(conn, &event, visitor, max_depth))
            .await
    }

    async fn entry(&self, entry_id: &str) -> Result<Option<Entry>> {
        if check_entry_id(entry_id).is_err() {
            return Ok(None);
        }
        let entry_id = entry_id.to_string();
        self.worker
            .call(move |conn| load_entry(conn, &entry_id))
            .await
    }

    async fn offer(&self, offer_id: &str) -> Result<Option<Offer>> {
        if check_offer_id(offer_id).is_err() {
            return Ok(None);
        }
        let offer_id = offer_id.to_string();
        self.worker
            .call(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {OFFER_COLUMNS} FROM waitlist_offers WHERE offer_id = ?1"
                ))
                .and_then(|mut s| s.query_row(params![offer_id], offer_of).optional())
                .map_err(err)
            })
            .await
    }

    async fn leave(&self, entry_id: &str, visitor: VisitorId) -> Result<Entry> {
        check_entry_id(entry_id)?;
        let entry_id = entry_id.to_string();
        self.worker
            .call(move |conn| close_in(conn, Close::Leave(&entry_id), visitor))
            .await
    }

    async fn promote(&self, event: &str, rules: &PromotionRules) -> Result<Promotion> {
        let (event, rules) = (event.to_string(), rules.clone());
        self.worker
            .call(move |conn| promote_in(conn, &event, &rules))
            .await
    }

    async fn events_to_promote(&self) -> Result<Vec<String>> {
        self.worker
            .call(|conn| {
                conn.prepare_cached(
                    "SELECT DISTINCT event FROM capacity_released WHERE state = 'free' \
                     UNION SELECT DISTINCT event FROM waitlist_offers \
                     WHERE state = 'open' AND expires_at_ms <= ?1",
                )
                .and_then(|mut s| s.query_map(params![now_ms()], |r| r.get(0))?.collect())
                .map_err(err)
            })
            .await
    }

    async fn accept(
        &self,
        offer_id: &str,
        key: &str,
        visitor: VisitorId,
    ) -> Result<(Booking, bool)> {
        check_accept_input(offer_id, key)?;
        let (offer_id, key) = (offer_id.to_string(), key.to_string());
        self.worker
            .call(move |conn| accept_in(conn, &offer_id, &key, visitor))
            .await
    }

    async fn decline(&self, offer_id: &str, visitor: VisitorId) -> Result<Entry> {
        check_offer_id(offer_id)?;
        let offer_id = offer_id.to_string();
        self.worker
            .call(move |conn| close_in(conn, Close::Decline(&offer_id), visitor))
            .await
    }

    async fn overview(&self, event: &str) -> Result<Overview> {
        let event = event.to_string();
        self.worker
            .call(move |conn| overview_in(conn, &event))
            .await
    }

    async fn audit(&self, entry_id: &str) -> Result<Vec<AuditRecord>> {
        check_entry_id(entry_id)?;
        let entry_id = entry_id.to_string();
        self.worker
            .call(move |conn| audit_in(conn, &entry_id))
            .await
    }

    async fn due_messages(&self, limit: u32) -> Result<Vec<OutboxMessage>> {
        self.worker
            .call(move |conn| {
                conn.prepare_cached(
                    "SELECT message_id, payload, attempts FROM waitlist_outbox \
                     WHERE delivered_at_ms IS NULL AND next_attempt_at_ms <= ?1 \
                     ORDER BY created_at_ms, message_id LIMIT ?2",
                )
                .and_then(|mut s| {
                    s.query_map(params![now_ms(), i64::from(limit)], |r| {
                        Ok(OutboxMessage {
                            message_id: r.get(0)?,
                            payload: r.get(1)?,
                            attempts: r.get::<_, i64>(2)?.clamp(0, i64::from(u32::MAX)) as u32,
                        })
                    })?
                    .collect()
                })
                .map_err(err)
            })
            .await
    }

    async fn delivered(&self, message_id: &str) -> Result<()> {
        let message_id = message_id.to_string();
        self.worker
            .call(move |conn| {
                conn.execute(
                    "UPDATE waitlist_outbox SET delivered_at_ms = ?2, attempts = attempts + 1 \
                     WHERE message_id = ?1 AND delivered_at_ms IS NULL",
                    params![message_id, now_ms()],
                )
                .map(drop)
                .map_err(err)
            })
            .await
    }

    async fn failed(&self, message_id: &str, retry_in_ms: u64) -> Result<()> {
        let message_id = message_id.to_string();
        let next = now_ms() + retry_in_ms.min(i64::MAX as u64 / 2) as i64;
        self.worker
            .call(move |conn| {
                conn.execute(
                    "UPDATE waitlist_outbox SET attempts = attempts + 1, next_attempt_at_ms = ?2 \
                     WHERE message_id = ?1 AND delivered_at_ms IS NULL",
                    params![message_id, next],
                )
                .map(drop)
                .map_err(err)
            })
            .await
    }
}
