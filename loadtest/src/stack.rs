//! The system under test, started on this machine: redis-server and PostgreSQL (from the
//! testkit, on free loopback ports), one `anteroom booking` and G `anteroom serve` processes
//! sharing them. Every process is stopped (by pid) when the stack is dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anteroom_testkit::{free_port, unique_temp_dir, PostgresServer, RedisServer};

use crate::SaleError;

pub const ADMIN_TOKEN: &str = "loadtest-admin-token-0123456789abcdef";
const SECRET: &str = "loadtest-signing-secret-0123456789abcdef";
const READY_WITHIN: Duration = Duration::from_secs(30);

/// What the simulator needs to know of the room and event it plays.
#[derive(Debug, Clone)]
pub struct SaleSetup {
    pub room: String,
    pub event: String,
    pub seats: usize,
    pub admit_per_second: f64,
}

/// A child process killed and reaped on drop.
struct Process {
    child: Child,
    name: String,
    log: PathBuf,
}

impl Process {
    fn spawn(
        binary: &Path,
        args: &[&str],
        config: &Path,
        log: PathBuf,
    ) -> Result<Process, SaleError> {
        let log_file = std::fs::File::create(&log).map_err(|e| SaleError::io(&log, e))?;
        let child = Command::new(binary)
            .args(args)
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .map_err(|e| SaleError::io(binary, e))?;
        Ok(Process {
            child,
            name: args.join(" "),
            log,
        })
    }

    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!(
                "anteroom {} exited ({status}): {}",
                self.name,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            )),
            _ => None,
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One gateway's three listeners.
#[derive(Debug, Clone, Copy)]
pub struct GatewayAddrs {
    pub public: SocketAddr,
    pub admin: SocketAddr,
    pub metrics: SocketAddr,
}

/// Redis, PostgreSQL, booking and the gateways, up and ready.
pub struct Stack {
    // Declared first (fields drop in order): gateways and booking stop before their stores.
    processes: Vec<Process>,
    pub gateways: Vec<GatewayAddrs>,
    pub booking: SocketAddr,
    pub redis: RedisServer,
    pub postgres: PostgresServer,
}

/// Every simulated visitor comes from loopback, which the bot guard would take for one farm
/// and shadow: the simulated sale runs with the guard off (its bots measure the queue's
/// fairness against hammering, not the guard).
const GUARD_OFF: &str = "[bot_guard]\nenabled = false\n\n";

impl Stack {
    pub async fn start(
        bin_dir: &Path,
        gateways: usize,
        setup: &SaleSetup,
    ) -> Result<Stack, SaleError> {
        let binary = bin_dir.join("anteroom");
        if !binary.is_file() {
            return Err(SaleError::Setup(format!(
                "{} not found: build it (cargo build -p anteroom) or pass --bin-dir",
                binary.display()
            )));
        }
        let redis = RedisServer::start();
        let postgres = PostgresServer::start();
        let dir = unique_temp_dir("anteroom-loadtest");
        let keys = format!("[keys]\nsigning = \"k1\"\nsecrets = {{ k1 = \"{SECRET}\" }}\n");
        let store = format!("[store]\nbackend = \"redis\"\nurl = \"{}\"\n", redis.url());

        let booking: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let booking_config = dir.join("booking.toml");
        // Every fan reaches the booking service from loopback: the per-IP hold-attempt limit
        // would count the whole sale as one client.
        let text = format!(
            "[listen]\npublic = \"{booking}\"\n{store}\n[database]\nurl = \"{}\"\n{keys}\n\
             [admin]\ntoken = \"{ADMIN_TOKEN}\"\n[holds]\nttl_seconds = 300\nmax_seats_per_visitor = 6\n\
             max_attempts_per_ip_per_minute = 100000\n",
            postgres.url()
        );
        write(&booking_config, &text)?;
        let mut processes = vec![Process::spawn(
            &binary,
            &["booking"],
            &booking_config,
            dir.join("booking.log"),
        )?];

        let mut addrs = Vec::new();
        for index in 0..gateways {
            let gateway = GatewayAddrs {
                public: ([127, 0, 0, 1], free_port()).into(),
                admin: ([127, 0, 0, 1], free_port()).into(),
                metrics: ([127, 0, 0, 1], free_port()).into(),
            };
            let config = dir.join(format!("gateway-{index}.toml"));
            let text = format!(
                "[listen]\npublic = \"{}\"\nadmin = \"{}\"\nmetrics = \"{}\"\n\n{store}\n{keys}\n\
                 [admin]\ntoken = \"{ADMIN_TOKEN}\"\n\n{GUARD_OFF}[[room]]\nid = \"{}\"\norigin = \"{booking}\"\n\
                 paths = [\"/v1\"]\nmode = \"queue-all\"\nadmit_per_second = {:.3}\n\
                 max_active = 1000000\nsession_seconds = 3600\nabandon_after_seconds = 300\n",
                gateway.public, gateway.admin, gateway.metrics, setup.room, setup.admit_per_second
            );
            write(&config, &text)?;
            processes.push(Process::spawn(
                &binary,
                &["serve"],
                &config,
                dir.join(format!("gateway-{index}.log")),
            )?);
            addrs.push(gateway);
        }
        let mut stack = Stack {
            processes,
            gateways: addrs,
            booking,
            redis,
            postgres,
        };
        stack.wait_ready().await?;
        Ok(stack)
    }

    async fn wait_ready(&mut self) -> Result<(), SaleError> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(exit) = self.processes.iter_mut().find_map(Process::exited) {
                return Err(SaleError::Setup(exit));
            }
            let mut ready = tokio::net::TcpStream::connect(self.booking).await.is_ok();
            for gateway in &self.gateways {
                let answer = client
                    .get(format!("http://{}/readyz", gateway.admin))
                    .send()
                    .await;
                ready &= answer.is_ok_and(|r| r.status() == 200);
            }
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(SaleError::Setup(
                    "the stack was not ready within 30 s".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `host:port` of Redis, for the monitor.
    pub fn redis_addr(&self) -> String {
        format!("127.0.0.1:{}", self.redis.port())
    }
}

fn write(path: &Path, text: &str) -> Result<(), SaleError> {
    std::fs::write(path, text).map_err(|e| SaleError::io(path, e))
}
