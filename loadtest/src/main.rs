//! `anteroom-loadtest`: load tests for a site behind Anteroom.

use std::path::PathBuf;
use std::process::ExitCode;

use anteroom_loadtest::endpoints::{Mode, Target};
use anteroom_loadtest::sale::{self, Arrival, SaleOptions};
use anteroom_loadtest::scenarios::{self, Kind};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "anteroom-loadtest", version, about = "Load tests for Anteroom")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Play a whole flash sale on this machine (Redis, PostgreSQL, booking, G gateways) and
    /// write DIR/report.json, report.md, report.html. Exits 1 when a gate fails.
    FlashSale(FlashSaleArgs),
    /// goose: fans — protected page, live stream until admitted, seat map, hold, confirm.
    Fan(ScenarioArgs),
    /// goose: apps — the same journey in JSON mode, polling, `X-Anteroom-*` headers.
    App(ScenarioArgs),
    /// goose: bots — no JavaScript, one fingerprint, hammering joins and holds.
    Bot(ScenarioArgs),
    /// goose: admitted visitors browsing the origin.
    Browse(ScenarioArgs),
}

/// A goose scenario: the target's room/event/page, and every goose flag (`-H`, `-u`, `-r`,
/// `-t`, `--report-file`, `--threshold`...). Bounded by default: 60 s, 20 users.
#[derive(clap::Args)]
struct ScenarioArgs {
    #[command(flatten)]
    target: scenarios::Target,
    #[command(flatten)]
    goose: goose::config::GooseConfiguration,
}

#[derive(clap::Args)]
struct FlashSaleArgs {
    /// Visitors in the sale.
    #[arg(long, default_value_t = 2000)]
    visitors: usize,
    /// Gateway instances (`anteroom serve`) sharing one Redis.
    #[arg(long, default_value_t = 2)]
    gateways: usize,
    /// Seats on sale.
    #[arg(long, default_value_t = 200)]
    seats: usize,
    /// Share of visitors that are bots (percent): no stream, polling hard, a fixed user agent.
    #[arg(long, default_value_t = 0.0)]
    bots: f64,
    /// The room's admission rate (visitors per second).
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// How arrivals spread over the arrival window.
    #[arg(long, value_enum, default_value_t = Arrival::Spike)]
    arrival: Arrival,
    /// The arrival window, in seconds.
    #[arg(long, default_value_t = 5.0)]
    arrival_seconds: f64,
    /// A visitor still waiting after this many seconds gives up (counted as abandoned).
    #[arg(long, default_value_t = 120.0)]
    give_up_seconds: f64,
    /// At most this many fans follow the SSE stream; the rest poll `/_anteroom/status`
    /// (one process here holds at most ~19,900 sockets).
    #[arg(long, default_value_t = 12_000)]
    max_streams: usize,
    /// The admission-rate gate: measured rate within ± this percent of the set rate.
    #[arg(long, default_value_t = 2.0)]
    max_rate_error_pct: f64,
    /// Where the `anteroom` binary is (default: next to this one).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Play against gateways already running (public base URLs; repeat or comma-separate)
    /// instead of starting a stack; needs --redis and --database-url.
    #[arg(long, value_delimiter = ',')]
    target: Vec<String>,
    /// With --target: the Redis the gateways share (`host:port`), for the line's order.
    #[arg(long, requires = "target")]
    redis: Option<String>,
    /// With --target: the booking ledger (`postgres://…`), counted with `psql`.
    #[arg(long, requires = "target")]
    database_url: Option<String>,
    /// With --target: a gateway's admin base URL, to plot the room.
    #[arg(long, requires = "target")]
    admin_url: Option<String>,
    /// With --target: the booking service's base URL, to create the event (else it must exist
    /// with --seats seats).
    #[arg(long, requires = "target")]
    booking_url: Option<String>,
    /// With --target: the admin token of the gateway and booking service.
    #[arg(
        long,
        env = "ANTEROOM_ADMIN_TOKEN",
        hide_env_values = true,
        default_value = ""
    )]
    admin_token: String,
    /// The room guarding the sale (with --target: as configured there).
    #[arg(long, default_value = "sale")]
    room: String,
    /// The seated event on sale.
    #[arg(long, default_value = "sale")]
    event: String,
    /// Report directory.
    #[arg(long)]
    out: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::FlashSale(args) => flash_sale(args),
        Command::Fan(args) => scenario(Kind::Fan, args),
        Command::App(args) => scenario(Kind::App, args),
        Command::Bot(args) => scenario(Kind::Bot, args),
        Command::Browse(args) => scenario(Kind::Browse, args),
    }
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| eprintln!("tokio runtime: {e}"))
        .ok()
}

/// Runs a goose scenario; a failed threshold (or any goose error) is a non-zero exit.
fn scenario(kind: Kind, args: ScenarioArgs) -> ExitCode {
    let Some(runtime) = runtime() else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(scenarios::run(kind, args.target, args.goose)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

fn flash_sale(args: FlashSaleArgs) -> ExitCode {
    if args.visitors == 0 || args.gateways == 0 || args.seats == 0 || args.rate <= 0.0 {
        eprintln!("--visitors, --gateways, --seats and --rate must be above 0");
        return ExitCode::from(2);
    }
    let Some(mode) = mode(&args) else {
        return ExitCode::from(2);
    };
    let options = SaleOptions {
        visitors: args.visitors,
        gateways: args.gateways,
        seats: args.seats,
        bots_pct: args.bots.clamp(0.0, 100.0),
        admit_per_second: args.rate,
        arrival: args.arrival,
        arrival_seconds: args.arrival_seconds.max(0.0),
        give_up_seconds: args.give_up_seconds.max(1.0),
        max_streams: args.max_streams,
        max_rate_error_pct: args.max_rate_error_pct,
        mode,
        room: args.room,
        event: args.event,
        out: args.out,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(sale::run(&options)) {
        Ok(report) => {
            print!("{}", anteroom_loadtest::render::markdown(&report));
            if report.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("flash-sale: {error}");
            ExitCode::from(2)
        }
    }
}

/// Start a stack (the `anteroom` binary next to this one), or play against `--target`.
fn mode(args: &FlashSaleArgs) -> Option<Mode> {
    if args.target.is_empty() {
        let Some(bin_dir) = args.bin_dir.clone().or_else(exe_dir) else {
            eprintln!("cannot tell where this binary is: pass --bin-dir");
            return None;
        };
        return Some(Mode::Local {
            bin_dir,
            gateways: args.gateways,
        });
    }
    let (Some(redis), Some(database_url)) = (args.redis.clone(), args.database_url.clone()) else {
        eprintln!("--target needs --redis and --database-url: the gates are counted there");
        return None;
    };
    Some(Mode::Target(Target {
        gateways: args.target.clone(),
        redis,
        database_url,
        admin_url: args.admin_url.clone(),
        booking_url: args.booking_url.clone(),
        admin_token: args.admin_token.clone(),
    }))
}

fn exe_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    // Test binaries live in target/debug/deps; the workspace's binaries one level up.
    let dir = exe.parent()?;
    if dir.ends_with("deps") {
        return dir.parent().map(PathBuf::from);
    }
    Some(dir.to_path_buf())
}
