//! `SqliteLedger`: the embedded ledger (single node, the demo) in one SQLite file, with the
//! same schema and constraints as PostgreSQL (partial unique index, CHECK, fences,
//! idempotency keys).
//!
//! One connection lives on a dedicated thread; every call is a job sent to it, so calls are
//! serialised in this process and never block the async runtime. Each confirmation is one
//! `BEGIN IMMEDIATE` transaction (the write lock taken up front), so the idempotency-key
//! check and the booking are atomic also against another process on the same file. WAL
//! mode, `synchronous = FULL` (a confirmed booking survives a power cut), foreign keys on,
//! `busy_timeout` 5 s.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{ffi, params, Connection, OptionalExtension, TransactionBehavior};

use anteroom_admission::VisitorId;

use super::common::{
    canceller_name, invalid, may_cancel, missing_seats, now_ms, parse_holder, validate_cancel,
    validate_confirm, validate_event, ConfirmRequest, KIND_GA, KIND_SEATS, STATUS_CANCELLED,
    STATUS_CONFIRMED,
};
use super::{Cancellation, Canceller, Ledger, LedgerError};
use crate::{new_id, Booking, EventSpec, Hold, Inventory};

/// (version, name, SQL), applied in order, each recorded in schema_migrations.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "one_booking_per_hold",
        include_str!("../../migrations/sqlite/0002_one_booking_per_hold.sql"),
    ),
    (
        3,
        "cancellation",
        include_str!("../../migrations/sqlite/0003_cancellation.sql"),
    ),
    (
        4,
        "waitlist",
        include_str!("../../migrations/sqlite/0004_waitlist.sql"),
    ),
];

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The bookings ledger in an SQLite file. Dropping it (and its waitlist) closes the
/// database.
pub struct SqliteLedger {
    worker: Worker,
    location: String,
}

/// The database thread's inbox: the ledger and its waitlist send jobs to one connection.
#[derive(Clone)]
pub(super) struct Worker {
    jobs: mpsc::Sender<Job>,
}

impl Worker {
    /// Run `f` on the database thread and await its answer.
    pub(super) async fn call<T, E>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<LedgerError> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = reply.send(f(conn));
        });
        self.jobs
            .send(job)
            .map_err(|_| LedgerError::Unavailable("SQLite thread has stopped".into()))?;
        answer
            .await
            .map_err(|_| LedgerError::Unavailable("SQLite job failed".into()))?
    }
}

impl std::fmt::Debug for SqliteLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteLedger")
            .field("location", &self.location)
            .finish()
    }
}

impl SqliteLedger {
    /// Open (creating it if needed) the database file at `path`. Does not migrate: call
    /// [`Ledger::migrate`] (or use [`super::open_url`], which does both).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LedgerError> {
        let path = path.as_ref();
        let conn = Connection::open(path).map_err(|e| {
            LedgerError::Unavailable(format!("open SQLite database {}: {e}", path.display()))
        })?;
        Self::start(conn, path.display().to_string())
    }

    /// A private in-memory database (gone when the ledger is dropped): for tests.
    pub fn open_in_memory() -> Result<Self, LedgerError> {
        let conn = Connection::open_in_memory().map_err(sqlite_err)?;
        Self::start(conn, ":memory:".to_string())
    }

    fn start(conn: Connection, location: String) -> Result<Self, LedgerError> {
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite_err)?;
        // In memory the journal mode stays "memory"; a file switches to WAL.
        let _mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(sqlite_err)?;
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(sqlite_err)?;
        let (jobs, inbox) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("anteroom-sqlite".into())
            .spawn(move || {
                let mut conn = conn;
                while let Ok(job) = inbox.recv() {
                    // A panicking job drops its reply (the caller sees Unavailable) and rolls
                    // its transaction back; the thread carries on with the next job.
                    let _ =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut conn)));
                }
            })
            .map_err(|e| LedgerError::Unavailable(format!("start SQLite thread: {e}")))?;
        Ok(SqliteLedger {
            worker: Worker { jobs },
            location,
        })
    }

    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, LedgerError> + Send + 'static,
    ) -> Result<T, LedgerError> {
        self.worker.call(f).await
    }
}

