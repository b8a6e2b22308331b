//! Ledger benchmark: confirmations per second through `PostgresLedger`, next to `pgbench`
//! running the same writes as plain SQL against the same server, in the same run.
//!
//! `cargo bench -p anteroom-booking --bench ledger` (env: LEDGER_BENCH_CONFIRMS, default
//! 5000; LEDGER_BENCH_CONCURRENCY, default 32). The server is a testkit PostgresServer
//! (fsync off, loopback), so the figures measure the client path and the database's CPU
//! work, not the disk.
//!
//! - ledger: N single-seat confirmations (distinct seats, keys and holders), C tasks, a pool
//!   of C connections.
//! - pgbench "same transaction": the ledger's statement sequence for a seated confirm
//!   (BEGIN, key insert, event + seat lookup, fence upsert, booking + seats insert, COMMIT)
//!   as a prepared-statement script, C clients, on an identical schema (the ledger's own
//!   migrations); pgbench adds one `nextval` round trip to number its rows.
//! - pgbench "rows only": just the four INSERTs (key, fence, booking, seat) in one
//!   transaction: the floor for writing the same rows.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anteroom_admission::VisitorId;
use anteroom_booking::ledger::{Ledger, PostgresLedger, PostgresOptions};
use anteroom_booking::{new_id, EventSpec, Hold, Inventory};
use anteroom_testkit::PostgresServer;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn ledger_run(
    ledger: Arc<PostgresLedger>,
    event: &str,
    first_seat: usize,
    confirms: usize,
    concurrency: usize,
) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (ledger, next, event) = (ledger.clone(), next.clone(), event.to_string());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= confirms {
                        break;
                    }
                    let seat = format!("S{}", first_seat + i);
                    let hold = Hold {
                        hold_id: format!("{}.{event}", new_id()),
                        event: event.clone(),
                        holder: VisitorId::random(),
                        seats: vec![seat],
                        quantity: 1,
                        expires_at_ms: u64::MAX,
                        fencing_token: (first_seat + i) as u64 + 1,
                    };
                    ledger
                        .confirm(&new_id(), &hold)
                        .await
                        .expect("benchmark confirm");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    confirms as f64 / started.elapsed().as_secs_f64()
}

const SAME_TRANSACTION: &str = r#"
BEGIN;
SELECT nextval('bench_seq') AS n \gset
INSERT INTO idempotency_keys (key, holder, hold_id, booking_id, created_at_ms) VALUES ('k' || :n, md5(:n::text), md5(:n::text) || '.bench', md5('b' || :n), 0) ON CONFLICT (key, holder) DO NOTHING RETURNING 1;
SELECT kind, ARRAY(SELECT seat FROM event_seats WHERE event = 'bench' AND seat = ANY(ARRAY['S' || :n])) FROM events WHERE id = 'bench';
INSERT INTO seat_fences (event, seat, token) SELECT 'bench', s, :n::bigint FROM unnest(ARRAY['S' || :n]) AS s ON CONFLICT (event, seat) DO UPDATE SET token = EXCLUDED.token WHERE seat_fences.token < EXCLUDED.token RETURNING seat;
WITH b AS (INSERT INTO bookings (booking_id, event, holder, hold_id, quantity, status, fencing_token, created_at_ms) VALUES (md5('b' || :n), 'bench', md5(:n::text), md5(:n::text) || '.bench', 1, 'confirmed', :n::bigint, 0) RETURNING booking_id) INSERT INTO booking_seats (booking_id, event, seat, status) SELECT b.booking_id, 'bench', s, 'confirmed' FROM b, unnest(ARRAY['S' || :n]) AS s;
COMMIT;
"#;

const ROWS_ONLY: &str = r#"
BEGIN;
SELECT nextval('bench_seq') AS n \gset
INSERT INTO idempotency_keys (key, holder, hold_id, booking_id, created_at_ms) VALUES ('k' || :n, md5(:n::text), md5(:n::text) || '.bench', md5('b' || :n), 0);
INSERT INTO seat_fences (event, seat, token) VALUES ('bench', 'S' || :n, :n::bigint);
INSERT INTO bookings (booking_id, event, holder, hold_id, quantity, status, fencing_token, created_at_ms) VALUES (md5('b' || :n), 'bench', md5(:n::text), md5(:n::text) || '.bench', 1, 'confirmed', :n::bigint, 0);
INSERT INTO booking_seats (booking_id, event, seat, status) VALUES (md5('b' || :n), 'bench', 'S' || :n, 'confirmed');
COMMIT;
"#;

