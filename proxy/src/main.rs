//! `anteroom`: the Anteroom gateway binary — serve, demo, check, keygen.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use std::sync::Arc;

use anteroom::runtime::{demo, logs, server, store_connect};
use anteroom_config::{LogConfig, LogFormat};
use anteroom_queue::{MemoryStore, QueueStore};
use pingora::services::background::background_service;

#[derive(Parser)]
#[command(
    name = "anteroom",
    version,
    about = "Anteroom: a fair virtual waiting room and queue gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway: proxy + queue + admission + admin API + metrics.
    Serve {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// `text` or `json`; overrides `[log] format`.
        #[arg(long, value_name = "FORMAT", value_parser = LogFormat::parse)]
        log_format: Option<LogFormat>,
        /// Take the listeners over from the running instance (then send it SIGQUIT): a
        /// zero-downtime upgrade. Needs a shared store (Redis).
        #[arg(long)]
        upgrade: bool,
    },
    /// Run the seat-hold and booking service (an origin behind the gateway).
    Booking {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// `text` or `json`; overrides `[log] format`.
        #[arg(long, value_name = "FORMAT", value_parser = LogFormat::parse)]
        log_format: Option<LogFormat>,
    },
    /// Gateway + booking + demo shop on the embedded stores, one command.
    Demo {
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
    /// Validate a config: exit 1 with file:line and field on the first problem.
    Check {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Print a new random signing secret.
    Keygen,
    /// Operate rooms through the admin API.
    Ctl {
        /// Admin API base URL.
        #[arg(
            long,
            env = "ANTEROOM_ADMIN_URL",
            default_value = "http://127.0.0.1:9080"
        )]
        admin: String,
        /// Admin token.
        #[arg(long, env = "ANTEROOM_ADMIN_TOKEN", hide_env_values = true)]
        token: String,
        #[command(subcommand)]
        command: anteroom::cli::ctl::CtlCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            config,
            log_format,
            upgrade,
        } => serve(config, log_format, upgrade),
        Command::Demo { port } => {
            let _logs = start_logs(&LogConfig::default(), None);
            run_demo(port)
        }
        Command::Booking { config, log_format } => booking(config, log_format),
        Command::Check { config } => check(config),
        Command::Ctl {
            admin,
            token,
            command,
        } => ctl(&admin, &token, command),
        Command::Keygen => {
            println!("{}", anteroom_admission::generate_secret());
            ExitCode::SUCCESS
        }
    }
}

/// The process logger by `[log]`, the flag overriding its format; held until exit.
fn start_logs(
    config: &LogConfig,
    flag: Option<LogFormat>,
) -> Option<anteroom::runtime::log_writer::LogFlusher> {
    logs::init(flag.unwrap_or(config.format), config.level, config.access)
}

fn check(path: PathBuf) -> ExitCode {
    match anteroom::runtime::reload::load_checked(&path) {
        Ok(config) => {
            println!(
                "{}: OK ({} room{}, store {:?})",
                path.display(),
                config.rooms.len(),
                if config.rooms.len() == 1 { "" } else { "s" },
                config.store.backend
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

fn serve(path: PathBuf, log_format: Option<LogFormat>, upgrade: bool) -> ExitCode {
    let config = match anteroom_config::load_gateway_config(&path) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let _logs = start_logs(&config.log, log_format);
    if upgrade && config.store.backend == anteroom_config::StoreBackend::Memory {
        eprintln!(
            "{}: --upgrade needs a shared store: the memory store's line lives in the running \
             process and would be lost (use [store] backend = \"redis\", or restart)",
            path.display()
        );
        return ExitCode::FAILURE;
    }
    match server::build_from_file(&path, &config, upgrade) {
        Ok((server, _gateway)) => {
            log::info!(
                "anteroom gateway on http://{} (admin {}, metrics {})",
                config.listen.public,
                config.listen.admin,
                config.listen.metrics
            );
            server.run_forever()
        }
        Err(error) => {
            eprintln!("{}: {error}", path.display());
            ExitCode::FAILURE
        }
    }
}

fn run_demo(port: u16) -> ExitCode {
    let booking = match demo::free_loopback_addr() {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("cannot find a free port for the demo's booking service: {error}");
            return ExitCode::FAILURE;
        }
    };
    let admin_token = anteroom_admission::generate_secret();
    let config = demo::demo_config(port, booking, &admin_token);
    let store: Arc<dyn QueueStore> = Arc::new(MemoryStore::new());
    let built = server::build_with_store(&config, store_connect::shared(store.clone()))
        .and_then(|(server, _)| Ok((server, demo::booking_host(&config, booking, store)?)));
    let (mut server, host) = match built {
        Ok(built) => built,
        Err(error) => {
            eprintln!("demo: {error}");
            return ExitCode::FAILURE;
        }
    };
    server.add_service(background_service("booking", host));
    println!(
        "\nAnteroom demo\n  shop (behind the waiting room): http://127.0.0.1:{port}/\n  \
         3 visitors may shop at once, 1 more admitted per second as places free up;\n  \
         40 seats, holds last 2 minutes; when all are booked the line is told it is sold out.\n  \
         see the queue:  for i in $(seq 6); do curl -s -H 'Accept: application/json' http://127.0.0.1:{port}/; echo; done\n  \
         admin API:      curl -H 'Authorization: Bearer {admin_token}' http://{}/v1/rooms\n  \
         metrics:        curl http://{}/metrics\n",
        config.listen.admin, config.listen.metrics
    );
    server.run_forever()
}

fn ctl(admin: &str, token: &str, command: anteroom::cli::ctl::CtlCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start a runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(anteroom::cli::ctl::run(admin, token, command)) {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("anteroom ctl: {message}");
            ExitCode::FAILURE
        }
    }
}

fn booking(path: PathBuf, log_format: Option<LogFormat>) -> ExitCode {
    let config = match anteroom_config::load_booking_config(&path) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let _logs = start_logs(&config.log, log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start a runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result: Result<(), String> = runtime.block_on(async {
        let service = anteroom_booking::service::build(&config)
            .await
            .map_err(|error| format!("{}: {error}", path.display()))?;
        let listener = tokio::net::TcpListener::bind(config.public)
            .await
            .map_err(|error| format!("cannot listen on {}: {error}", config.public))?;
        log::info!(
            "anteroom booking on http://{} (database {})",
            config.public,
            config.database_url.split('@').next_back().unwrap_or("")
        );
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        anteroom_booking::service::serve(listener, service, shutdown)
            .await
            .map_err(|error| format!("booking service: {error}"))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