pub(super) fn sqlite_err(e: rusqlite::Error) -> LedgerError {
    LedgerError::Unavailable(format!("SQLite: {e}"))
}

pub(super) fn extended_code(e: &rusqlite::Error) -> Option<i32> {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.extended_code),
        _ => None,
    }
}

fn confirm_in(conn: &mut Connection, req: &ConfirmRequest) -> Result<Booking, LedgerError> {
    let holder = req.holder.to_hex();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sqlite_err)?;

    // 1. The idempotency key: this holder already confirmed with it → the same answer.
    if let Some((hold_id, booking_id)) = key_row(&tx, &req.key, &holder)? {
        if hold_id != req.hold_id {
            return Err(LedgerError::IdempotencyKeyReused);
        }
        return load_booking(&tx, &booking_id)?.ok_or_else(|| {
            LedgerError::Unavailable(format!(
                "idempotency key names booking {booking_id}, which is missing"
            ))
        });
    }
    let booking_id = new_id();
    let now = now_ms();
    tx.prepare_cached(
        "INSERT INTO idempotency_keys (key, holder, hold_id, booking_id, created_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| s.execute(params![req.key, holder, req.hold_id, booking_id, now]))
    .map_err(sqlite_err)?;

    // 2. The event and what it sells.
    let kind = event_kind(&tx, &req.event)?.ok_or(LedgerError::UnknownEvent)?;

    // 3. One hold, one booking: a hold already confirmed under another key answers with that
    // booking, and this key now names it too (checked before the fences, which would call
    // the hold's own token stale). The unique index on bookings.hold_id is the guard.
    if let Some(existing) = booking_id_of_hold(&tx, &req.hold_id)? {
        let booking = load_booking(&tx, &existing)?
            .filter(|booking| booking.holder == req.holder)
            .ok_or(LedgerError::StaleFence)?;
        tx.prepare_cached(
            "UPDATE idempotency_keys SET booking_id = ?3 WHERE key = ?1 AND holder = ?2",
        )
        .and_then(|mut s| s.execute(params![req.key, holder, existing]))
        .map_err(sqlite_err)?;
        tx.commit().map_err(sqlite_err)?;
        return Ok(booking);
    }
    if kind == KIND_SEATS {
        if req.seats.is_empty() {
            return Err(invalid("a seated event is booked by seat, not by quantity"));
        }
        let mut known = Vec::with_capacity(req.seats.len());
        {
            let mut stmt = tx
                .prepare_cached("SELECT 1 FROM event_seats WHERE event = ?1 AND seat = ?2")
                .map_err(sqlite_err)?;
            for seat in &req.seats {
                if stmt.exists(params![req.event, seat]).map_err(sqlite_err)? {
                    known.push(seat.clone());
                }
            }
        }
        let missing = missing_seats(&req.seats, &known);
        if !missing.is_empty() {
            return Err(invalid(format!(
                "seats not in event {}: {missing:?}",
                req.event
            )));
        }

        // 3. Fences: raise each seat's token to ours only if ours is greater.
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO seat_fences (event, seat, token) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (event, seat) DO UPDATE SET token = excluded.token \
                     WHERE seat_fences.token < excluded.token",
                )
                .map_err(sqlite_err)?;
            for seat in &req.seats {
                let changed = stmt
                    .execute(params![req.event, seat, req.token])
                    .map_err(sqlite_err)?;
                if changed != 1 {
                    return Err(LedgerError::StaleFence);
                }
            }
        }

        // 4. Already booked? (The unique index is the guard; this names the seats.)
        let taken = booked_among(&tx, &req.event, &req.seats)?;
        if !taken.is_empty() {
            return Err(LedgerError::SeatsAlreadyBooked(taken));
        }
        insert_booking(&tx, req, &booking_id, &holder, now)?;
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO booking_seats (booking_id, event, seat, status) \
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(sqlite_err)?;
        for seat in &req.seats {
            if let Err(e) = stmt.execute(params![booking_id, req.event, seat, STATUS_CONFIRMED]) {
                if extended_code(&e) == Some(ffi::SQLITE_CONSTRAINT_UNIQUE) {
                    return Err(LedgerError::SeatsAlreadyBooked(vec![seat.clone()]));
                }
                return Err(sqlite_err(e));
            }
        }
        drop(stmt);
    } else if kind == KIND_GA {
        if !req.seats.is_empty() {
            return Err(invalid(
                "a general-admission event is booked by quantity, not by seat",
            ));
        }
        let updated = tx
            .prepare_cached("UPDATE ga_inventory SET sold = sold + ?2 WHERE event = ?1")
            .and_then(|mut s| s.execute(params![req.event, req.quantity]));
        match updated {
            Ok(1) => {}
            Ok(_) => {
                return Err(LedgerError::Unavailable(format!(
                    "event {} has no general-admission inventory row",
                    req.event
                )))
            }
            Err(e) if extended_code(&e) == Some(ffi::SQLITE_CONSTRAINT_CHECK) => {
                return Err(LedgerError::SoldOut)
            }
            Err(e) => return Err(sqlite_err(e)),
        }
        insert_booking(&tx, req, &booking_id, &holder, now)?;
    } else {
        return Err(LedgerError::Unavailable(format!(
            "unknown event kind {kind:?}"
        )));
    }
    tx.commit().map_err(sqlite_err)?;
    Ok(req.booking(booking_id, now))
}

