//! The gateway schema: walks the parsed document section by section, applies defaults, and
//! reports every problem, located, to the `Source`. A part that fails is replaced by a
//! stand-in (its default) so the walk goes on and finds the problems after it; checks that
//! compare parts (duplicate ids, clashing paths) skip the parts that failed, so one mistake
//! is reported once.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::bot_guard;
use crate::gateway::{
    AdminConfig, GatewayConfig, KeysConfig, ListenConfig, ProxyConfig, RoomConfig, RoomMode,
    StoreBackend, StoreConfig, StreamsConfig, TlsFiles,
};
use crate::location::Source;
use crate::reader::{Field, Located, Section};
use crate::secret::{self, EnvLookup};
use crate::{room_paths, syntax, validate, ConfigError};
use crate::{BotGuardConfig, PageTemplate};

pub(crate) const DEFAULT_PUBLIC: &str = "127.0.0.1:8080";
pub(crate) const DEFAULT_ADMIN: &str = "127.0.0.1:9080";
pub(crate) const DEFAULT_METRICS: &str = "127.0.0.1:9090";
pub(crate) const DEFAULT_ADMIT_PER_SECOND: f64 = 50.0;
pub(crate) const DEFAULT_MAX_ACTIVE: u64 = 2000;
pub(crate) const DEFAULT_SESSION_SECONDS: u64 = 600;
pub(crate) const DEFAULT_ABANDON_AFTER_SECONDS: u64 = 120;

const TOP_KEYS: &[&str] = &[
    "listen",
    "proxy",
    "store",
    "keys",
    "admin",
    "streams",
    "bot_guard",
    "log",
    "room",
];
const STREAMS_KEYS: &[&str] = &["max_open", "max_per_visitor"];
/// More open streams than this is a typo: one process here opens at most 20,000 files.
const MAX_STREAMS_OPEN: i64 = 1_000_000;
const MAX_STREAMS_PER_VISITOR: i64 = 64;
/// More worker threads than this is a typo, not a machine.
const MAX_THREADS: i64 = 1024;
const LISTEN_KEYS: &[&str] = &[
    "public",
    "admin",
    "metrics",
    "threads",
    "trusted_proxies",
    "tls_cert",
    "tls_key",
    "proxy_protocol",
    "direct_path",
    "upgrade_socket",
    "shutdown_grace_seconds",
];
/// A grace period longer than this is a typo: an upgrade would keep the old process for it.
const MAX_SHUTDOWN_GRACE_SECONDS: i64 = 3600;
const PROXY_KEYS: &[&str] = &["default_origin"];
const STORE_KEYS: &[&str] = &["backend", "url", "tls_ca"];
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
    "page_template",
    "waitlist_url",
    "bot_guard",
];

pub(crate) fn parse(text: &str, file: &str, env: EnvLookup) -> Result<GatewayConfig, ConfigError> {
    let src = Source::new(text, file);
    // A syntax error leaves no document to walk: it is the only error reported.
    let doc = toml_edit::ImDocument::parse(text).map_err(|e| syntax::error(&src, &e))?;
    let root = Section::root(doc.as_table());
    root.deny_unknown(&src, TOP_KEYS);

    let listen = listen(&src, optional_section(&src, &root, "listen"));
    let proxy = proxy(&src, optional_section(&src, &root, "proxy"));
    let store = store(&src, optional_section(&src, &root, "store"));
    let keys = required_keys(
        &src,
        &root,
        env,
        "missing required section [keys] (`signing` = the key id that signs passes, \
         `secrets` = { id = \"env:NAME\" or a literal of at least 32 bytes })",
    );
    let admin = admin(&src, optional_section(&src, &root, "admin"), env);
    let streams = streams(&src, optional_section(&src, &root, "streams"));
    let bot_guard = bot_guard::global(&src, optional_section(&src, &root, "bot_guard"));
    let log = crate::log::section(&src, optional_section(&src, &root, "log"));
    let rooms = match root.get("room") {
        Some(field) => rooms(&src, &field, proxy.default_origin.as_deref(), &bot_guard),
        None => Vec::new(),
    };
    src.finish(GatewayConfig {
        listen,
        proxy,
        store,
        keys,
        admin,
        streams,
        bot_guard,
        log,
        rooms,
    })
}

