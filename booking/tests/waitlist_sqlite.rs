//! The waitlist conformance suite on the embedded SQLite ledger (a database file, the
//! product default); the "second instance" is a second ledger on the same file, as a second
//! process would be.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[macro_use]
mod waitlist_conformance;

use anteroom_testkit::TempDir;
use std::sync::{Arc, Mutex};

use anteroom_booking::ledger::{Ledger, SqliteLedger};
use rusqlite::types::ValueRef;
use waitlist_conformance::{Fixture, Probe};

struct SqliteProbe(Mutex<rusqlite::Connection>);

impl Probe for SqliteProbe {
    fn execute(&self, sql: &str) -> Result<u64, String> {
        let conn = self.0.lock().unwrap();
        conn.execute(sql, [])
            .map(|n| n as u64)
            .map_err(|e| e.to_string())
    }

    fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let conn = self.0.lock().unwrap();
        let mut statement = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let columns = statement.column_count();
        let rows = statement
            .query_map([], |row| {
                (0..columns)
                    .map(|i| {
                        Ok(match row.get_ref(i)? {
                            ValueRef::Null => None,
                            ValueRef::Integer(n) => Some(n.to_string()),
                            ValueRef::Real(x) => Some(x.to_string()),
                            ValueRef::Text(t) | ValueRef::Blob(t) => {
                                Some(String::from_utf8_lossy(t).into_owned())
                            }
                        })
                    })
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

async fn fixture() -> Fixture {
    let dir = TempDir::new("anteroom-waitlist-sqlite");
    let file = dir.path().join("ledger.db");
    let ledger = SqliteLedger::open(&file).expect("open");
    ledger.migrate().await.expect("migrate");
    let ledger: Arc<dyn Ledger> = Arc::new(ledger);
    let other = SqliteLedger::open(&file).expect("open a second time");
    other.migrate().await.expect("migrate (a no-op)");
    let conn = rusqlite::Connection::open(&file).expect("probe connection");
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    Fixture {
        waitlist: ledger.waitlist(),
        second: other.waitlist(),
        ledger,
        probe: Box::new(SqliteProbe(Mutex::new(conn))),
        guard: Box::new(dir),
    }
}

waitlist_conformance_tests!(fixture);
