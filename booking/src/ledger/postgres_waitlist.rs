//! `PostgresWaitlist`: the waitlist in the ledger's PostgreSQL database (same pool).
//!
//! Promotion takes a transaction-scoped advisory lock per event, so passes for one event
//! are serialised across every instance and worker; a worker that dies mid-pass rolls its
//! transaction back (no offer without its entry, place, outbox and audit rows). Joins,
//! leaves, declines and accepts lock the rows they change (`FOR UPDATE`) and re-check the
//! state, so they interleave safely with a pass. Partial unique indexes (one open offer per
//! place, one per entry) are the safety net under all of it.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Object, Pool, Transaction};
use tokio_postgres::error::SqlState;
use tokio_postgres::{GenericClient, Row};

use anteroom_admission::VisitorId;

use super::common::{now_ms, parse_holder, STATUS_CONFIRMED};
use super::postgres::{append_audit, key_row, load_booking, unavailable, Audit, Failure};
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

/// Retries of a transaction that hit a deadlock or serialization failure.
const ATTEMPTS: usize = 3;

pub struct PostgresWaitlist {
    pool: Pool,
    timeout: Duration,
}

impl std::fmt::Debug for PostgresWaitlist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresWaitlist").finish()
    }
}

type Result<T> = std::result::Result<T, WaitlistError>;

fn db(e: tokio_postgres::Error) -> WaitlistError {
    WaitlistError::Ledger(unavailable(e))
}

/// A transient conflict worth retrying, or an answer.
fn retryable(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
    )
}

const OFFER_COLUMNS: &str = "offer_id, entry_id, event, seat, state, released_at_ms, \
     offered_at_ms, expires_at_ms, booking_id";

fn offer_of(row: &Row) -> Offer {
    Offer {
        offer_id: row.get(0),
        entry_id: row.get(1),
        event: row.get(2),
        seat: row.get(3),
        state: row.get(4),
        released_at_ms: ms(row.get(5)),
        offered_at_ms: ms(row.get(6)),
        expires_at_ms: ms(row.get(7)),
        booking_id: row.get(8),
        token: None,
    }
}

async fn load_entry<C: GenericClient>(client: &C, entry_id: &str) -> Result<Option<Entry>> {
    let Some(row) = client
        .query_opt(
            "SELECT e.event, e.visitor, e.state, e.joined_at_ms, \
             CASE WHEN e.state = 'waiting' THEN (SELECT count(*) FROM waitlist_entries w \
               WHERE w.event = e.event AND w.state = 'waiting' AND w.seq <= e.seq) END \
             FROM waitlist_entries e WHERE e.entry_id = $1",
            &[&entry_id],
        )
        .await
        .map_err(db)?
    else {
        return Ok(None);
    };
    let offer = client
        .query_opt(
            &format!(
                "SELECT {OFFER_COLUMNS} FROM waitlist_offers WHERE entry_id = $1 \
                 ORDER BY offered_at_ms DESC LIMIT 1"
            ),
            &[&entry_id],
        )
        .await
        .map_err(db)?
        .map(|r| offer_of(&r));
    let visitor: String = row.get(1);
    Ok(Some(Entry {
        entry_id: entry_id.to_string(),
        event: row.get(0),
        visitor: parse_holder(&visitor)?,
        state: row.get(2),
        position: row.get::<_, Option<i64>>(4).map(ms),
        joined_at_ms: ms(row.get(3)),
        offer,
    }))
}

/// The open offer `offer_id` of `visitor`, locked with its entry, or OfferClosed.
async fn lock_open_offer(
    tx: &Transaction<'_>,
    offer_id: &str,
    visitor: VisitorId,
    now: i64,
) -> Result<(Offer, i64)> {
    let row = tx
        .query_opt(
            "SELECT o.offer_id, o.entry_id, o.event, o.seat, o.state, o.released_at_ms, \
             o.offered_at_ms, o.expires_at_ms, o.booking_id, o.unit_id, e.visitor \
             FROM waitlist_offers o JOIN waitlist_entries e USING (entry_id) \
             WHERE o.offer_id = $1 FOR UPDATE OF o, e",
            &[&offer_id],
        )
        .await
        .map_err(db)?
        .ok_or(WaitlistError::OfferClosed)?;
    let offer = offer_of(&row);
    let owner: String = row.get(10);
    let expires_at: i64 = row.get(7);
    shared::may_close(&offer.state, expires_at, &owner, visitor, now)?;
    Ok((offer, row.get(9)))
}

