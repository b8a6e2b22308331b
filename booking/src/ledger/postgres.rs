//! `PostgresLedger`: the production ledger on PostgreSQL (tokio-postgres + a deadpool pool).
//!
//! Resilience: every call runs under `query_timeout` (pool wait + queries; the server also
//! gets `statement_timeout`), connection and I/O failures are `Unavailable` (the service
//! answers 503), and the pool drops connections that broke (`RecyclingMethod::Fast` checks
//! `is_closed` on checkout) and opens new ones, so calls succeed again once PostgreSQL is
//! back after a restart. No TLS (`NoTls`): reach the database over a trusted network or a
//! local socket.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::{GenericClient, NoTls};

use anteroom_admission::VisitorId;

use super::common::{
    canceller_name, invalid, may_cancel, missing_seats, now_ms, parse_holder, validate_cancel,
    validate_confirm, validate_event, ConfirmRequest, KIND_GA, KIND_SEATS, STATUS_CANCELLED,
    STATUS_CONFIRMED,
};
use super::{Cancellation, Canceller, Ledger, LedgerError};
use crate::{new_id, Booking, EventSpec, Hold, Inventory};

/// (version, name, SQL), applied in order, each recorded in schema_migrations.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "one_booking_per_hold",
        include_str!("../../migrations/postgres/0002_one_booking_per_hold.sql"),
    ),
    (
        3,
        "cancellation",
        include_str!("../../migrations/postgres/0003_cancellation.sql"),
    ),
    (
        4,
        "waitlist",
        include_str!("../../migrations/postgres/0004_waitlist.sql"),
    ),
];

/// Any constant: serialises concurrent `migrate()` calls (several instances starting).
const MIGRATION_LOCK: i64 = 0x616e_7465_726f_6f6d; // "anteroom"

/// Confirmations hitting a deadlock or serialization failure are retried this many times.
const CONFIRM_ATTEMPTS: usize = 3;

/// Pool and timeout settings for [`PostgresLedger`].
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Most connections the pool opens.
    pub max_connections: usize,
    /// Upper bound for one ledger call (waiting for a connection included); past it the
    /// call fails with `Unavailable`. Also sent to the server as `statement_timeout`.
    pub query_timeout: Duration,
    /// Upper bound for opening one connection.
    pub connect_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            max_connections: 16,
            query_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
        }
    }
}

/// The bookings ledger in PostgreSQL. Cheap to share behind an `Arc`.
pub struct PostgresLedger {
    pool: Pool,
    timeout: Duration,
}

impl std::fmt::Debug for PostgresLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresLedger")
            .field("status", &self.pool.status())
            .finish()
    }
}

impl PostgresLedger {
    /// Build the pool for `url` (`postgres://user[:password]@host:port/db[?options]`, or any
    /// form tokio-postgres accepts) and check that one connection opens: `Invalid` for a bad
    /// URL, `Unavailable` if the database cannot be reached. Does not migrate: call
    /// [`Ledger::migrate`] (or use [`super::open_url`], which does both).
    pub async fn connect(url: &str, options: PostgresOptions) -> Result<Self, LedgerError> {
        let ledger = Self::connect_lazy(url, options)?;
        let timeout = ledger.timeout;
        run(timeout, async { ledger.client().await.map(drop) }).await?;
        Ok(ledger)
    }

