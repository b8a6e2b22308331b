//! The booking service config (`anteroom booking --config FILE`): same conventions and the
//! same located errors as the gateway's; `[store]`, `[keys]` and `[admin]` are parsed by the
//! very same code.

use std::net::SocketAddr;
use std::path::Path;

use crate::location::Source;
use crate::reader::Section;
use crate::secret::EnvLookup;
use crate::{schema, syntax, validate, AdminConfig, ConfigError, KeysConfig, StoreConfig};

pub const DEFAULT_BOOKING_PUBLIC: &str = "127.0.0.1:3000";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://anteroom-bookings.db";
pub const DEFAULT_HOLD_TTL_SECONDS: u64 = 300;
pub const DEFAULT_MAX_SEATS_PER_VISITOR: u64 = 6;
pub const DEFAULT_MAX_ATTEMPTS_PER_VISITOR_PER_MINUTE: u64 = 30;
pub const DEFAULT_MAX_ATTEMPTS_PER_IP_PER_MINUTE: u64 = 120;
/// Upper bound of both hold-attempt limits.
pub const MAX_ATTEMPTS_PER_MINUTE: i64 = 100_000;

#[derive(Debug, Clone, PartialEq)]
pub struct BookingConfig {
    /// `[listen] public`, default 127.0.0.1:3000
    pub public: SocketAddr,
    /// `[listen] trusted_proxies`: peers whose `X-Forwarded-For` names the client (the
    /// gateways in front); default none, so the socket peer is the client.
    pub trusted_proxies: Vec<crate::Cidr>,
    /// Holds: memory (single node) or redis — and, with redis, the store whose rooms are
    /// marked sold out.
    pub store: StoreConfig,
    /// `postgres://…` or `sqlite://FILE` (default sqlite://anteroom-bookings.db)
    pub database_url: String,
    /// The gateway's keys, to verify passes.
    pub keys: KeysConfig,
    /// Needed to create events.
    pub admin: AdminConfig,
    pub holds: HoldsConfig,
    pub waitlist: WaitlistConfig,
    /// `[log]`: format and level (the gateway's section; `access` is the gateway's only).
    pub log: crate::LogConfig,
}

/// `[waitlist]`: the line after sell-out (booking service with a PostgreSQL ledger).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitlistConfig {
    /// How long an offered place is kept for its fan, 1..=86400, default 900.
    pub offer_ttl_seconds: u64,
    /// What a waiting fan sees: their exact position, or a band of 100.
    pub position: WaitlistPosition,
    /// Where offers are POSTed (at least once, JSON with an `id` for de-duplication);
    /// none: fans learn of offers from their status only. `http://` or `https://`.
    pub webhook_url: Option<String>,
    /// More CA certificates (PEM) to trust for an `https://` webhook, besides the system's.
    pub webhook_ca: Option<std::path::PathBuf>,
    /// Signs every delivery (`X-Anteroom-Signature`) so the receiver can tell it is ours.
    pub webhook_secret: Option<crate::Secret>,
    /// At most this many offers per event per second (a bulk cancellation goes out in
    /// waves), 1..=10000, default 50.
    pub notify_per_second: u64,
    /// Most fans waiting (or offered) per event, 1..=10000000, default 100000.
    pub max_depth: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitlistPosition {
    Exact,
    Band,
}

pub const DEFAULT_OFFER_TTL_SECONDS: u64 = 900;
pub const DEFAULT_NOTIFY_PER_SECOND: u64 = 50;
pub const DEFAULT_WAITLIST_MAX_DEPTH: u64 = 100_000;

impl Default for WaitlistConfig {
    fn default() -> Self {
        WaitlistConfig {
            offer_ttl_seconds: DEFAULT_OFFER_TTL_SECONDS,
            position: WaitlistPosition::Exact,
            webhook_url: None,
            webhook_ca: None,
            webhook_secret: None,
            notify_per_second: DEFAULT_NOTIFY_PER_SECOND,
            max_depth: DEFAULT_WAITLIST_MAX_DEPTH,
        }
    }
}