struct Step<'a> {
    event: &'a str,
    entry_id: &'a str,
    reason: &'a str,
    at_ms: i64,
}

/// The entry and its place move together (offered, accepted, back to the pool...).
async fn move_entry_and_place(
    tx: &Transaction<'_>,
    entry_id: &str,
    entry_to: &str,
    unit_id: i64,
    unit_to: &str,
    at_ms: i64,
) -> std::result::Result<(), tokio_postgres::Error> {
    tx.execute(
        "UPDATE waitlist_entries SET state = $2, updated_at_ms = $3 WHERE entry_id = $1",
        &[&entry_id, &entry_to, &at_ms],
    )
    .await?;
    tx.execute(
        "UPDATE capacity_released SET state = $2 WHERE unit_id = $1",
        &[&unit_id, &unit_to],
    )
    .await
    .map(drop)
}

impl Step<'_> {
    /// The audit rows of one transition, in the caller's transaction.
    async fn record(&self, tx: &Transaction<'_>, rows: &[Transition]) -> Result<()> {
        for row in rows {
            append_audit(
                &**tx,
                &Audit {
                    event: self.event,
                    subject: row.subject,
                    subject_id: &row.subject_id,
                    entry_id: Some(self.entry_id),
                    from: row.from,
                    to: row.to,
                    reason: self.reason,
                    at_ms: self.at_ms,
                },
            )
            .await
            .map_err(db)?;
        }
        Ok(())
    }

    /// Close an open offer (`to`: declined, expired, withdrawn), its entry (`entry_to`) and
    /// give its place back to the pool of free places, all audited.
    async fn close_offer(
        &self,
        tx: &Transaction<'_>,
        offer_id: &str,
        unit_id: i64,
        to: &'static str,
        entry_to: &'static str,
    ) -> Result<()> {
        tx.execute(
            "UPDATE waitlist_offers SET state = $2, closed_at_ms = $3 WHERE offer_id = $1",
            &[&offer_id, &to, &self.at_ms],
        )
        .await
        .map_err(db)?;
        move_entry_and_place(tx, self.entry_id, entry_to, unit_id, "free", self.at_ms)
            .await
            .map_err(db)?;
        self.record(
            tx,
            &shared::closed(offer_id, self.entry_id, unit_id, to, entry_to),
        )
        .await
    }
}

impl PostgresWaitlist {
    pub fn new(pool: Pool, timeout: Duration) -> PostgresWaitlist {
        PostgresWaitlist { pool, timeout }
    }

    async fn client(&self) -> Result<Object> {
        self.pool.get().await.map_err(|e| {
            WaitlistError::Ledger(LedgerError::Unavailable(format!(
                "PostgreSQL connection: {e}"
            )))
        })
    }

    /// Run `f` under the deadline, retrying transient conflicts.
    async fn with_retries<T, F, Fut>(&self, mut f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, Retry>>,
    {
        let attempts = async {
            for _ in 0..ATTEMPTS {
                match f().await {
                    Ok(value) => return Ok(value),
                    Err(Retry::Answer(e)) => return Err(e),
                    Err(Retry::Again) => tokio::task::yield_now().await,
                }
            }
            Err(WaitlistError::Ledger(LedgerError::Unavailable(
                "kept conflicting with concurrent changes; retry".into(),
            )))
        };
        match tokio::time::timeout(self.timeout, attempts).await {
            Ok(result) => result,
            Err(_) => Err(WaitlistError::Ledger(LedgerError::Unavailable(format!(
                "PostgreSQL did not answer within {:?}",
                self.timeout
            )))),
        }
    }

    async fn promote_once(
        &self,
        event: &str,
        rules: &PromotionRules,
    ) -> std::result::Result<Promotion, Retry> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(Retry::db)?;
        // THE serialisation point: one pass per event at a time, over every instance.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('anteroom-waitlist:' || $1, 0))",
            &[&event],
        )
        .await
        .map_err(Retry::db)?;
        let now = now_ms();
        let mut promotion = Promotion::default();

