//! The gateway schema: walks the parsed document section by section, applies defaults, and
//! turns every problem into a located `ConfigError`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::gateway::{
    AdminConfig, GatewayConfig, KeysConfig, ListenConfig, ProxyConfig, RoomConfig, RoomMode,
    StoreBackend, StoreConfig,
};
use crate::location::{Source, Span};
use crate::reader::{Field, Located, Section};
use crate::secret::{self, EnvLookup};
use crate::{syntax, validate, ConfigError};

pub(crate) const DEFAULT_PUBLIC: &str = "127.0.0.1:8080";
pub(crate) const DEFAULT_ADMIN: &str = "127.0.0.1:9080";
pub(crate) const DEFAULT_METRICS: &str = "127.0.0.1:9090";
pub(crate) const DEFAULT_ADMIT_PER_SECOND: f64 = 50.0;
pub(crate) const DEFAULT_MAX_ACTIVE: u64 = 2000;
pub(crate) const DEFAULT_SESSION_SECONDS: u64 = 600;
pub(crate) const DEFAULT_ABANDON_AFTER_SECONDS: u64 = 120;

const TOP_KEYS: &[&str] = &["listen", "proxy", "store", "keys", "admin", "room"];
const LISTEN_KEYS: &[&str] = &["public", "admin", "metrics"];
const PROXY_KEYS: &[&str] = &["default_origin"];
const STORE_KEYS: &[&str] = &["backend", "url"];
const KEYS_KEYS: &[&str] = &["signing", "secrets"];
const ADMIN_KEYS: &[&str] = &["token"];
const ROOM_KEYS: &[&str] = &[
    "id",
    "origin",
    "hosts",
    "paths",
    "mode",
    "admit_per_second",
    "max_active",
    "session_seconds",
    "abandon_after_seconds",
    "paths_case_insensitive",
];

pub(crate) fn parse(text: &str, file: &str, env: EnvLookup) -> Result<GatewayConfig, ConfigError> {
    let src = Source::new(text, file);
    let doc = toml_edit::ImDocument::parse(text).map_err(|e| syntax::error(&src, &e))?;
    let root = Section::root(doc.as_table());
    root.deny_unknown(&src, TOP_KEYS)?;

    let listen = listen(&src, root.section(&src, "listen")?)?;
    let proxy = proxy(&src, root.section(&src, "proxy")?)?;
    let store = store(&src, root.section(&src, "store")?)?;
    let keys = match root.section(&src, "keys")? {
        Some(section) => keys(&src, section, env)?,
        None => {
            return Err(src.error(
                &None,
                "keys",
                "missing required section [keys] (`signing` = the key id that signs passes, \
                 `secrets` = { id = \"env:NAME\" or a literal of at least 32 bytes })",
            ))
        }
    };
    let admin = admin(&src, root.section(&src, "admin")?, env)?;
    let rooms = match root.get("room") {
        Some(field) => rooms(&src, &field, proxy.default_origin.as_deref())?,
        None => Vec::new(),
    };
    Ok(GatewayConfig {
        listen,
        proxy,
        store,
        keys,
        admin,
        rooms,
    })
}