const WAITLIST_KEYS: &[&str] = &[
    "offer_ttl_seconds",
    "position",
    "webhook_url",
    "webhook_ca",
    "webhook_secret",
    "notify_per_second",
    "max_depth",
];

fn waitlist_position(text: &str) -> Result<WaitlistPosition, String> {
    match text {
        "exact" => Ok(WaitlistPosition::Exact),
        "band" => Ok(WaitlistPosition::Band),
        other => Err(format!("expected \"exact\" or \"band\", got {other:?}")),
    }
}

fn webhook_url(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty() && !rest.starts_with('/') && !url.contains(char::is_whitespace) =>
        {
            Ok(url.to_string())
        }
        _ => Err(format!(
            "expected https://HOST[:PORT]/PATH (or http:// on a private network), got {url:?}"
        )),
    }
}

fn waitlist(src: &Source, s: Option<Section>, env: EnvLookup) -> WaitlistConfig {
    let Some(s) = s else {
        return WaitlistConfig::default();
    };
    s.deny_unknown(src, WAITLIST_KEYS);
    let located = |key: &str| src.keep(s.string(src, key)).flatten();
    WaitlistConfig {
        offer_ttl_seconds: schema::integer(
            src,
            &s,
            "offer_ttl_seconds",
            DEFAULT_OFFER_TTL_SECONDS,
            86_400,
            "seconds",
        ),
        position: located("position")
            .and_then(|at| schema::check(src, &at, waitlist_position))
            .unwrap_or(WaitlistPosition::Exact),
        webhook_url: located("webhook_url").and_then(|at| schema::check(src, &at, webhook_url)),
        webhook_ca: located("webhook_ca").and_then(|at| schema::check(src, &at, validate::ca_file)),
        webhook_secret: located("webhook_secret").and_then(|at| {
            src.keep(
                crate::secret::resolve(&at.value, &crate::secret::WEBHOOK_SECRET, env)
                    .map_err(|message| src.error(&at.span, at.path.clone(), message)),
            )
        }),
        notify_per_second: schema::integer(
            src,
            &s,
            "notify_per_second",
            DEFAULT_NOTIFY_PER_SECOND,
            10_000,
            "offers per second",
        ),
        max_depth: schema::integer(
            src,
            &s,
            "max_depth",
            DEFAULT_WAITLIST_MAX_DEPTH,
            10_000_000,
            "fans",
        ),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldsConfig {
    /// 1..=3600, default 300
    pub ttl_seconds: u64,
    /// 1..=100, default 6
    pub max_seats_per_visitor: u64,
    /// Hold attempts per visitor per minute, 1..=100000, default 30.
    pub max_attempts_per_visitor_per_minute: u64,
    /// Hold attempts per client IP per minute, 1..=100000, default 120.
    pub max_attempts_per_ip_per_minute: u64,
}

impl Default for HoldsConfig {
    fn default() -> Self {
        HoldsConfig {
            ttl_seconds: DEFAULT_HOLD_TTL_SECONDS,
            max_seats_per_visitor: DEFAULT_MAX_SEATS_PER_VISITOR,
            max_attempts_per_visitor_per_minute: DEFAULT_MAX_ATTEMPTS_PER_VISITOR_PER_MINUTE,
            max_attempts_per_ip_per_minute: DEFAULT_MAX_ATTEMPTS_PER_IP_PER_MINUTE,
        }
    }
}

const TOP_KEYS: &[&str] = &[
    "listen", "store", "database", "keys", "admin", "holds", "waitlist", "log",
];
const HOLDS_KEYS: &[&str] = &[
    "ttl_seconds",
    "max_seats_per_visitor",
    "max_attempts_per_visitor_per_minute",
    "max_attempts_per_ip_per_minute",
];

pub fn load_booking_config(path: &Path) -> Result<BookingConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        file: path.display().to_string(),
        source,
    })?;
    parse_booking_config(&text, &path.display().to_string())
}

pub fn parse_booking_config(text: &str, file: &str) -> Result<BookingConfig, ConfigError> {
    parse_booking_config_with_env(text, file, &|name| std::env::var(name))
}