        // 1. Overdue offers expire; their places go back to the free pool.
        let overdue = tx
            .query(
                "SELECT offer_id, entry_id, unit_id FROM waitlist_offers \
                 WHERE event = $1 AND state = 'open' AND expires_at_ms <= $2 \
                 ORDER BY offered_at_ms FOR UPDATE",
                &[&event, &now],
            )
            .await
            .map_err(Retry::db)?;
        for row in &overdue {
            let (offer_id, entry_id, unit_id): (String, String, i64) =
                (row.get(0), row.get(1), row.get(2));
            let step = Step {
                event,
                entry_id: &entry_id,
                reason: shared::REASON_EXPIRED,
                at_ms: now,
            };
            step.close_offer(&tx, &offer_id, unit_id, "expired", "expired")
                .await?;
            promotion.expired += 1;
        }

        // 2. Waves: at most notify_per_second offers per second for this event.
        let recent: i64 = tx
            .query_one(
                "SELECT count(*) FROM waitlist_offers WHERE event = $1 AND offered_at_ms > $2",
                &[&event, &(now - 1000)],
            )
            .await
            .map_err(Retry::db)?
            .get(0);
        let budget = shared::wave_budget(rules.notify_per_second, recent);
        let free = tx
            .query(
                "SELECT unit_id, seat, released_at_ms FROM capacity_released \
                 WHERE event = $1 AND state = 'free' ORDER BY unit_id LIMIT $2 FOR UPDATE",
                &[&event, &budget],
            )
            .await
            .map_err(Retry::db)?;
        let fans = tx
            .query(
                "SELECT entry_id, visitor FROM waitlist_entries WHERE event = $1 \
                 AND state = 'waiting' ORDER BY seq LIMIT $2 FOR UPDATE",
                &[&event, &(free.len() as i64)],
            )
            .await
            .map_err(Retry::db)?;
        for (unit, fan) in free.iter().zip(fans.iter()) {
            let unit = Unit {
                unit_id: unit.get(0),
                seat: unit.get(1),
                released_at_ms: unit.get(2),
            };
            let (entry_id, visitor): (String, String) = (fan.get(0), fan.get(1));
            let visitor = parse_holder(&visitor)?;
            let made = shared::new_offer(
                event,
                &entry_id,
                visitor,
                &unit,
                now,
                rules.offer_ttl_ms,
                &rules.keyring,
            );
            let offer = made.offer;
            let expires = offer.expires_at_ms as i64;
            tx.execute(
                "INSERT INTO waitlist_offers (offer_id, entry_id, event, unit_id, seat, state, \
                 released_at_ms, offered_at_ms, expires_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $8)",
                &[
                    &offer.offer_id,
                    &entry_id,
                    &event,
                    &unit.unit_id,
                    &unit.seat,
                    &unit.released_at_ms,
                    &now,
                    &expires,
                ],
            )
            .await
            .map_err(Retry::db)?;
            move_entry_and_place(&tx, &entry_id, "offered", unit.unit_id, "offered", now)
                .await
                .map_err(Retry::db)?;
            tx.execute(
                "INSERT INTO waitlist_outbox (message_id, event, payload, created_at_ms, \
                 next_attempt_at_ms) VALUES ($1, $2, $3, $4, $4)",
                &[&offer.offer_id, &event, &made.payload, &now],
            )
            .await
            .map_err(Retry::db)?;
            let step = Step {
                event,
                entry_id: &entry_id,
                reason: shared::REASON_RELEASED,
                at_ms: now,
            };
            step.record(
                &tx,
                &shared::offered(&offer.offer_id, &entry_id, unit.unit_id),
            )
            .await?;
            promotion.offered.push(offer);
        }

