//! Load client of the live-stream scale benchmark (`bench/streams.sh`):
//!   stream-load fill   — queue N visitors through the store's own join script
//!   stream-load open   — hold N SSE/WS streams from one source address, count every update
//!   stream-load report — turn the run's readings into the results table
//! Every mode is bounded in count and time.

mod connection;
mod fill;
mod http1;
mod open;
mod report;
mod scrape;
mod sse;
mod tally;
mod ws;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "stream-load",
    about = "Load client for the live-stream benchmark"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Queue visitors in a room through the store's join script; prints a JSON line.
    Fill {
        #[arg(long)]
        redis: String,
        #[arg(long)]
        room: String,
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=5_000_000))]
        count: u64,
        /// Joins in flight at once.
        #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=4096))]
        in_flight: u64,
    },
    /// Open streams and hold them until SIGTERM/SIGINT or --max-seconds; the summary (JSON)
    /// goes to stdout.
    Open(open::OpenOptions),
    /// Results table from the run's readings: markdown to stdout, JSON to --json-out.
    Report {
        /// A summary written by `open` (repeat for each client process).
        #[arg(long = "client", required = true)]
        clients: Vec<PathBuf>,
        /// /metrics scrapes: baseline start/end (no streams), window start/end (streams).
        #[arg(long, num_args = 4, value_names = ["BASE0", "BASE1", "WIN0", "WIN1"])]
        metrics: Vec<PathBuf>,
        /// `INFO commandstats` at the same four moments.
        #[arg(long, num_args = 4, value_names = ["BASE0", "BASE1", "WIN0", "WIN1"])]
        redis: Vec<PathBuf>,
        #[arg(long)]
        rss_before_kib: u64,
        #[arg(long)]
        rss_with_kib: u64,
        #[arg(long)]
        queued: u64,
        #[arg(long)]
        baseline_seconds: f64,
        #[arg(long)]
        window_seconds: f64,
        #[arg(long)]
        json_out: Option<PathBuf>,
    },
}

fn read(path: &PathBuf) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn pair(files: &[PathBuf], first: usize) -> Result<(String, String), String> {
    match (files.get(first), files.get(first + 1)) {
        (Some(a), Some(b)) => Ok((read(a)?, read(b)?)),
        _ => Err("four files expected".into()),
    }
}

fn current_thread() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Fill {
            redis,
            room,
            count,
            in_flight,
        } => {
            let filled = current_thread()?.block_on(fill::fill(
                &redis,
                &room,
                count,
                usize::try_from(in_flight).unwrap_or(256),
            ))?;
            println!(
                "{}",
                serde_json::to_string(&filled).map_err(|e| e.to_string())?
            );
            if filled.failed > 0 {
                return Err(format!("{} joins failed", filled.failed));
            }
            Ok(())
        }
        Command::Open(options) => {
            let summary = current_thread()?.block_on(open::run(options));
            println!(
                "{}",
                serde_json::to_string(&summary).map_err(|e| e.to_string())?
            );
            Ok(())
        }
        Command::Report {
            clients,
            metrics,
            redis,
            rss_before_kib,
            rss_with_kib,
            queued,
            baseline_seconds,
            window_seconds,
            json_out,
        } => {
            let clients = clients
                .iter()
                .map(|path| {
                    serde_json::from_str(&read(path)?)
                        .map_err(|e| format!("{}: {e}", path.display()))
                })
                .collect::<Result<Vec<tally::Summary>, String>>()?;
            let readings = report::Readings {
                clients,
                metrics_baseline: pair(&metrics, 0)?,
                metrics_window: pair(&metrics, 2)?,
                redis_baseline: pair(&redis, 0)?,
                redis_window: pair(&redis, 2)?,
                rss_before_kib,
                rss_with_kib,
                queued,
                window_seconds,
                baseline_seconds,
            };
            let results = report::build(&readings);
            if let Some(path) = json_out {
                let json = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
                std::fs::write(&path, json).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            print!("{}", report::markdown(&results));
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("stream-load: {message}");
            ExitCode::FAILURE
        }
    }
}