    /// Like [`PostgresLedger::connect`] without touching the network: connections open on
    /// first use (a service can start while the database is still down and answer 503).
    pub fn connect_lazy(url: &str, options: PostgresOptions) -> Result<Self, LedgerError> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|e| invalid(format!("bad PostgreSQL URL: {e}")))?;
        config.connect_timeout(options.connect_timeout);
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        if config.get_application_name().is_none() {
            config.application_name("anteroom-booking");
        }
        let statement_timeout = format!(
            "-c statement_timeout={}",
            options.query_timeout.as_millis().max(1)
        );
        let server_options = match config.get_options() {
            Some(existing) => format!("{existing} {statement_timeout}"),
            None => statement_timeout,
        };
        config.options(&server_options);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.query_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| invalid(format!("PostgreSQL pool: {e}")))?;
        Ok(PostgresLedger {
            pool,
            timeout: options.query_timeout,
        })
    }

    pub(super) async fn client(&self) -> Result<Object, LedgerError> {
        self.pool
            .get()
            .await
            .map_err(|e| LedgerError::Unavailable(format!("PostgreSQL connection: {e}")))
    }

    async fn confirm_once(&self, req: &ConfirmRequest) -> Result<Booking, Failure> {
        let mut client = self.client().await?;
        let booking_id = new_id();
        let now = now_ms();
        let holder = req.holder.to_hex();
        let tx = client.transaction().await.map_err(Failure::db)?;

        // 1. The idempotency key first: a concurrent confirmation with the same (key,
        // holder) blocks on this unique key until we commit or roll back.
        let stmt = tx
            .prepare_cached(
                "INSERT INTO idempotency_keys (key, holder, hold_id, booking_id, created_at_ms) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key, holder) DO NOTHING RETURNING 1",
            )
            .await
            .map_err(Failure::db)?;
        let inserted = tx
            .query_opt(&stmt, &[&req.key, &holder, &req.hold_id, &booking_id, &now])
            .await
            .map_err(Failure::db)?;
        if inserted.is_none() {
            // The key's owner has committed (ON CONFLICT waited for it): answer as it did.
            tx.rollback().await.map_err(Failure::db)?;
            return match key_row(&**client, &req.key, &holder).await? {
                Some((hold_id, _)) if hold_id != req.hold_id => {
                    Err(LedgerError::IdempotencyKeyReused.into())
                }
                Some((_, existing)) => load_booking(&**client, &existing).await?.ok_or_else(|| {
                    LedgerError::Unavailable(format!(
                        "idempotency key names booking {existing}, which is missing"
                    ))
                    .into()
                }),
                // Gone again (cannot happen without deletes): try once more.
                None => Err(Failure::Retry),
            };
        }

        // 2. The event, what it sells, and which of the hold's seats it has (one round trip).
        let stmt = tx
            .prepare_cached(
                "SELECT kind, ARRAY(SELECT seat FROM event_seats \
                 WHERE event = $1 AND seat = ANY($2)) FROM events WHERE id = $1",
            )
            .await
            .map_err(Failure::db)?;
        let (kind, known): (String, Vec<String>) = match tx
            .query_opt(&stmt, &[&req.event, &req.seats])
            .await
            .map_err(Failure::db)?
        {
            Some(row) => (row.get(0), row.get(1)),
            None => return Err(LedgerError::UnknownEvent.into()),
        };

        if kind != KIND_SEATS && kind != KIND_GA {
            return Err(LedgerError::Unavailable(format!("unknown event kind {kind:?}")).into());
        }
        if kind == KIND_SEATS && req.seats.is_empty() {
            return Err(invalid("a seated event is booked by seat, not by quantity").into());
        }
        if kind == KIND_GA && !req.seats.is_empty() {
            return Err(
                invalid("a general-admission event is booked by quantity, not by seat").into(),
            );
        }

        // 3. One hold, one booking: the booking row first, under the unique index on
        // hold_id. A concurrent confirmation of the same hold under another key waits here
        // for us; if the hold already has a booking, that booking is the answer and this
        // key is recorded for it (before the fences, which would call the hold's own token
        // stale).
        let stmt = tx
            .prepare_cached(
                "INSERT INTO bookings (booking_id, event, holder, hold_id, quantity, status, \
                 fencing_token, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (hold_id) DO NOTHING RETURNING 1",
            )
            .await
            .map_err(Failure::db)?;
        let fresh = tx
            .query_opt(
                &stmt,
                &[
                    &booking_id,
                    &req.event,
                    &holder,
                    &req.hold_id,
                    &req.quantity,
                    &STATUS_CONFIRMED,
                    &req.token,
                    &now,
                ],
            )
            .await
            .map_err(Failure::db)?;
        if fresh.is_none() {
            let existing = booking_of_hold(&*tx, &req.hold_id)
                .await?
                .filter(|booking| booking.holder == req.holder)
                .ok_or(LedgerError::StaleFence)?;
            tx.execute(
                "UPDATE idempotency_keys SET booking_id = $3 WHERE key = $1 AND holder = $2",
                &[&req.key, &holder, &existing.booking_id],
            )
            .await
            .map_err(Failure::db)?;
            tx.commit().await.map_err(Failure::db)?;
            return Ok(existing);
        }

        if kind == KIND_SEATS {
            let missing = missing_seats(&req.seats, &known);
            if !missing.is_empty() {
                return Err(
                    invalid(format!("seats not in event {}: {missing:?}", req.event)).into(),
                );
            }

            // 3. Fences, in seat order (no lock cycles between overlapping holds): raise each
            // seat's token to ours only if ours is greater; any seat not raised → stale.
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO seat_fences (event, seat, token) \
                     SELECT $1, s, $3 FROM unnest($2::text[]) AS s \
                     ON CONFLICT (event, seat) DO UPDATE SET token = EXCLUDED.token \
                     WHERE seat_fences.token < EXCLUDED.token RETURNING seat",
                )
                .await
                .map_err(Failure::db)?;
            let raised = tx
                .query(&stmt, &[&req.event, &req.seats, &req.token])
                .await
                .map_err(Failure::db)?;
            if raised.len() != req.seats.len() {
                return Err(LedgerError::StaleFence.into());
            }

            // 4. The booking's seats; the partial unique index on confirmed (event, seat)
            // refuses a seat that is already booked.
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO booking_seats (booking_id, event, seat, status) \
                     SELECT $1, $2, s, $3 FROM unnest($4::text[]) AS s",
                )
                .await
                .map_err(Failure::db)?;
            let inserted = tx
                .execute(
                    &stmt,
                    &[&booking_id, &req.event, &STATUS_CONFIRMED, &req.seats],
                )
                .await;
            match inserted {
                Ok(_) => {}
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    // Name the seats that are taken (committed: the index waited for them).
                    let _ = tx.rollback().await;
                    let mut taken = booked_among(&**client, &req.event, &req.seats).await?;
                    if taken.is_empty() {
                        taken = req.seats.clone();
                    }
                    return Err(LedgerError::SeatsAlreadyBooked(taken).into());
                }
                Err(e) => return Err(Failure::db(e)),
            }
        } else {
            // sold += quantity: the CHECK refuses to pass the capacity.
            let stmt = tx
                .prepare_cached("UPDATE ga_inventory SET sold = sold + $2 WHERE event = $1")
                .await
                .map_err(Failure::db)?;
            match tx.execute(&stmt, &[&req.event, &req.quantity]).await {
                Ok(1) => {}
                Ok(_) => {
                    return Err(LedgerError::Unavailable(format!(
                        "event {} has no general-admission inventory row",
                        req.event
                    ))
                    .into())
                }
                Err(e) if e.code() == Some(&SqlState::CHECK_VIOLATION) => {
                    return Err(LedgerError::SoldOut.into())
                }
                Err(e) => return Err(Failure::db(e)),
            }
        }
        tx.commit().await.map_err(Failure::db)?;
        Ok(req.booking(booking_id, now))
    }
}