        // 3. Nobody waits (and no offer is open): free places go back on public sale.
        let anyone_waiting: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM waitlist_entries WHERE event = $1 \
                 AND state = 'waiting')",
                &[&event],
            )
            .await
            .map_err(Retry::db)?
            .get(0);
        if !anyone_waiting {
            let returned = tx
                .query(
                    "UPDATE capacity_released SET state = 'returned' \
                     WHERE event = $1 AND state = 'free' RETURNING unit_id, seat",
                    &[&event],
                )
                .await
                .map_err(Retry::db)?;
            for row in &returned {
                let unit = shared::returned(row.get(0));
                append_audit(
                    &*tx,
                    &Audit {
                        event,
                        subject: unit.subject,
                        subject_id: &unit.subject_id,
                        entry_id: None,
                        from: unit.from,
                        to: unit.to,
                        reason: shared::REASON_RETURNED,
                        at_ms: now,
                    },
                )
                .await
                .map_err(Retry::db)?;
                match row.get::<_, Option<String>>(1) {
                    Some(seat) => promotion.returned_seats.push(seat),
                    None => promotion.returned_quantity += 1,
                }
            }
            promotion.returned_seats.sort();
        }
        tx.commit().await.map_err(Retry::db)?;
        Ok(promotion)
    }

    async fn accept_once(
        &self,
        offer_id: &str,
        key: &str,
        visitor: VisitorId,
    ) -> std::result::Result<(Booking, bool), Retry> {
        let mut client = self.client().await?;
        let holder = visitor.to_hex();
        let hold_id = shared::offer_hold_id(offer_id);
        let booking_id = new_id();
        let now = now_ms();
        let tx = client.transaction().await.map_err(Retry::db)?;
        // 1. The key first: a twin with the same key waits here, then answers as we did.
        let inserted = tx
            .query_opt(
                "INSERT INTO idempotency_keys (key, holder, hold_id, booking_id, created_at_ms) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key, holder) DO NOTHING RETURNING 1",
                &[&key, &holder, &hold_id, &booking_id, &now],
            )
            .await
            .map_err(Retry::db)?;
        if inserted.is_none() {
            tx.rollback().await.map_err(Retry::db)?;
            return match key_row(&**client, key, &holder).await? {
                Some((other, _)) if other != hold_id => {
                    Err(WaitlistError::Ledger(LedgerError::IdempotencyKeyReused).into())
                }
                Some((_, existing)) => Ok((
                    load_booking(&**client, &existing)
                        .await?
                        .ok_or(LedgerError::UnknownBooking)?,
                    false,
                )),
                None => Err(Retry::Again),
            };
        }
        // 2. The offer and its entry, locked: concurrent accepts under other keys queue here.
        let row = tx
            .query_opt(
                "SELECT o.state, o.expires_at_ms, o.booking_id, o.unit_id, o.seat, o.event, \
                 o.entry_id, e.visitor FROM waitlist_offers o JOIN waitlist_entries e \
                 USING (entry_id) WHERE o.offer_id = $1 FOR UPDATE OF o, e",
                &[&offer_id],
            )
            .await
            .map_err(Retry::db)?
            .ok_or(WaitlistError::OfferClosed)?;
        let (state, expires_at, existing): (String, i64, Option<String>) =
            (row.get(0), row.get(1), row.get(2));
        let (unit_id, seat, event, entry_id, owner): (i64, Option<String>, String, String, String) =
            (row.get(3), row.get(4), row.get(5), row.get(6), row.get(7));
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
        if let AcceptStep::Repeat(existing) = step {
            // Accepted already (another key, a double tap): that booking, and this key names it.
            tx.execute(
                "UPDATE idempotency_keys SET booking_id = $3 WHERE key = $1 AND holder = $2",
                &[&key, &holder, &existing],
            )
            .await
            .map_err(Retry::db)?;
            let booking = load_booking(&*tx, &existing)
                .await?
                .ok_or(LedgerError::UnknownBooking)?;
            tx.commit().await.map_err(Retry::db)?;
            return Ok((booking, false));
        }
        // 3. The booking, under the same constraints as any: one per "hold" (this offer),
        // the seat's partial unique index, the GA CHECK.
        tx.execute(
            "INSERT INTO bookings (booking_id, event, holder, hold_id, quantity, status, \
             fencing_token, created_at_ms) VALUES ($1, $2, $3, $4, 1, $5, 0, $6)",
            &[
                &booking_id,
                &event,
                &holder,
                &hold_id,
                &STATUS_CONFIRMED,
                &now,
            ],
        )
        .await
        .map_err(Retry::db)?;
        let seats: Vec<String> = seat.iter().cloned().collect();
        match &seat {
            Some(seat) => {
                let inserted = tx
                    .execute(
                        "INSERT INTO booking_seats (booking_id, event, seat, status) \
                         VALUES ($1, $2, $3, $4)",
                        &[&booking_id, &event, seat, &STATUS_CONFIRMED],
                    )
                    .await;
                match inserted {
                    Ok(_) => {}
                    Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                        return Err(WaitlistError::Ledger(LedgerError::SeatsAlreadyBooked(vec![
                            seat.clone(),
                        ]))
                        .into())
                    }
                    Err(e) => return Err(Retry::db(e)),
                }
            }
            None => {
                let updated = tx
                    .execute(
                        "UPDATE ga_inventory SET sold = sold + 1 WHERE event = $1",
                        &[&event],
                    )
                    .await;
                match updated {
                    Ok(_) => {}
                    Err(e) if e.code() == Some(&SqlState::CHECK_VIOLATION) => {
                        return Err(WaitlistError::Ledger(LedgerError::SoldOut).into())
                    }
                    Err(e) => return Err(Retry::db(e)),
                }
            }
        }
        tx.execute(
            "UPDATE waitlist_offers SET state = 'accepted', closed_at_ms = $2, booking_id = $3 \
             WHERE offer_id = $1",
            &[&offer_id, &now, &booking_id],
        )
        .await
        .map_err(Retry::db)?;
        move_entry_and_place(&tx, &entry_id, "accepted", unit_id, "taken", now)
            .await
            .map_err(Retry::db)?;
        let step = Step {
            event: &event,
            entry_id: &entry_id,
            reason: shared::REASON_ACCEPTED,
            at_ms: now,
        };
        step.record(
            &tx,
            &shared::accepted(offer_id, &entry_id, unit_id, &booking_id),
        )
        .await?;
        tx.commit().await.map_err(Retry::db)?;
        let booking = Booking {
            booking_id,
            event,
            holder: visitor,
            seats,
            quantity: 1,
            status: STATUS_CONFIRMED.to_string(),
            created_at_ms: ms(now),
        };
        Ok((booking, true))
    }

    /// Close the visitor's open offer (decline) or entry (leave) in one transaction.
    async fn close_once(
        &self,
        target: Close<'_>,
        visitor: VisitorId,
    ) -> std::result::Result<Entry, Retry> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(Retry::db)?;
        let now = now_ms();
        let entry_id = match target {
            Close::Decline(offer_id) => {
                let (offer, unit_id) = lock_open_offer(&tx, offer_id, visitor, now).await?;
                let step = Step {
                    event: &offer.event,
                    entry_id: &offer.entry_id,
                    reason: shared::REASON_DECLINED,
                    at_ms: now,
                };
                step.close_offer(&tx, offer_id, unit_id, "declined", "declined")
                    .await?;
                offer.entry_id
            }
            Close::Leave(entry_id) => {
                let row = tx
                    .query_opt(
                        "SELECT event, visitor, state FROM waitlist_entries WHERE entry_id = $1 \
                         FOR UPDATE",
                        &[&entry_id],
                    )
                    .await
                    .map_err(Retry::db)?
                    .ok_or(WaitlistError::UnknownEntry)?;
                let (event, owner, state): (String, String, String) =
                    (row.get(0), row.get(1), row.get(2));
                if owner != visitor.to_hex() {
                    return Err(WaitlistError::UnknownEntry.into());
                }
                let step = Step {
                    event: &event,
                    entry_id,
                    reason: shared::REASON_LEFT,
                    at_ms: now,
                };
                match leave_step(&state) {
                    LeaveStep::Waiting => {
                        tx.execute(
                            "UPDATE waitlist_entries SET state = 'left', updated_at_ms = $2 \
                             WHERE entry_id = $1",
                            &[&entry_id, &now],
                        )
                        .await
                        .map_err(Retry::db)?;
                        step.record(&tx, &shared::left_waiting(entry_id)).await?;
                    }
                    LeaveStep::Offered => {
                        let open = tx
                            .query_one(
                                "SELECT offer_id, unit_id FROM waitlist_offers \
                                 WHERE entry_id = $1 AND state = 'open' FOR UPDATE",
                                &[&entry_id],
                            )
                            .await
                            .map_err(Retry::db)?;
                        let offer_id: String = open.get(0);
                        step.close_offer(&tx, &offer_id, open.get(1), "withdrawn", "left")
                            .await?;
                    }
                    LeaveStep::Over => {}
                }
                entry_id.to_string()
            }
        };
        tx.commit().await.map_err(Retry::db)?;
        Ok(load_entry(&**client, &entry_id)
            .await?
            .ok_or(WaitlistError::UnknownEntry)?)
    }
}