fn streams(src: &Source, section: Option<Section>) -> StreamsConfig {
    let defaults = StreamsConfig::default();
    let Some(s) = section else {
        return defaults;
    };
    s.deny_unknown(src, STREAMS_KEYS);
    StreamsConfig {
        max_open: integer(
            src,
            &s,
            "max_open",
            defaults.max_open as u64,
            MAX_STREAMS_OPEN,
            "streams",
        ) as usize,
        max_per_visitor: integer(
            src,
            &s,
            "max_per_visitor",
            defaults.max_per_visitor as u64,
            MAX_STREAMS_PER_VISITOR,
            "streams",
        ) as usize,
    }
}

/// A section that may be left out; one of the wrong type is reported and read as absent.
pub(crate) fn optional_section<'a>(
    src: &Source,
    parent: &Section<'a>,
    key: &str,
) -> Option<Section<'a>> {
    src.keep(parent.section(src, key)).flatten()
}

/// `[keys]`, which gateway and booking service both require; `missing` says what it is for.
pub(crate) fn required_keys(
    src: &Source,
    root: &Section,
    env: EnvLookup,
    missing: &str,
) -> KeysConfig {
    match optional_section(src, root, "keys") {
        Some(section) => keys(src, section, env),
        None => {
            if root.get("keys").is_none() {
                src.report(src.error(&None, "keys", missing));
            }
            KeysConfig {
                signing: String::new(),
                secrets: BTreeMap::new(),
            }
        }
    }
}

/// The checked value, or None once its problem is reported.
pub(crate) fn check<T>(
    src: &Source,
    at: &Located<String>,
    rule: fn(&str) -> Result<T, String>,
) -> Option<T> {
    src.keep(rule(&at.value).map_err(|m| src.error(&at.span, at.path.clone(), m)))
}

/// An optional string checked by `rule`: Some(None) when absent, None when reported.
fn optional_checked<T>(
    src: &Source,
    s: &Section,
    key: &str,
    rule: fn(&str) -> Result<T, String>,
) -> Option<Option<T>> {
    match src.keep(s.string(src, key))? {
        Some(at) => check(src, &at, rule).map(Some),
        None => Some(None),
    }
}

/// A default written in this file: only a change here could make it fail.
pub(crate) fn default_addr(src: &Source, path: &str, default: &str) -> SocketAddr {
    validate::socket_addr(default).unwrap_or_else(|m| {
        src.report(src.error(&None, path, m));
        SocketAddr::from(([127, 0, 0, 1], 0))
    })
}

fn listen(src: &Source, section: Option<Section>) -> ListenConfig {
    if let Some(s) = &section {
        s.deny_unknown(src, LISTEN_KEYS);
    }
    let mut taken: Vec<(SocketAddr, String)> = Vec::new();
    let mut read = |key: &str, default: &str| -> SocketAddr {
        let path = format!("listen.{key}");
        let given = section
            .as_ref()
            .and_then(|s| src.keep(s.string(src, key)).flatten());
        let (addr, span) = match given {
            Some(at) => match check(src, &at, validate::socket_addr) {
                Some(addr) => (addr, at.span),
                // Reported; a stand-in that clashes with nothing.
                None => return default_addr(src, &path, default),
            },
            None => (default_addr(src, &path, default), None),
        };
        if addr.port() != 0 {
            if let Some((_, other)) = taken.iter().find(|(a, _)| *a == addr) {
                src.report(src.error(
                    &span,
                    path.clone(),
                    format!(
                        "{addr} is already used by `{other}`; each listener needs its own address"
                    ),
                ));
            }
        }
        taken.push((addr, path));
        addr
    };
    ListenConfig {
        public: read("public", DEFAULT_PUBLIC),
        admin: read("admin", DEFAULT_ADMIN),
        metrics: read("metrics", DEFAULT_METRICS),
        threads: section
            .as_ref()
            .filter(|s| s.get("threads").is_some())
            .map(|s| integer(src, s, "threads", 1, MAX_THREADS, "threads") as usize),
        trusted_proxies: section
            .as_ref()
            .map(|s| bot_guard::trusted_proxies(src, s))
            .unwrap_or_default(),
        proxy_protocol: section.as_ref().is_some_and(|s| proxy_protocol(src, s)),
        direct_path: section
            .as_ref()
            .and_then(|s| s.get("direct_path"))
            .and_then(|f| src.keep(f.boolean(src)))
            .is_none_or(|at| at.value),
        tls: section.as_ref().and_then(|s| tls_files(src, s)),
        upgrade_socket: section
            .as_ref()
            .and_then(|s| optional_checked(src, s, "upgrade_socket", validate::unix_socket_path))
            .flatten(),
        shutdown_grace_seconds: section
            .as_ref()
            .map(|s| {
                integer(
                    src,
                    s,
                    "shutdown_grace_seconds",
                    crate::gateway::DEFAULT_SHUTDOWN_GRACE_SECONDS,
                    MAX_SHUTDOWN_GRACE_SECONDS,
                    "seconds",
                )
            })
            .unwrap_or(crate::gateway::DEFAULT_SHUTDOWN_GRACE_SECONDS),
    }
}