/// One audit row, in the caller's transaction: `subject` ("booking", "entry", "offer",
/// "unit") `subject_id` went from `from` (None: created) to `to`, for `reason`.
pub(super) struct Audit<'a> {
    pub event: &'a str,
    pub subject: &'static str,
    pub subject_id: &'a str,
    pub entry_id: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: &'a str,
    pub reason: &'a str,
    pub at_ms: i64,
}

pub(super) async fn append_audit<C: GenericClient>(
    client: &C,
    row: &Audit<'_>,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO audit_log (event, subject, subject_id, entry_id, from_state, \
             to_state, reason, at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &row.event,
                &row.subject,
                &row.subject_id,
                &row.entry_id,
                &row.from,
                &row.to,
                &row.reason,
                &row.at_ms,
            ],
        )
        .await
        .map(drop)
}

impl PostgresLedger {
    async fn cancel_once(
        &self,
        booking_id: &str,
        key: &str,
        by: Canceller,
    ) -> Result<Cancellation, Failure> {
        let mut client = self.client().await?;
        let now = now_ms();
        let tx = client.transaction().await.map_err(Failure::db)?;
        // The booking row, locked: a concurrent cancellation waits here, then sees ours.
        let row = tx
            .query_opt(
                "SELECT event, holder, quantity, status FROM bookings WHERE booking_id = $1 \
                 FOR UPDATE",
                &[&booking_id],
            )
            .await
            .map_err(Failure::db)?
            .ok_or(LedgerError::UnknownBooking)?;
        let event: String = row.get(0);
        let holder = parse_holder(&row.get::<_, String>(1))?;
        if !may_cancel(by, holder) {
            return Err(LedgerError::UnknownBooking.into());
        }
        let status: String = row.get(3);
        if status == STATUS_CANCELLED {
            let answer = cancellation_of(&*tx, booking_id).await?;
            tx.commit().await.map_err(Failure::db)?;
            return Ok(answer);
        }
        let quantity: i64 = row.get(2);
        tx.execute(
            "UPDATE bookings SET status = $2 WHERE booking_id = $1",
            &[&booking_id, &STATUS_CANCELLED],
        )
        .await
        .map_err(Failure::db)?;
        let seats: Vec<String> = tx
            .query(
                "UPDATE booking_seats SET status = $2 WHERE booking_id = $1 RETURNING seat",
                &[&booking_id, &STATUS_CANCELLED],
            )
            .await
            .map_err(Failure::db)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if seats.is_empty() {
            tx.execute(
                "UPDATE ga_inventory SET sold = sold - $2 WHERE event = $1",
                &[&event, &quantity],
            )
            .await
            .map_err(Failure::db)?;
        }
        // Someone waiting: the places are theirs to be offered; else straight back on sale.
        let waiting: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM waitlist_entries \
                 WHERE event = $1 AND state = 'waiting')",
                &[&event],
            )
            .await
            .map_err(Failure::db)?
            .get(0);
        let unit_state = if waiting { "free" } else { "returned" };
        if seats.is_empty() {
            tx.execute(
                "INSERT INTO capacity_released (event, seat, booking_id, released_at_ms, state) \
                 SELECT $1, NULL, $2, $3, $4 FROM generate_series(1, $5::bigint)",
                &[&event, &booking_id, &now, &unit_state, &quantity],
            )
            .await
            .map_err(Failure::db)?;
        } else {
            tx.execute(
                "INSERT INTO capacity_released (event, seat, booking_id, released_at_ms, state) \
                 SELECT $1, s, $2, $3, $4 FROM unnest($5::text[]) AS s ORDER BY s",
                &[&event, &booking_id, &now, &unit_state, &seats],
            )
            .await
            .map_err(Failure::db)?;
        }
        let actor = canceller_name(by);
        tx.execute(
            "INSERT INTO cancellations (booking_id, idempotency_key, actor, cancelled_at_ms) \
             VALUES ($1, $2, $3, $4)",
            &[&booking_id, &key, &actor, &now],
        )
        .await
        .map_err(Failure::db)?;
        let reason = format!("cancelled by {actor}");
        append_audit(
            &*tx,
            &Audit {
                event: &event,
                subject: "booking",
                subject_id: booking_id,
                entry_id: None,
                from: Some(STATUS_CONFIRMED),
                to: STATUS_CANCELLED,
                reason: &reason,
                at_ms: now,
            },
        )
        .await
        .map_err(Failure::db)?;
        let answer = cancellation_of(&*tx, booking_id).await?;
        tx.commit().await.map_err(Failure::db)?;
        Ok(answer)
    }
}

