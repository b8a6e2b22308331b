//! Properties of request normalisation (bounded at 2,000 cases each): it is idempotent and
//! leaves no ambiguity, any bytes get an answer (never a panic), and whatever a lenient origin
//! would serve under a room's prefix, the router matches on the gateway's normal form — so no
//! spelling of a path reaches protected pages unmatched. The origin's reading is the recording
//! origin's (`support::origin::origin_path`): every escape decoded, `\` as `/`, `;parameters`
//! cut, slashes merged, dot-segments resolved.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::borrow::Cow;

use anteroom::gateway::request_form::{normal_path, normalise, RawTarget};
use anteroom::gateway::{RouteHost, Router};
use anteroom_config::{RoomConfig, RoomMode, PATH_PUNCTUATION};
use proptest::prelude::*;
use support::origin::{origin_path, serves_under};

fn room(prefix: &str, any_case: bool) -> RoomConfig {
    RoomConfig {
        id: "r".into(),
        origin: "127.0.0.1:1".into(),
        hosts: vec![],
        paths: vec![prefix.into()],
        mode: RoomMode::QueueAll,
        admit_per_second: 1.0,
        max_active: 1,
        session_seconds: 60,
        abandon_after_seconds: 60,
        paths_case_insensitive: any_case,
        page_template: None,
        waitlist_url: None,
        bot_guard: Default::default(),
    }
}

/// Path pieces that exercise every rule: separators, dots, escapes of unreserved, reserved,
/// control and separator bytes, parameters, case.
fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "/",
        "//",
        "tour",
        "TOUR",
        "a",
        ".",
        "..",
        "%2E",
        "%2e",
        "%2E%2E",
        "%74",
        "%54",
        "%41",
        "%2F",
        "%5C",
        "\\",
        ";",
        "%3B",
        ";x",
        "%25",
        "%",
        "%zz",
        "~",
        "%7E",
        "-",
        "%20",
        "%C3%A9",
        "%00",
        "x",
        "_anteroom",
    ])
}

fn raw_path() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..12).prop_map(|pieces| format!("/{}", pieces.concat()))
}

/// An escape of a character a room prefix may hold (it should have been decoded).
fn has_encoded_prefix_character(path: &str) -> bool {
    path.match_indices('%').any(|(at, _)| {
        path.get(at + 1..at + 3)
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .is_some_and(|byte| {
                byte.is_ascii_alphanumeric() || PATH_PUNCTUATION.as_bytes().contains(&byte)
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn normalising_is_idempotent_and_leaves_no_ambiguity(raw in raw_path()) {
        if let Ok(once) = normal_path(&raw) {
            let twice = normal_path(&once);
            prop_assert!(matches!(twice, Ok(Cow::Borrowed(_))), "{raw} -> {once} -> {twice:?}");
            prop_assert!(!once.contains("//"), "{raw} -> {once}");
            prop_assert!(!once.contains("/./") && !once.contains("/../"), "{raw} -> {once}");
            prop_assert!(!once.ends_with("/.") && !once.ends_with("/.."), "{raw} -> {once}");
            prop_assert!(!has_encoded_prefix_character(&once), "{raw} -> {once}");
            prop_assert!(once.starts_with('/'), "{raw} -> {once}");
        }
    }

    #[test]
    fn any_bytes_give_an_answer_not_a_panic(
        raw in prop::collection::vec(any::<u8>(), 0..64),
        host in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let _ = normalise(RawTarget {
            target: &raw,
            host_header: Some(&host),
            duplicate_host: false,
            host_required: true,
        });
    }

    #[test]
    fn whatever_an_origin_would_serve_under_a_prefix_is_matched(
        raw in raw_path(),
        any_case in any::<bool>(),
    ) {
        let Ok(ours) = normal_path(&raw) else { return Ok(()) };
        let theirs = origin_path(&raw);
        for prefix in ["/tour", "/tour/a", "/a", "/_anteroom", "/a:b", "/+", "/"] {
            let router = Router::new(&[room(prefix, any_case)]);
            if serves_under(prefix, &theirs, any_case) {
                prop_assert!(
                    router.route(RouteHost::Unnamed, &ours).is_some(),
                    "{raw}: origin reads {theirs} under {prefix}, we matched {ours}"
                );
            }
        }
    }
}
