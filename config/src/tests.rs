//! Tests of the whole parse: values, defaults, and one test per error class asserting the
//! file, line and field each error names.

use std::collections::BTreeMap;
use std::env::VarError;
use std::net::SocketAddr;
use std::path::Path;

use crate::*;

const SECRET_A: &str = "0123456789abcdef0123456789abcdef";
const SECRET_B: &str = "fedcba9876543210fedcba9876543210-rotated";
const KEYS: &str =
    "[keys]\nsigning = \"k1\"\nsecrets = { k1 = \"0123456789abcdef0123456789abcdef\" }\n";

fn no_env(_: &str) -> Result<String, VarError> {
    Err(VarError::NotPresent)
}

fn parse(text: &str) -> Result<GatewayConfig, ConfigError> {
    parse_gateway_config_with_env(text, "gw.toml", &no_env)
}

/// The error of a config that must fail, as (line, column, field, message, display).
fn fail(text: &str) -> (usize, usize, String, String, String) {
    match parse(text) {
        Ok(cfg) => panic!("expected an error, parsed {cfg:?}"),
        Err(e) => {
            let display = e.to_string();
            match e {
                ConfigError::Invalid {
                    file,
                    line,
                    column,
                    field,
                    message,
                } => {
                    assert_eq!(file, "gw.toml");
                    (line, column, field, message, display)
                }
                other => panic!("expected Invalid, got {other:?}"),
            }
        }
    }
}

/// 1-based line of the first line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} not in text"))
}

/// A config with valid keys and the given rooms text.
fn with_rooms(rooms: &str) -> String {
    format!("{KEYS}{rooms}")
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn full_config_round_trips() {
    let text = format!(
        r#"
[listen]
public  = "0.0.0.0:80"
admin   = "127.0.0.1:9180"
metrics = "[::1]:9190"

[proxy]
default_origin = "shop.internal:3000"

[store]
backend = "redis"
url     = "rediss://cache.internal:6380"

[keys]
signing = "k2"
secrets = {{ k1 = "{SECRET_A}", k2 = "env:TEST_FULL_K2" }}

[admin]
token = "admin-token-1234567"

[streams]
max_open = 9000
max_per_visitor = 2

[[room]]
id = "tour-2027"
origin = "127.0.0.1:3001"
hosts = ["Tickets.Example.com", "m.example.com"]
paths = ["/tour-2027", "/api"]
mode = "queue-all"
admit_per_second = 12.5
max_active = 300
session_seconds = 900
abandon_after_seconds = 60
waitlist_url = "https://shop.example.com/tour-2027/waitlist?from=queue"

[[room]]
id = "closed_room"
paths = ["/"]
mode = "closed"
admit_per_second = 3
"#
    );
    let env = |name: &str| match name {
        "TEST_FULL_K2" => Ok(SECRET_B.to_string()),
        _ => Err(VarError::NotPresent),
    };
    let cfg = parse_gateway_config_with_env(&text, "gw.toml", &env).unwrap();
    let expected = GatewayConfig {
        listen: ListenConfig {
            public: addr("0.0.0.0:80"),
            admin: addr("127.0.0.1:9180"),
            metrics: addr("[::1]:9190"),
            threads: None,
            trusted_proxies: vec![],
            proxy_protocol: false,
            direct_path: true,
            tls: None,
            upgrade_socket: None,
            shutdown_grace_seconds: crate::DEFAULT_SHUTDOWN_GRACE_SECONDS,
        },
        proxy: ProxyConfig {
            default_origin: Some("shop.internal:3000".into()),
        },
        store: StoreConfig {
            backend: StoreBackend::Redis,
            url: Some("rediss://cache.internal:6380".into()),
            tls_ca: None,
        },
        keys: KeysConfig {
            signing: "k2".into(),
            secrets: BTreeMap::from([
                ("k1".to_string(), Secret(SECRET_A.as_bytes().to_vec())),
                ("k2".to_string(), Secret(SECRET_B.as_bytes().to_vec())),
            ]),
        },
        admin: AdminConfig {
            token: Some(Secret(b"admin-token-1234567".to_vec())),
        },
        streams: StreamsConfig {
            max_open: 9000,
            max_per_visitor: 2,
        },
        bot_guard: BotGuardConfig::default(),
        log: crate::LogConfig::default(),
        rooms: vec![
            RoomConfig {
                id: "tour-2027".into(),
                origin: "127.0.0.1:3001".into(),
                hosts: vec!["tickets.example.com".into(), "m.example.com".into()],
                paths: vec!["/tour-2027".into(), "/api".into()],
                mode: RoomMode::QueueAll,
                admit_per_second: 12.5,
                max_active: 300,
                session_seconds: 900,
                abandon_after_seconds: 60,
                paths_case_insensitive: false,
                page_template: None,
                waitlist_url: Some("https://shop.example.com/tour-2027/waitlist?from=queue".into()),
                bot_guard: BotGuardOverride::default(),
            },
            RoomConfig {
                id: "closed_room".into(),
                origin: "shop.internal:3000".into(),
                hosts: vec![],
                paths: vec!["/".into()],
                mode: RoomMode::Closed,
                admit_per_second: 3.0,
                max_active: 2000,
                session_seconds: 600,
                abandon_after_seconds: 120,
                paths_case_insensitive: false,
                page_template: None,
                waitlist_url: None,
                bot_guard: BotGuardOverride::default(),
            },
        ],
    };
    assert_eq!(cfg, expected);
}

#[test]
fn defaults_apply() {
    let cfg = parse(&with_rooms(
        "[[room]]\nid = \"r\"\norigin = \"127.0.0.1:3000\"\npaths = [\"/r\"]\n",
    ))
    .unwrap();
    assert_eq!(cfg.listen.public, addr("127.0.0.1:8080"));
    assert_eq!(cfg.listen.admin, addr("127.0.0.1:9080"));
    assert_eq!(cfg.listen.metrics, addr("127.0.0.1:9090"));
    assert_eq!(cfg.proxy.default_origin, None);
    assert_eq!(cfg.store.backend, StoreBackend::Memory);
    assert_eq!(cfg.store.url, None);
    assert_eq!(cfg.admin.token, None);
    let room = &cfg.rooms[0];
    assert_eq!(room.mode, RoomMode::SafetyNet);
    assert_eq!(room.admit_per_second, 50.0);
    assert_eq!(room.max_active, 2000);
    assert_eq!(room.session_seconds, 600);
    assert_eq!(room.abandon_after_seconds, 120);
    assert!(room.hosts.is_empty());

    // Only [keys] is required; no rooms at all is a valid (pure proxy) gateway.
    let bare = parse(KEYS).unwrap();
    assert!(bare.rooms.is_empty());
    // An empty [admin] means no token; listen may be partly given.
    let cfg = parse(&format!(
        "{KEYS}[admin]\n[listen]\npublic = \"127.0.0.1:1\"\n"
    ))
    .unwrap();
    assert_eq!(cfg.admin.token, None);
    assert_eq!(cfg.listen.public, addr("127.0.0.1:1"));
    assert_eq!(cfg.listen.metrics, addr("127.0.0.1:9090"));
}

#[test]
fn example_file_loads_with_its_env_vars() {
    // The example's own variable names; no other test sets or reads them.
    std::env::set_var("ANTEROOM_KEY_K1", SECRET_B);
    std::env::set_var("ANTEROOM_ADMIN_TOKEN", "example-admin-token-0001");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gateway.toml");
    let cfg = load_gateway_config(&path).unwrap();
    assert_eq!(cfg.keys.signing, "k1");
    assert_eq!(cfg.keys.secrets["k1"], Secret(SECRET_B.as_bytes().to_vec()));
    assert_eq!(
        cfg.admin.token,
        Some(Secret(b"example-admin-token-0001".to_vec()))
    );
    assert_eq!(cfg.store.backend, StoreBackend::Redis);
    assert_eq!(cfg.rooms.len(), 2);
    assert_eq!(cfg.rooms[0].id, "tour-2027");
    assert_eq!(cfg.rooms[0].hosts, vec!["tickets.example.com".to_string()]);
    assert_eq!(cfg.rooms[1].origin, "127.0.0.1:3000");
    assert_eq!(cfg.rooms[1].mode, RoomMode::QueueAll);
}

#[test]
fn unreadable_file_names_the_file() {
    let err = load_gateway_config(Path::new("/nonexistent/anteroom.toml")).unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }));
    assert!(err
        .to_string()
        .starts_with("/nonexistent/anteroom.toml: cannot read"));
}