/// Cancel in one `BEGIN IMMEDIATE` transaction. Released places are reserved for the
/// event's waitlist (`free`) when someone is waiting, else straight back on sale
/// (`returned`).
fn cancel_in(
    conn: &mut Connection,
    booking_id: &str,
    key: &str,
    by: Canceller,
) -> Result<Cancellation, LedgerError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sqlite_err)?;
    let booking = load_booking(&tx, booking_id)?.ok_or(LedgerError::UnknownBooking)?;
    if !may_cancel(by, booking.holder) {
        return Err(LedgerError::UnknownBooking);
    }
    if booking.status == STATUS_CANCELLED {
        return cancellation_of(&tx, booking_id);
    }
    let now = now_ms();
    tx.execute(
        "UPDATE bookings SET status = ?2 WHERE booking_id = ?1",
        params![booking_id, STATUS_CANCELLED],
    )
    .map_err(sqlite_err)?;
    tx.execute(
        "UPDATE booking_seats SET status = ?2 WHERE booking_id = ?1",
        params![booking_id, STATUS_CANCELLED],
    )
    .map_err(sqlite_err)?;
    let waiting = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM waitlist_entries \
             WHERE event = ?1 AND state = 'waiting')",
        )
        .and_then(|mut s| s.query_row(params![booking.event], |r| r.get::<_, bool>(0)))
        .map_err(sqlite_err)?;
    let unit_state = if waiting { "free" } else { "returned" };
    {
        let mut unit = tx
            .prepare_cached(
                "INSERT INTO capacity_released (event, seat, booking_id, released_at_ms, state) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(sqlite_err)?;
        if booking.seats.is_empty() {
            tx.execute(
                "UPDATE ga_inventory SET sold = sold - ?2 WHERE event = ?1",
                params![booking.event, booking.quantity as i64],
            )
            .map_err(sqlite_err)?;
            for _ in 0..booking.quantity {
                unit.execute(params![
                    booking.event,
                    None::<String>,
                    booking_id,
                    now,
                    unit_state
                ])
                .map_err(sqlite_err)?;
            }
        } else {
            for seat in &booking.seats {
                unit.execute(params![booking.event, seat, booking_id, now, unit_state])
                    .map_err(sqlite_err)?;
            }
        }
    }
    let actor = canceller_name(by);
    tx.execute(
        "INSERT INTO cancellations (booking_id, idempotency_key, actor, cancelled_at_ms) \
         VALUES (?1, ?2, ?3, ?4)",
        params![booking_id, key, actor, now],
    )
    .map_err(sqlite_err)?;
    tx.execute(
        "INSERT INTO audit_log (event, subject, subject_id, entry_id, from_state, to_state, \
         reason, at_ms) VALUES (?1, 'booking', ?2, NULL, ?3, ?4, ?5, ?6)",
        params![
            booking.event,
            booking_id,
            STATUS_CONFIRMED,
            STATUS_CANCELLED,
            format!("cancelled by {actor}"),
            now
        ],
    )
    .map_err(sqlite_err)?;
    let answer = cancellation_of(&tx, booking_id)?;
    tx.commit().map_err(sqlite_err)?;
    Ok(answer)
}