/// Run pgbench with `script` against database `db`; returns tps (without connection time).
fn pgbench(
    server: &PostgresServer,
    db: &str,
    script: &str,
    clients: usize,
    per_client: usize,
) -> f64 {
    let dir = anteroom_testkit::unique_temp_dir("anteroom-pgbench");
    let file = dir.join("confirm.sql");
    std::fs::File::create(&file)
        .and_then(|mut f| f.write_all(script.as_bytes()))
        .expect("write pgbench script");
    let out = Command::new(server.bin_dir().join("pgbench"))
        .args(["-h", "127.0.0.1", "-p", &server.port().to_string()])
        .args(["-U", "anteroom", "-n", "-M", "prepared"])
        .args(["-c", &clients.to_string(), "-j", "2"])
        .args(["-t", &per_client.to_string()])
        .arg("-f")
        .arg(&file)
        .arg(db)
        .output()
        .expect("run pgbench");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pgbench failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let failed = stdout
        .lines()
        .find(|l| l.starts_with("number of failed transactions"))
        .unwrap_or("");
    assert!(
        failed.is_empty() || failed.contains(": 0 "),
        "pgbench transactions failed: {failed}"
    );
    stdout
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no tps in pgbench output:\n{stdout}"))
}

/// A fresh database with the ledger schema, an event "bench" with `seats` seats, and the
/// sequence pgbench numbers its rows with.
async fn prepare_db(server: &PostgresServer, db: &str, seats: usize) -> Arc<PostgresLedger> {
    server
        .query(&format!("CREATE DATABASE {db} OWNER anteroom"))
        .expect("create database");
    let url = format!("postgres://anteroom@127.0.0.1:{}/{db}", server.port());
    let concurrency = env_usize("LEDGER_BENCH_CONCURRENCY", 32);
    let ledger = PostgresLedger::connect(
        &url,
        PostgresOptions {
            max_connections: concurrency,
            query_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        },
    )
    .await
    .expect("connect");
    ledger.migrate().await.expect("migrate");
    ledger
        .create_event(&EventSpec {
            id: "bench".into(),
            room: None,
            inventory: Inventory::Seats((1..=seats).map(|i| format!("S{i}")).collect()),
        })
        .await
        .expect("create event");
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
        .batch_execute("CREATE SEQUENCE bench_seq")
        .await
        .expect("create sequence");
    client
        .batch_execute("VACUUM ANALYZE")
        .await
        .expect("vacuum");
    Arc::new(ledger)
}

fn main() {
    let confirms = env_usize("LEDGER_BENCH_CONFIRMS", 5000);
    let concurrency = env_usize("LEDGER_BENCH_CONCURRENCY", 32);
    let per_client = confirms.div_ceil(concurrency);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let server = PostgresServer::start();
    println!(
        "ledger benchmark: PostgreSQL on 127.0.0.1:{} (fsync off), {confirms} single-seat \
         confirmations, {concurrency} concurrent",
        server.port()
    );

    runtime.block_on(async {
        // Enough seats for warm-up + two ledger rounds.
        let warmup = 500;
        let ledger = prepare_db(&server, "ledger_bench", warmup + 2 * confirms).await;
        ledger_run(ledger.clone(), "bench", 1, warmup, concurrency).await;
        let first = ledger_run(ledger.clone(), "bench", 1 + warmup, confirms, concurrency).await;

        let pgb_full = prepare_db(&server, "pgbench_full", per_client * concurrency + 10).await;
        drop(pgb_full);
        let full = pgbench(
            &server,
            "pgbench_full",
            SAME_TRANSACTION,
            concurrency,
            per_client,
        );

        let pgb_rows = prepare_db(&server, "pgbench_rows", per_client * concurrency + 10).await;
        drop(pgb_rows);
        let rows = pgbench(&server, "pgbench_rows", ROWS_ONLY, concurrency, per_client);

        let second = ledger_run(
            ledger.clone(),
            "bench",
            1 + warmup + confirms,
            confirms,
            concurrency,
        )
        .await;
        let sold = ledger.sold("bench").await.expect("sold");
        assert_eq!(sold as usize, warmup + 2 * confirms, "every confirm booked");
        let ledger_best = first.max(second);

        println!("ledger confirm (PostgresLedger)      : {first:>9.0} /s  (round 1)");
        println!("ledger confirm (PostgresLedger)      : {second:>9.0} /s  (round 2)");
        println!("pgbench, same transaction (prepared) : {full:>9.0} tps");
        println!("pgbench, rows only (4 inserts)       : {rows:>9.0} tps");
        println!(
            "ratio ledger / pgbench same txn      : {:>9.2}",
            ledger_best / full
        );
        println!(
            "ratio ledger / pgbench rows only     : {:>9.2}",
            ledger_best / rows
        );
    });
    drop(server);
}