#[test]
fn unknown_key_in_room_names_line_and_field() {
    let text = with_rooms(
        "[[room]]\nid = \"r\"\norigin = \"127.0.0.1:3000\"\npaths = [\"/r\"]\ncolour = \"red\"\n",
    );
    let (line, column, field, message, display) = fail(&text);
    assert_eq!(line, line_of(&text, "colour"));
    assert_eq!(column, 1);
    assert_eq!(field, "room[0].colour");
    assert!(message.contains("unknown key `colour`"), "{message}");
    assert!(
        message.contains("admit_per_second"),
        "lists allowed keys: {message}"
    );
    assert_eq!(
        display,
        format!("gw.toml:{line}:1: field `room[0].colour`: {message}")
    );

    // In the second room, indented: the path and column follow.
    let text = with_rooms(
        "[[room]]\nid = \"a\"\norigin = \"h:1\"\npaths = [\"/a\"]\n[[room]]\nid = \"b\"\norigin = \"h:1\"\npaths = [\"/b\"]\n  max_actives = 3\n",
    );
    let (line, column, field, _, _) = fail(&text);
    assert_eq!((line, column), (line_of(&text, "max_actives"), 3));
    assert_eq!(field, "room[1].max_actives");
}

#[test]
fn unknown_keys_everywhere_are_errors() {
    let cases = [
        ("[rooms]\nid = \"x\"\n", "rooms"),
        ("[listen]\npublik = \"127.0.0.1:1\"\n", "listen.publik"),
        ("[proxy]\norigin = \"h:1\"\n", "proxy.origin"),
        (
            "[store]\nbackend = \"memory\"\nhost = \"x\"\n",
            "store.host",
        ),
        ("[admin]\ntokens = \"x\"\n", "admin.tokens"),
    ];
    for (extra, expected_field) in cases {
        let text = format!("{KEYS}{extra}");
        let (line, _, field, message, _) = fail(&text);
        let key = expected_field.rsplit('.').next().unwrap();
        assert_eq!(field, expected_field, "{text}");
        assert_eq!(line, line_of(&text, key), "{text}");
        assert!(message.contains("unknown key"), "{message}");
    }
    // Dotted keys at the top level: the path is still exact.
    let text = format!("listen.public = \"127.0.0.1:1\"\nlisten.bogus = 1\n{KEYS}");
    let (line, column, field, _, _) = fail(&text);
    assert_eq!((line, column, field.as_str()), (2, 8, "listen.bogus"));
    // ...and after [keys] the same line belongs to keys.
    let (line, _, field, _, _) = fail(&format!("{KEYS}listen.bogus = 1\n"));
    assert_eq!((line, field.as_str()), (4, "keys.listen"));

    let text = "[keys]\nsigning = \"k1\"\nsecret = \"x\"\nsecrets = { k1 = \"0123456789abcdef0123456789abcdef\" }\n";
    let (line, _, field, _, _) = fail(text);
    assert_eq!((line, field.as_str()), (3, "keys.secret"));
}

#[test]
fn wrong_types_are_located() {
    let text = with_rooms(
        "[[room]]\nid = \"r\"\norigin = \"h:1\"\npaths = [\"/r\"]\nmax_active = \"lots\"\n",
    );
    let (line, column, field, message, _) = fail(&text);
    assert_eq!(line, line_of(&text, "max_active"));
    assert_eq!(column, "max_active = ".len() + 1, "points at the value");
    assert_eq!(field, "room[0].max_active");
    assert_eq!(message, "expected an integer, got a string");

    let text = format!("{KEYS}[listen]\npublic = 8080\n");
    let (line, _, field, message, _) = fail(&text);
    assert_eq!(
        (line, field.as_str()),
        (line_of(&text, "8080"), "listen.public")
    );
    assert!(
        message.contains("expected a string, got an integer"),
        "{message}"
    );

    let text = with_rooms("[[room]]\nid = \"r\"\norigin = \"h:1\"\npaths = [\"/r\", 5]\n");
    let (line, _, field, message, _) = fail(&text);
    assert_eq!(
        (line, field.as_str()),
        (line_of(&text, "paths"), "room[0].paths[1]")
    );
    assert!(message.contains("got an integer"), "{message}");

    let text = with_rooms("[room]\nid = \"r\"\n");
    let (line, _, field, message, _) = fail(&text);
    assert_eq!((line, field.as_str()), (line_of(&text, "[room]"), "room"));
    assert!(message.contains("[[room]]"), "{message}");

    let text = with_rooms("[[room]]\nid = \"r\"\norigin = \"h:1\"\npaths = \"/r\"\n");
    let (_, _, field, message, _) = fail(&text);
    assert_eq!(field, "room[0].paths");
    assert!(
        message.contains("expected an array of strings"),
        "{message}"
    );
}

#[test]
fn missing_required_fields_are_located() {
    let text = with_rooms("[[room]]\nid = \"r\"\norigin = \"h:1\"\n");
    let (line, _, field, message, _) = fail(&text);
    assert_eq!(
        line,
        line_of(&text, "[[room]]"),
        "points at the room's header"
    );
    assert_eq!(field, "room[0].paths");
    assert!(
        message.contains("missing required key `paths`"),
        "{message}"
    );

    let (line, _, field, message, _) = fail("[listen]\npublic = \"127.0.0.1:1\"\n");
    assert_eq!((line, field.as_str()), (1, "keys"));
    assert!(
        message.contains("missing required section [keys]"),
        "{message}"
    );

    let text = "[store]\n[keys]\nsecrets = { k1 = \"0123456789abcdef0123456789abcdef\" }\n";
    let (line, _, field, _, _) = fail(text);
    assert_eq!((line, field.as_str()), (2, "keys.signing"));

    let text = "[keys]\nsigning = \"k1\"\nsecrets = {}\n";
    let (line, _, field, message, _) = fail(text);
    assert_eq!((line, field.as_str()), (3, "keys.secrets"));
    assert!(message.contains("at least one secret"), "{message}");

    let text = with_rooms("\n[[room]]\norigin = \"h:1\"\npaths = [\"/r\"]\n");
    let (line, _, field, _, _) = fail(&text);
    assert_eq!(
        (line, field.as_str()),
        (line_of(&text, "[[room]]"), "room[0].id")
    );
}

