//! `flash-sale`: starts the stack, opens the sale, lets the visitors in along an arrival
//! curve, then counts what happened and writes the report.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::monitor::Monitor;
use crate::report::{self, Inputs, LedgerCount, Report, RunSettings, Sample};
use crate::stack::{SaleSetup, Stack, ADMIN_TOKEN};
use crate::visitor::{self, Plan};
use crate::SaleError;

const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// How arrivals spread over the arrival window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Arrival {
    /// Everybody at once.
    Instant,
    /// A spike: arrivals thin out quadratically, half of them in the first quarter.
    Spike,
    /// Evenly over the window.
    Uniform,
}

impl Arrival {
    /// When visitor `index` of `total` arrives, within `window`.
    pub fn offset(self, index: usize, total: usize, window: Duration) -> Duration {
        let share = index as f64 / total.max(1) as f64;
        match self {
            Arrival::Instant => Duration::ZERO,
            Arrival::Spike => window.mul_f64(share * share),
            Arrival::Uniform => window.mul_f64(share),
        }
    }
}

/// The simulator's options.
#[derive(Debug, Clone)]
pub struct SaleOptions {
    pub visitors: usize,
    pub gateways: usize,
    pub seats: usize,
    pub bots_pct: f64,
    pub admit_per_second: f64,
    pub arrival: Arrival,
    pub arrival_seconds: f64,
    pub give_up_seconds: f64,
    pub max_streams: usize,
    pub max_rate_error_pct: f64,
    pub bin_dir: PathBuf,
    pub out: PathBuf,
    pub command: String,
}

pub async fn run(options: &SaleOptions) -> Result<Report, SaleError> {
    let setup = SaleSetup {
        room: "sale".into(),
        event: "sale".into(),
        seats: options.seats,
        admit_per_second: options.admit_per_second,
    };
    let stack = Stack::start(&options.bin_dir, options.gateways, &setup).await?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(usize::MAX)
        .build()
        .map_err(|e| SaleError::Setup(format!("http client: {e}")))?;
    create_event(&client, &stack, &setup).await?;
    let monitor = Monitor::start(&stack.redis_addr(), &setup.room)
        .await
        .map_err(|e| SaleError::Setup(format!("redis MONITOR: {e}")))?;

    let start = Instant::now();
    let start_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let admin = stack
        .gateways
        .first()
        .map(|g| g.admin)
        .ok_or_else(|| SaleError::Setup("no gateway".into()))?;
    let sampler = tokio::spawn(sample_room(
        client.clone(),
        admin,
        setup.room.clone(),
        start,
        stopped,
    ));

    let client = Arc::new(client);
    let mut visitors = Vec::with_capacity(options.visitors);
    for index in 0..options.visitors {
        let plan = plan(options, &stack, &setup, index);
        let client = Arc::clone(&client);
        visitors.push(tokio::spawn(async move {
            visitor::play(&client, plan, start).await
        }));
    }
    let mut records = Vec::with_capacity(visitors.len());
    for handle in visitors {
        records.push(
            handle
                .await
                .map_err(|e| SaleError::Setup(format!("visitor task: {e}")))?,
        );
    }
    let duration_seconds = start.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let series = sampler.await.unwrap_or_default();
    let order = monitor
        .finish()
        .await
        .map_err(|e| SaleError::Setup(format!("redis MONITOR: {e}")))?;
    let ledger = count_ledger(&stack, &setup.event)?;

    let report = report::build(Inputs {
        settings: RunSettings {
            command: options.command.clone(),
            visitors: options.visitors,
            gateways: options.gateways,
            seats: options.seats,
            bots_pct: options.bots_pct,
            max_streams: options.max_streams,
            admit_per_second: options.admit_per_second,
            arrival: format!("{:?}", options.arrival).to_lowercase(),
            arrival_seconds: options.arrival_seconds,
            max_rate_error_pct: options.max_rate_error_pct,
        },
        records: &records,
        order: &order,
        ledger,
        series,
        duration_seconds,
        start_unix,
    });
    write_report(&options.out, &report)?;
    Ok(report)
}