/// One attempt's outcome besides success.
enum Retry {
    Again,
    Answer(WaitlistError),
}

impl Retry {
    fn db(e: tokio_postgres::Error) -> Retry {
        if retryable(&e) {
            Retry::Again
        } else {
            Retry::Answer(db(e))
        }
    }
}

impl From<WaitlistError> for Retry {
    fn from(e: WaitlistError) -> Retry {
        Retry::Answer(e)
    }
}

impl From<LedgerError> for Retry {
    fn from(e: LedgerError) -> Retry {
        Retry::Answer(WaitlistError::Ledger(e))
    }
}

impl From<Failure> for Retry {
    fn from(f: Failure) -> Retry {
        match f {
            Failure::Retry => Retry::Again,
            Failure::Ledger(e) => e.into(),
        }
    }
}

#[async_trait]
impl Waitlist for PostgresWaitlist {
    async fn join(&self, event: &str, visitor: VisitorId, max_depth: u64) -> Result<(Entry, bool)> {
        let holder = visitor.to_hex();
        let event = event.to_string();
        self.with_retries(|| async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(Retry::db)?;
            let now = now_ms();
            let existing = tx
                .query_opt(
                    "SELECT entry_id FROM waitlist_entries WHERE event = $1 AND visitor = $2",
                    &[&event, &holder],
                )
                .await
                .map_err(Retry::db)?;
            if let Some(row) = existing {
                let id: String = row.get(0);
                tx.commit().await.map_err(Retry::db)?;
                let entry = load_entry(&**client, &id)
                    .await?
                    .ok_or(WaitlistError::UnknownEntry)?;
                return Ok((entry, false));
            }
            let depth: i64 = tx
                .query_one(
                    "SELECT count(*) FROM waitlist_entries WHERE event = $1 \
                     AND state IN ('waiting', 'offered')",
                    &[&event],
                )
                .await
                .map_err(Retry::db)?
                .get(0);
            if depth as u64 >= max_depth {
                return Err(WaitlistError::Full(depth as u64).into());
            }
            let entry_id = new_id();
            // The UNIQUE (event, visitor) constraint settles a concurrent double join.
            let inserted = tx
                .query_opt(
                    "INSERT INTO waitlist_entries (entry_id, event, visitor, state, \
                     joined_at_ms, updated_at_ms) VALUES ($1, $2, $3, 'waiting', $4, $4) \
                     ON CONFLICT (event, visitor) DO NOTHING RETURNING 1",
                    &[&entry_id, &event, &holder, &now],
                )
                .await
                .map_err(Retry::db)?;
            if inserted.is_none() {
                return Err(Retry::Again);
            }
            let step = Step {
                event: &event,
                entry_id: &entry_id,
                reason: shared::REASON_JOINED,
                at_ms: now,
            };
            step.record(&tx, &shared::joined(&entry_id)).await?;
            tx.commit().await.map_err(Retry::db)?;
            let entry = load_entry(&**client, &entry_id)
                .await?
                .ok_or(WaitlistError::UnknownEntry)?;
            Ok((entry, true))
        })
        .await
    }

    async fn entry(&self, entry_id: &str) -> Result<Option<Entry>> {
        if check_entry_id(entry_id).is_err() {
            return Ok(None);
        }
        let client = self.client().await?;
        load_entry(&**client, entry_id).await
    }

    async fn offer(&self, offer_id: &str) -> Result<Option<Offer>> {
        if check_offer_id(offer_id).is_err() {
            return Ok(None);
        }
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {OFFER_COLUMNS} FROM waitlist_offers WHERE offer_id = $1"),
                &[&offer_id],
            )
            .await
            .map_err(db)?;
        Ok(row.map(|r| offer_of(&r)))
    }

    async fn leave(&self, entry_id: &str, visitor: VisitorId) -> Result<Entry> {
        check_entry_id(entry_id)?;
        self.with_retries(|| self.close_once(Close::Leave(entry_id), visitor))
            .await
    }

    async fn promote(&self, event: &str, rules: &PromotionRules) -> Result<Promotion> {
        self.with_retries(|| self.promote_once(event, rules)).await
    }

    async fn events_to_promote(&self) -> Result<Vec<String>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT DISTINCT event FROM capacity_released WHERE state = 'free' \
                 UNION SELECT DISTINCT event FROM waitlist_offers \
                 WHERE state = 'open' AND expires_at_ms <= $1",
                &[&now_ms()],
            )
            .await
            .map_err(db)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn accept(
        &self,
        offer_id: &str,
        key: &str,
        visitor: VisitorId,
    ) -> Result<(Booking, bool)> {
        check_accept_input(offer_id, key)?;
        self.with_retries(|| self.accept_once(offer_id, key, visitor))
            .await
    }

    async fn decline(&self, offer_id: &str, visitor: VisitorId) -> Result<Entry> {
        check_offer_id(offer_id)?;
        self.with_retries(|| self.close_once(Close::Decline(offer_id), visitor))
            .await
    }

    async fn overview(&self, event: &str) -> Result<Overview> {
        let client = self.client().await?;
        let now = now_ms();
        let row = client
            .query_one(
                "SELECT \
                 (SELECT count(*) FROM waitlist_entries WHERE event = $1 AND state = 'waiting'), \
                 (SELECT count(*) FROM waitlist_offers WHERE event = $1 AND state = 'open'), \
                 (SELECT count(*) FROM waitlist_offers WHERE event = $1 AND state = 'accepted'), \
                 (SELECT count(*) FROM waitlist_offers WHERE event = $1 AND state = 'declined'), \
                 (SELECT count(*) FROM waitlist_offers WHERE event = $1 AND state = 'expired'), \
                 (SELECT count(*) FROM waitlist_entries WHERE event = $1 AND state = 'left'), \
                 (SELECT count(*) FROM capacity_released WHERE event = $1 AND state = 'free'), \
                 (SELECT min(released_at_ms) FROM capacity_released \
                    WHERE event = $1 AND state = 'free'), \
                 (SELECT count(*) FROM waitlist_outbox \
                    WHERE event = $1 AND delivered_at_ms IS NULL)",
                &[&event],
            )
            .await
            .map_err(db)?;
        let count = |i: usize| ms(row.get::<_, i64>(i));
        Ok(Overview {
            event: event.to_string(),
            waiting: count(0),
            open_offers: count(1),
            accepted: count(2),
            declined: count(3),
            expired: count(4),
            left: count(5),
            unoffered_places: count(6),
            promotion_lag_ms: row
                .get::<_, Option<i64>>(7)
                .map(|oldest| ms(now - oldest))
                .unwrap_or(0),
            outbox_backlog: count(8),
        })
    }

    async fn audit(&self, entry_id: &str) -> Result<Vec<AuditRecord>> {
        check_entry_id(entry_id)?;
        let client = self.client().await?;
        // The entry's own rows, and the rows of the booking its offer became.
        let rows = client
            .query(
                "SELECT seq, subject, subject_id, from_state, to_state, reason, at_ms \
                 FROM audit_log WHERE entry_id = $1 ORDER BY seq",
                &[&entry_id],
            )
            .await
            .map_err(db)?;
        if rows.is_empty() {
            return Err(WaitlistError::UnknownEntry);
        }
        Ok(rows
            .iter()
            .map(|r| AuditRecord {
                seq: ms(r.get(0)),
                subject: r.get(1),
                subject_id: r.get(2),
                from: r.get(3),
                to: r.get(4),
                reason: r.get(5),
                at_ms: ms(r.get(6)),
            })
            .collect())
    }

    async fn due_messages(&self, limit: u32) -> Result<Vec<OutboxMessage>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT message_id, payload, attempts FROM waitlist_outbox \
                 WHERE delivered_at_ms IS NULL AND next_attempt_at_ms <= $1 \
                 ORDER BY created_at_ms, message_id LIMIT $2",
                &[&now_ms(), &i64::from(limit)],
            )
            .await
            .map_err(db)?;
        Ok(rows
            .iter()
            .map(|r| OutboxMessage {
                message_id: r.get(0),
                payload: r.get(1),
                attempts: r.get::<_, i32>(2).max(0) as u32,
            })
            .collect())
    }

    async fn delivered(&self, message_id: &str) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE waitlist_outbox SET delivered_at_ms = $2, attempts = attempts + 1 \
                 WHERE message_id = $1 AND delivered_at_ms IS NULL",
                &[&message_id, &now_ms()],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn failed(&self, message_id: &str, retry_in_ms: u64) -> Result<()> {
        let client = self.client().await?;
        let next = now_ms() + retry_in_ms.min(i64::MAX as u64 / 2) as i64;
        client
            .execute(
                "UPDATE waitlist_outbox SET attempts = attempts + 1, next_attempt_at_ms = $2 \
                 WHERE message_id = $1 AND delivered_at_ms IS NULL",
                &[&message_id, &next],
            )
            .await
            .map_err(db)?;
        Ok(())
    }
}