#[test]
fn syntax_errors_are_located_with_a_field() {
    let text = with_rooms("[[room]]\nid = \"r\"\npaths = [\"/r\"]\nmode = fast\n");
    let (line, column, field, message, _) = fail(&text);
    assert_eq!(line, line_of(&text, "mode = fast"));
    assert_eq!(column, "mode = ".len() + 1);
    assert_eq!(field, "room[0].mode");
    assert!(message.starts_with("invalid TOML:"), "{message}");

    let text = with_rooms("[[room]]\nid = \"a\"\n[[room]]\nid = \"b\"\nid = \"c\"\n");
    let (line, _, field, message, _) = fail(&text);
    assert_eq!(line, line_of(&text, "id = \"c\""));
    assert_eq!(field, "room[1].id");
    assert!(message.contains("duplicate key"), "{message}");

    let (line, _, field, _, _) = fail("[keys\nsigning = \"k1\"\n");
    assert_eq!(line, 1);
    assert_eq!(field, "(top level)");
}

#[test]
fn bad_mode_lists_the_allowed_modes() {
    let text =
        with_rooms("[[room]]\nid = \"r\"\norigin = \"h:1\"\npaths = [\"/r\"]\nmode = \"fast\"\n");
    let (line, _, field, message, display) = fail(&text);
    assert_eq!(line, line_of(&text, "mode"));
    assert_eq!(field, "room[0].mode");
    assert_eq!(
        message,
        "expected one of safety-net, queue-all, passthrough, closed, got \"fast\""
    );
    assert!(display.starts_with(&format!("gw.toml:{line}:8: field `room[0].mode`: ")));
}

#[test]
fn env_secrets_are_resolved_from_the_process_environment() {
    let var = "ANTEROOM_TEST_CONFIG_ENV_SECRET_OK";
    std::env::set_var(var, SECRET_B);
    let text = format!("[keys]\nsigning = \"k1\"\nsecrets = {{ k1 = \"env:{var}\" }}\n");
    let cfg = parse_gateway_config(&text, "gw.toml").unwrap();
    assert_eq!(cfg.keys.secrets["k1"].0, SECRET_B.as_bytes());

    let token_var = "ANTEROOM_TEST_CONFIG_ENV_TOKEN_OK";
    std::env::set_var(token_var, "sixteen-or-more-bytes");
    let text = format!("{text}[admin]\ntoken = \"env:{token_var}\"\n");
    let cfg = parse_gateway_config(&text, "gw.toml").unwrap();
    assert_eq!(
        cfg.admin.token,
        Some(Secret(b"sixteen-or-more-bytes".to_vec()))
    );
}

#[test]
fn missing_or_empty_env_secret_names_field_and_variable() {
    let var = "ANTEROOM_TEST_CONFIG_ENV_SECRET_UNSET";
    std::env::remove_var(var);
    let text = format!("[keys]\nsigning = \"k1\"\nsecrets = {{ k1 = \"env:{var}\" }}\n");
    let err = parse_gateway_config(&text, "gw.toml").unwrap_err();
    assert_eq!(err.field(), Some("keys.secrets.k1"));
    assert_eq!(err.line(), Some(3));
    assert!(
        err.to_string().contains(&format!("{var} is not set")),
        "{err}"
    );

    let empty = "ANTEROOM_TEST_CONFIG_ENV_SECRET_EMPTY";
    std::env::set_var(empty, "");
    let text = format!("[keys]\nsigning = \"k1\"\nsecrets = {{ k1 = \"env:{empty}\" }}\n");
    let err = parse_gateway_config(&text, "gw.toml").unwrap_err();
    assert_eq!(err.field(), Some("keys.secrets.k1"));
    assert!(
        err.to_string().contains(&format!("{empty} is empty")),
        "{err}"
    );

    let short = "ANTEROOM_TEST_CONFIG_ENV_SECRET_SHORT";
    std::env::set_var(short, "only-twenty-bytes-xx");
    let text = format!("[keys]\nsigning = \"k1\"\nsecrets = {{ k1 = \"env:{short}\" }}\n");
    let err = parse_gateway_config(&text, "gw.toml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("20 bytes long") && err.contains(short),
        "{err}"
    );
    assert!(
        !err.contains("only-twenty-bytes-xx"),
        "never prints the secret: {err}"
    );

    let token = "ANTEROOM_TEST_CONFIG_ENV_TOKEN_UNSET";
    std::env::remove_var(token);
    let text = format!("{KEYS}[admin]\ntoken = \"env:{token}\"\n");
    let err = parse_gateway_config(&text, "gw.toml").unwrap_err();
    assert_eq!(err.field(), Some("admin.token"));
    assert!(err.to_string().contains(token), "{err}");
}

#[test]
fn short_literal_secret_says_its_length_not_its_value() {
    let text = "[keys]\nsigning = \"k1\"\nsecrets = { k1 = \"hunter2-is-short\" }\n";
    let (line, column, field, message, display) = fail(text);
    assert_eq!((line, field.as_str()), (3, "keys.secrets.k1"));
    assert_eq!(column, "secrets = { k1 = ".len() + 1);
    assert!(message.contains("16 bytes long; at least 32"), "{message}");
    assert!(!display.contains("hunter2"), "{display}");

    let text = format!("{KEYS}[admin]\ntoken = \"short\"\n");
    let (_, _, field, message, display) = fail(&text);
    assert_eq!(field, "admin.token");
    assert!(message.contains("5 bytes long; at least 16"), "{message}");
    assert!(!display.contains("\"short\""), "{display}");
}

#[test]
fn key_ids_and_signing_key_are_checked() {
    let text = format!("[keys]\nsigning = \"k 1\"\nsecrets = {{ \"k 1\" = \"{SECRET_A}\" }}\n");
    let (line, _, field, message, _) = fail(&text);
    assert_eq!((line, field.as_str()), (3, "keys.secrets.k 1"));
    assert!(message.contains("1-32 characters"), "{message}");

    let text = format!(
        "[keys]\nsigning = \"k9\"\nsecrets = {{ k1 = \"{SECRET_A}\", k2 = \"{SECRET_B}\" }}\n"
    );
    let (line, _, field, message, _) = fail(&text);
    assert_eq!((line, field.as_str()), (2, "keys.signing"));
    assert!(
        message.contains("one of k1, k2") && message.contains("\"k9\""),
        "{message}"
    );

    // [keys.secrets] as a table works too.
    let text = format!(
        "[keys]\nsigning = \"old\"\n[keys.secrets]\nold = \"{SECRET_A}\"\nnew = \"{SECRET_B}\"\n"
    );
    let cfg = parse(&text).unwrap();
    assert_eq!(cfg.keys.secrets.len(), 2);
}