fn plan(options: &SaleOptions, stack: &Stack, setup: &SaleSetup, index: usize) -> Plan {
    let gateway = index % stack.gateways.len().max(1);
    let public = stack.gateways.get(gateway).map(|g| g.public);
    let bot = spread(index, options.bots_pct / 100.0);
    // One process holds at most ~19,900 sockets here: past `max_streams`, fans poll, as
    // the waiting page does when it cannot stream.
    let stream_share = options.max_streams as f64 / options.visitors.max(1) as f64;
    let stream = !bot && spread(index, stream_share.min(1.0));
    Plan {
        index,
        gateway,
        base: public
            .map(|addr| format!("http://{addr}"))
            .unwrap_or_default(),
        room: setup.room.clone(),
        event: setup.event.clone(),
        bot,
        stream,
        arrive_after: options.arrival.offset(
            index,
            options.visitors,
            Duration::from_secs_f64(options.arrival_seconds),
        ),
        give_up_after: Duration::from_secs_f64(options.give_up_seconds),
    }
}

/// Whether visitor `index` falls in a share spread evenly through the crowd: it does when
/// the running share crosses a whole step at it.
fn spread(index: usize, share: f64) -> bool {
    let before = (index as f64 * share).floor();
    let after = ((index + 1) as f64 * share).floor();
    after > before
}

async fn create_event(
    client: &reqwest::Client,
    stack: &Stack,
    setup: &SaleSetup,
) -> Result<(), SaleError> {
    let seats: Vec<String> = (1..=setup.seats).map(|n| format!("S{n:05}")).collect();
    let response = client
        .post(format!("http://{}/v1/events", stack.booking))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "id": setup.event, "seats": seats, "room": setup.room }))
        .send()
        .await
        .map_err(|e| SaleError::Setup(format!("create event: {e}")))?;
    match response.status().as_u16() {
        200 | 201 => Ok(()),
        other => Err(SaleError::Setup(format!(
            "create event answered {other}: {}",
            response.text().await.unwrap_or_default()
        ))),
    }
}

/// Reads the room from the admin API until told to stop.
async fn sample_room(
    client: reqwest::Client,
    admin: std::net::SocketAddr,
    room: String,
    start: Instant,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let url = format!("http://{admin}/v1/rooms/{room}");
    while !*stop.borrow() {
        let answer = client
            .get(&url)
            .bearer_auth(ADMIN_TOKEN)
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        if let Ok(room) = answer {
            if let Ok(room) = room.json::<Value>().await {
                samples.push(Sample {
                    t: start.elapsed().as_secs_f64(),
                    waiting: room
                        .pointer("/waiting")
                        .and_then(Value::as_u64)
                        .unwrap_or(0),
                    active: room.pointer("/active").and_then(Value::as_u64).unwrap_or(0),
                    admitted_total: room
                        .pointer("/admitted_total")
                        .and_then(Value::as_u64)
                        .unwrap_or(0),
                });
            }
        }
        let _ = tokio::time::timeout(SAMPLE_EVERY, stop.changed()).await;
    }
    samples
}

/// Seats sold and seats sold more than once, counted in PostgreSQL itself.
fn count_ledger(stack: &Stack, event: &str) -> Result<LedgerCount, SaleError> {
    let number = |sql: &str| -> Result<u64, SaleError> {
        let rows = stack.postgres.query(sql).map_err(SaleError::Ledger)?;
        rows.first()
            .and_then(|row| row.first())
            .and_then(|cell| cell.as_deref())
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| SaleError::Ledger(format!("no number from {sql}")))
    };
    let event = event.replace('\'', "''");
    Ok(LedgerCount {
        seats_sold: number(&format!(
            "SELECT count(DISTINCT seat) FROM booking_seats WHERE event = '{event}' AND status = 'confirmed'"
        ))?,
        double_bookings: number(&format!(
            "SELECT count(*) - count(DISTINCT seat) FROM booking_seats \
             WHERE event = '{event}' AND status = 'confirmed'"
        ))?,
        bookings: number(&format!(
            "SELECT count(*) FROM bookings WHERE event = '{event}' AND status = 'confirmed'"
        ))?,
    })
}

fn write_report(out: &Path, report: &Report) -> Result<(), SaleError> {
    std::fs::create_dir_all(out).map_err(|e| SaleError::io(out, e))?;
    let json = serde_json::to_string_pretty(report)
        .map_err(|e| SaleError::Setup(format!("report JSON: {e}")))?;
    for (name, text) in [
        ("report.json", json),
        ("report.md", crate::render::markdown(report)),
        ("report.html", crate::render::html(report)),
    ] {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|e| SaleError::io(&path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_spread_exactly() {
        let picked = (0..1000).filter(|&i| spread(i, 0.05)).count();
        assert_eq!(picked, 50);
        assert_eq!((0..1000).filter(|&i| spread(i, 1.0)).count(), 1000);
        assert_eq!((0..1000).filter(|&i| spread(i, 0.0)).count(), 0);
    }
}
