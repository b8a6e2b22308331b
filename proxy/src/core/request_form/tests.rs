use super::*;
use proptest::prelude::*;

fn path(raw: &str) -> Result<String, FormError> {
    normal_path(raw).map(Cow::into_owned)
}

fn target<'a>(target: &'a str, host: Option<&'a str>) -> Result<NormalTarget<'a>, FormError> {
    normalise(RawTarget {
        target: target.as_bytes(),
        host_header: host.map(str::as_bytes),
        duplicate_host: false,
        host_required: true,
    })
}

#[test]
fn normal_paths_are_borrowed() {
    for raw in [
        "/",
        "/tour-2027/",
        "/tour/seats/A1",
        "/a.b/c~d",
        "/..a/b..",
        "/.well-known",
    ] {
        assert!(matches!(normal_path(raw), Ok(Cow::Borrowed(_))), "{raw}");
    }
}

#[test]
fn the_bypass_forms_of_the_issue_become_the_room_path() {
    for (raw, normal) in [
        ("/%74our-2027/", "/tour-2027/"),
        ("//tour-2027/", "/tour-2027/"),
        ("/x/../tour-2027/", "/tour-2027/"),
        ("/./tour/", "/tour/"),
        ("/tour/.", "/tour/"),
        ("/tour/x/..", "/tour/"),
        ("/%5Fanteroom/status", "/_anteroom/status"),
        ("/a%2d%7e", "/a-~"),
        ("/a%3b%c3%a9", "/a%3B%C3%A9"),
        ("/tour;jsessionid=1", "/tour;jsessionid=1"),
    ] {
        assert_eq!(path(raw).as_deref(), Ok(normal), "{raw}");
    }
}

#[test]
fn ambiguous_paths_are_refused() {
    for (raw, error) in [
        ("/tour%2Fx", FormError::EncodedSeparator),
        ("/tour%2fx", FormError::EncodedSeparator),
        ("/tour%5Cx", FormError::EncodedSeparator),
        ("/x\\..\\tour", FormError::Backslash),
        ("/..", FormError::EscapesRoot),
        ("/a/../../tour", FormError::EscapesRoot),
        ("/%2E%2E/tour", FormError::AmbiguousDotSegment),
        ("/x/.%2e/tour", FormError::AmbiguousDotSegment),
        ("/x/%2e/tour", FormError::AmbiguousDotSegment),
        ("/public/..;/tour", FormError::AmbiguousDotSegment),
        ("/a%00", FormError::ControlByte),
        ("/a%1f", FormError::ControlByte),
        ("/a\u{1}", FormError::ControlByte),
        ("/a\u{e9}", FormError::ControlByte),
        ("/a%", FormError::BadPercent),
        ("/a%4", FormError::BadPercent),
        ("/a%zz", FormError::BadPercent),
    ] {
        assert_eq!(path(raw), Err(error), "{raw}");
    }
}

#[test]
fn hosts_are_normalised_or_refused() {
    for (host, normal, ip) in [
        ("Tickets.Example.com.", "tickets.example.com", false),
        ("tickets.example.com:8080", "tickets.example.com", false),
        ("127.0.0.1:80", "127.0.0.1", true),
        ("[::1]:8080", "[::1]", true),
        ("[FE80::1]", "[fe80::1]", true),
    ] {
        let read = target("/", Some(host)).unwrap();
        assert_eq!(read.host.as_deref(), Some(normal), "{host}");
        assert_eq!(read.host_is_ip, ip, "{host}");
    }
    for host in [
        "", "a:80:80", "a, b", "a@b", "a b", "a..b", ".", "[::1", "[nope]", "a:x",
    ] {
        assert_eq!(
            target("/", Some(host)).unwrap_err(),
            FormError::MalformedHost,
            "{host:?}"
        );
    }
}

#[test]
fn a_trailing_dot_is_forwarded_without_it() {
    let read = target("/tour", Some("VIP.example.:8080")).unwrap();
    let forward = read.forward.unwrap();
    assert_eq!(forward.host.as_deref(), Some("vip.example:8080"));
    assert_eq!(forward.path_and_query, "/tour");
    assert!(target("/tour", Some("VIP.example:8080"))
        .unwrap()
        .forward
        .is_none());
}

#[test]
fn absolute_form_targets_must_agree_with_host() {
    let read = target("http://vip.example/x/../tour?a=1", Some("VIP.example")).unwrap();
    assert_eq!(read.path, "/tour");
    assert_eq!(read.query, Some("a=1"));
    assert_eq!(read.forward.unwrap().path_and_query, "/tour?a=1");
    assert_eq!(
        target("http://vip.example/", Some("other.example")).unwrap_err(),
        FormError::HostMismatch
    );
    assert_eq!(
        target("http://u@vip.example/", Some("vip.example")).unwrap_err(),
        FormError::MalformedHost
    );
    assert_eq!(
        target("ftp://vip.example/", None).unwrap_err(),
        FormError::UnsupportedTarget
    );
    assert_eq!(
        target("tour", Some("a")).unwrap_err(),
        FormError::UnsupportedTarget
    );
}

#[test]
fn host_is_required_in_http_1_1_only() {
    assert_eq!(target("/", None).unwrap_err(), FormError::MissingHost);
    assert_eq!(
        target("http://vip.example/", None).unwrap_err(),
        FormError::MissingHost
    );
    let old = normalise(RawTarget {
        target: b"/tour",
        host_header: None,
        duplicate_host: false,
        host_required: false,
    })
    .unwrap();
    assert_eq!(old.host, None);
    assert!(old.forward.is_none());
}

#[test]
fn control_bytes_in_the_query_are_refused() {
    assert_eq!(
        target("/?a=\u{0}", Some("a")).unwrap_err(),
        FormError::ControlByte
    );
    assert_eq!(target("/?a=%2F", Some("a")).unwrap().query, Some("a=%2F"));
}

/// Path pieces that exercise every rule: separators, dots, escapes of unreserved, reserved,
/// control and separator bytes, parameters, case. (proxy/tests/request_form_properties.rs has
/// the same alphabet.)
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

fn has_encoded_unreserved(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.iter().enumerate().any(|(index, &byte)| {
        byte == b'%'
            && matches!(
                (bytes.get(index + 1).copied().and_then(hex_value), bytes.get(index + 2).copied().and_then(hex_value)),
                (Some(high), Some(low)) if unreserved(high * 16 + low)
            )
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
            prop_assert!(!has_encoded_unreserved(&once), "{raw} -> {once}");
            prop_assert!(once.starts_with('/'), "{raw} -> {once}");
        }
    }

    #[test]
    fn any_bytes_give_an_answer_not_a_panic(raw in prop::collection::vec(any::<u8>(), 0..64), host in prop::collection::vec(any::<u8>(), 0..16)) {
        let _ = normalise(RawTarget {
            target: &raw,
            host_header: Some(&host),
            duplicate_host: false,
            host_required: true,
        });
    }
}