/// `proxy_protocol`: on only with peers to read it from (a header from anyone else would
/// let a client name its own address).
fn proxy_protocol(src: &Source, s: &Section) -> bool {
    let Some(at) = s
        .get("proxy_protocol")
        .and_then(|f| src.keep(f.boolean(src)))
    else {
        return false;
    };
    let no_peers = s.get("trusted_proxies").is_none_or(|field| {
        field
            .item
            .as_array()
            .is_some_and(toml_edit::Array::is_empty)
    });
    if at.value && no_peers {
        src.report(src.error(
            &at.span,
            at.path,
            "needs `trusted_proxies`: the PROXY header is read only from those peers",
        ));
    }
    at.value
}

/// `tls_cert` and `tls_key`: both or neither, each a readable PEM file of its kind.
fn tls_files(src: &Source, s: &Section) -> Option<TlsFiles> {
    let cert = optional_checked(src, s, "tls_cert", validate::pem_certificate_file);
    let key = optional_checked(src, s, "tls_key", validate::pem_private_key_file);
    let (given, missing) = match (&cert, &key) {
        (Some(Some(cert)), Some(Some(key))) => {
            return Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            })
        }
        (Some(Some(_)), Some(None)) => ("tls_cert", "tls_key"),
        (Some(None), Some(Some(_))) => ("tls_key", "tls_cert"),
        // Neither given, or one already reported.
        _ => return None,
    };
    if let Some(Some(at)) = src.keep(s.string(src, given)) {
        src.report(src.error(
            &at.span,
            at.path,
            format!("TLS needs both tls_cert and tls_key: `{missing}` is missing"),
        ));
    }
    None
}

fn proxy(src: &Source, section: Option<Section>) -> ProxyConfig {
    let Some(s) = section else {
        return ProxyConfig::default();
    };
    s.deny_unknown(src, PROXY_KEYS);
    ProxyConfig {
        default_origin: optional_checked(src, &s, "default_origin", validate::origin).flatten(),
    }
}

pub(crate) fn store(src: &Source, section: Option<Section>) -> StoreConfig {
    let Some(s) = section else {
        return StoreConfig {
            backend: StoreBackend::Memory,
            url: None,
            tls_ca: None,
        };
    };
    s.deny_unknown(src, STORE_KEYS);
    let backend_at = src.keep(s.string(src, "backend")).flatten();
    let backend = match &backend_at {
        None => StoreBackend::Memory,
        Some(at) => match at.value.as_str() {
            "memory" => StoreBackend::Memory,
            "redis" => StoreBackend::Redis,
            other => {
                src.report(src.error(
                    &at.span,
                    at.path.clone(),
                    format!("expected one of memory, redis, got {other:?}"),
                ));
                StoreBackend::Memory
            }
        },
    };
    let url = match s.get("url") {
        Some(_) => optional_checked(src, &s, "url", validate::redis_url).flatten(),
        None => {
            if backend == StoreBackend::Redis {
                let span = backend_at.map_or_else(|| s.span.clone(), |at| at.span);
                src.report(src.error(
                    &span,
                    s.child_path("url"),
                    format!(
                        "required when backend = \"redis\": a URL starting with {}",
                        validate::REDIS_SCHEMES.join(", ")
                    ),
                ));
            }
            None
        }
    };
    let tls_ca = optional_checked(src, &s, "tls_ca", validate::ca_file).flatten();
    if tls_ca.is_some() && url.as_deref().is_some_and(|u| !u.starts_with("rediss://")) {
        if let Some(Some(at)) = src.keep(s.string(src, "tls_ca")) {
            src.report(src.error(
                &at.span,
                at.path,
                "only used with a rediss:// url (TLS); plain redis:// would ignore it".to_string(),
            ));
        }
    }
    StoreConfig {
        backend,
        url,
        tls_ca,
    }
}