/// A cancelled booking as recorded (the answer to every call for it).
async fn cancellation_of<C: GenericClient>(
    client: &C,
    booking_id: &str,
) -> Result<Cancellation, LedgerError> {
    let booking = load_booking(client, booking_id)
        .await?
        .ok_or(LedgerError::UnknownBooking)?;
    let at: i64 = client
        .query_one(
            "SELECT cancelled_at_ms FROM cancellations WHERE booking_id = $1",
            &[&booking_id],
        )
        .await
        .map_err(unavailable)?
        .get(0);
    let units = client
        .query(
            "SELECT seat, state FROM capacity_released WHERE booking_id = $1 ORDER BY unit_id",
            &[&booking_id],
        )
        .await
        .map_err(unavailable)?;
    let mut seats: Vec<String> = units
        .iter()
        .filter_map(|r| r.get::<_, Option<String>>(0))
        .collect();
    seats.sort();
    let returned_to_sale = units
        .first()
        .is_some_and(|r| r.get::<_, String>(1) == "returned");
    Ok(Cancellation {
        quantity: booking.quantity,
        booking,
        seats,
        returned_to_sale,
        cancelled_at_ms: at.max(0) as u64,
    })
}

/// Why one confirmation attempt stopped: an answer, or a transient conflict worth a retry.
pub(super) enum Failure {
    Ledger(LedgerError),
    Retry,
}

