//! What a sale plays against: a stack this run starts, or (`--target`) gateways already
//! running, with the Redis they share (for the line's true order) and the booking ledger's
//! database (for the seats sold), which are what the gates are counted on.

use std::path::PathBuf;

use crate::stack::{SaleSetup, Stack, ADMIN_TOKEN};
use crate::SaleError;

/// Gateways already running, and where to count the results.
#[derive(Debug, Clone)]
pub struct Target {
    /// The gateways' public base URLs (`http://host:port`).
    pub gateways: Vec<String>,
    /// Redis `host:port` the gateways share.
    pub redis: String,
    /// The booking ledger (`postgres://…`), read with `psql`.
    pub database_url: String,
    /// A gateway's admin base URL, to plot the room (optional).
    pub admin_url: Option<String>,
    /// The booking service's base URL, to create the event (optional: else it must exist).
    pub booking_url: Option<String>,
    pub admin_token: String,
}

/// Start a stack here, or play against a target.
#[derive(Debug, Clone)]
pub enum Mode {
    Local { bin_dir: PathBuf, gateways: usize },
    Target(Target),
}

pub struct Endpoints {
    /// Kept alive for the run when this run started it.
    stack: Option<Stack>,
    pub gateways: Vec<String>,
    pub redis: String,
    pub admin_url: Option<String>,
    pub booking_url: Option<String>,
    pub admin_token: String,
    database_url: Option<String>,
}

impl Endpoints {
    pub async fn open(mode: &Mode, setup: &SaleSetup) -> Result<Endpoints, SaleError> {
        match mode {
            Mode::Local { bin_dir, gateways } => {
                let stack = Stack::start(bin_dir, *gateways, setup).await?;
                Ok(Endpoints {
                    gateways: stack
                        .gateways
                        .iter()
                        .map(|g| format!("http://{}", g.public))
                        .collect(),
                    redis: stack.redis_addr(),
                    admin_url: stack
                        .gateways
                        .first()
                        .map(|g| format!("http://{}", g.admin)),
                    booking_url: Some(format!("http://{}", stack.booking)),
                    admin_token: ADMIN_TOKEN.to_string(),
                    database_url: None,
                    stack: Some(stack),
                })
            }
            Mode::Target(target) => Ok(Endpoints {
                stack: None,
                gateways: target
                    .gateways
                    .iter()
                    .map(|url| url.trim_end_matches('/').to_string())
                    .collect(),
                redis: target.redis.clone(),
                admin_url: target.admin_url.clone(),
                booking_url: target.booking_url.clone(),
                admin_token: target.admin_token.clone(),
                database_url: Some(target.database_url.clone()),
            }),
        }
    }

    /// One number from the ledger database.
    pub fn ledger_number(&self, sql: &str) -> Result<u64, SaleError> {
        let text = match (&self.stack, &self.database_url) {
            (Some(stack), _) => stack
                .postgres
                .query(sql)
                .map_err(SaleError::Ledger)?
                .first()
                .and_then(|row| row.first())
                .and_then(|cell| cell.clone())
                .unwrap_or_default(),
            (None, Some(url)) => psql(url, sql)?,
            (None, None) => return Err(SaleError::Ledger("no database to count in".into())),
        };
        text.trim()
            .parse()
            .map_err(|_| SaleError::Ledger(format!("no number from {sql}: {text:?}")))
    }
}

fn psql(url: &str, sql: &str) -> Result<String, SaleError> {
    let output = std::process::Command::new("psql")
        .args([url, "-X", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .map_err(|e| SaleError::Ledger(format!("psql: {e}")))?;
    if !output.status.success() {
        return Err(SaleError::Ledger(format!(
            "psql: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).to_string())
}