pub(crate) fn keys(src: &Source, s: Section, env: EnvLookup) -> KeysConfig {
    s.deny_unknown(src, KEYS_KEYS);
    let signing = src.keep(
        s.required(
            src,
            "signing",
            "the key id of the secret that signs new passes",
        )
        .and_then(|f| f.string(src)),
    );
    let table = src.keep(
        s.required(
            src,
            "secrets",
            "a table of key id = \"env:NAME\" or a literal secret of at least 32 bytes",
        )
        .and_then(|f| f.section(src)),
    );
    let mut secrets = BTreeMap::new();
    // Every kid listed, resolved or not: the signing key is checked against these.
    let mut listed: Vec<String> = Vec::new();
    if let Some(table) = &table {
        for (kid, field) in table.entries() {
            listed.push(kid.to_string());
            let kid_ok = src
                .keep(
                    validate::key_id(kid)
                        .map_err(|m| src.error(&field.key_span, field.path.clone(), m)),
                )
                .is_some();
            let Some(raw) = src.keep(field.string(src)) else {
                continue;
            };
            let secret = src.keep(
                secret::resolve(&raw.value, &secret::SIGNING_SECRET, env)
                    .map_err(|m| src.error(&raw.span, raw.path.clone(), m)),
            );
            if let (true, Some(secret)) = (kid_ok, secret) {
                secrets.insert(kid.to_string(), secret);
            }
        }
        if listed.is_empty() {
            src.report(src.error(
                &table.span,
                table.path.clone(),
                "expected at least one secret, e.g. secrets = { k1 = \"env:ANTEROOM_KEY_K1\" }",
            ));
        }
    }
    let signing = match signing {
        Some(signing) => {
            if table.is_some() && !listed.is_empty() && !listed.contains(&signing.value) {
                src.report(src.error(
                    &signing.span,
                    signing.path.clone(),
                    format!(
                        "expected the id of a secret listed in keys.secrets (one of {}), got {:?}",
                        listed.join(", "),
                        signing.value
                    ),
                ));
            }
            signing.value
        }
        None => String::new(),
    };
    KeysConfig { signing, secrets }
}

pub(crate) fn admin(src: &Source, section: Option<Section>, env: EnvLookup) -> AdminConfig {
    let Some(s) = section else {
        return AdminConfig::default();
    };
    s.deny_unknown(src, ADMIN_KEYS);
    let token = src.keep(s.string(src, "token")).flatten().and_then(|at| {
        src.keep(
            secret::resolve(&at.value, &secret::ADMIN_TOKEN, env)
                .map_err(|m| src.error(&at.span, at.path.clone(), m)),
        )
    });
    AdminConfig { token }
}

/// A room with the locations needed by the checks across rooms; `id` and `paths` hold only
/// what passed its own checks.
struct Placed {
    room: RoomConfig,
    path: String,
    /// The line of its id (or of its header when the id is missing), for messages.
    line: usize,
    id: Option<Located<String>>,
    paths: Vec<Located<String>>,
}

