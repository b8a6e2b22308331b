//! Waitlist benchmark: a bulk cancellation of S seats (default 500) with F fans waiting
//! (default 1,000), promoted by two booking instances (two services, two pools, their
//! promoters running and poked by each cancellation as the HTTP handler does) on one
//! testkit PostgreSQL (fsync off). Prints promotions per second (first cancellation to last
//! offer) and the lag from each place's release to its offer (p50 / p99 / max), read from
//! the database. `notify_per_second` is set high (10,000) to measure capacity, not the
//! configured wave rate.
//!
//! `cargo bench -p anteroom-booking --bench waitlist` (env WAITLIST_BENCH_SEATS,
//! WAITLIST_BENCH_FANS).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use anteroom_admission::{Keyring, VisitorId};
use anteroom_booking::holds::MemoryHolds;
use anteroom_booking::ledger::{Canceller, Ledger, PostgresLedger, PostgresOptions};
use anteroom_booking::service::{run_promoter, BookingService};
use anteroom_booking::{new_id, EventSpec, Hold, Inventory};
use anteroom_config::WaitlistConfig;
use anteroom_testkit::PostgresServer;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn instance(url: &str) -> Arc<BookingService> {
    let ledger = PostgresLedger::connect(url, PostgresOptions::default())
        .await
        .unwrap();
    ledger.migrate().await.unwrap();
    let keyring = Keyring::new("k1", vec![("k1".into(), vec![7u8; 32])]).unwrap();
    let service = Arc::new(
        BookingService::new(
            Arc::new(MemoryHolds::new()),
            Arc::new(ledger),
            keyring,
            None,
            Default::default(),
            None,
        )
        .with_waitlist_config(WaitlistConfig {
            notify_per_second: 10_000,
            ..WaitlistConfig::default()
        }),
    );
    run_promoter(&service);
    service
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let seats = env_usize("WAITLIST_BENCH_SEATS", 500);
    let fans = env_usize("WAITLIST_BENCH_FANS", 1000);
    let server = tokio::task::spawn_blocking(PostgresServer::start)
        .await
        .unwrap();
    let a = instance(&server.url()).await;
    let b = instance(&server.url()).await;
    let names: Vec<String> = (0..seats).map(|i| format!("S{i:05}")).collect();
    a.ledger
        .create_event(&EventSpec {
            id: "bench".into(),
            room: Some("tour".into()),
            inventory: Inventory::Seats(names.clone()),
        })
        .await
        .unwrap();
    let mut bookings = Vec::new();
    for (i, seat) in names.iter().enumerate() {
        let holder = VisitorId::random();
        let hold = Hold {
            hold_id: format!("{}.bench", new_id()),
            event: "bench".into(),
            holder,
            seats: vec![seat.clone()],
            quantity: 1,
            expires_at_ms: u64::MAX,
            fencing_token: i as u64 + 1,
        };
        bookings.push((a.ledger.confirm(&new_id(), &hold).await.unwrap(), holder));
    }
    let waitlist = a.waitlist.clone();
    for _ in 0..fans {
        waitlist
            .join("bench", VisitorId::random(), u64::MAX)
            .await
            .unwrap();
    }

    let started = Instant::now();
    let cancels: Vec<_> = bookings
        .into_iter()
        .enumerate()
        .map(|(i, (booking, holder))| {
            let service = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                service
                    .ledger
                    .cancel(&booking.booking_id, &new_id(), Canceller::Holder(holder))
                    .await
                    .unwrap();
                service.promote_soon();
            })
        })
        .collect();
    for c in cancels {
        c.await.unwrap();
    }
    let cancelled = started.elapsed();
    loop {
        let offered = waitlist.overview("bench").await.unwrap().open_offers;
        if offered as usize >= seats {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "offers stalled at {offered}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let done = started.elapsed();
    let rows = server
        .query("SELECT (offered_at_ms - released_at_ms)::text FROM waitlist_offers ORDER BY 1::int")
        .unwrap();
    let mut lags: Vec<f64> = rows
        .iter()
        .map(|r| r[0].as_deref().unwrap().parse::<f64>().unwrap())
        .collect();
    lags.sort_by(|x, y| x.partial_cmp(y).unwrap());
    let span = server
        .query("SELECT (max(offered_at_ms) - min(released_at_ms))::text FROM waitlist_offers")
        .unwrap()[0][0]
        .clone()
        .unwrap();
    println!(
        "{seats} places cancelled at once ({:.0} ms for the cancellations), {fans} fans, 2 instances",
        cancelled.as_secs_f64() * 1000.0
    );
    println!(
        "every place offered after {:.0} ms (first release to last offer in the database: {span} ms): {:.0} promotions/s",
        done.as_secs_f64() * 1000.0,
        seats as f64 / done.as_secs_f64()
    );
    println!(
        "lag release -> offer: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or(0.0)
    );
}
