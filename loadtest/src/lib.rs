//! Load tests that ship with Anteroom. `flash-sale` plays a whole sale on this machine —
//! Redis, PostgreSQL, the booking service and several gateways — and reports whether the
//! line stayed fair (Kendall-tau distance), the rate held, and no seat was sold twice.

pub mod endpoints;
pub mod fairness;
pub mod monitor;
pub mod render;
pub mod report;
pub mod sale;
pub mod scenarios;
pub mod stack;
pub mod visitor;

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum SaleError {
    #[error("{0}")]
    Setup(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("ledger: {0}")]
    Ledger(String),
}

impl SaleError {
    pub fn io(path: &Path, source: std::io::Error) -> SaleError {
        SaleError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