fn rooms(
    src: &Source,
    field: &Field,
    default_origin: Option<&str>,
    guard: &BotGuardConfig,
) -> Vec<RoomConfig> {
    let mut placed: Vec<Placed> = Vec::new();
    for section in src.keep(field.tables(src)).unwrap_or_default() {
        let room = room(src, &section, default_origin, guard);
        if let Some(id) = &room.id {
            let earlier = placed
                .iter()
                .find(|p| p.id.as_ref().is_some_and(|e| e.value == id.value));
            if let Some(earlier) = earlier {
                src.report(src.error(
                    &id.span,
                    id.path.clone(),
                    format!(
                        "room id {:?} is already used by {} (line {}); room ids must be unique",
                        id.value, earlier.path, earlier.line
                    ),
                ));
            }
        }
        for prefix in &room.paths {
            for earlier in &placed {
                if let Some(clash) = claim_clash(earlier, &room.room, &prefix.value) {
                    src.report(src.error(
                        &prefix.span,
                        prefix.path.clone(),
                        format!(
                            "path prefix {:?} on {clash} is already claimed by room {:?} ({}, line {}); \
                             two rooms cannot protect the same host and path prefix",
                            prefix.value,
                            earlier.room.id,
                            earlier.path,
                            earlier.line
                        ),
                    ));
                }
            }
        }
        placed.push(room);
    }
    placed.into_iter().map(|p| p.room).collect()
}

/// Whether `earlier` already claims `prefix` for a host `later` also serves; describes the
/// host in common. Any-host rooms only clash with any-host rooms: a room naming a host is
/// more specific and takes precedence for that host.
fn claim_clash(earlier: &Placed, later: &RoomConfig, prefix: &str) -> Option<String> {
    if !earlier.paths.iter().any(|p| p.value == prefix) {
        return None;
    }
    let earlier = &earlier.room;
    if earlier.hosts.is_empty() && later.hosts.is_empty() {
        return Some("any host".to_string());
    }
    later
        .hosts
        .iter()
        .find(|h| earlier.hosts.contains(h))
        .map(|h| format!("host {h:?}"))
}