pub fn parse_booking_config_with_env(
    text: &str,
    file: &str,
    env: EnvLookup,
) -> Result<BookingConfig, ConfigError> {
    let src = Source::new(text, file);
    // A syntax error leaves no document to walk: it is the only error reported.
    let doc = toml_edit::ImDocument::parse(text).map_err(|e| syntax::error(&src, &e))?;
    let root = Section::root(doc.as_table());
    root.deny_unknown(&src, TOP_KEYS);

    let listen = schema::optional_section(&src, &root, "listen");
    if let Some(s) = &listen {
        s.deny_unknown(&src, &["public", "trusted_proxies"]);
    }
    let trusted_proxies = listen
        .as_ref()
        .map(|s| crate::bot_guard::trusted_proxies(&src, s))
        .unwrap_or_default();
    let public = listen
        .and_then(|s| src.keep(s.string(&src, "public")).flatten())
        .and_then(|at| schema::check(&src, &at, validate::socket_addr))
        .unwrap_or_else(|| schema::default_addr(&src, "listen.public", DEFAULT_BOOKING_PUBLIC));
    let store = schema::store(&src, schema::optional_section(&src, &root, "store"));
    let database = schema::optional_section(&src, &root, "database");
    if let Some(s) = &database {
        s.deny_unknown(&src, &["url"]);
    }
    let database_url = database
        .and_then(|s| src.keep(s.string(&src, "url")).flatten())
        .and_then(|at| schema::check(&src, &at, database_url))
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string());
    let keys = schema::required_keys(
        &src,
        &root,
        env,
        "missing required section [keys]: the gateway's keys, to verify passes",
    );
    let admin = schema::admin(&src, schema::optional_section(&src, &root, "admin"), env);
    let holds = match schema::optional_section(&src, &root, "holds") {
        Some(s) => {
            s.deny_unknown(&src, HOLDS_KEYS);
            let attempts = |key: &str, default: u64| {
                schema::integer(&src, &s, key, default, MAX_ATTEMPTS_PER_MINUTE, "attempts")
            };
            HoldsConfig {
                ttl_seconds: schema::integer(
                    &src,
                    &s,
                    "ttl_seconds",
                    DEFAULT_HOLD_TTL_SECONDS,
                    3600,
                    "seconds",
                ),
                max_seats_per_visitor: schema::integer(
                    &src,
                    &s,
                    "max_seats_per_visitor",
                    DEFAULT_MAX_SEATS_PER_VISITOR,
                    100,
                    "seats",
                ),
                max_attempts_per_visitor_per_minute: attempts(
                    "max_attempts_per_visitor_per_minute",
                    DEFAULT_MAX_ATTEMPTS_PER_VISITOR_PER_MINUTE,
                ),
                max_attempts_per_ip_per_minute: attempts(
                    "max_attempts_per_ip_per_minute",
                    DEFAULT_MAX_ATTEMPTS_PER_IP_PER_MINUTE,
                ),
            }
        }
        None => HoldsConfig::default(),
    };
    let waitlist = waitlist(&src, schema::optional_section(&src, &root, "waitlist"), env);
    let log = crate::log::section(&src, schema::optional_section(&src, &root, "log"));
    src.finish(BookingConfig {
        public,
        trusted_proxies,
        store,
        database_url,
        keys,
        admin,
        holds,
        waitlist,
        log,
    })
}

