//! `flash-sale`: starts the stack, opens the sale, lets the visitors in along an arrival
//! curve, then counts what happened and writes the report.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::endpoints::{Endpoints, Mode};
use crate::monitor::Monitor;
use crate::report::{self, Inputs, LedgerCount, Report, RunSettings, Sample};
use crate::stack::SaleSetup;
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
    pub mode: Mode,
    pub room: String,
    pub event: String,
    pub out: PathBuf,
    pub command: String,
}

pub async fn run(options: &SaleOptions) -> Result<Report, SaleError> {
    let setup = SaleSetup {
        room: options.room.clone(),
        event: options.event.clone(),
        seats: options.seats,
        admit_per_second: options.admit_per_second,
    };
    let endpoints = Endpoints::open(&options.mode, &setup).await?;
    if endpoints.gateways.is_empty() {
        return Err(SaleError::Setup("no gateway to play against".into()));
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(usize::MAX)
        .build()
        .map_err(|e| SaleError::Setup(format!("http client: {e}")))?;
    if let Some(booking) = &endpoints.booking_url {
        create_event(&client, booking, &endpoints.admin_token, &setup).await?;
    }
    let monitor = Monitor::start(&endpoints.redis, &setup.room)
        .await
        .map_err(|e| SaleError::Setup(format!("redis MONITOR: {e}")))?;

    let start = Instant::now();
    let start_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let sampler = endpoints.admin_url.clone().map(|admin| {
        tokio::spawn(sample_room(
            client.clone(),
            format!("{admin}/v1/rooms/{}", setup.room),
            endpoints.admin_token.clone(),
            start,
            stopped,
        ))
    });

    let client = Arc::new(client);
    let mut visitors = Vec::with_capacity(options.visitors);
    for index in 0..options.visitors {
        let plan = plan(options, &endpoints.gateways, &setup, index);
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
    let series = match sampler {
        Some(sampler) => sampler.await.unwrap_or_default(),
        None => Vec::new(),
    };
    let order = monitor
        .finish()
        .await
        .map_err(|e| SaleError::Setup(format!("redis MONITOR: {e}")))?;
    let ledger = count_ledger(&endpoints, &setup.event)?;

    let report = report::build(Inputs {
        settings: RunSettings {
            command: options.command.clone(),
            visitors: options.visitors,
            gateways: endpoints.gateways.len(),
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

fn plan(options: &SaleOptions, gateways: &[String], setup: &SaleSetup, index: usize) -> Plan {
    let gateway = index % gateways.len().max(1);
    let bot = spread(index, options.bots_pct / 100.0);
    // One process holds at most ~19,900 sockets here: past `max_streams`, fans poll, as
    // the waiting page does when it cannot stream.
    let stream_share = options.max_streams as f64 / options.visitors.max(1) as f64;
    let stream = !bot && spread(index, stream_share.min(1.0));
    Plan {
        index,
        gateway,
        base: gateways.get(gateway).cloned().unwrap_or_default(),
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

/// Creates the seated event (`200` when an identical one exists: a rerun is fine).
async fn create_event(
    client: &reqwest::Client,
    booking: &str,
    token: &str,
    setup: &SaleSetup,
) -> Result<(), SaleError> {
    let seats: Vec<String> = (1..=setup.seats).map(|n| format!("S{n:05}")).collect();
    let response = client
        .post(format!("{booking}/v1/events"))
        .bearer_auth(token)
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
    url: String,
    token: String,
    start: Instant,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    while !*stop.borrow() {
        let answer = client
            .get(&url)
            .bearer_auth(&token)
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
fn count_ledger(endpoints: &Endpoints, event: &str) -> Result<LedgerCount, SaleError> {
    let number = |sql: &str| endpoints.ledger_number(sql);
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