fn room(src: &Source, s: &Section, default_origin: Option<&str>, guard: &BotGuardConfig) -> Placed {
    s.deny_unknown(src, ROOM_KEYS);
    let id = src
        .keep(
            s.required(src, "id", "1-64 characters from A-Z a-z 0-9 _ -")
                .and_then(|f| f.string(src)),
        )
        .filter(|id| check(src, id, validate::room_id).is_some());

    let origin = match (src.keep(s.string(src, "origin")).flatten(), default_origin) {
        (Some(at), _) => check(src, &at, validate::origin).unwrap_or_default(),
        (None, Some(default)) => default.to_string(),
        (None, None) => {
            if s.get("origin").is_none() {
                src.report(src.error(
                    &s.span,
                    s.child_path("origin"),
                    "missing: set the room's `origin` (host:port) or a `proxy.default_origin`",
                ));
            }
            String::new()
        }
    };

    let mut hosts: Vec<String> = Vec::new();
    if let Some(field) = s.get("hosts") {
        for at in src
            .keep(field.strings(src))
            .map_or_else(Vec::new, |l| l.items)
        {
            let Some(host) = check(src, &at, validate::host) else {
                continue;
            };
            if hosts.contains(&host) {
                src.report(src.error(
                    &at.span,
                    at.path.clone(),
                    format!("host {host:?} is listed twice"),
                ));
            } else {
                hosts.push(host);
            }
        }
    }

    let mut paths: Vec<Located<String>> = Vec::new();
    let listed = src.keep(
        s.required(
            src,
            "paths",
            "a non-empty list of path prefixes, each starting with '/'",
        )
        .and_then(|f| {
            f.strings(src)
                .map(|list| (f.span.clone(), f.path.clone(), list))
        }),
    );
    if let Some((span, path, list)) = listed {
        if list.given == 0 {
            src.report(src.error(
                &span,
                path,
                "expected at least one path prefix starting with '/', e.g. [\"/tour-2027\"] (\"/\" protects the whole site)",
            ));
        }
        for at in list.items {
            let Some(prefix) = check(src, &at, validate::path_prefix) else {
                continue;
            };
            if paths.iter().any(|p| p.value == prefix) {
                src.report(src.error(
                    &at.span,
                    at.path.clone(),
                    format!("path prefix {prefix:?} is listed twice"),
                ));
            } else {
                paths.push(Located {
                    value: prefix,
                    ..at
                });
            }
        }
    }

    let mode = match src.keep(s.string(src, "mode")).flatten() {
        None => RoomMode::default(),
        Some(at) => RoomMode::parse(&at.value).unwrap_or_else(|| {
            src.report(src.error(
                &at.span,
                at.path.clone(),
                format!("expected one of {}, got {:?}", RoomMode::ALLOWED, at.value),
            ));
            RoomMode::default()
        }),
    };

    let admit_per_second = match s.get("admit_per_second") {
        None => DEFAULT_ADMIT_PER_SECOND,
        Some(f) => src
            .keep(f.number(src).and_then(|at| {
                validate::admit_per_second(at.value)
                    .map_err(|m| src.error(&at.span, at.path.clone(), m))
            }))
            .unwrap_or(DEFAULT_ADMIT_PER_SECOND),
    };
    let max_active = integer(
        src,
        s,
        "max_active",
        DEFAULT_MAX_ACTIVE,
        i64::MAX,
        "active visitors",
    );
    let session_seconds = integer(
        src,
        s,
        "session_seconds",
        DEFAULT_SESSION_SECONDS,
        validate::MAX_SECONDS,
        "seconds a pass lasts, at most 7 days",
    );
    let abandon_after_seconds = integer(
        src,
        s,
        "abandon_after_seconds",
        DEFAULT_ABANDON_AFTER_SECONDS,
        validate::MAX_SECONDS,
        "seconds without a status check before a place is freed, at most 7 days",
    );

    let paths_case_insensitive = s
        .get("paths_case_insensitive")
        .and_then(|f| src.keep(f.boolean(src)))
        .is_some_and(|at| at.value);

    let page_template = optional_checked(src, s, "page_template", PageTemplate::load).flatten();
    let prefixes: Vec<String> = paths.iter().map(|p| p.value.clone()).collect();
    let waitlist_url = waitlist_url(src, s, &hosts, &prefixes, paths_case_insensitive);
    let bot_guard = optional_section(src, s, "bot_guard")
        .map(|section| bot_guard::room(src, section, guard))
        .unwrap_or_default();

    Placed {
        room: RoomConfig {
            id: id.as_ref().map(|id| id.value.clone()).unwrap_or_default(),
            origin,
            hosts,
            paths: prefixes,
            mode,
            admit_per_second,
            max_active,
            session_seconds,
            abandon_after_seconds,
            paths_case_insensitive,
            page_template,
            waitlist_url,
            bot_guard,
        },
        path: s.path.clone(),
        line: src.line_of(
            &id.as_ref()
                .map_or_else(|| s.span.clone(), |id| id.span.clone()),
        ),
        id,
        paths,
    }
}

/// `waitlist_url`, checked, and refused when the room's own prefixes cover it: the link
/// would answer a sold-out visitor with the same sold-out page.
fn waitlist_url(
    src: &Source,
    s: &Section,
    hosts: &[String],
    paths: &[String],
    any_case: bool,
) -> Option<String> {
    let at = src.keep(s.string(src, "waitlist_url")).flatten()?;
    let url = check(src, &at, validate::waitlist_url)?;
    let target = room_paths::link_target(&url)?;
    match room_paths::covering_prefix(&target, hosts, paths, any_case) {
        None => Some(url),
        Some(prefix) => {
            src.report(src.error(
                &at.span,
                at.path.clone(),
                format!(
                    "{url:?} is under this room's path prefix {prefix:?}: a sold-out visitor would get the sold-out page again; link to a page outside the room's paths (or on another host)"
                ),
            ));
            None
        }
    }
}

/// An integer in `1..=max`, or `default` when absent (or after reporting it).
pub(crate) fn integer(
    src: &Source,
    s: &Section,
    key: &str,
    default: u64,
    max: i64,
    unit: &str,
) -> u64 {
    let Some(f) = s.get(key) else {
        return default;
    };
    src.keep(f.integer(src).and_then(|at| {
        validate::int_range(at.value, 1, max, unit)
            .map_err(|m| src.error(&at.span, at.path.clone(), m))
    }))
    .unwrap_or(default)
}