fn database_url(url: &str) -> Result<String, String> {
    let ok = ["postgres://", "postgresql://", "sqlite://", "sqlite:"]
        .iter()
        .any(|scheme| url.starts_with(scheme) && url.len() > scheme.len());
    if ok {
        Ok(url.to_string())
    } else {
        Err(format!(
            "expected postgres://USER@HOST:PORT/DB or sqlite://FILE, got {url:?}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef-book";

    fn parse(text: &str) -> Result<BookingConfig, ConfigError> {
        parse_booking_config_with_env(text, "booking.toml", &|_| {
            Err(std::env::VarError::NotPresent)
        })
    }

    #[test]
    fn defaults_apply() {
        let config = parse(&format!(
            "[keys]\nsigning = \"k1\"\nsecrets = {{ k1 = \"{SECRET}\" }}\n"
        ))
        .unwrap();
        assert_eq!(config.public.to_string(), DEFAULT_BOOKING_PUBLIC);
        assert_eq!(config.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(config.holds.ttl_seconds, 300);
        assert_eq!(config.holds.max_seats_per_visitor, 6);
        assert_eq!(config.holds.max_attempts_per_visitor_per_minute, 30);
        assert_eq!(config.holds.max_attempts_per_ip_per_minute, 120);
        assert!(
            config.trusted_proxies.is_empty(),
            "no proxy is trusted by default"
        );
    }

    #[test]
    fn attempt_limits_and_trusted_proxies_parse_and_are_checked() {
        let keys = format!("[keys]\nsigning = \"k1\"\nsecrets = {{ k1 = \"{SECRET}\" }}\n");
        let config = parse(&format!(
            "[listen]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n{keys}\
             [holds]\nmax_attempts_per_visitor_per_minute = 2\nmax_attempts_per_ip_per_minute = 100000\n"
        ))
        .unwrap();
        assert_eq!(config.holds.max_attempts_per_visitor_per_minute, 2);
        assert_eq!(config.holds.max_attempts_per_ip_per_minute, 100_000);
        assert_eq!(
            config.trusted_proxies,
            vec![
                crate::Cidr::parse("10.0.0.0/8").unwrap(),
                crate::Cidr::parse("::1/128").unwrap()
            ]
        );
        let refused = [
            (
                format!("{keys}[holds]\nmax_attempts_per_visitor_per_minute = 0\n"),
                ":5:",
                "holds.max_attempts_per_visitor_per_minute",
            ),
            (
                format!("{keys}[holds]\nmax_attempts_per_ip_per_minute = 100001\n"),
                ":5:",
                "holds.max_attempts_per_ip_per_minute",
            ),
            (
                format!("[listen]\ntrusted_proxies = [\"proxy.internal\"]\n{keys}"),
                ":2:",
                "listen.trusted_proxies[0]",
            ),
        ];
        for (text, line, field) in refused {
            let error = parse(&text).unwrap_err().to_string();
            assert!(error.contains(line) && error.contains(field), "{error}");
        }
    }

    #[test]
    fn a_full_config_parses() {
        let config = parse(&format!(
            "[listen]\npublic = \"127.0.0.1:3100\"\n[store]\nbackend = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\n\
             [database]\nurl = \"postgres://anteroom@127.0.0.1:5432/anteroom\"\n\
             [keys]\nsigning = \"k1\"\nsecrets = {{ k1 = \"{SECRET}\" }}\n[admin]\ntoken = \"{SECRET}\"\n\
             [holds]\nttl_seconds = 120\nmax_seats_per_visitor = 4\n"
        ))
        .unwrap();
        assert_eq!(config.public.port(), 3100);
        assert_eq!(
            config.database_url,
            "postgres://anteroom@127.0.0.1:5432/anteroom"
        );
        assert_eq!(config.holds.ttl_seconds, 120);
        assert!(config.admin.token.is_some());
    }

    #[test]
    fn errors_name_line_and_field() {
        let error = parse(&format!(
            "[keys]\nsigning = \"k1\"\nsecrets = {{ k1 = \"{SECRET}\" }}\n[holds]\nttl_seconds = 0\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(error.starts_with("booking.toml:5:"), "{error}");
        assert!(error.contains("holds.ttl_seconds"), "{error}");
        let error = parse(&format!(
            "[keys]\nsigning = \"k1\"\nsecrets = {{ k1 = \"{SECRET}\" }}\n[database]\nurl = \"mysql://x\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("database.url") && error.contains("sqlite://"),
            "{error}"
        );
        let error = parse(&format!(
            "[keys]\nsigning = \"k1\"\nsecrets = {{ k1 = \"{SECRET}\" }}\n[holds]\nttl = 5\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(error.contains(":5:") && error.contains("ttl"), "{error}");
    }

    #[test]
    fn bounds_sections_and_required_keys_are_checked() {
        let keys = format!("[keys]\nsigning = \"k1\"\nsecrets = {{ k1 = \"{SECRET}\" }}\n");
        let error = parse(&format!("{keys}[holds]\nmax_seats_per_visitor = 101\n"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(":5:") && error.contains("holds.max_seats_per_visitor"),
            "{error}"
        );
        let error = parse(&format!("{keys}[holds]\nttl_seconds = 3601\n"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("holds.ttl_seconds"), "{error}");
        let error = parse(&format!("{keys}[room]\nid = \"x\"\n"))
            .unwrap_err()
            .to_string();
        assert!(error.contains(":4:") && error.contains("room"), "{error}");
        let error = parse("[holds]\nttl_seconds = 5\n").unwrap_err().to_string();
        assert!(error.contains("keys"), "{error}");
        let error = parse(&format!("{keys}[store]\nbackend = \"redis\"\n"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("store.url"), "{error}");
        let config = parse(&format!("{keys}[database]\nurl = \"sqlite://data/b.db\"\n")).unwrap();
        assert_eq!(config.database_url, "sqlite://data/b.db");
    }

    #[test]
    fn waitlist_parses_with_defaults_and_located_errors() {
        let keys = format!("[keys]\nsigning = \"k1\"\nsecrets = {{ k1 = \"{SECRET}\" }}\n");
        assert_eq!(parse(&keys).unwrap().waitlist, WaitlistConfig::default());
        let config = parse(&format!(
            "{keys}[waitlist]\noffer_ttl_seconds = 60\nposition = \"band\"\n\
             webhook_url = \"https://hooks.example/offers\"\nwebhook_secret = \"{SECRET}\"\n\
             notify_per_second = 5\nmax_depth = 10\n"
        ))
        .unwrap();
        assert_eq!(
            config.waitlist,
            WaitlistConfig {
                offer_ttl_seconds: 60,
                position: WaitlistPosition::Band,
                webhook_url: Some("https://hooks.example/offers".into()),
                webhook_ca: None,
                webhook_secret: Some(crate::Secret(SECRET.as_bytes().to_vec())),
                notify_per_second: 5,
                max_depth: 10,
            }
        );
        let refused = [
            ("offer_ttl_seconds = 0", "waitlist.offer_ttl_seconds"),
            ("offer_ttl_seconds = 86401", "waitlist.offer_ttl_seconds"),
            ("position = \"fuzzy\"", "waitlist.position"),
            ("webhook_url = \"ftp://x\"", "waitlist.webhook_url"),
            ("webhook_url = \"https:///h\"", "waitlist.webhook_url"),
            (
                "webhook_ca = \"/nonexistent/ca.pem\"",
                "waitlist.webhook_ca",
            ),
            ("webhook_secret = \"short\"", "waitlist.webhook_secret"),
            (
                "webhook_secret = \"env:ANTEROOM_NO_SUCH_HOOK_SECRET\"",
                "waitlist.webhook_secret",
            ),
            ("notify_per_second = 10001", "waitlist.notify_per_second"),
            ("max_depth = 0", "waitlist.max_depth"),
            ("depth = 5", "depth"),
        ];
        for (line, field) in refused {
            let error = parse(&format!("{keys}[waitlist]\n{line}\n"))
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("booking.toml:5:") && error.contains(field),
                "{line}: {error}"
            );
        }
    }

    #[test]
    fn the_shipped_example_parses() {
        let text = include_str!("../examples/booking.toml");
        let config = parse_booking_config_with_env(text, "booking.toml", &|name| match name {
            "ANTEROOM_KEY_K1" => Ok(SECRET.into()),
            "ANTEROOM_ADMIN_TOKEN" => Ok(SECRET.into()),
            _ => Err(std::env::VarError::NotPresent),
        })
        .unwrap();
        assert_eq!(config.holds.ttl_seconds, 300);
        assert!(config.database_url.starts_with("postgres://"));
    }
}