pub(crate) fn check<T>(
    src: &Source,
    at: &Located<String>,
    rule: fn(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    rule(&at.value).map_err(|m| src.error(&at.span, at.path.clone(), m))
}

fn listen(src: &Source, section: Option<Section>) -> Result<ListenConfig, ConfigError> {
    let mut addrs: Vec<(SocketAddr, String, Span)> = Vec::new();
    if let Some(s) = &section {
        s.deny_unknown(src, LISTEN_KEYS)?;
    }
    for (key, default) in [
        ("public", DEFAULT_PUBLIC),
        ("admin", DEFAULT_ADMIN),
        ("metrics", DEFAULT_METRICS),
    ] {
        let value = match &section {
            Some(s) => s.string(src, key)?,
            None => None,
        };
        let (addr, path, span) = match value {
            Some(at) => (check(src, &at, validate::socket_addr)?, at.path, at.span),
            None => (
                validate::socket_addr(default)
                    .map_err(|m| src.error(&None, format!("listen.{key}"), m))?,
                format!("listen.{key}"),
                None,
            ),
        };
        if addr.port() != 0 {
            if let Some((_, other, _)) = addrs.iter().find(|(a, _, _)| *a == addr) {
                return Err(src.error(
                    &span,
                    path,
                    format!(
                        "{addr} is already used by `{other}`; each listener needs its own address"
                    ),
                ));
            }
        }
        addrs.push((addr, path, span));
    }
    Ok(ListenConfig {
        public: addrs[0].0,
        admin: addrs[1].0,
        metrics: addrs[2].0,
    })
}

fn proxy(src: &Source, section: Option<Section>) -> Result<ProxyConfig, ConfigError> {
    let Some(s) = section else {
        return Ok(ProxyConfig::default());
    };
    s.deny_unknown(src, PROXY_KEYS)?;
    let default_origin = match s.string(src, "default_origin")? {
        Some(at) => Some(check(src, &at, validate::origin)?),
        None => None,
    };
    Ok(ProxyConfig { default_origin })
}

pub(crate) fn store(src: &Source, section: Option<Section>) -> Result<StoreConfig, ConfigError> {
    let Some(s) = section else {
        return Ok(StoreConfig {
            backend: StoreBackend::Memory,
            url: None,
        });
    };
    s.deny_unknown(src, STORE_KEYS)?;
    let backend_at = s.string(src, "backend")?;
    let backend = match &backend_at {
        None => StoreBackend::Memory,
        Some(at) => match at.value.as_str() {
            "memory" => StoreBackend::Memory,
            "redis" => StoreBackend::Redis,
            other => {
                return Err(src.error(
                    &at.span,
                    at.path.clone(),
                    format!("expected one of memory, redis, got {other:?}"),
                ))
            }
        },
    };
    let url = match s.string(src, "url")? {
        Some(at) => Some(check(src, &at, validate::redis_url)?),
        None if backend == StoreBackend::Redis => {
            let span = backend_at.map_or_else(|| s.span.clone(), |at| at.span);
            return Err(src.error(
                &span,
                s.child_path("url"),
                format!(
                    "required when backend = \"redis\": a URL starting with {}",
                    validate::REDIS_SCHEMES.join(", ")
                ),
            ));
        }
        None => None,
    };
    Ok(StoreConfig { backend, url })
}

pub(crate) fn keys(src: &Source, s: Section, env: EnvLookup) -> Result<KeysConfig, ConfigError> {
    s.deny_unknown(src, KEYS_KEYS)?;
    let signing = s
        .required(
            src,
            "signing",
            "the key id of the secret that signs new passes",
        )?
        .string(src)?;
    let secrets_field = s.required(
        src,
        "secrets",
        "a table of key id = \"env:NAME\" or a literal secret of at least 32 bytes",
    )?;
    let table = secrets_field.section(src)?;
    let mut secrets = BTreeMap::new();
    for (kid, field) in table.entries() {
        validate::key_id(kid).map_err(|m| src.error(&field.key_span, field.path.clone(), m))?;
        let raw = field.string(src)?;
        let secret = secret::resolve(&raw.value, &secret::SIGNING_SECRET, env)
            .map_err(|m| src.error(&raw.span, raw.path.clone(), m))?;
        secrets.insert(kid.to_string(), secret);
    }
    if secrets.is_empty() {
        return Err(src.error(
            &secrets_field.span,
            secrets_field.path.clone(),
            "expected at least one secret, e.g. secrets = { k1 = \"env:ANTEROOM_KEY_K1\" }",
        ));
    }
    if !secrets.contains_key(&signing.value) {
        let listed: Vec<&str> = secrets.keys().map(String::as_str).collect();
        return Err(src.error(
            &signing.span,
            signing.path.clone(),
            format!(
                "expected the id of a secret listed in keys.secrets (one of {}), got {:?}",
                listed.join(", "),
                signing.value
            ),
        ));
    }
    Ok(KeysConfig {
        signing: signing.value,
        secrets,
    })
}

pub(crate) fn admin(
    src: &Source,
    section: Option<Section>,
    env: EnvLookup,
) -> Result<AdminConfig, ConfigError> {
    let Some(s) = section else {
        return Ok(AdminConfig::default());
    };
    s.deny_unknown(src, ADMIN_KEYS)?;
    let token = match s.string(src, "token")? {
        Some(at) => Some(
            secret::resolve(&at.value, &secret::ADMIN_TOKEN, env)
                .map_err(|m| src.error(&at.span, at.path.clone(), m))?,
        ),
        None => None,
    };
    Ok(AdminConfig { token })
}

/// A room with the locations needed by the checks across rooms.
struct Placed {
    room: RoomConfig,
    path: String,
    id: Located<String>,
    paths: Vec<Located<String>>,
}

fn rooms(
    src: &Source,
    field: &Field,
    default_origin: Option<&str>,
) -> Result<Vec<RoomConfig>, ConfigError> {
    let mut placed: Vec<Placed> = Vec::new();
    for section in field.tables(src)? {
        let room = room(src, &section, default_origin)?;
        if let Some(earlier) = placed.iter().find(|p| p.room.id == room.room.id) {
            return Err(src.error(
                &room.id.span,
                room.id.path.clone(),
                format!(
                    "room id {:?} is already used by {} (line {}); room ids must be unique",
                    room.room.id,
                    earlier.path,
                    src.line_of(&earlier.id.span)
                ),
            ));
        }
        for prefix in &room.paths {
            for earlier in &placed {
                if let Some(clash) = claim_clash(&earlier.room, &room.room, &prefix.value) {
                    return Err(src.error(
                        &prefix.span,
                        prefix.path.clone(),
                        format!(
                            "path prefix {:?} on {clash} is already claimed by room {:?} ({}, line {}); \
                             two rooms cannot protect the same host and path prefix",
                            prefix.value,
                            earlier.room.id,
                            earlier.path,
                            src.line_of(&earlier.id.span)
                        ),
                    ));
                }
            }
        }
        placed.push(room);
    }
    Ok(placed.into_iter().map(|p| p.room).collect())
}

/// Whether `earlier` already claims `prefix` for a host `later` also serves; describes the
/// host in common. Any-host rooms only clash with any-host rooms: a room naming a host is
/// more specific and takes precedence for that host.
fn claim_clash(earlier: &RoomConfig, later: &RoomConfig, prefix: &str) -> Option<String> {
    if !earlier.paths.iter().any(|p| p == prefix) {
        return None;
    }
    if earlier.hosts.is_empty() && later.hosts.is_empty() {
        return Some("any host".to_string());
    }
    later
        .hosts
        .iter()
        .find(|h| earlier.hosts.contains(h))
        .map(|h| format!("host {h:?}"))
}

fn room(src: &Source, s: &Section, default_origin: Option<&str>) -> Result<Placed, ConfigError> {
    s.deny_unknown(src, ROOM_KEYS)?;
    let id = s
        .required(src, "id", "1-64 characters from A-Z a-z 0-9 _ -")?
        .string(src)?;
    check(src, &id, validate::room_id)?;

    let origin = match (s.string(src, "origin")?, default_origin) {
        (Some(at), _) => check(src, &at, validate::origin)?,
        (None, Some(default)) => default.to_string(),
        (None, None) => {
            return Err(src.error(
                &s.span,
                s.child_path("origin"),
                "missing: set the room's `origin` (host:port) or a `proxy.default_origin`",
            ))
        }
    };

    let mut hosts: Vec<String> = Vec::new();
    if let Some(field) = s.get("hosts") {
        for at in field.strings(src)? {
            let host = check(src, &at, validate::host)?;
            if hosts.contains(&host) {
                return Err(src.error(
                    &at.span,
                    at.path.clone(),
                    format!("host {host:?} is listed twice"),
                ));
            }
            hosts.push(host);
        }
    }

    let paths_field = s.required(
        src,
        "paths",
        "a non-empty list of path prefixes, each starting with '/'",
    )?;
    let path_list = paths_field.strings(src)?;
    if path_list.is_empty() {
        return Err(src.error(
            &paths_field.span,
            paths_field.path.clone(),
            "expected at least one path prefix starting with '/', e.g. [\"/tour-2027\"] (\"/\" protects the whole site)",
        ));
    }
    let mut paths: Vec<String> = Vec::new();
    for at in &path_list {
        let path = check(src, at, validate::path_prefix)?;
        if paths.contains(&path) {
            return Err(src.error(
                &at.span,
                at.path.clone(),
                format!("path prefix {path:?} is listed twice"),
            ));
        }
        paths.push(path);
    }

    let mode = match s.string(src, "mode")? {
        None => RoomMode::default(),
        Some(at) => RoomMode::parse(&at.value).ok_or_else(|| {
            src.error(
                &at.span,
                at.path.clone(),
                format!("expected one of {}, got {:?}", RoomMode::ALLOWED, at.value),
            )
        })?,
    };

    let admit_per_second = match s.get("admit_per_second") {
        None => DEFAULT_ADMIT_PER_SECOND,
        Some(f) => {
            let at = f.number(src)?;
            validate::admit_per_second(at.value)
                .map_err(|m| src.error(&at.span, at.path.clone(), m))?
        }
    };
    let max_active = integer(
        src,
        s,
        "max_active",
        DEFAULT_MAX_ACTIVE,
        i64::MAX,
        "active visitors",
    )?;
    let session_seconds = integer(
        src,
        s,
        "session_seconds",
        DEFAULT_SESSION_SECONDS,
        validate::MAX_SECONDS,
        "seconds a pass lasts, at most 7 days",
    )?;
    let abandon_after_seconds = integer(
        src,
        s,
        "abandon_after_seconds",
        DEFAULT_ABANDON_AFTER_SECONDS,
        validate::MAX_SECONDS,
        "seconds without a status check before a place is freed, at most 7 days",
    )?;

    let paths_case_insensitive = match s.get("paths_case_insensitive") {
        None => false,
        Some(f) => f.boolean(src)?.value,
    };

    Ok(Placed {
        room: RoomConfig {
            id: id.value.clone(),
            origin,
            hosts,
            paths,
            mode,
            admit_per_second,
            max_active,
            session_seconds,
            abandon_after_seconds,
            paths_case_insensitive,
        },
        path: s.path.clone(),
        id,
        paths: path_list,
    })
}

pub(crate) fn integer(
    src: &Source,
    s: &Section,
    key: &str,
    default: u64,
    max: i64,
    unit: &str,
) -> Result<u64, ConfigError> {
    match s.get(key) {
        None => Ok(default),
        Some(f) => {
            let at = f.integer(src)?;
            validate::int_range(at.value, 1, max, unit)
                .map_err(|m| src.error(&at.span, at.path.clone(), m))
        }
    }
}