fn cancellation_of(conn: &Connection, booking_id: &str) -> Result<Cancellation, LedgerError> {
    let booking = load_booking(conn, booking_id)?.ok_or(LedgerError::UnknownBooking)?;
    let at: i64 = conn
        .query_row(
            "SELECT cancelled_at_ms FROM cancellations WHERE booking_id = ?1",
            params![booking_id],
            |r| r.get(0),
        )
        .map_err(sqlite_err)?;
    // The first released place tells where they all went (one state per cancellation).
    let first_state: Option<String> = conn
        .query_row(
            "SELECT state FROM capacity_released WHERE booking_id = ?1 ORDER BY unit_id LIMIT 1",
            params![booking_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(sqlite_err)?;
    Ok(Cancellation {
        seats: booking.seats.clone(),
        quantity: booking.quantity,
        booking,
        returned_to_sale: first_state.as_deref() == Some("returned"),
        cancelled_at_ms: at.max(0) as u64,
    })
}

fn insert_booking(
    conn: &Connection,
    req: &ConfirmRequest,
    booking_id: &str,
    holder: &str,
    now: i64,
) -> Result<(), LedgerError> {
    conn.prepare_cached(
        "INSERT INTO bookings (booking_id, event, holder, hold_id, quantity, status, \
         fencing_token, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut s| {
        s.execute(params![
            booking_id,
            req.event,
            holder,
            req.hold_id,
            req.quantity,
            STATUS_CONFIRMED,
            req.token,
            now
        ])
    })
    .map_err(sqlite_err)?;
    Ok(())
}

fn booked_among(
    conn: &Connection,
    event: &str,
    seats: &[String],
) -> Result<Vec<String>, LedgerError> {
    let mut stmt = conn
        .prepare_cached(
            // The literal status lets the planner use the partial index.
            "SELECT 1 FROM booking_seats WHERE event = ?1 AND seat = ?2 AND status = 'confirmed'",
        )
        .map_err(sqlite_err)?;
    let mut taken = Vec::new();
    for seat in seats {
        if stmt.exists(params![event, seat]).map_err(sqlite_err)? {
            taken.push(seat.clone());
        }
    }
    taken.sort();
    Ok(taken)
}

pub(super) fn key_row(
    conn: &Connection,
    key: &str,
    holder: &str,
) -> Result<Option<(String, String)>, LedgerError> {
    conn.prepare_cached(
        "SELECT hold_id, booking_id FROM idempotency_keys WHERE key = ?1 AND holder = ?2",
    )
    .and_then(|mut s| {
        s.query_row(params![key, holder], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
    })
    .map_err(sqlite_err)
}

fn booking_id_of_hold(conn: &Connection, hold_id: &str) -> Result<Option<String>, LedgerError> {
    conn.prepare_cached("SELECT booking_id FROM bookings WHERE hold_id = ?1")
        .and_then(|mut s| s.query_row(params![hold_id], |r| r.get(0)).optional())
        .map_err(sqlite_err)
}

pub(super) fn load_booking(
    conn: &Connection,
    booking_id: &str,
) -> Result<Option<Booking>, LedgerError> {
    let row = conn
        .prepare_cached(
            "SELECT event, holder, quantity, status, created_at_ms FROM bookings \
             WHERE booking_id = ?1",
        )
        .and_then(|mut s| {
            s.query_row(params![booking_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .optional()
        })
        .map_err(sqlite_err)?;
    let Some((event, holder, quantity, status, created_at_ms)) = row else {
        return Ok(None);
    };
    let mut seats = conn
        .prepare_cached("SELECT seat FROM booking_seats WHERE booking_id = ?1")
        .and_then(|mut s| {
            s.query_map(params![booking_id], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(sqlite_err)?;
    seats.sort();
    Ok(Some(Booking {
        booking_id: booking_id.to_string(),
        event,
        holder: parse_holder(&holder)?,
        seats,
        quantity: quantity.max(0) as u64,
        status,
        created_at_ms: created_at_ms.max(0) as u64,
    }))
}

fn event_kind(conn: &Connection, id: &str) -> Result<Option<String>, LedgerError> {
    conn.prepare_cached("SELECT kind FROM events WHERE id = ?1")
        .and_then(|mut s| s.query_row(params![id], |r| r.get(0)).optional())
        .map_err(sqlite_err)
}

fn load_event(conn: &Connection, id: &str) -> Result<Option<EventSpec>, LedgerError> {
    let row = conn
        .prepare_cached("SELECT room, kind FROM events WHERE id = ?1")
        .and_then(|mut s| {
            s.query_row(params![id], |r| {
                Ok((r.get::<_, Option<String>>(0)?, r.get::<_, String>(1)?))
            })
            .optional()
        })
        .map_err(sqlite_err)?;
    let Some((room, kind)) = row else {
        return Ok(None);
    };
    let inventory = if kind == KIND_GA {
        let capacity: i64 = conn
            .prepare_cached("SELECT capacity FROM ga_inventory WHERE event = ?1")
            .and_then(|mut s| s.query_row(params![id], |r| r.get(0)))
            .map_err(sqlite_err)?;
        Inventory::Capacity(capacity.max(0) as u64)
    } else {
        let seats = conn
            .prepare_cached("SELECT seat FROM event_seats WHERE event = ?1 ORDER BY position")
            .and_then(|mut s| {
                s.query_map(params![id], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(sqlite_err)?;
        Inventory::Seats(seats)
    };
    Ok(Some(EventSpec {
        id: id.to_string(),
        room,
        inventory,
    }))
}

fn migrate_in(conn: &mut Connection) -> Result<(), LedgerError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sqlite_err)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (\
         version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)",
    )
    .map_err(sqlite_err)?;
    for (version, name, sql) in MIGRATIONS {
        let applied = tx
            .prepare("SELECT 1 FROM schema_migrations WHERE version = ?1")
            .and_then(|mut s| s.exists(params![version]))
            .map_err(sqlite_err)?;
        if applied {
            continue;
        }
        tx.execute_batch(sql).map_err(|e| {
            LedgerError::Unavailable(format!("migration {version} ({name}) failed: {e}"))
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?1, ?2, ?3)",
            params![version, name, now_ms()],
        )
        .map_err(sqlite_err)?;
    }
    tx.commit().map_err(sqlite_err)
}

fn create_event_in(conn: &mut Connection, spec: &EventSpec) -> Result<bool, LedgerError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sqlite_err)?;
    if let Some(existing) = load_event(&tx, &spec.id)? {
        return if existing == *spec {
            Ok(false)
        } else {
            Err(LedgerError::EventConflict)
        };
    }
    let kind = match spec.inventory {
        Inventory::Seats(_) => KIND_SEATS,
        Inventory::Capacity(_) => KIND_GA,
    };
    tx.execute(
        "INSERT INTO events (id, room, kind, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
        params![spec.id, spec.room, kind, now_ms()],
    )
    .map_err(sqlite_err)?;
    match &spec.inventory {
        Inventory::Seats(seats) => {
            let mut stmt = tx
                .prepare("INSERT INTO event_seats (event, seat, position) VALUES (?1, ?2, ?3)")
                .map_err(sqlite_err)?;
            for (position, seat) in seats.iter().enumerate() {
                stmt.execute(params![spec.id, seat, position as i64])
                    .map_err(sqlite_err)?;
            }
        }
        Inventory::Capacity(capacity) => {
            tx.execute(
                "INSERT INTO ga_inventory (event, capacity, sold) VALUES (?1, ?2, 0)",
                params![spec.id, *capacity as i64],
            )
            .map_err(sqlite_err)?;
        }
    }
    tx.commit().map_err(sqlite_err)?;
    Ok(true)
}

#[async_trait]
impl Ledger for SqliteLedger {
    async fn migrate(&self) -> Result<(), LedgerError> {
        self.call(migrate_in).await
    }

    async fn create_event(&self, spec: &EventSpec) -> Result<bool, LedgerError> {
        validate_event(spec)?;
        let spec = spec.clone();
        self.call(move |conn| create_event_in(conn, &spec)).await
    }

    async fn event(&self, id: &str) -> Result<Option<EventSpec>, LedgerError> {
        let id = id.to_string();
        self.call(move |conn| load_event(conn, &id)).await
    }

    async fn events(&self) -> Result<Vec<EventSpec>, LedgerError> {
        self.call(|conn| {
            let tx = conn.transaction().map_err(sqlite_err)?;
            let ids = tx
                .prepare("SELECT id FROM events ORDER BY id")
                .and_then(|mut s| {
                    s.query_map([], |r| r.get::<_, String>(0))?
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(sqlite_err)?;
            let mut events = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(event) = load_event(&tx, &id)? {
                    events.push(event);
                }
            }
            Ok(events)
        })
        .await
    }

    async fn find_by_idempotency_key(
        &self,
        key: &str,
        holder: VisitorId,
    ) -> Result<Option<Booking>, LedgerError> {
        let key = key.to_string();
        self.call(move |conn| match key_row(conn, &key, &holder.to_hex())? {
            Some((_, booking_id)) => load_booking(conn, &booking_id),
            None => Ok(None),
        })
        .await
    }

    async fn confirm(&self, idempotency_key: &str, hold: &Hold) -> Result<Booking, LedgerError> {
        let req = validate_confirm(idempotency_key, hold)?;
        self.call(move |conn| confirm_in(conn, &req)).await
    }

    async fn cancel(
        &self,
        booking_id: &str,
        idempotency_key: &str,
        by: Canceller,
    ) -> Result<Cancellation, LedgerError> {
        validate_cancel(booking_id, idempotency_key)?;
        let (booking_id, key) = (booking_id.to_string(), idempotency_key.to_string());
        self.call(move |conn| cancel_in(conn, &booking_id, &key, by))
            .await
    }

    async fn booking(&self, booking_id: &str) -> Result<Option<Booking>, LedgerError> {
        let booking_id = booking_id.to_string();
        self.call(move |conn| load_booking(conn, &booking_id)).await
    }

    fn waitlist(&self) -> std::sync::Arc<dyn crate::waitlist::Waitlist> {
        std::sync::Arc::new(super::SqliteWaitlist::new(self.worker.clone()))
    }

    async fn booking_of_hold(&self, hold_id: &str) -> Result<Option<Booking>, LedgerError> {
        let hold_id = hold_id.to_string();
        self.call(move |conn| match booking_id_of_hold(conn, &hold_id)? {
            Some(booking_id) => load_booking(conn, &booking_id),
            None => Ok(None),
        })
        .await
    }

    async fn booked_seats(&self, event: &str) -> Result<Vec<String>, LedgerError> {
        let event = event.to_string();
        self.call(move |conn| {
            event_kind(conn, &event)?.ok_or(LedgerError::UnknownEvent)?;
            // Seats released to the waitlist (not offered yet, or offered) are not for sale
            // either: the hold store must keep them booked, also after a flush.
            let mut seats = conn
                .prepare_cached(
                    "SELECT seat FROM booking_seats WHERE event = ?1 AND status = 'confirmed' \
                     UNION SELECT seat FROM capacity_released WHERE event = ?1 \
                     AND state IN ('free', 'offered') AND seat IS NOT NULL",
                )
                .and_then(|mut s| {
                    s.query_map(params![event], |r| r.get::<_, String>(0))?
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(sqlite_err)?;
            seats.sort();
            Ok(seats)
        })
        .await
    }

    async fn sold(&self, event: &str) -> Result<u64, LedgerError> {
        let event = event.to_string();
        self.call(move |conn| {
            let kind = event_kind(conn, &event)?.ok_or(LedgerError::UnknownEvent)?;
            let sold: i64 = if kind == KIND_GA {
                conn.prepare_cached("SELECT sold FROM ga_inventory WHERE event = ?1")
                    .and_then(|mut s| s.query_row(params![event], |r| r.get(0)))
            } else {
                conn.prepare_cached(
                    "SELECT count(*) FROM booking_seats WHERE event = ?1 AND status = 'confirmed'",
                )
                .and_then(|mut s| s.query_row(params![event], |r| r.get(0)))
            }
            .map_err(sqlite_err)?;
            Ok(sold.max(0) as u64)
        })
        .await
    }
}
