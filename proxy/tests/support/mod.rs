//! Harness for the gateway's suites: a real origin (in-process, plain HTTP/1.1 over tokio),
//! real `anteroom serve` processes on free loopback ports (each behind a guard that kills it),
//! a real redis-server from the testkit, and small HTTP helpers.
#![allow(dead_code, unused_imports)]

pub mod origin;
pub mod stream_client;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anteroom_admission::{Keyring, PassClaims, VisitorId};
use anteroom_testkit::{free_port, unique_temp_dir, RedisServer};

pub use origin::{Origin, Protected};

pub const SECRET: &str = "integration-secret-0123456789abcdef-0123";
pub const ADMIN_TOKEN: &str = "integration-admin-token-0123456789";

/// The `[keys]` section of these suites.
pub fn keys_toml() -> String {
    format!("[keys]\nsigning = \"k1\"\nsecrets = {{ k1 = \"{SECRET}\" }}\n")
}

/// Which store a gateway runs on; the Redis one owns its server.
pub enum Backend {
    Memory,
    Redis(RedisServer),
}

impl Backend {
    pub fn memory() -> Backend {
        Backend::Memory
    }

    pub fn redis() -> Backend {
        Backend::Redis(RedisServer::start())
    }

    pub fn toml(&self) -> String {
        match self {
            Backend::Memory => "[store]\nbackend = \"memory\"\n".to_string(),
            Backend::Redis(server) => {
                format!("[store]\nbackend = \"redis\"\nurl = \"{}\"\n", server.url())
            }
        }
    }
}

/// A room section for a test config.
pub fn room_toml(id: &str, origin: SocketAddr, paths: &[&str], extra: &str) -> String {
    let paths: Vec<String> = paths.iter().map(|p| format!("\"{p}\"")).collect();
    format!(
        "[[room]]\nid = \"{id}\"\norigin = \"{origin}\"\npaths = [{}]\n{extra}\n",
        paths.join(", ")
    )
}

/// An `anteroom serve` process; killed (and waited for) on drop.
pub struct Gateway {
    child: Child,
    pub public: SocketAddr,
    pub admin: SocketAddr,
    pub metrics: SocketAddr,
    log: PathBuf,
    config_path: PathBuf,
    store_toml: String,
}

impl Gateway {
    /// Start a gateway with these rooms (and extra top-level TOML) on `store_toml`, and wait
    /// until its store is connected.
    pub async fn start(backend: &Backend, rooms: &str, extra: &str) -> Gateway {
        Gateway::start_with_store_toml(&backend.toml(), rooms, extra).await
    }

    pub async fn start_with_store_toml(store_toml: &str, rooms: &str, extra: &str) -> Gateway {
        Gateway::start_with_keys(store_toml, rooms, extra, &keys_toml()).await
    }

    /// A gateway with its own `[keys]` section (key rotation).
    pub async fn start_with_keys(
        store_toml: &str,
        rooms: &str,
        extra: &str,
        keys: &str,
    ) -> Gateway {
        Gateway::start_with_flags(store_toml, rooms, extra, keys, &[]).await
    }

    /// A gateway with its own `[keys]` and more `anteroom serve` flags.
    pub async fn start_with_flags(
        store_toml: &str,
        rooms: &str,
        extra: &str,
        keys: &str,
        flags: &[&str],
    ) -> Gateway {
        let dir = unique_temp_dir("anteroom-gw");
        let public: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let admin: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let metrics: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let config_path = dir.join("gateway.toml");
        let listen = [public, admin, metrics];
        std::fs::write(
            &config_path,
            config_text(listen, store_toml, rooms, extra, keys),
        )
        .expect("write gateway config");
        let log = dir.join("gateway.log");
        let child = spawn_serve(&config_path, &log, flags);
        let mut gateway = Gateway {
            child,
            public,
            admin,
            metrics,
            log,
            config_path,
            store_toml: store_toml.to_string(),
        };
        gateway.wait_ready().await;
        gateway
    }