#[test]
fn redis_backend_needs_a_redis_url() {
    let text = format!("{KEYS}[store]\nbackend = \"redis\"\n");
    let (line, _, field, message, _) = fail(&text);
    assert_eq!(
        (line, field.as_str()),
        (line_of(&text, "backend"), "store.url")
    );
    assert!(
        message.contains("required when backend = \"redis\""),
        "{message}"
    );
    assert!(message.contains("redis-cluster://"), "{message}");

    let text = format!("{KEYS}[store]\nbackend = \"redis\"\nurl = \"http://127.0.0.1:6379\"\n");
    let (line, _, field, message, _) = fail(&text);
    assert_eq!((line, field.as_str()), (line_of(&text, "url"), "store.url"));
    assert!(message.contains("\"http://127.0.0.1:6379\""), "{message}");

    let text = format!("{KEYS}[store]\nbackend = \"postgres\"\n");
    let (_, _, field, message, _) = fail(&text);
    assert_eq!(field, "store.backend");
    assert_eq!(message, "expected one of memory, redis, got \"postgres\"");

    let cfg = parse(&format!(
        "{KEYS}[store]\nbackend = \"redis\"\nurl = \"redis-cluster://a:7000\"\n"
    ))
    .unwrap();
    assert_eq!(cfg.store.url.as_deref(), Some("redis-cluster://a:7000"));
}

#[test]
fn duplicate_room_ids_are_rejected() {
    let text = with_rooms(
        "[[room]]\nid = \"sale\"\norigin = \"h:1\"\npaths = [\"/a\"]\n\n[[room]]\nid = \"sale\"  # again\norigin = \"h:1\"\npaths = [\"/b\"]\n",
    );
    let (line, _, field, message, _) = fail(&text);
    assert_eq!(line, line_of(&text, "# again"));
    assert_eq!(field, "room[1].id");
    let first = line_of(&text, "id = \"sale\"");
    assert!(
        message.contains(&format!("room[0] (line {first})")),
        "{message}"
    );
}

#[test]
fn rooms_may_not_claim_the_same_host_and_prefix() {
    let room = |id: &str, hosts: &str, paths: &str| {
        format!("[[room]]\nid = \"{id}\"\norigin = \"h:1\"\nhosts = {hosts}\npaths = {paths}\n")
    };
    // Same prefix on a shared host (case-folded).
    let text = with_rooms(&format!(
        "{}{}",
        room("a", "[\"x.com\", \"y.com\"]", "[\"/sale\"]"),
        room("b", "[\"Y.com\"]", "[\"/other\", \"/sale\"]")
    ));
    let (line, _, field, message, _) = fail(&text);
    assert_eq!(line, line_of(&text, "\"/other\", \"/sale\""));
    assert_eq!(field, "room[1].paths[1]");
    assert!(
        message.contains("host \"y.com\"") && message.contains("room \"a\""),
        "{message}"
    );

    // Both on any host.
    let text = with_rooms(&format!(
        "{}{}",
        room("a", "[]", "[\"/\"]"),
        room("b", "[]", "[\"/\"]")
    ));
    let (_, _, field, message, _) = fail(&text);
    assert_eq!(field, "room[1].paths[0]");
    assert!(message.contains("any host"), "{message}");

    // Allowed: nested prefixes (longest wins), disjoint hosts, specific host over any host.
    for ok in [
        format!(
            "{}{}",
            room("a", "[]", "[\"/tour\"]"),
            room("b", "[]", "[\"/tour/vip\"]")
        ),
        format!(
            "{}{}",
            room("a", "[\"x.com\"]", "[\"/\"]"),
            room("b", "[\"y.com\"]", "[\"/\"]")
        ),
        format!(
            "{}{}",
            room("a", "[]", "[\"/\"]"),
            room("b", "[\"y.com\"]", "[\"/\"]")
        ),
    ] {
        assert!(parse(&with_rooms(&ok)).is_ok(), "{ok}");
    }

    // Within one room, a path listed twice.
    let text = with_rooms(&room("a", "[]", "[\"/x\", \"/x\"]"));
    let (_, _, field, _, _) = fail(&text);
    assert_eq!(field, "room[0].paths[1]");
}

#[test]
fn origins_hosts_and_paths_are_checked() {
    let base = "[[room]]\nid = \"r\"\n";
    let cases = [
        (
            "origin = \"http://127.0.0.1:3000\"\npaths = [\"/r\"]\n",
            "room[0].origin",
            "without a scheme",
        ),
        (
            "origin = \"127.0.0.1\"\npaths = [\"/r\"]\n",
            "room[0].origin",
            "port is missing",
        ),
        (
            "origin = \"h:1\"\nhosts = [\"a.com:443\"]\npaths = [\"/r\"]\n",
            "room[0].hosts[0]",
            "remove the port",
        ),
        (
            "origin = \"h:1\"\nhosts = [\"https://a.com\"]\npaths = [\"/r\"]\n",
            "room[0].hosts[0]",
            "no scheme",
        ),
        (
            "origin = \"h:1\"\npaths = []\n",
            "room[0].paths",
            "at least one path prefix",
        ),
        (
            "origin = \"h:1\"\npaths = [\"/r\", \"r2\"]\n",
            "room[0].paths[1]",
            "starting with '/'",
        ),
        (
            "paths = [\"/r\"]\n",
            "room[0].origin",
            "proxy.default_origin",
        ),
    ];
    for (rest, expected_field, expected_message) in cases {
        let text = with_rooms(&format!("{base}{rest}"));
        let (line, _, field, message, _) = fail(&text);
        assert_eq!(field, expected_field, "{text}");
        assert!(message.contains(expected_message), "{message}");
        assert!(line > line_of(&text, "[[room]]") || expected_field == "room[0].origin");
    }

    let text = format!("{KEYS}[proxy]\ndefault_origin = \"http://shop:80\"\n");
    let (line, _, field, _, _) = fail(&text);
    assert_eq!(
        (line, field.as_str()),
        (line_of(&text, "default_origin"), "proxy.default_origin")
    );

    let text = with_rooms("[[room]]\nid = \"bad id\"\norigin = \"h:1\"\npaths = [\"/r\"]\n");
    let (_, _, field, message, _) = fail(&text);
    assert_eq!(field, "room[0].id");
    assert!(message.contains("1-64 characters"), "{message}");

    let cfg = parse(&with_rooms(
        "[[room]]\nid = \"r\"\norigin = \"h:1\"\nhosts = [\"Tickets.EXAMPLE.com\"]\npaths = [\"/r\"]\n",
    ))
    .unwrap();
    assert_eq!(cfg.rooms[0].hosts, vec!["tickets.example.com".to_string()]);
}

#[test]
fn numbers_are_range_checked() {
    let cases = [
        ("admit_per_second = 0.0", "room[0].admit_per_second", "> 0"),
        ("admit_per_second = -1", "room[0].admit_per_second", "> 0"),
        ("admit_per_second = nan", "room[0].admit_per_second", "> 0"),
        ("admit_per_second = inf", "room[0].admit_per_second", "> 0"),
        (
            "admit_per_second = 1_000_001",
            "room[0].admit_per_second",
            "1000000",
        ),
        (
            "admit_per_second = \"fast\"",
            "room[0].admit_per_second",
            "expected a number",
        ),
        ("max_active = 0", "room[0].max_active", ">= 1"),
        (
            "max_active = 1.5",
            "room[0].max_active",
            "expected an integer, got a float",
        ),
        (
            "session_seconds = 0",
            "room[0].session_seconds",
            "from 1 to 604800",
        ),
        (
            "session_seconds = 604801",
            "room[0].session_seconds",
            "from 1 to 604800",
        ),
        (
            "abandon_after_seconds = 0",
            "room[0].abandon_after_seconds",
            "from 1 to 604800",
        ),
    ];
    for (setting, expected_field, expected_message) in cases {
        let text = with_rooms(&format!(
            "[[room]]\nid = \"r\"\norigin = \"h:1\"\npaths = [\"/r\"]\n{setting}\n"
        ));
        let (line, _, field, message, _) = fail(&text);
        assert_eq!(line, line_of(&text, setting), "{setting}");
        assert_eq!(field, expected_field, "{setting}");
        assert!(message.contains(expected_message), "{setting}: {message}");
    }
    let cfg = parse(&with_rooms(
        "[[room]]\nid = \"r\"\norigin = \"h:1\"\npaths = [\"/r\"]\nadmit_per_second = 0.25\nsession_seconds = 604800\n",
    ))
    .unwrap();
    assert_eq!(cfg.rooms[0].admit_per_second, 0.25);
    assert_eq!(cfg.rooms[0].session_seconds, 604_800);
}

