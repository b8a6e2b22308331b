//! Property tests of the config reader: whatever the text (near-valid TOML built from the
//! schema's own sections and keys, or arbitrary characters), reading never panics and
//! returns either a config or located errors that point inside the file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::env::VarError;

use anteroom_config::{parse_booking_config_with_env, parse_gateway_config_with_env, ConfigError};
use proptest::prelude::*;

fn env(name: &str) -> Result<String, VarError> {
    match name {
        "K" => Ok("0123456789abcdef0123456789abcdef".to_string()),
        "EMPTY" => Ok(String::new()),
        _ => Err(VarError::NotPresent),
    }
}

/// A table header of either schema, a misspelt one, or a broken one.
fn header() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "[listen]",
            "[proxy]",
            "[store]",
            "[keys]",
            "[keys.secrets]",
            "[admin]",
            "[[room]]",
            "[room]",
            "[database]",
            "[holds]",
            "[[keys]]",
            "[listen.public]",
            "[ listen ]",
            "[[room",
            "[]",
            "[[]]",
            "[\"room\"]",
        ])
        .prop_map(str::to_string),
        "\\[[a-z_.]{0,12}\\]",
    ]
}

/// A key of either schema, or not.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "public",
            "admin",
            "metrics",
            "default_origin",
            "backend",
            "url",
            "signing",
            "secrets",
            "token",
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
            "threads",
            "tls_ca",
            "ttl_seconds",
            "max_seats_per_visitor",
            "k1",
            "listen.public",
            "room",
            "keys",
            "\"quoted key\"",
        ])
        .prop_map(str::to_string),
        "[a-z_]{1,10}",
    ]
}

/// A value of some type, valid for some key or not.
fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        prop::sample::select(vec![
            "\"127.0.0.1:8080\"",
            "\"[::]:0\"",
            "\"h:1\"",
            "\"redis://r:6379\"",
            "\"redis+unix:///tmp/r.sock\"",
            "\"redis\"",
            "\"memory\"",
            "\"k1\"",
            "\"env:K\"",
            "\"env:EMPTY\"",
            "\"env:NOPE\"",
            "\"0123456789abcdef0123456789abcdef\"",
            "\"/tour\"",
            "\"/a;b\"",
            "\"//x\"",
            "\"queue-all\"",
            "\"closed\"",
            "\"fast\"",
            "0",
            "1",
            "-1",
            "50.5",
            "nan",
            "inf",
            "9223372036854775807",
            "true",
            "1979-05-27T07:32:00Z",
            "'literal'",
            "\"\"\"multi\nline\"\"\"",
            "\"\\u00e9\"",
        ])
        .prop_map(str::to_string),
        "\"[^\"\\\\\n]{0,12}\"",
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((key(), inner), 0..3).prop_map(|kv| {
                let pairs: Vec<String> = kv.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{{ {} }}", pairs.join(", "))
            }),
        ]
    })
}

/// One line of a TOML-ish file.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (key(), value()).prop_map(|(k, v)| format!("{k} = {v}")),
        2 => header(),
        1 => Just(String::new()),
        1 => "# [^\n]{0,20}",
        1 => "[^\n]{0,30}",
    ]
}

/// Lines in any order: mostly not even TOML.
fn toml_lines() -> impl Strategy<Value = String> {
    prop::collection::vec(line(), 0..40).prop_map(|lines| lines.join("\n"))
}

/// Sections of the schemas with distinct keys each: mostly TOML, wrong in what it says.
fn toml_sections() -> impl Strategy<Value = String> {
    let section = (
        prop::sample::select(vec![
            "[listen]",
            "[proxy]",
            "[store]",
            "[keys]",
            "[admin]",
            "[[room]]",
            "[[room]]",
            "[database]",
            "[holds]",
            "[bogus]",
        ]),
        prop::collection::btree_map(key(), value(), 0..7),
    );
    (
        prop::collection::btree_map(key(), value(), 0..3),
        prop::collection::vec(section, 0..6),
    )
        .prop_map(|(top, sections)| {
            let mut out: Vec<String> = top.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            let mut seen: Vec<&str> = Vec::new();
            for (header, keys) in &sections {
                // A table given twice is a syntax error; arrays of tables may repeat.
                if !header.starts_with("[[") && seen.contains(header) {
                    continue;
                }
                seen.push(header);
                out.push(header.to_string());
                out.extend(keys.iter().map(|(k, v)| format!("{k} = {v}")));
            }
            out.join("\n")
        })
}

fn toml_ish() -> impl Strategy<Value = String> {
    prop_oneof![1 => toml_lines(), 3 => toml_sections()]
}

/// An error names the file, and a line and column inside the text; each located problem is
/// one line of the display.
fn check_located(text: &str, result: Result<(), ConfigError>) -> Result<(), TestCaseError> {
    let Err(error) = result else {
        return Ok(());
    };
    let problems = error.errors();
    prop_assert!(!problems.is_empty(), "{error:?}");
    let lines = text.split('\n').count();
    for p in &problems {
        prop_assert_eq!(&p.file, "fuzz.toml");
        prop_assert!(
            p.line >= 1 && p.line <= lines,
            "line {} of {lines}: {p}",
            p.line
        );
        prop_assert!(p.column >= 1, "{p}");
        prop_assert!(!p.field.is_empty() && !p.message.is_empty(), "{p}");
    }
    prop_assert_eq!(
        error.to_string().lines().count(),
        problems.len() + extra_lines(&problems)
    );
    Ok(())
}

/// Lines a message itself spans (a syntax error quoting a multi-line value).
fn extra_lines(problems: &[anteroom_config::LocatedError]) -> usize {
    problems
        .iter()
        .map(|p| p.to_string().lines().count().saturating_sub(1))
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(768))]

    #[test]
    fn toml_ish_text_gives_a_config_or_located_errors(text in toml_ish()) {
        let gateway = parse_gateway_config_with_env(&text, "fuzz.toml", &env).map(|_| ());
        check_located(&text, gateway)?;
        let booking = parse_booking_config_with_env(&text, "fuzz.toml", &env).map(|_| ());
        check_located(&text, booking)?;
    }

    #[test]
    fn arbitrary_text_gives_a_config_or_located_errors(text in "\\PC{0,200}|(?s).{0,200}") {
        let gateway = parse_gateway_config_with_env(&text, "fuzz.toml", &env).map(|_| ());
        check_located(&text, gateway)?;
    }
}

#[test]
fn the_generator_gets_past_the_syntax_check_into_the_schema_walk() {
    // The property above is only worth much if near-valid input reaches the schema checks,
    // not just the TOML parser.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = toml_ish();
    let (mut walked, mut several, total) = (0, 0, 500);
    for _ in 0..total {
        let text = strategy.new_tree(&mut runner).unwrap().current();
        match parse_gateway_config_with_env(&text, "fuzz.toml", &env) {
            Ok(_) => walked += 1,
            Err(e) => {
                let problems = e.errors();
                if !problems
                    .iter()
                    .any(|p| p.message.starts_with("invalid TOML"))
                {
                    walked += 1;
                }
                if problems.len() > 1 {
                    several += 1;
                }
            }
        }
    }
    eprintln!("{walked} of {total} reached the schema walk, {several} had several errors");
    assert!(walked * 5 >= total, "{walked} of {total}");
    assert!(several * 10 >= total, "{several} of {total}");
}
