//! The ledger conformance suite against `PostgresLedger` on a PostgreSQL server the test
//! starts itself (testkit), plus what only a networked database needs: a restart mid-run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[macro_use]
mod ledger_conformance;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anteroom_admission::VisitorId;
use anteroom_booking::ledger::{Ledger, LedgerError, PostgresLedger, PostgresOptions};
use anteroom_testkit::PostgresServer;
use async_trait::async_trait;
use ledger_conformance::{hold, seat_names, seated, Db, Fixture};

struct PgDb(tokio_postgres::Client);

#[async_trait]
impl Db for PgDb {
    async fn execute(&self, sql: &str) -> Result<u64, String> {
        self.0.execute(sql, &[]).await.map_err(|e| {
            e.as_db_error()
                .map(|db| db.message().to_string())
                .unwrap_or_else(|| e.to_string())
        })
    }

    async fn scalar(&self, sql: &str) -> i64 {
        let row = self
            .0
            .query_one(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        // count(*) is bigint; sum(bigint) is numeric: compare through text.
        match row.try_get::<_, i64>(0) {
            Ok(v) => v,
            Err(_) => {
                let text = self
                    .0
                    .query_one(&format!("SELECT ({sql})::text"), &[])
                    .await
                    .unwrap()
                    .get::<_, String>(0);
                text.parse().unwrap()
            }
        }
    }
}

async fn server() -> PostgresServer {
    tokio::task::spawn_blocking(PostgresServer::start)
        .await
        .expect("start PostgreSQL")
}

fn options() -> PostgresOptions {
    PostgresOptions {
        max_connections: 16,
        query_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(3),
    }
}

async fn probe(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("probe connection");
    tokio::spawn(connection);
    client
}

async fn fixture() -> Fixture {
    let server = server().await;
    let ledger = PostgresLedger::connect(&server.url(), options())
        .await
        .expect("connect");
    ledger.migrate().await.expect("migrate");
    let client = probe(&server.url()).await;
    Fixture {
        ledger: Arc::new(ledger),
        db: Box::new(PgDb(client)),
        guard: Box::new(server),
    }
}

ledger_conformance_tests!(fixture);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_mid_run_is_unavailable_then_recovers() {
    let mut server = server().await;
    let ledger = Arc::new(
        PostgresLedger::connect(
            &server.url(),
            PostgresOptions {
                max_connections: 4,
                query_timeout: Duration::from_secs(2),
                connect_timeout: Duration::from_secs(1),
            },
        )
        .await
        .expect("connect"),
    );
    ledger.migrate().await.unwrap();
    let seats = seat_names("R", 10);
    let refs: Vec<&str> = seats.iter().map(String::as_str).collect();
    ledger
        .create_event(&seated("restart", &refs))
        .await
        .unwrap();
    // Warm the pool: several connections open.
    let warm: Vec<_> = (0..4)
        .map(|_| {
            let ledger = ledger.clone();
            tokio::spawn(async move { ledger.sold("restart").await })
        })
        .collect();
    for t in warm {
        t.await.unwrap().unwrap();
    }
    ledger
        .confirm("k1", &hold("restart", VisitorId::random(), &["R1"], 1))
        .await
        .unwrap();

    let server = tokio::task::spawn_blocking(move || {
        server.stop();
        server
    })
    .await
    .unwrap();
    // Down: every call is Unavailable (503), promptly, never a panic or a hang.
    for i in 0..6 {
        let started = Instant::now();
        let result = ledger
            .confirm(
                &format!("down-{i}"),
                &hold("restart", VisitorId::random(), &["R2"], 10 + i),
            )
            .await;
        assert!(
            matches!(result, Err(LedgerError::Unavailable(_))),
            "while down: {result:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "answered in time"
        );
        assert!(matches!(
            ledger.event("restart").await,
            Err(LedgerError::Unavailable(_))
        ));
    }

    let mut server = tokio::task::spawn_blocking(move || {
        let mut server = server;
        server.restart();
        server
    })
    .await
    .unwrap();
    // Back: calls succeed again within a deadline, on fresh connections.
    let deadline = Instant::now() + Duration::from_secs(20);
    let holder = VisitorId::random();
    let h = hold("restart", holder, &["R2"], 100);
    let booking = loop {
        match ledger.confirm("after", &h).await {
            Ok(b) => break b,
            Err(LedgerError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("did not recover: {e:?}"),
        }
    };
    assert_eq!(booking.seats, vec!["R2"]);
    // Every pooled connection works again (the broken ones were dropped).
    let after: Vec<_> = (0..8)
        .map(|_| {
            let ledger = ledger.clone();
            tokio::spawn(async move { ledger.booked_seats("restart").await })
        })
        .collect();
    for t in after {
        assert_eq!(
            t.await.unwrap().unwrap(),
            vec!["R1", "R2"],
            "data survived the restart"
        );
    }
    assert_eq!(ledger.confirm("after", &h).await.unwrap(), booking);
    let rows = server.query("SELECT count(*) FROM bookings").unwrap();
    assert_eq!(rows, vec![vec![Some("2".to_string())]]);
    server.stop();
}

#[tokio::test]
async fn unreachable_database_is_unavailable_and_bad_url_invalid() {
    let port = anteroom_testkit::free_port();
    let url = format!("postgres://anteroom@127.0.0.1:{port}/anteroom");
    let started = Instant::now();
    assert!(matches!(
        PostgresLedger::connect(&url, options()).await,
        Err(LedgerError::Unavailable(_))
    ));
    assert!(started.elapsed() < Duration::from_secs(5));
    let lazy = PostgresLedger::connect_lazy(&url, options()).expect("lazy builds");
    assert!(matches!(
        lazy.migrate().await,
        Err(LedgerError::Unavailable(_))
    ));
    assert!(matches!(
        PostgresLedger::connect("postgres://x@h:notaport/db", options()).await,
        Err(LedgerError::Invalid(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_url_connects_and_migrates_postgres() {
    let server = server().await;
    let ledger = anteroom_booking::ledger::open_url(&server.url())
        .await
        .expect("open_url");
    assert!(ledger.create_event(&seated("u", &["A1"])).await.unwrap());
    let rows = server
        .query("SELECT version::text FROM schema_migrations ORDER BY version")
        .unwrap();
    assert_eq!(
        rows,
        (1..=4)
            .map(|v| vec![Some(v.to_string())])
            .collect::<Vec<_>>()
    );
    // Concurrent migrations from several instances serialise on the advisory lock.
    let instances: Vec<_> = (0..4)
        .map(|_| {
            let url = server.url();
            tokio::spawn(async move { anteroom_booking::ledger::open_url(&url).await.map(drop) })
        })
        .collect();
    for i in instances {
        i.await.unwrap().expect("concurrent open_url");
    }
}
