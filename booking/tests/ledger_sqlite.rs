//! The ledger conformance suite against `SqliteLedger` on a database file (the product
//! default), plus what only SQLite needs: two ledgers (two processes) on one file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[macro_use]
mod ledger_conformance;

use std::path::PathBuf;

use anteroom_testkit::TempDir;
use std::sync::{Arc, Mutex};

use anteroom_admission::VisitorId;
use anteroom_booking::ledger::{Ledger, SqliteLedger};
use async_trait::async_trait;
use ledger_conformance::{hold, seated, Db, Fixture};

struct SqliteDb(Mutex<rusqlite::Connection>);

#[async_trait]
impl Db for SqliteDb {
    async fn execute(&self, sql: &str) -> Result<u64, String> {
        let conn = self.0.lock().unwrap();
        conn.execute(sql, [])
            .map(|n| n as u64)
            .map_err(|e| e.to_string())
    }

    async fn scalar(&self, sql: &str) -> i64 {
        let conn = self.0.lock().unwrap();
        conn.query_row(sql, [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

fn db_file() -> (TempDir, PathBuf) {
    let dir = TempDir::new("anteroom-ledger-sqlite");
    let file = dir.path().join("ledger.db");
    (dir, file)
}

async fn fixture() -> Fixture {
    let (dir, file) = db_file();
    let ledger = SqliteLedger::open(&file).expect("open");
    ledger.migrate().await.expect("migrate");
    let conn = rusqlite::Connection::open(&file).expect("open probe connection");
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    Fixture {
        ledger: Arc::new(ledger),
        db: Box::new(SqliteDb(Mutex::new(conn))),
        guard: Box::new(dir),
    }
}

ledger_conformance_tests!(fixture);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_ledgers_on_one_file_still_make_one_booking_per_key_and_seat() {
    let (_dir, file) = db_file();
    let a = Arc::new(SqliteLedger::open(&file).unwrap());
    let b = Arc::new(SqliteLedger::open(&file).unwrap());
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    ra.unwrap();
    rb.unwrap();
    a.create_event(&seated("shared", &["A1", "A2"]))
        .await
        .unwrap();
    assert!(!b
        .create_event(&seated("shared", &["A1", "A2"]))
        .await
        .unwrap());

    // The same key from both "processes" at once: one booking, identical answers.
    let h = hold("shared", VisitorId::random(), &["A1"], 3);
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let ledger = if i % 2 == 0 { a.clone() } else { b.clone() };
            let h = h.clone();
            tokio::spawn(async move { ledger.confirm("same-key", &h).await })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap().expect("confirm"));
    }
    assert!(answers.iter().all(|x| *x == answers[0]));

    // A seat contended from both: exactly one winner.
    let tasks: Vec<_> = (0..10u64)
        .map(|i| {
            let ledger = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let h = hold("shared", VisitorId::random(), &["A2"], 10 + i);
                ledger.confirm(&anteroom_booking::new_id(), &h).await
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        if t.await.unwrap().is_ok() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(a.booked_seats("shared").await.unwrap(), vec!["A1", "A2"]);
    let conn = rusqlite::Connection::open(&file).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM bookings", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 2);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn open_url_understands_sqlite_urls() {
    let (dir, file) = db_file();
    let url = format!("sqlite://{}", file.display());
    let ledger = anteroom_booking::ledger::open_url(&url)
        .await
        .expect("open_url");
    assert!(ledger.create_event(&seated("u", &["A1"])).await.unwrap());
    drop(ledger);
    assert!(file.exists(), "the database is the named file");
    let again = anteroom_booking::ledger::open_url(&url).await.unwrap();
    assert!(again.event("u").await.unwrap().is_some(), "data persists");
    let mem = anteroom_booking::ledger::open_url("sqlite::memory:")
        .await
        .unwrap();
    assert_eq!(mem.events().await.unwrap(), vec![]);
    for bad in ["mysql://x", "sqlite://", "nonsense"] {
        assert!(matches!(
            anteroom_booking::ledger::open_url(bad).await,
            Err(anteroom_booking::ledger::LedgerError::Invalid(_))
        ));
    }
    drop(dir);
}