    pub async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = client();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("anteroom exited early ({status}):\n{}", self.log_text());
            }
            let health = client
                .get(format!("http://{}/healthz", self.metrics))
                .send()
                .await;
            let proxy_up = tokio::net::TcpStream::connect(self.public).await.is_ok();
            if proxy_up && health.is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gateway not ready within 30 s:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `anteroom serve --upgrade` on this gateway's config: the new process waits for this
    /// one's listeners (send this one SIGQUIT), then serves on the same addresses.
    pub fn upgrade(&self) -> Gateway {
        let log = self.log.with_file_name("upgraded.log");
        Gateway {
            child: spawn_serve(&self.config_path, &log, &["--upgrade"]),
            public: self.public,
            admin: self.admin,
            metrics: self.metrics,
            log,
            config_path: self.config_path.clone(),
            store_toml: self.store_toml.clone(),
        }
    }

    /// Wait for the process to exit (failing after `wait`).
    pub async fn wait_exit(&mut self, wait: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + wait;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "gateway still running after {wait:?}:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Write a new config file in place of the one the gateway started with (same listeners
    /// and store); `anteroom serve` reads it on SIGHUP.
    pub fn rewrite_config(&self, rooms: &str, extra: &str, keys: &str) {
        let listen = [self.public, self.admin, self.metrics];
        let text = config_text(listen, &self.store_toml, rooms, extra, keys);
        std::fs::write(&self.config_path, text).expect("rewrite gateway config");
    }

    pub fn config_path(&self) -> &std::path::Path {
        &self.config_path
    }

    /// Send the gateway a signal (`HUP`, `QUIT`, ...).
    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{name} {} failed", self.pid());
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Wait until the log holds `needle` (its text then), failing after `wait`.
    pub async fn wait_log(&self, needle: &str, wait: Duration) -> String {
        let deadline = Instant::now() + wait;
        loop {
            let text = self.log_text();
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "`{needle}` not logged within {wait:?}:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Resident memory of the gateway process, in KiB (Linux).
    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .unwrap_or_default()
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.public)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    pub async fn metrics_text(&self) -> String {
        client()
            .get(format!("http://{}/metrics", self.metrics))
            .send()
            .await
            .expect("metrics request")
            .text()
            .await
            .expect("metrics body")
    }

    /// The value of one sample, matched by name and label fragments.
    pub async fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        let text = self.metrics_text().await;
        text.lines()
            .filter(|line| line.starts_with(name) && !line.starts_with('#'))
            .filter(|line| labels.iter().all(|label| line.contains(label)))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .next()
            .unwrap_or(0.0)
    }

    pub async fn admin_patch(&self, room: &str, body: serde_json::Value) -> serde_json::Value {
        let response = client()
            .patch(self.admin_url(&format!("/v1/rooms/{room}")))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("admin patch");
        assert_eq!(response.status(), 200, "admin PATCH refused");
        response.json().await.expect("admin patch json")
    }

    /// `POST /v1/reload`: the status and the JSON body.
    pub async fn post_reload(&self) -> (u16, serde_json::Value) {
        let answer = client()
            .post(self.admin_url("/v1/reload"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("reload request");
        (
            answer.status().as_u16(),
            answer.json().await.expect("reload answer"),
        )
    }

    /// A new room starts with a full bucket (one second's worth of admissions, at least one):
    /// let a throwaway visitor take it so a slow room's queue then stands still.
    pub async fn use_up_initial_burst(&self, room: &str) {
        let mut throwaway = Visitor::new();
        throwaway
            .wait_admitted(self, room, Duration::from_secs(5))
            .await;
    }

    pub async fn admin_room(&self, room: &str) -> serde_json::Value {
        client()
            .get(self.admin_url(&format!("/v1/rooms/{room}")))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("admin get")
            .json()
            .await
            .expect("admin get json")
    }
}

/// `anteroom serve` on this config, its stderr in `log`.
fn spawn_serve(config_path: &std::path::Path, log: &std::path::Path, flags: &[&str]) -> Child {
    let log_file = std::fs::File::create(log).expect("create gateway log");
    Command::new(env!("CARGO_BIN_EXE_anteroom"))
        .arg("serve")
        .arg("--config")
        .arg(config_path)
        .args(flags)
        .env(
            "RUST_LOG",
            std::env::var("ANTEROOM_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("spawn anteroom serve")
}

/// A gateway config file's text: listeners (public, admin, metrics), store, keys, rooms.
fn config_text(
    listen: [SocketAddr; 3],
    store_toml: &str,
    rooms: &str,
    extra: &str,
    keys: &str,
) -> String {
    let [public, admin, metrics] = listen;
    // Every client of these suites comes from loopback: the bot guard would take them for
    // one farm. Suites about the guard turn it on with their own [bot_guard] section.
    let guard = if extra.contains("[bot_guard]") {
        ""
    } else {
        "[bot_guard]\nenabled = false\n"
    };
    format!(
        "[listen]\npublic = \"{public}\"\nadmin = \"{admin}\"\nmetrics = \"{metrics}\"\n\n{extra}\n{guard}\n{store_toml}\n\
         {keys}\n\
         [admin]\ntoken = \"{ADMIN_TOKEN}\"\n\n{rooms}"
    )
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client")
}

/// What a visitor carries between requests: the two cookies, as a browser would.
#[derive(Debug, Clone, Default)]
pub struct Visitor {
    pub vid: Option<String>,
    pub pass: Option<String>,
}

/// One response, with what the visitor took from it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Visitor {
    pub fn new() -> Visitor {
        Visitor::default()
    }

    fn cookie_header(&self) -> Option<String> {
        let mut cookies = Vec::new();
        if let Some(vid) = &self.vid {
            cookies.push(format!("anteroom_vid={vid}"));
        }
        if let Some(pass) = &self.pass {
            cookies.push(format!("anteroom_pass={pass}"));
        }
        (!cookies.is_empty()).then(|| cookies.join("; "))
    }

    fn take_cookies(&mut self, headers: &reqwest::header::HeaderMap) {
        for value in headers.get_all("set-cookie") {
            let Ok(text) = value.to_str() else { continue };
            let Some((pair, _)) = text.split_once(';') else {
                continue;
            };
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            match name {
                "anteroom_vid" => self.vid = Some(value.to_string()),
                "anteroom_pass" if value.is_empty() => self.pass = None,
                "anteroom_pass" => self.pass = Some(value.to_string()),
                _ => {}
            }
        }
    }

    /// A request as this visitor; `json` picks `Accept: application/json`.
    pub async fn request(&mut self, method: reqwest::Method, url: &str, json: bool) -> Answer {
        let mut request = client().request(method, url);
        if let Some(cookies) = self.cookie_header() {
            request = request.header("cookie", cookies);
        }
        if json {
            request = request.header("accept", "application/json");
        }
        let response = request.send().await.expect("request to gateway");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        self.take_cookies(&headers);
        let body = response.text().await.expect("response body");
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, url: &str) -> Answer {
        self.request(reqwest::Method::GET, url, false).await
    }

    pub async fn get_json(&mut self, url: &str) -> Answer {
        self.request(reqwest::Method::GET, url, true).await
    }

    /// `POST /_anteroom/leave` as this visitor (JSON).
    pub async fn leave(&mut self, gateway: &Gateway, room: &str) -> Answer {
        let url = gateway.url(&format!("/_anteroom/leave?room={room}"));
        self.request(reqwest::Method::POST, &url, true).await
    }

    /// Poll the status endpoint until admitted (returns the last status) or the deadline.
    pub async fn wait_admitted(
        &mut self,
        gateway: &Gateway,
        room: &str,
        within: Duration,
    ) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            let status = self
                .get_json(&gateway.url(&format!("/_anteroom/status?room={room}")))
                .await
                .json();
            if status["state"] == "admitted" {
                return status;
            }
            assert!(Instant::now() < deadline, "not admitted in time: {status}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The gateway's keyring in these suites: what an origin that checks passes verifies with.
pub fn keyring() -> Keyring {
    keyring_with(SECRET)
}

fn keyring_with(secret: &str) -> Keyring {
    Keyring::new("k1", vec![("k1".to_string(), secret.as_bytes().to_vec())]).expect("test keyring")
}

/// A pass made with the test key, for forging, expiring and wrong-room cases.
pub fn mint_pass(room: &str, visitor: VisitorId, issued_at: u64, expires_at: u64) -> String {
    mint_pass_with(SECRET, room, visitor, issued_at, expires_at)
}

pub fn mint_pass_with(
    secret: &str,
    room: &str,
    visitor: VisitorId,
    issued_at: u64,
    expires_at: u64,
) -> String {
    keyring_with(secret).issue_pass(&PassClaims {
        room: room.to_string(),
        visitor,
        issued_at,
        expires_at,
    })
}

pub use anteroom_admission::unix_now;