impl From<LedgerError> for Failure {
    fn from(e: LedgerError) -> Self {
        Failure::Ledger(e)
    }
}

impl Failure {
    pub(super) fn db(e: tokio_postgres::Error) -> Failure {
        match e.code() {
            Some(code)
                if *code == SqlState::T_R_SERIALIZATION_FAILURE
                    || *code == SqlState::T_R_DEADLOCK_DETECTED =>
            {
                Failure::Retry
            }
            _ => Failure::Ledger(unavailable(e)),
        }
    }
}

/// Any database failure the caller cannot fix: connection lost, server shutting down,
/// timeout, schema missing... → 503.
pub(super) fn unavailable(e: tokio_postgres::Error) -> LedgerError {
    match e.as_db_error() {
        Some(db) => {
            LedgerError::Unavailable(format!("PostgreSQL {}: {}", db.code().code(), db.message()))
        }
        None => LedgerError::Unavailable(format!("PostgreSQL: {e}")),
    }
}

/// Run one ledger call under the deadline.
pub(super) async fn run<T>(
    timeout: Duration,
    fut: impl std::future::Future<Output = Result<T, LedgerError>>,
) -> Result<T, LedgerError> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(result) => result,
        Err(_) => Err(LedgerError::Unavailable(format!(
            "PostgreSQL did not answer within {timeout:?}"
        ))),
    }
}

async fn booked_among<C: GenericClient>(
    client: &C,
    event: &str,
    seats: &[String],
) -> Result<Vec<String>, LedgerError> {
    let rows = client
        .query(
            // The literal status lets the planner use the partial index.
            "SELECT seat FROM booking_seats WHERE event = $1 AND seat = ANY($2) \
             AND status = 'confirmed'",
            &[&event, &seats],
        )
        .await
        .map_err(unavailable)?;
    let mut taken: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    taken.sort();
    Ok(taken)
}

