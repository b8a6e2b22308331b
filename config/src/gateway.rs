//! The gateway config of DESIGN.md (`anteroom serve --config FILE`): its types and entry
//! points. The types are a public contract (the proxy codes against them); the schema walk
//! lives in `schema.rs`, the reference in `docs/config.md`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use crate::secret::EnvLookup;
use crate::ConfigError;

#[derive(Debug, Clone, PartialEq)]
pub struct GatewayConfig {
    pub listen: ListenConfig,
    pub proxy: ProxyConfig,
    pub store: StoreConfig,
    pub keys: KeysConfig,
    pub admin: AdminConfig,
    pub streams: StreamsConfig,
    /// `[bot_guard]`: the guard's rules for every room (a room may override them).
    pub bot_guard: crate::BotGuardConfig,
    /// `[log]`: format, level and the access log.
    pub log: crate::LogConfig,
    pub rooms: Vec<RoomConfig>,
}

/// `[streams]`: bounds on the live status streams (SSE and WebSocket) of one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamsConfig {
    /// Open streams per instance; beyond it a stream is refused with 503 (default 18,000:
    /// under the 20,000 files one process may open here, leaving room for origin sockets).
    pub max_open: usize,
    /// Open streams per visitor and room (tabs); beyond it 429 (default 4).
    pub max_per_visitor: usize,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        StreamsConfig {
            max_open: 18_000,
            max_per_visitor: 4,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListenConfig {
    /// default 127.0.0.1:8080
    pub public: SocketAddr,
    /// default 127.0.0.1:9080
    pub admin: SocketAddr,
    /// default 127.0.0.1:9090
    pub metrics: SocketAddr,
    /// Worker threads of the public listener; None = one per core.
    pub threads: Option<usize>,
    /// Peers whose `X-Forwarded-For` / PROXY protocol is believed; empty = none (the
    /// socket address is the client).
    pub trusted_proxies: Vec<crate::Cidr>,
    /// Connections from `trusted_proxies` start with a PROXY protocol header (v1 or v2)
    /// naming the client; from any other peer none is read.
    pub proxy_protocol: bool,
    /// Admitted HTTP/1.1 `GET`/`HEAD` requests are served by the gateway's direct path
    /// instead of Pingora's proxy loop (ADR 0009); default true.
    pub direct_path: bool,
    /// `tls_cert` + `tls_key`: the public listener speaks TLS (HTTP/2 offered by ALPN);
    /// None = plain HTTP.
    pub tls: Option<TlsFiles>,
    /// The unix socket `serve --upgrade` receives the listeners over; None = the default
    /// derived from the public port (`default_upgrade_socket`).
    pub upgrade_socket: Option<std::path::PathBuf>,
    /// After the listeners stop (SIGTERM, or the end of an upgrade), how long in-flight
    /// requests get before the process exits.
    pub shutdown_grace_seconds: u64,
}

/// `[listen] shutdown_grace_seconds` when not set.
pub const DEFAULT_SHUTDOWN_GRACE_SECONDS: u64 = 5;

impl ListenConfig {
    /// The upgrade socket in force: the configured one, else one per public port in the
    /// temp directory (two gateways on one host never take each other's listeners).
    pub fn upgrade_socket(&self) -> std::path::PathBuf {
        self.upgrade_socket.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("anteroom-upgrade-{}.sock", self.public.port()))
        })
    }
}

/// The PEM certificate chain and private key of the public listener, both checked to be
/// readable PEM of the right kind when the config is read (the pair is loaded, and re-read
/// on reload, by the proxy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProxyConfig {
    /// `host:port` where requests outside every room go; None = 404.
    pub default_origin: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreBackend {
    #[default]
    Memory,
    Redis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    pub backend: StoreBackend,
    /// redis:// rediss:// redis-cluster:// ; required when backend = redis
    pub url: Option<String>,
    /// PEM CA bundle that verifies a rediss:// server instead of the system roots
    pub tls_ca: Option<std::path::PathBuf>,
}

/// A resolved secret. Debug never prints the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret(<{} bytes>)", self.0.len())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeysConfig {
    /// kid of the key that signs new passes; must be a key of `secrets`
    pub signing: String,
    /// kid -> secret (each >= 32 bytes); every listed secret verifies
    pub secrets: BTreeMap<String, Secret>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct AdminConfig {
    /// None = the admin API refuses every request (401)
    pub token: Option<Secret>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum RoomMode {
    #[default]
    SafetyNet,
    QueueAll,
    Passthrough,
    Closed,
}

impl RoomMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomMode::SafetyNet => "safety-net",
            RoomMode::QueueAll => "queue-all",
            RoomMode::Passthrough => "passthrough",
            RoomMode::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<RoomMode> {
        match text {
            "safety-net" => Some(RoomMode::SafetyNet),
            "queue-all" => Some(RoomMode::QueueAll),
            "passthrough" => Some(RoomMode::Passthrough),
            "closed" => Some(RoomMode::Closed),
            _ => None,
        }
    }

    pub const ALLOWED: &'static str = "safety-net, queue-all, passthrough, closed";
}

#[derive(Debug, Clone, PartialEq)]
pub struct RoomConfig {
    /// [A-Za-z0-9_-]{1,64}; unique
    pub id: String,
    /// `host:port`
    pub origin: String,
    /// empty = any host; lowercase, no port
    pub hosts: Vec<String>,
    /// path prefixes, each starting with '/'; at least one
    pub paths: Vec<String>,
    pub mode: RoomMode,
    /// > 0, fractional allowed; default 50.0
    pub admit_per_second: f64,
    /// >= 1; default 2000
    pub max_active: u64,
    /// >= 1; default 600
    pub session_seconds: u64,
    /// >= 1; default 120
    pub abandon_after_seconds: u64,
    /// Match `paths` without regard to ASCII case (for origins that serve `/TOUR` as `/tour`);
    /// default false
    pub paths_case_insensitive: bool,
    /// Replaces the built-in waiting page; read and checked at load. None = built-in.
    pub page_template: Option<crate::PageTemplate>,
    /// Where the sold-out page and status send the line to join the event's waitlist: a
    /// path on the same site or an absolute http(s) URL, outside this room's own prefixes
    /// (`validate::waitlist_url`). None = no waitlist link.
    pub waitlist_url: Option<String>,
    /// `bot_guard = { ... }`: this room's overrides of `[bot_guard]` (all None = none);
    /// `GatewayConfig::bot_guard.with_override(&room.bot_guard)` gives its rules.
    pub bot_guard: crate::BotGuardOverride,
}

/// Read and validate a gateway config file.
pub fn load_gateway_config(path: &Path) -> Result<GatewayConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        file: path.display().to_string(),
        source,
    })?;
    parse_gateway_config(&text, &path.display().to_string())
}

/// Parse and validate gateway config text; `file` names it in errors.
/// `env:NAME` secrets are read from the process environment.
pub fn parse_gateway_config(text: &str, file: &str) -> Result<GatewayConfig, ConfigError> {
    parse_gateway_config_with_env(text, file, &|name| std::env::var(name))
}

/// Like [`parse_gateway_config`], with `env:NAME` secrets looked up through `env` (same
/// contract as `std::env::var`) instead of the process environment.
pub fn parse_gateway_config_with_env(
    text: &str,
    file: &str,
    env: EnvLookup,
) -> Result<GatewayConfig, ConfigError> {
    crate::schema::parse(text, file, env)
}
