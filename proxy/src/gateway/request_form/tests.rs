use super::*;

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
        ("/a%3b%2c%c3%a9%3f%25", "/a%3B%2C%C3%A9%3F%25"),
        ("/a%3a%40%21%24%26%27%28%29%2a%2b%3d", "/a:@!$&'()*+="),
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
        ("/.%3B/tour", FormError::AmbiguousDotSegment),
        ("/x/..%3bx/tour", FormError::AmbiguousDotSegment),
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

proptest::proptest! {
    #[test]
    fn is_host_name_agrees_with_the_label_rules(
        name in "[a-zA-Z0-9._\\-:]{0,70}|[a-z.]{250,256}",
    ) {
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        let expected = name.len() <= 253 && name.split('.').all(label_ok);
        proptest::prop_assert_eq!(super::is_host_name(name.as_bytes()), expected);
    }
}