pub(super) async fn key_row<C: GenericClient>(
    client: &C,
    key: &str,
    holder: &str,
) -> Result<Option<(String, String)>, LedgerError> {
    let row = client
        .query_opt(
            "SELECT hold_id, booking_id FROM idempotency_keys WHERE key = $1 AND holder = $2",
            &[&key, &holder],
        )
        .await
        .map_err(unavailable)?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

pub(super) async fn load_booking<C: GenericClient>(
    client: &C,
    booking_id: &str,
) -> Result<Option<Booking>, LedgerError> {
    let Some(row) = client
        .query_opt(
            "SELECT event, holder, quantity, status, created_at_ms FROM bookings \
             WHERE booking_id = $1",
            &[&booking_id],
        )
        .await
        .map_err(unavailable)?
    else {
        return Ok(None);
    };
    let seats = client
        .query(
            "SELECT seat FROM booking_seats WHERE booking_id = $1",
            &[&booking_id],
        )
        .await
        .map_err(unavailable)?;
    let mut seats: Vec<String> = seats.iter().map(|r| r.get(0)).collect();
    seats.sort();
    let holder: String = row.get(1);
    let quantity: i64 = row.get(2);
    let created_at_ms: i64 = row.get(4);
    Ok(Some(Booking {
        booking_id: booking_id.to_string(),
        event: row.get(0),
        holder: parse_holder(&holder)?,
        seats,
        quantity: quantity.max(0) as u64,
        status: row.get(3),
        created_at_ms: created_at_ms.max(0) as u64,
    }))
}

async fn booking_of_hold<C: GenericClient>(
    client: &C,
    hold_id: &str,
) -> Result<Option<Booking>, LedgerError> {
    let row = client
        .query_opt(
            "SELECT booking_id FROM bookings WHERE hold_id = $1",
            &[&hold_id],
        )
        .await
        .map_err(unavailable)?;
    match row {
        Some(row) => load_booking(client, &row.get::<_, String>(0)).await,
        None => Ok(None),
    }
}

async fn load_event<C: GenericClient>(
    client: &C,
    id: &str,
) -> Result<Option<EventSpec>, LedgerError> {
    let Some(row) = client
        .query_opt("SELECT room, kind FROM events WHERE id = $1", &[&id])
        .await
        .map_err(unavailable)?
    else {
        return Ok(None);
    };
    let kind: String = row.get(1);
    let inventory = if kind == KIND_GA {
        let row = client
            .query_one("SELECT capacity FROM ga_inventory WHERE event = $1", &[&id])
            .await
            .map_err(unavailable)?;
        Inventory::Capacity(row.get::<_, i64>(0).max(0) as u64)
    } else {
        let rows = client
            .query(
                "SELECT seat FROM event_seats WHERE event = $1 ORDER BY position",
                &[&id],
            )
            .await
            .map_err(unavailable)?;
        Inventory::Seats(rows.iter().map(|r| r.get(0)).collect())
    };
    Ok(Some(EventSpec {
        id: id.to_string(),
        room: row.get(0),
        inventory,
    }))
}

/// The event's kind, or UnknownEvent.
async fn event_kind<C: GenericClient>(client: &C, id: &str) -> Result<String, LedgerError> {
    client
        .query_opt("SELECT kind FROM events WHERE id = $1", &[&id])
        .await
        .map_err(unavailable)?
        .map(|r| r.get(0))
        .ok_or(LedgerError::UnknownEvent)
}

#[async_trait]
impl Ledger for PostgresLedger {
    async fn migrate(&self) -> Result<(), LedgerError> {
        run(self.timeout.max(Duration::from_secs(30)), async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(unavailable)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await
                .map_err(unavailable)?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (\
                 version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)",
            )
            .await
            .map_err(unavailable)?;
            let applied: Vec<i32> = tx
                .query("SELECT version FROM schema_migrations", &[])
                .await
                .map_err(unavailable)?
                .iter()
                .map(|r| r.get(0))
                .collect();
            for (version, name, sql) in MIGRATIONS {
                if applied.contains(version) {
                    continue;
                }
                tx.batch_execute(sql).await.map_err(|e| {
                    LedgerError::Unavailable(format!(
                        "migration {version} ({name}) failed: {}",
                        unavailable(e)
                    ))
                })?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at_ms) \
                     VALUES ($1, $2, $3)",
                    &[version, name, &now_ms()],
                )
                .await
                .map_err(unavailable)?;
            }
            tx.commit().await.map_err(unavailable)
        })
        .await
    }

    async fn create_event(&self, spec: &EventSpec) -> Result<bool, LedgerError> {
        validate_event(spec)?;
        run(self.timeout, async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(unavailable)?;
            let kind = match spec.inventory {
                Inventory::Seats(_) => KIND_SEATS,
                Inventory::Capacity(_) => KIND_GA,
            };
            let inserted = tx
                .query_opt(
                    "INSERT INTO events (id, room, kind, created_at_ms) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (id) DO NOTHING RETURNING 1",
                    &[&spec.id, &spec.room, &kind, &now_ms()],
                )
                .await
                .map_err(unavailable)?;
            if inserted.is_none() {
                // Exists (committed: ON CONFLICT waited for a concurrent creator).
                tx.rollback().await.map_err(unavailable)?;
                let existing = load_event(&**client, &spec.id).await?;
                return match existing {
                    Some(existing) if existing == *spec => Ok(false),
                    Some(_) => Err(LedgerError::EventConflict),
                    None => Err(LedgerError::Unavailable(format!(
                        "event {} vanished while being created",
                        spec.id
                    ))),
                };
            }
            match &spec.inventory {
                Inventory::Seats(seats) => {
                    tx.execute(
                        "INSERT INTO event_seats (event, seat, position) \
                         SELECT $1, s, (o - 1)::integer \
                         FROM unnest($2::text[]) WITH ORDINALITY AS t(s, o)",
                        &[&spec.id, seats],
                    )
                    .await
                    .map_err(unavailable)?;
                }
                Inventory::Capacity(capacity) => {
                    let capacity = *capacity as i64; // validated: fits
                    tx.execute(
                        "INSERT INTO ga_inventory (event, capacity, sold) VALUES ($1, $2, 0)",
                        &[&spec.id, &capacity],
                    )
                    .await
                    .map_err(unavailable)?;
                }
            }
            tx.commit().await.map_err(unavailable)?;
            Ok(true)
        })
        .await
    }

    async fn event(&self, id: &str) -> Result<Option<EventSpec>, LedgerError> {
        run(self.timeout, async {
            let client = self.client().await?;
            load_event(&**client, id).await
        })
        .await
    }

    async fn events(&self) -> Result<Vec<EventSpec>, LedgerError> {
        run(self.timeout, async {
            let mut client = self.client().await?;
            // One snapshot for the three reads.
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(unavailable)?;
            let events = tx
                .query("SELECT id, room, kind FROM events ORDER BY id", &[])
                .await
                .map_err(unavailable)?;
            let seats = tx
                .query(
                    "SELECT event, seat FROM event_seats ORDER BY event, position",
                    &[],
                )
                .await
                .map_err(unavailable)?;
            let ga = tx
                .query("SELECT event, capacity FROM ga_inventory", &[])
                .await
                .map_err(unavailable)?;
            tx.commit().await.map_err(unavailable)?;
            let mut seats_of: std::collections::HashMap<String, Vec<String>> = Default::default();
            for row in &seats {
                seats_of.entry(row.get(0)).or_default().push(row.get(1));
            }
            let capacity_of: std::collections::HashMap<String, i64> =
                ga.iter().map(|r| (r.get(0), r.get(1))).collect();
            Ok(
                events
                    .iter()
                    .map(|row| {
                        let id: String = row.get(0);
                        let kind: String = row.get(2);
                        let inventory = if kind == KIND_GA {
                            Inventory::Capacity(
                                capacity_of.get(&id).copied().unwrap_or(0).max(0) as u64
                            )
                        } else {
                            Inventory::Seats(seats_of.remove(&id).unwrap_or_default())
                        };
                        EventSpec {
                            id,
                            room: row.get(1),
                            inventory,
                        }
                    })
                    .collect(),
            )
        })
        .await
    }

    async fn find_by_idempotency_key(
        &self,
        key: &str,
        holder: VisitorId,
    ) -> Result<Option<Booking>, LedgerError> {
        run(self.timeout, async {
            let client = self.client().await?;
            match key_row(&**client, key, &holder.to_hex()).await? {
                Some((_, booking_id)) => load_booking(&**client, &booking_id).await,
                None => Ok(None),
            }
        })
        .await
    }

    async fn confirm(&self, idempotency_key: &str, hold: &Hold) -> Result<Booking, LedgerError> {
        let req = validate_confirm(idempotency_key, hold)?;
        run(self.timeout, async {
            for _ in 0..CONFIRM_ATTEMPTS {
                match self.confirm_once(&req).await {
                    Ok(booking) => return Ok(booking),
                    Err(Failure::Ledger(e)) => return Err(e),
                    Err(Failure::Retry) => tokio::task::yield_now().await,
                }
            }
            Err(LedgerError::Unavailable(
                "confirmation kept conflicting with concurrent ones; retry".into(),
            ))
        })
        .await
    }

    async fn cancel(
        &self,
        booking_id: &str,
        idempotency_key: &str,
        by: Canceller,
    ) -> Result<Cancellation, LedgerError> {
        validate_cancel(booking_id, idempotency_key)?;
        run(self.timeout, async {
            for _ in 0..CONFIRM_ATTEMPTS {
                match self.cancel_once(booking_id, idempotency_key, by).await {
                    Ok(answer) => return Ok(answer),
                    Err(Failure::Ledger(e)) => return Err(e),
                    Err(Failure::Retry) => tokio::task::yield_now().await,
                }
            }
            Err(LedgerError::Unavailable(
                "cancellation kept conflicting with concurrent ones; retry".into(),
            ))
        })
        .await
    }

    fn waitlist(&self) -> std::sync::Arc<dyn crate::waitlist::Waitlist> {
        std::sync::Arc::new(super::PostgresWaitlist::new(
            self.pool.clone(),
            self.timeout,
        ))
    }

    async fn booking(&self, booking_id: &str) -> Result<Option<Booking>, LedgerError> {
        run(self.timeout, async {
            let client = self.client().await?;
            load_booking(&**client, booking_id).await
        })
        .await
    }

    async fn booking_of_hold(&self, hold_id: &str) -> Result<Option<Booking>, LedgerError> {
        run(self.timeout, async {
            let client = self.client().await?;
            booking_of_hold(&**client, hold_id).await
        })
        .await
    }

    async fn booked_seats(&self, event: &str) -> Result<Vec<String>, LedgerError> {
        run(self.timeout, async {
            let client = self.client().await?;
            event_kind(&**client, event).await?;
            // Seats released to the waitlist (not offered yet, or offered) are not for sale
            // either: the hold store must keep them booked, also after a flush.
            let rows = client
                .query(
                    "SELECT seat FROM booking_seats WHERE event = $1 AND status = 'confirmed' \
                     UNION SELECT seat FROM capacity_released WHERE event = $1 \
                     AND state IN ('free', 'offered') AND seat IS NOT NULL",
                    &[&event],
                )
                .await
                .map_err(unavailable)?;
            let mut seats: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
            seats.sort();
            Ok(seats)
        })
        .await
    }

    async fn sold(&self, event: &str) -> Result<u64, LedgerError> {
        run(self.timeout, async {
            let client = self.client().await?;
            let kind = event_kind(&**client, event).await?;
            let row = if kind == KIND_GA {
                client
                    .query_one("SELECT sold FROM ga_inventory WHERE event = $1", &[&event])
                    .await
            } else {
                client
                    .query_one(
                        "SELECT count(*) FROM booking_seats \
                         WHERE event = $1 AND status = 'confirmed'",
                        &[&event],
                    )
                    .await
            }
            .map_err(unavailable)?;
            Ok(row.get::<_, i64>(0).max(0) as u64)
        })
        .await
    }
}
