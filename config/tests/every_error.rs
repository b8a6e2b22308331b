//! `anteroom check` reports every problem of a file at once, each as
//! `FILE:LINE:COL: field `path`: message`, one per line, in file order.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::env::VarError;

use anteroom_config::{
    parse_booking_config_with_env, parse_gateway_config_with_env, ConfigError, LocatedError,
};

fn no_env(_: &str) -> Result<String, VarError> {
    Err(VarError::NotPresent)
}

/// 1-based line of the only line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    let lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(lines.len(), 1, "{needle:?} must be on exactly one line");
    lines[0]
}

const BROKEN_GATEWAY: &str = r#"colour = "red"

[listen]
public = "localhost:8080"

[store]
backend = "redis"
url = "http://127.0.0.1:6379"

[keys]
signing = "k1"
secrets = { k1 = "too-short" }

[[room]]
id = "tour"
origin = "127.0.0.1:3000"
paths = ["/tour"]
mode = "fast"
max_active = 0

[[room]]
id = "tour"  # again
origin = "127.0.0.1:3000"
paths = ["/shop;Domain=evil.example"]
size = 3
"#;

#[test]
fn every_gateway_error_is_reported_with_its_line_and_field() {
    let text = BROKEN_GATEWAY;
    let error = parse_gateway_config_with_env(text, "gw.toml", &no_env).unwrap_err();
    let found: Vec<(usize, String)> = error
        .errors()
        .into_iter()
        .map(|e| (e.line, e.field))
        .collect();
    let expected: Vec<(usize, String)> = [
        ("colour", "colour"),
        ("localhost:8080", "listen.public"),
        ("http://127.0.0.1:6379", "store.url"),
        ("too-short", "keys.secrets.k1"),
        ("\"fast\"", "room[0].mode"),
        ("max_active = 0", "room[0].max_active"),
        ("# again", "room[1].id"),
        ("Domain=evil", "room[1].paths[0]"),
        ("size = 3", "room[1].size"),
    ]
    .into_iter()
    .map(|(needle, field)| (line_of(text, needle), field.to_string()))
    .collect();
    assert_eq!(found, expected, "{error}");

    // One line per error, in file order, each `file:line:col: field `f`: message`.
    let display = error.to_string();
    let lines: Vec<&str> = display.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{display}");
    for (shown, (line, field)) in lines.iter().zip(&expected) {
        assert!(
            shown.starts_with(&format!("gw.toml:{line}:")),
            "{shown} should start at line {line}"
        );
        assert!(shown.contains(&format!(": field `{field}`: ")), "{shown}");
    }
    assert!(matches!(error, ConfigError::Several(ref all) if all.len() == expected.len()));
    assert_eq!(error.line(), Some(1));
    assert_eq!(error.field(), Some("colour"));
    assert_eq!(error.file(), "gw.toml");
}

#[test]
fn a_single_error_keeps_the_single_form() {
    let text = "[keys]\nsigning = \"k1\"\nsecrets = { k1 = \"0123456789abcdef0123456789abcdef\" }\n[listen]\npublic = 1\n";
    let error = parse_gateway_config_with_env(text, "gw.toml", &no_env).unwrap_err();
    assert!(
        matches!(error, ConfigError::Invalid { line: 5, .. }),
        "{error:?}"
    );
    assert_eq!(error.errors().len(), 1);
    assert_eq!(error.to_string().lines().count(), 1);
}

#[test]
fn a_mistake_is_reported_once_not_again_by_the_checks_that_follow() {
    // A bad listener address must not also clash with a default; a bad room id must not be
    // compared with the others; a bad path is not also "listed twice".
    let text = "[listen]\npublic = \"nope\"\nadmin = \"127.0.0.1:8080\"\n\
                [keys]\nsigning = \"k1\"\nsecrets = { k1 = \"0123456789abcdef0123456789abcdef\" }\n\
                [[room]]\nid = \"a b\"\norigin = \"h:1\"\npaths = [\"x\", \"x\"]\n\
                [[room]]\nid = \"a b\"\norigin = \"h:1\"\npaths = [\"/y\"]\n";
    let error = parse_gateway_config_with_env(text, "gw.toml", &no_env).unwrap_err();
    let fields: Vec<String> = error.errors().into_iter().map(|e| e.field).collect();
    assert_eq!(
        fields,
        [
            "listen.public",
            "room[0].id",
            "room[0].paths[0]",
            "room[0].paths[1]",
            "room[1].id"
        ],
        "{error}"
    );
}

#[test]
fn every_booking_error_is_reported() {
    let text = "[listen]\npublic = \"x\"\n[database]\nurl = \"mysql://db\"\n\
                [keys]\nsigning = \"k1\"\nsecrets = { k1 = \"0123456789abcdef0123456789abcdef\" }\n\
                [holds]\nttl_seconds = 0\nmax_seats_per_visitor = 1000\n";
    let error = parse_booking_config_with_env(text, "booking.toml", &no_env).unwrap_err();
    let found: Vec<(usize, String)> = error
        .errors()
        .into_iter()
        .map(|LocatedError { line, field, .. }| (line, field))
        .collect();
    assert_eq!(
        found,
        [
            (2, "listen.public".to_string()),
            (4, "database.url".to_string()),
            (9, "holds.ttl_seconds".to_string()),
            (10, "holds.max_seats_per_visitor".to_string()),
        ],
        "{error}"
    );
}

#[test]
fn a_syntax_error_is_reported_alone() {
    // Past a syntax error the rest of the document cannot be read reliably.
    let error =
        parse_gateway_config_with_env("colour = \"red\"\nmode = fast\n", "gw.toml", &no_env)
            .unwrap_err();
    assert_eq!(error.errors().len(), 1);
    assert_eq!(error.line(), Some(2));
}
