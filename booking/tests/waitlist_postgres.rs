//! The waitlist conformance suite on a real PostgreSQL (testkit, a free port), plus what
//! only a networked database needs: PostgreSQL restarted mid-promotion.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[macro_use]
mod waitlist_conformance;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anteroom_booking::ledger::{Canceller, Ledger, PostgresLedger, PostgresOptions};
use anteroom_booking::waitlist::Waitlist;
use anteroom_testkit::PostgresServer;
use waitlist_conformance::{rules, Fixture, Probe};

fn options() -> PostgresOptions {
    PostgresOptions {
        max_connections: 16,
        query_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(3),
    }
}

async fn ledger_at(url: &str) -> (Arc<dyn Ledger>, Arc<dyn Waitlist>) {
    let ledger = PostgresLedger::connect(url, options())
        .await
        .expect("connect");
    ledger.migrate().await.expect("migrate");
    let ledger: Arc<dyn Ledger> = Arc::new(ledger);
    let waitlist = ledger.waitlist();
    (ledger, waitlist)
}

/// The server, shared with the probe (a test may restart it).
struct PgProbe(Arc<Mutex<PostgresServer>>);

impl Probe for PgProbe {
    fn execute(&self, sql: &str) -> Result<u64, String> {
        self.0
            .lock()
            .unwrap()
            .query(sql)
            .map(|rows| rows.len() as u64)
    }

    fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        self.0
            .lock()
            .unwrap()
            .query(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

async fn fixture_with_server() -> (Fixture, Arc<Mutex<PostgresServer>>) {
    let server = tokio::task::spawn_blocking(PostgresServer::start)
        .await
        .expect("start PostgreSQL");
    let url = server.url();
    let (ledger, waitlist) = ledger_at(&url).await;
    // A second "instance": its own pool on the same database.
    let (_, second) = ledger_at(&url).await;
    let server = Arc::new(Mutex::new(server));
    let fixture = Fixture {
        ledger,
        waitlist,
        second,
        probe: Box::new(PgProbe(server.clone())),
        guard: Box::new(server.clone()),
    };
    (fixture, server)
}

async fn fixture() -> Fixture {
    fixture_with_server().await.0
}

waitlist_conformance_tests!(fixture);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restart_mid_promotion_is_consistent_after() {
    let (db, server) = fixture_with_server().await;
    let bookings = db.sold_out_event("pg", 100).await;
    db.line("pg", 100).await;
    for (booking, _) in &bookings {
        db.ledger
            .cancel(&booking.booking_id, "c", Canceller::Operator)
            .await
            .unwrap();
    }
    let waitlist = db.waitlist.clone();
    let promoter = tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut failures = 0;
        while Instant::now() < deadline {
            match waitlist.promote("pg", &rules(600_000, 50)).await {
                Ok(p) if p.offered.is_empty() && p.expired == 0 => {
                    // Done once nothing is left to offer.
                    if waitlist.overview("pg").await.map(|o| o.unoffered_places) == Ok(0) {
                        return failures;
                    }
                }
                Ok(_) => {}
                Err(_) => failures += 1,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("promotion never finished");
    });
    // Restart while waves are going out (50/s over 100 places: two seconds of work).
    tokio::time::sleep(Duration::from_millis(700)).await;
    tokio::task::block_in_place(|| server.lock().unwrap().restart());
    let failures = promoter.await.unwrap();
    assert!(failures > 0, "the restart was felt");
    db.assert_consistent("pg");
    assert_eq!(
        db.scalar("SELECT count(*) FROM waitlist_offers WHERE state = 'open'"),
        100
    );
    assert_eq!(
        db.scalar("SELECT count(DISTINCT unit_id) FROM waitlist_offers"),
        100
    );
}