#[test]
fn listen_addresses_are_checked() {
    let text = format!("{KEYS}[listen]\npublic = \"localhost:8080\"\n");
    let (line, _, field, message, _) = fail(&text);
    assert_eq!(
        (line, field.as_str()),
        (line_of(&text, "localhost"), "listen.public")
    );
    assert!(
        message.contains("\"127.0.0.1:8080\""),
        "says what is allowed: {message}"
    );

    let text = format!("{KEYS}[listen]\nadmin = \"127.0.0.1:8080\"\n");
    let (_, _, field, message, _) = fail(&text);
    assert_eq!(field, "listen.admin");
    assert!(
        message.contains("already used by `listen.public`"),
        "{message}"
    );

    // Port 0 (pick any free port) may repeat: tests use it.
    let text = format!("{KEYS}[listen]\npublic = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nmetrics = \"127.0.0.1:0\"\n");
    assert!(parse(&text).is_ok());
}

#[test]
fn other_toml_spellings_work() {
    // Dotted keys, inline tables and an inline array of room tables.
    let text =
        format!("listen.public = \"127.0.0.1:7000\"\nstore = {{ backend = \"memory\" }}\n{KEYS}\n");
    let cfg = parse(&text).unwrap();
    assert_eq!(cfg.listen.public, addr("127.0.0.1:7000"));
    let text = format!(
        "room = [{{ id = \"a\", origin = \"h:1\", paths = [\"/a\"] }}, {{ id = \"b\", origin = \"h:1\", paths = [\"/b\"], size = 1 }}]\n{KEYS}"
    );
    let (line, _, field, _, _) = fail(&text);
    assert_eq!((line, field.as_str()), (1, "room[1].size"));
}

#[test]
fn secret_debug_hides_bytes() {
    let s = Secret(SECRET_A.as_bytes().to_vec());
    assert_eq!(format!("{s:?}"), "Secret(<32 bytes>)");
}

#[test]
fn docs_annotated_example_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/config.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let after = doc.split("## Annotated example").nth(1).unwrap();
    let block = after.split("```toml\n").nth(1).unwrap();
    let text = block.split("```").next().unwrap();
    let env = |name: &str| match name {
        "ANTEROOM_KEY_K1" => Ok(SECRET_A.to_string()),
        "ANTEROOM_KEY_K2" => Ok(SECRET_B.to_string()),
        "ANTEROOM_ADMIN_TOKEN" => Ok("docs-admin-token-000".to_string()),
        _ => Err(VarError::NotPresent),
    };
    let cfg = parse_gateway_config_with_env(text, "config.md", &env).unwrap();
    assert_eq!(cfg.keys.signing, "k2");
    assert_eq!(cfg.keys.secrets.len(), 2);
    assert_eq!(cfg.rooms.len(), 2);
    assert_eq!(cfg.rooms[1].origin, "127.0.0.1:3000");
    assert_eq!(cfg.rooms[1].mode, RoomMode::SafetyNet);
    assert_eq!(cfg.rooms[0].bot_guard.max_places_per_ip, Some(2));
    assert_eq!(cfg.bot_guard.challenge, ChallengeMode::Adaptive);
}

#[test]
fn paths_case_insensitive_is_read_and_checked() {
    let room = "[[room]]\nid = \"r\"\norigin = \"127.0.0.1:3000\"\npaths = [\"/r\"]\n";
    let cfg = parse(&with_rooms(room)).unwrap();
    assert!(!cfg.rooms[0].paths_case_insensitive);
    let cfg = parse(&with_rooms(&format!(
        "{room}paths_case_insensitive = true\n"
    )))
    .unwrap();
    assert!(cfg.rooms[0].paths_case_insensitive);
    let error = parse(&with_rooms(&format!(
        "{room}paths_case_insensitive = \"yes\"\n"
    )))
    .unwrap_err()
    .to_string();
    assert!(error.contains("paths_case_insensitive"), "{error}");
}

#[test]
fn path_prefixes_that_would_inject_cookie_attributes_or_dodge_normalisation_are_refused() {
    // The pass cookie is scoped `Path=<prefix>`: a `;` would add attributes of the config
    // author's (or an attacker's) choosing; the others never match a normalised path.
    for (prefix, says) in [
        ("/shop;Domain=evil.example", "Path attribute"),
        ("/shop,x", "Path attribute"),
        ("/shop x", "no spaces"),
        ("/shop\\u0001", "no spaces or control"),
        ("/caf\u{e9}", "ASCII only"),
        ("/%74our", "decoded"),
        ("//tour", "merges slashes"),
        ("/x/../tour", "removes them"),
        ("/./tour", "removes them"),
        ("tour", "starting with '/'"),
    ] {
        let text = with_rooms(&format!(
            "[[room]]\nid = \"r\"\norigin = \"h:1\"\npaths = [\"/ok\",\n  \"{prefix}\"]\n"
        ));
        let (line, column, field, message, _) = fail(&text);
        assert_eq!(line, line_of(&text, "  \""), "{prefix}");
        assert_eq!(column, 3, "{prefix}");
        assert_eq!(field, "room[0].paths[1]", "{prefix}");
        assert!(message.contains(says), "{prefix}: {message}");
    }
}

#[test]
fn store_tls_ca_must_be_a_file_and_needs_rediss() {
    let ca = std::env::temp_dir().join(format!("anteroom-config-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, "not checked here: the store reads the PEM").unwrap();
    let ca_text = ca.display().to_string();

    let cfg = parse(&format!(
        "{KEYS}[store]\nbackend = \"redis\"\nurl = \"rediss://h:6380\"\ntls_ca = \"{ca_text}\"\n"
    ))
    .unwrap();
    assert_eq!(cfg.store.tls_ca.as_deref(), Some(ca.as_path()));

    let text = format!(
        "{KEYS}[store]\nbackend = \"redis\"\nurl = \"redis://h:6379\"\ntls_ca = \"{ca_text}\"\n"
    );
    let (line, _, field, message, _) = fail(&text);
    assert_eq!(
        (line, field.as_str()),
        (line_of(&text, "tls_ca"), "store.tls_ca")
    );
    assert!(message.contains("rediss://"), "{message}");

    let text = format!(
        "{KEYS}[store]\nbackend = \"redis\"\nurl = \"rediss://h:6380\"\ntls_ca = \"/nonexistent/ca.pem\"\n"
    );
    let (line, _, field, message, _) = fail(&text);
    assert_eq!(
        (line, field.as_str()),
        (line_of(&text, "tls_ca"), "store.tls_ca")
    );
    assert!(message.contains("/nonexistent/ca.pem"), "{message}");
    let _ = std::fs::remove_file(&ca);
}

/// A file in the temp dir, unique to this test process.
fn temp_file(name: &str, contents: &str) -> String {
    let path = std::env::temp_dir().join(format!("anteroom-config-{}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path.display().to_string()
}

#[test]
fn listen_tls_takes_a_pem_certificate_and_key_both_or_neither() {
    let cert = temp_file(
        "cert.pem",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    );
    let key = temp_file(
        "key.pem",
        "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
    );
    let listen = |body: &str| with_rooms(&format!("[listen]\n{body}"));

    let cfg = parse(&listen(&format!(
        "tls_cert = \"{cert}\"\ntls_key = \"{key}\"\n"
    )))
    .unwrap();
    let tls = cfg.listen.tls.unwrap();
    assert_eq!(
        (
            tls.cert.display().to_string(),
            tls.key.display().to_string()
        ),
        (cert.clone(), key.clone())
    );
    assert!(parse(&with_rooms("")).unwrap().listen.tls.is_none());

    let cases = [
        // One without the other.
        (
            format!("tls_cert = \"{cert}\"\n"),
            "tls_cert",
            "`tls_key` is missing",
        ),
        (
            format!("tls_key = \"{key}\"\n"),
            "tls_key",
            "`tls_cert` is missing",
        ),
        // A missing file, and files of the wrong kind.
        (
            format!("tls_cert = \"/nonexistent/cert.pem\"\ntls_key = \"{key}\"\n"),
            "tls_cert",
            "cannot read \"/nonexistent/cert.pem\"",
        ),
        (
            format!("tls_cert = \"{key}\"\ntls_key = \"{key}\"\n"),
            "tls_cert",
            "holds no PEM certificate",
        ),
        (
            format!("tls_cert = \"{cert}\"\ntls_key = \"{cert}\"\n"),
            "tls_key",
            "holds no PEM private key",
        ),
    ];
    for (body, key_name, says) in cases {
        let text = listen(&body);
        let (line, _, field, message, _) = fail(&text);
        assert_eq!(
            (line, field.as_str()),
            (
                line_of(&text, &format!("{key_name} =")),
                format!("listen.{key_name}").as_str()
            ),
            "{body}"
        );
        assert!(message.contains(says), "{body}: {message}");
    }
    let _ = std::fs::remove_file(&cert);
    let _ = std::fs::remove_file(&key);
}

#[test]
fn listen_threads_is_a_positive_count_or_one_per_core() {
    let cfg = parse(&format!("[listen]\nthreads = 1\n{}", with_rooms(""))).unwrap();
    assert_eq!(cfg.listen.threads, Some(1));
    assert_eq!(parse(&with_rooms("")).unwrap().listen.threads, None);
    let text = format!("[listen]\nthreads = 0\n{}", with_rooms(""));
    let (line, _, field, _, _) = fail(&text);
    assert_eq!((line, field.as_str()), (2, "listen.threads"));
}

#[test]
fn upgrade_socket_and_shutdown_grace_are_read_and_checked() {
    let cfg = parse(&with_rooms("")).unwrap();
    assert_eq!(cfg.listen.shutdown_grace_seconds, 5);
    assert_eq!(
        cfg.listen.upgrade_socket(),
        std::env::temp_dir().join("anteroom-upgrade-8080.sock")
    );
    let text = format!(
        "[listen]\nupgrade_socket = \"/run/anteroom/upgrade.sock\"\nshutdown_grace_seconds = 30\n{}",
        with_rooms("")
    );
    let cfg = parse(&text).unwrap();
    assert_eq!(
        cfg.listen.upgrade_socket(),
        std::path::PathBuf::from("/run/anteroom/upgrade.sock")
    );
    assert_eq!(cfg.listen.shutdown_grace_seconds, 30);
    let text = format!(
        "[listen]\nupgrade_socket = \"relative.sock\"\n{}",
        with_rooms("")
    );
    let (line, _, field, _, _) = fail(&text);
    assert_eq!((line, field.as_str()), (2, "listen.upgrade_socket"));
    let text = format!("[listen]\nshutdown_grace_seconds = 0\n{}", with_rooms(""));
    let (line, _, field, _, _) = fail(&text);
    assert_eq!((line, field.as_str()), (2, "listen.shutdown_grace_seconds"));
}

#[test]
fn streams_default_and_bounds() {
    let cfg = parse(&with_rooms("")).unwrap();
    assert_eq!(cfg.streams, StreamsConfig::default());
    assert_eq!(cfg.streams.max_open, 18_000);
    assert_eq!(cfg.streams.max_per_visitor, 4);
    let text = format!("{KEYS}[streams]\nmax_open = 0\nmax_per_visitor = 65\nmax = 1\n");
    let error = parse(&text).unwrap_err().to_string();
    for field in ["streams.max_open", "streams.max_per_visitor", "streams.max"] {
        assert!(error.contains(field), "{field} missing from: {error}");
    }
}

#[test]
fn waitlist_url_is_a_link_outside_the_rooms_own_paths() {
    let room = |hosts: &str, url: &str| {
        with_rooms(&format!(
            "[[room]]\nid = \"r\"\norigin = \"h:1\"\nhosts = [{hosts}]\npaths = [\"/tour\"]\nwaitlist_url = \"{url}\"\n"
        ))
    };
    for (hosts, url) in [
        ("", "/waitlist/tour?e=E1"),
        ("", "https://shop.example/tour/waitlist"),
        ("\"tickets.example\"", "https://shop.example/tour/waitlist"),
        (
            "\"tickets.example\"",
            "http://tickets.example:8080/waitlist",
        ),
    ] {
        let cfg = parse(&room(hosts, url)).unwrap();
        assert_eq!(cfg.rooms[0].waitlist_url.as_deref(), Some(url), "{url}");
    }
    for (hosts, url, says) in [
        (
            "",
            "/tour/waitlist",
            "under this room's path prefix \"/tour\"",
        ),
        (
            "\"tickets.example\"",
            "https://TICKETS.example/tour",
            "sold-out page again",
        ),
        ("", "//evil.example/w", "a single '/'"),
        ("", "javascript:alert(1)", "a single '/'"),
        ("", "/w?q=a b", "' ' is not allowed"),
        ("", "/w\\\\x", "'\\\\' is not allowed"),
        ("", "https://bad_host/w", "not a valid host"),
    ] {
        let text = room(hosts, url);
        let (line, _, field, message, _) = fail(&text);
        assert_eq!(
            (line, field.as_str()),
            (line_of(&text, "waitlist_url"), "room[0].waitlist_url"),
            "{url}"
        );
        assert!(message.contains(says), "{url}: {message}");
    }
    let long = format!("/{}", "w".repeat(MAX_WAITLIST_URL_LEN));
    let (_, _, _, message, _) = fail(&room("", &long));
    assert!(message.contains("at most 2048 bytes"), "{message}");
}

#[test]
fn page_template_is_read_at_load_and_its_placeholders_checked() {
    let dir = std::env::temp_dir().join(format!("anteroom-config-page-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.html");
    std::fs::write(
        &good,
        "<p>{{position}} {{eta}}</p>\n<style>a{{color:red}}</style>",
    )
    .unwrap();
    let room = |path: &Path| {
        with_rooms(&format!(
            "[[room]]\nid = \"r\"\norigin = \"h:1\"\npaths = [\"/\"]\npage_template = \"{}\"\n",
            path.display()
        ))
    };
    let cfg = parse(&room(&good)).unwrap();
    let template = cfg.rooms[0].page_template.as_ref().unwrap();
    assert_eq!(template.path, good);
    assert!(template.text.starts_with("<p>{{position}}"));
    assert_eq!(
        parse(&with_rooms(
            "[[room]]\nid = \"r\"\norigin = \"h:1\"\npaths = [\"/\"]\n"
        ))
        .unwrap()
        .rooms[0]
            .page_template,
        None
    );

    let typo = dir.join("typo.html");
    std::fs::write(&typo, "<h1>{{room}}</h1>\n<p>{{postion}}</p>\n{{nope}}").unwrap();
    let text = room(&typo);
    let (line, _, field, message, display) = fail(&text);
    assert_eq!(
        (line, field.as_str()),
        (line_of(&text, "page_template"), "room[0].page_template")
    );
    assert!(
        message.contains("{{postion}} (line 2), {{nope}} (line 3)"),
        "{message}"
    );
    assert!(message.contains(&typo.display().to_string()), "{message}");
    assert!(
        message.contains("{{client_script}}"),
        "lists the known ones: {message}"
    );
    assert!(display.starts_with("gw.toml:"), "{display}");

    for (path, says) in [
        (dir.join("missing.html"), "cannot read page template"),
        (dir.clone(), "is not a file"),
    ] {
        let text = room(&path);
        let (line, _, field, message, _) = fail(&text);
        assert_eq!(
            (line, field.as_str()),
            (line_of(&text, "page_template"), "room[0].page_template")
        );
        assert!(message.contains(says), "{message}");
    }

    let huge = dir.join("huge.html");
    std::fs::write(&huge, "x".repeat(MAX_TEMPLATE_BYTES + 1)).unwrap();
    let (_, _, _, message, _) = fail(&room(&huge));
    assert!(message.contains("at most"), "{message}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bot_guard_defaults_and_values() {
    let bare = parse(KEYS).unwrap();
    assert_eq!(bare.bot_guard, BotGuardConfig::default());
    assert!(bare.bot_guard.enabled);
    assert_eq!(bare.bot_guard.challenge, ChallengeMode::Adaptive);
    assert_eq!(
        (
            bare.bot_guard.difficulty_floor,
            bare.bot_guard.difficulty_cap
        ),
        (1, 8)
    );
    assert!(bare.listen.trusted_proxies.is_empty());

    let cfg = parse(&with_rooms(
        r#"
[listen]
trusted_proxies = ["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"]

[bot_guard]
enabled = true
max_places_per_ip = 2
max_places_per_fingerprint = 3
allow_cidrs = ["198.51.100.0/24"]
block_cidrs = ["203.0.113.0/24"]
block_user_agents = ["Python-Requests", "curl/"]
challenge = "always"
difficulty_floor = 2
difficulty_cap = 6
velocity_per_ip = 500
velocity_per_visitor = 30

[[room]]
id = "r"
origin = "127.0.0.1:3000"
paths = ["/r"]
bot_guard = { challenge = "off", max_places_per_ip = 1, allow_cidrs = [], velocity_per_subnet = 5000 }

[[room]]
id = "s"
origin = "127.0.0.1:3000"
paths = ["/s"]
"#,
    ))
    .unwrap();
    let cidr = |s: &str| Cidr::parse(s).unwrap();
    assert_eq!(
        cfg.listen.trusted_proxies,
        vec![
            cidr("10.0.0.0/8"),
            cidr("2001:db8::/32"),
            cidr("192.0.2.1/32")
        ]
    );
    let global = &cfg.bot_guard;
    assert_eq!(global.max_places_per_ip, 2);
    assert_eq!(global.max_places_per_fingerprint, 3);
    assert_eq!(global.allow_cidrs, vec![cidr("198.51.100.0/24")]);
    assert_eq!(global.block_cidrs, vec![cidr("203.0.113.0/24")]);
    assert_eq!(global.block_user_agents, vec!["python-requests", "curl/"]);
    assert_eq!(global.challenge, ChallengeMode::Always);
    assert_eq!((global.difficulty_floor, global.difficulty_cap), (2, 6));
    assert_eq!(
        (
            global.velocity_per_ip,
            global.velocity_per_subnet,
            global.velocity_per_fingerprint,
            global.velocity_per_visitor
        ),
        (500, 200, 100, 30),
        "given ones read, the rest at their defaults"
    );

    let r = &cfg.rooms[0].bot_guard;
    assert_eq!(r.challenge, Some(ChallengeMode::Off));
    assert_eq!(r.max_places_per_ip, Some(1));
    assert_eq!(r.allow_cidrs, Some(vec![]));
    assert_eq!(r.difficulty_cap, None);
    let effective = global.with_override(r);
    assert_eq!(effective.challenge, ChallengeMode::Off);
    assert_eq!(effective.max_places_per_ip, 1);
    assert!(
        effective.allow_cidrs.is_empty(),
        "a room's list replaces the global one"
    );
    assert_eq!(effective.block_cidrs, global.block_cidrs);
    assert_eq!(effective.max_places_per_fingerprint, 3);
    assert_eq!(
        (effective.velocity_per_ip, effective.velocity_per_subnet),
        (500, 5000)
    );
    assert_eq!(cfg.rooms[1].bot_guard, BotGuardOverride::default());
    assert_eq!(global.with_override(&cfg.rooms[1].bot_guard), *global);
}

#[test]
fn bot_guard_errors_are_located() {
    let text = with_rooms("[bot_guard]\nchallenge = \"sometimes\"\n");
    let (line, _, field, message, _) = fail(&text);
    assert_eq!(line, line_of(&text, "sometimes"));
    assert_eq!(field, "bot_guard.challenge");
    assert!(message.contains("off, adaptive, always"), "{message}");

    let text = with_rooms("[bot_guard]\ndifficulty_floor = 9\ndifficulty_cap = 3\n");
    let (line, _, field, message, _) = fail(&text);
    assert_eq!(line, line_of(&text, "difficulty_floor"));
    assert_eq!(field, "bot_guard.difficulty_floor");
    assert!(
        message.contains("must not exceed difficulty_cap (3)"),
        "{message}"
    );

    let text = with_rooms("[bot_guard]\ndifficulty_cap = 13\n");
    let (_, _, field, message, _) = fail(&text);
    assert_eq!(field, "bot_guard.difficulty_cap");
    assert!(message.contains("from 0 to 12"), "{message}");

    let text = with_rooms("[bot_guard]\nmax_places_per_ip = 0\n");
    let (_, _, field, _, _) = fail(&text);
    assert_eq!(field, "bot_guard.max_places_per_ip");

    let text = with_rooms("[bot_guard]\nvelocity_per_ip = 0\n");
    let (line, _, field, message, _) = fail(&text);
    assert_eq!(line, line_of(&text, "velocity_per_ip"));
    assert_eq!(field, "bot_guard.velocity_per_ip");
    assert!(message.contains("requests per 10 seconds"), "{message}");
    let text = with_rooms("[bot_guard]\nvelocity_per_visitor = 1000001\n");
    let (_, _, field, _, _) = fail(&text);
    assert_eq!(field, "bot_guard.velocity_per_visitor");

    let text = with_rooms("[bot_guard]\nallow_cidrs = [\"10.0.0.0/8\", \"10.1.2.3/8\"]\n");
    let (line, _, field, message, _) = fail(&text);
    assert_eq!(line, line_of(&text, "10.1.2.3/8"));
    assert_eq!(field, "bot_guard.allow_cidrs[1]");
    assert!(message.contains("host bits"), "{message}");

    let text = with_rooms("[bot_guard]\nblock_cidrs = [\"10.0.0.0/8\", \"10.0.0.0/8\"]\n");
    let (_, _, field, message, _) = fail(&text);
    assert_eq!(field, "bot_guard.block_cidrs[1]");
    assert!(message.contains("listed twice"), "{message}");

    let text = with_rooms("[bot_guard]\nblock_user_agents = [\"\"]\n");
    let (_, _, field, _, _) = fail(&text);
    assert_eq!(field, "bot_guard.block_user_agents[0]");

    let text = with_rooms("[bot_guard]\nshadow = true\n");
    let (_, _, field, message, _) = fail(&text);
    assert_eq!(field, "bot_guard.shadow");
    assert!(message.contains("allowed keys: enabled"), "{message}");

    let text = with_rooms("[bot_guard]\nenabled = \"yes\"\n");
    let (_, _, field, _, _) = fail(&text);
    assert_eq!(field, "bot_guard.enabled");

    let text = with_rooms("[listen]\ntrusted_proxies = [\"proxy.internal\"]\n");
    let (_, _, field, message, _) = fail(&text);
    assert_eq!(field, "listen.trusted_proxies[0]");
    assert!(message.contains("IP network"), "{message}");

    let text = with_rooms("[listen]\ntrusted_proxies = \"10.0.0.0/8\"\n");
    let (_, _, field, _, _) = fail(&text);
    assert_eq!(field, "listen.trusted_proxies");
}

#[test]
fn proxy_protocol_is_read_only_from_trusted_proxies() {
    let room = "[[room]]\nid = \"r\"\norigin = \"127.0.0.1:3000\"\npaths = [\"/r\"]\n";
    let on = parse(&with_rooms(&format!(
        "[listen]\ntrusted_proxies = [\"10.0.0.0/8\"]\nproxy_protocol = true\n\n{room}"
    )))
    .unwrap();
    assert!(on.listen.proxy_protocol);
    let off = parse(&with_rooms(room)).unwrap();
    assert!(!off.listen.proxy_protocol);

    for listen in [
        "[listen]\nproxy_protocol = true\n",
        "[listen]\ntrusted_proxies = []\nproxy_protocol = true\n",
    ] {
        let text = with_rooms(&format!("{listen}\n{room}"));
        let (line, _, field, message, _) = fail(&text);
        assert_eq!(line, line_of(&text, "proxy_protocol = true"));
        assert_eq!(field, "listen.proxy_protocol");
        assert!(message.contains("needs `trusted_proxies`"), "{message}");
    }
    let text = with_rooms(&format!("[listen]\nproxy_protocol = \"v2\"\n\n{room}"));
    let (_, _, field, _, _) = fail(&text);
    assert_eq!(field, "listen.proxy_protocol");
}

#[test]
fn the_direct_path_is_on_unless_turned_off() {
    let room = "[[room]]\nid = \"r\"\norigin = \"127.0.0.1:3000\"\npaths = [\"/r\"]\n";
    assert!(parse(&with_rooms(room)).unwrap().listen.direct_path);
    let off = parse(&with_rooms(&format!(
        "[listen]\ndirect_path = false\n\n{room}"
    )))
    .unwrap();
    assert!(!off.listen.direct_path);
    let text = with_rooms(&format!("[listen]\ndirect_path = \"no\"\n\n{room}"));
    let (line, _, field, _, _) = fail(&text);
    assert_eq!(line, line_of(&text, "direct_path = \"no\""));
    assert_eq!(field, "listen.direct_path");
}

#[test]
fn room_bot_guard_overrides_are_checked_against_the_global_rules() {
    // The room's floor is fine alone but above the global cap: reported at the room.
    let text = with_rooms(
        "[bot_guard]\ndifficulty_cap = 4\n\n[[room]]\nid = \"r\"\norigin = \"127.0.0.1:3000\"\npaths = [\"/r\"]\nbot_guard = { difficulty_floor = 5 }\n",
    );
    let (line, _, field, message, _) = fail(&text);
    assert_eq!(line, line_of(&text, "difficulty_floor = 5"));
    assert_eq!(field, "room[0].bot_guard.difficulty_floor");
    assert!(
        message.contains("(5) must not exceed difficulty_cap (4)"),
        "{message}"
    );

    let text = with_rooms(
        "[[room]]\nid = \"r\"\norigin = \"127.0.0.1:3000\"\npaths = [\"/r\"]\nbot_guard = { challenge = \"never\", typo = 1 }\n",
    );
    match parse(&text).unwrap_err() {
        ConfigError::Several(errors) => {
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert!(
                fields.contains(&"room[0].bot_guard.challenge"),
                "{fields:?}"
            );
            assert!(fields.contains(&"room[0].bot_guard.typo"), "{fields:?}");
        }
        other => panic!("expected two errors, got {other:?}"),
    }

    let text = with_rooms(
        "[[room]]\nid = \"r\"\norigin = \"127.0.0.1:3000\"\npaths = [\"/r\"]\nbot_guard = 1\n",
    );
    let (_, _, field, message, _) = fail(&text);
    assert_eq!(field, "room[0].bot_guard");
    assert!(message.contains("a table"), "{message}");
}

#[test]
fn log_section_is_read_and_its_errors_are_located() {
    let cfg = parse(&with_rooms(
        "[log]\nformat = \"json\"\nlevel = \"warn\"\naccess = false\n",
    ))
    .unwrap();
    assert_eq!(
        cfg.log,
        crate::LogConfig {
            format: crate::LogFormat::Json,
            level: crate::LogLevel::Warn,
            access: false,
        }
    );
    assert_eq!(
        parse(&with_rooms("")).unwrap().log,
        crate::LogConfig::default()
    );

    let text = with_rooms("[log]\nformat = \"xml\"\n");
    let (line, _, field, message, _) = fail(&text);
    assert_eq!(line, line_of(&text, "xml"));
    assert_eq!(field, "log.format");
    assert!(message.contains("text, json"), "{message}");

    let text = with_rooms("[log]\nlevel = \"loud\"\n");
    let (line, _, field, message, _) = fail(&text);
    assert_eq!(line, line_of(&text, "loud"));
    assert_eq!(field, "log.level");
    assert!(
        message.contains("error, warn, info, debug, trace"),
        "{message}"
    );

    let text = with_rooms("[log]\naccess = \"yes\"\n");
    let (_, _, field, _, _) = fail(&text);
    assert_eq!(field, "log.access");

    let text = with_rooms("[log]\nfile = \"/var/log/x\"\n");
    let (_, _, field, message, _) = fail(&text);
    assert_eq!(field, "log.file");
    assert!(message.contains("allowed keys: format"), "{message}");
}
