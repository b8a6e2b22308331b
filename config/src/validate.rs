//! Checks on single values. Each returns the accepted (possibly normalized) value, or a
//! message saying what is allowed and what was found. Messages never include secrets.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

/// Longest `session_seconds` / `abandon_after_seconds`: 7 days.
pub const MAX_SECONDS: i64 = 7 * 24 * 3600;
/// Highest `admit_per_second`.
pub const MAX_ADMIT_PER_SECOND: f64 = 1_000_000.0;
/// Shortest signing secret, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;
/// Shortest admin token, in bytes.
pub const MIN_TOKEN_BYTES: usize = 16;
/// URL schemes accepted for `store.url`.
pub const REDIS_SCHEMES: [&str; 5] = [
    "redis://",
    "rediss://",
    "redis-cluster://",
    "redis-sentinel://",
    "redis+unix://",
];

/// A listener address: an IP socket address (names are not resolved).
pub fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse::<SocketAddr>().map_err(|_| {
        format!(
            "expected an IP address and port like \"127.0.0.1:8080\" or \"[::]:8080\", got {text:?}"
        )
    })
}

/// An upstream: `host:port`, host a DNS name, IPv4 address or bracketed IPv6 address.
pub fn origin(text: &str) -> Result<String, String> {
    let allowed = "expected host:port such as \"127.0.0.1:3000\" or \"shop.internal:8080\"";
    if text.contains("://") {
        return Err(format!(
            "{allowed}, without a scheme (plain HTTP to the origin is implied), got {text:?}"
        ));
    }
    if text.contains('/') {
        return Err(format!("{allowed}, without a path, got {text:?}"));
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!("{allowed}; the port is missing in {text:?}"));
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 => {}
        _ => {
            return Err(format!(
                "{allowed}; the port must be 1-65535, got {port:?} in {text:?}"
            ))
        }
    }
    if host_part(host, true).is_none() {
        return Err(format!(
            "{allowed}; {host:?} is not a valid host name or IP address (IPv6 goes in brackets)"
        ));
    }
    Ok(text.to_string())
}

/// A room host: a DNS name or IP address, no port, no scheme. Upper case is folded to lower
/// case (host names are case-insensitive), so `Tickets.Example.com` is accepted.
pub fn host(text: &str) -> Result<String, String> {
    let allowed =
        "expected a host name such as \"tickets.example.com\" (no scheme, no port, no path)";
    if text.contains("://") {
        return Err(format!("{allowed}, got {text:?}"));
    }
    if text.contains('/') {
        return Err(format!("{allowed}, got {text:?} which has a path"));
    }
    if text.contains('*') {
        return Err(format!(
            "{allowed}; wildcards are not supported: list each host, or leave `hosts` empty for any host, got {text:?}"
        ));
    }
    let lower = text.to_ascii_lowercase();
    match host_part(&lower, false) {
        Some(()) => Ok(lower),
        None if text.rsplit_once(':').is_some_and(|(h, p)| {
            p.parse::<u16>().is_ok() && host_part(&h.to_ascii_lowercase(), true).is_some()
        }) =>
        {
            Err(format!("{allowed}; remove the port from {text:?}"))
        }
        None => Err(format!("{allowed}, got {text:?}")),
    }
}

/// DNS name, IPv4, or (bracketed) IPv6. `allow_upper` accepts upper-case letters.
fn host_part(host: &str, allow_upper: bool) -> Option<()> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().ok().map(|_| ());
    }
    if host.parse::<Ipv4Addr>().is_ok() {
        return Some(());
    }
    if host.is_empty() || host.len() > 253 {
        return None;
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'-'
                    || (allow_upper && b.is_ascii_uppercase())
            })
    };
    host.split('.').all(label_ok).then_some(())
}

/// Longest `[[room]] waitlist_url`.
pub const MAX_WAITLIST_URL_LEN: usize = 2048;

/// Characters a link may hold besides ASCII letters and digits: RFC 3986's unreserved and
/// reserved characters and `%` (anything else is written percent-encoded). No spaces,
/// quotes, angle brackets or backslashes: the URL goes into the page's link as written.
const URL_PUNCTUATION: &str = "-._~:/?#[]@!$&'()*+,;=%";

/// `[[room]] waitlist_url`: where a sold-out room's page sends the line to join the
/// waitlist — a path on the same site (`/events/E1/waitlist`, a query allowed) or an
/// absolute `http://` / `https://` URL. Kept as written.
pub fn waitlist_url(text: &str) -> Result<String, String> {
    let allowed =
        "expected a path such as \"/events/E1/waitlist\" or an absolute http:// or https:// URL";
    if text.len() > MAX_WAITLIST_URL_LEN {
        return Err(format!(
            "{allowed}, at most {MAX_WAITLIST_URL_LEN} bytes, got {} bytes",
            text.len()
        ));
    }
    if let Some(bad) = text
        .chars()
        .find(|&c| !c.is_ascii_alphanumeric() && !URL_PUNCTUATION.contains(c))
    {
        return Err(format!(
            "{allowed}; {bad:?} is not allowed (percent-encode it), got {text:?}"
        ));
    }
    let target = crate::room_paths::link_target(text).ok_or_else(|| {
        format!("{allowed} (a path starts with a single '/'; a URL names a host), got {text:?}")
    })?;
    match &target.host {
        Some(host) if host_part(host, false).is_none() => Err(format!(
            "{allowed}; {host:?} is not a valid host name or IP address, got {text:?}"
        )),
        _ => Ok(text.to_string()),
    }
}

/// Characters a room path prefix may hold besides ASCII letters and digits: the RFC 3986
/// path characters less `%` (the gateway matches decoded paths, so an encoded prefix would
/// never match), `;` and `,` (the prefix is written into the pass cookie's `Path=` attribute,
/// where `;` would start an attribute of the attacker's choosing).
pub const PATH_PUNCTUATION: &str = "/-._~!$&'()*+=:@";

/// A path prefix a room protects, in the normalised form the gateway matches against:
/// starts with `/`, only letters, digits and [`PATH_PUNCTUATION`], no `//`, no `.` or `..`
/// segment.
pub fn path_prefix(text: &str) -> Result<String, String> {
    let allowed = "expected a path prefix starting with '/' such as \"/tour-2027\"";
    if text.is_empty() {
        return Err(format!("{allowed}, got an empty string"));
    }
    if !text.starts_with('/') {
        return Err(format!("{allowed}, got {text:?}"));
    }
    if let Some(bad) = text
        .chars()
        .find(|&c| !c.is_ascii_alphanumeric() && !PATH_PUNCTUATION.contains(c))
    {
        let why = match bad {
            ';' | ',' => "it would end up in the pass cookie's Path attribute",
            '%' => "write the decoded character: the gateway matches decoded paths",
            '?' | '#' => "a prefix has no query or fragment",
            c if c.is_whitespace() || c.is_control() => "no spaces or control characters",
            c if !c.is_ascii() => "ASCII only: write the path as the gateway sees it decoded",
            _ => "not a path character",
        };
        return Err(format!(
            "{allowed}, made of letters, digits and {PATH_PUNCTUATION}; {bad:?} is not allowed ({why}), got {text:?}"
        ));
    }
    if text.contains("//") {
        return Err(format!(
            "{allowed}, without an empty segment (\"//\"): the gateway merges slashes, got {text:?}"
        ));
    }
    if text
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(format!(
            "{allowed}, without \".\" or \"..\" segments: the gateway removes them, got {text:?}"
        ));
    }
    Ok(text.to_string())
}

fn id_chars(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A room id: `[A-Za-z0-9_-]{1,64}`.
pub fn room_id(text: &str) -> Result<String, String> {
    if (1..=64).contains(&text.len()) && id_chars(text) {
        Ok(text.to_string())
    } else {
        Err(format!(
            "expected a room id of 1-64 characters from A-Z a-z 0-9 _ -, got {text:?}"
        ))
    }
}

/// A key id (`kid`): `[A-Za-z0-9_-]{1,32}`; it is written into every pass.
pub fn key_id(text: &str) -> Result<String, String> {
    if (1..=32).contains(&text.len()) && id_chars(text) {
        Ok(text.to_string())
    } else {
        Err(format!(
            "expected a key id of 1-32 characters from A-Z a-z 0-9 _ -, got {text:?}"
        ))
    }
}

/// `store.tls_ca`: an existing file (read as PEM when the store connects).
pub fn ca_file(text: &str) -> Result<std::path::PathBuf, String> {
    let path = std::path::PathBuf::from(text);
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_file() => Ok(path),
        Ok(_) => Err(format!("{text:?} is not a file (expected a PEM CA bundle)")),
        Err(e) => Err(format!("cannot read CA file {text:?}: {e}")),
    }
}

/// `listen.tls_cert`: a readable file holding at least one PEM certificate.
pub fn pem_certificate_file(text: &str) -> Result<std::path::PathBuf, String> {
    pem_file(text, "PEM certificate", &["CERTIFICATE"])
}

/// `listen.tls_key`: a readable file holding a PEM private key (PKCS#8, PKCS#1 or SEC1).
pub fn pem_private_key_file(text: &str) -> Result<std::path::PathBuf, String> {
    pem_file(
        text,
        "PEM private key",
        &["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"],
    )
}

/// A file whose text has a `-----BEGIN <label>-----` line for one of `labels`. The DER
/// inside is parsed when the proxy loads the pair.
fn pem_file(text: &str, what: &str, labels: &[&str]) -> Result<std::path::PathBuf, String> {
    let path = std::path::PathBuf::from(text);
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {text:?}: {e}"))?;
    let contents = String::from_utf8_lossy(&bytes);
    let found = contents.lines().any(|line| {
        labels
            .iter()
            .any(|label| line.trim() == format!("-----BEGIN {label}-----"))
    });
    if found {
        Ok(path)
    } else {
        Err(format!(
            "{text:?} holds no {what} (no `-----BEGIN` line of one)"
        ))
    }
}

/// `listen.upgrade_socket`: an absolute path short enough for a unix socket address.
pub fn unix_socket_path(text: &str) -> Result<std::path::PathBuf, String> {
    // sun_path holds 108 bytes, the terminating NUL included.
    const MAX_LEN: usize = 107;
    if !text.starts_with('/') {
        return Err(format!("{text:?} must be an absolute path"));
    }
    if text.len() > MAX_LEN {
        return Err(format!(
            "{text:?} is {} bytes; a unix socket path holds at most {MAX_LEN}",
            text.len()
        ));
    }
    Ok(std::path::PathBuf::from(text))
}

/// A Redis URL for `store.url`.
pub fn redis_url(text: &str) -> Result<String, String> {
    let rest = REDIS_SCHEMES
        .iter()
        .find_map(|scheme| text.strip_prefix(scheme));
    match rest {
        // fred needs the sentinel's service name; without it `serve` would refuse the URL.
        Some(_) if text.starts_with("redis-sentinel://") && !text.contains("sentinelServiceName=") => Err(format!(
            "a redis-sentinel:// URL names the service: redis-sentinel://HOST:PORT/DB?sentinelServiceName=NAME, got {text:?}"
        )),
        // fred reads a unix socket URL as `redis+unix://[user:password@host]/absolute/path`.
        Some(rest) if text.starts_with("redis+unix://") && !rest.contains('/') => Err(format!(
            "a redis+unix:// URL gives the socket's absolute path: redis+unix:///run/redis/redis.sock, got {text:?}"
        )),
        Some(rest) if !rest.is_empty() => Ok(text.to_string()),
        _ => Err(format!(
            "expected a URL starting with {}, got {text:?}",
            REDIS_SCHEMES.join(", ")
        )),
    }
}

/// An environment variable name after `env:`: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `admit_per_second`: finite, > 0, <= 1,000,000.
pub fn admit_per_second(value: f64) -> Result<f64, String> {
    if value.is_finite() && value > 0.0 && value <= MAX_ADMIT_PER_SECOND {
        Ok(value)
    } else {
        Err(format!(
            "expected a number of visitors per second > 0 and <= 1000000 (fractions allowed, e.g. 0.5), got {value}"
        ))
    }
}

/// A user-agent pattern of the bot guard: a plain substring (no wildcards, no regex),
/// matched case-insensitively, so it is stored lowercased.
pub fn ua_pattern(text: &str) -> Result<String, String> {
    let allowed = "expected a piece of a User-Agent such as \"python-requests\" (matched case-insensitively, no wildcards)";
    if text.trim().is_empty() {
        return Err(format!("{allowed}, got an empty pattern"));
    }
    if text.len() > crate::MAX_UA_PATTERN_LEN {
        return Err(format!(
            "{allowed}; at most {} bytes, got {}",
            crate::MAX_UA_PATTERN_LEN,
            text.len()
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{allowed}; no control characters, got {text:?}"));
    }
    Ok(text.to_lowercase())
}

/// An integer in `min..=max`; `unit` describes it in the message.
pub fn int_range(value: i64, min: i64, max: i64, unit: &str) -> Result<u64, String> {
    if (min..=max).contains(&value) {
        u64::try_from(value).map_err(|_| format!("expected an integer >= {min}, got {value}"))
    } else if max == i64::MAX {
        Err(format!(
            "expected an integer >= {min} ({unit}), got {value}"
        ))
    } else {
        Err(format!(
            "expected an integer from {min} to {max} ({unit}), got {value}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert!(origin("127.0.0.1:3000").is_ok());
        assert!(origin("shop.internal:8080").is_ok());
        assert!(origin("Shop.Internal:8080").is_ok());
        assert!(origin("[::1]:3000").is_ok());
        let e = origin("http://127.0.0.1:3000").unwrap_err();
        assert!(e.contains("without a scheme"), "{e}");
        assert!(origin("127.0.0.1").unwrap_err().contains("port is missing"));
        assert!(origin("127.0.0.1:0").unwrap_err().contains("1-65535"));
        assert!(origin("127.0.0.1:70000").is_err());
        assert!(origin("host:3000/x")
            .unwrap_err()
            .contains("without a path"));
        assert!(origin("::1:3000").is_err());
        assert!(origin(":3000").is_err());
        assert!(origin("bad_host:3000").is_err());
    }

    #[test]
    fn hosts_are_lowercased_and_portless() {
        assert_eq!(host("Tickets.Example.COM").unwrap(), "tickets.example.com");
        assert_eq!(host("10.0.0.1").unwrap(), "10.0.0.1");
        assert_eq!(host("[::1]").unwrap(), "[::1]");
        assert!(host("example.com:443")
            .unwrap_err()
            .contains("remove the port"));
        assert!(host("https://example.com").is_err());
        assert!(host("*.example.com").unwrap_err().contains("wildcards"));
        assert!(host("").is_err());
        assert!(host("a..b").is_err());
        assert!(host("-a.com").is_err());
    }

    #[test]
    fn paths_ids_urls() {
        assert!(path_prefix("/").is_ok());
        assert!(path_prefix("/tour-2027").is_ok());
        assert!(path_prefix("tour").is_err());
        assert!(path_prefix("").is_err());
        assert!(path_prefix("/a b").is_err());
        assert!(path_prefix("/a?b=1").is_err());
        assert!(path_prefix("/tour-2027/").is_ok());
        assert!(path_prefix("/a.b/c_d~e/@x:y+z=1!$&'()*").is_ok());
        for bad in [
            "/shop;Domain=evil.example",
            "/a,b",
            "/a\tb",
            "/a\u{7f}",
            "/caf\u{e9}",
            "/%74our",
            "//tour",
            "/tour//x",
            "/./tour",
            "/x/../tour",
            "/tour/.",
            "/tour/..",
            "/a\\b",
            "/a\"b",
            "/a#b",
        ] {
            assert!(path_prefix(bad).is_err(), "{bad:?}");
        }
        let e = path_prefix("/shop;Domain=x").unwrap_err();
        assert!(e.contains("';'") && e.contains("Path attribute"), "{e}");
        assert!(room_id("tour_2027-A").is_ok());
        assert!(room_id("").is_err());
        assert!(room_id(&"a".repeat(65)).is_err());
        assert!(room_id(&"a".repeat(64)).is_ok());
        assert!(room_id("a.b").is_err());
        assert!(key_id(&"k".repeat(32)).is_ok());
        assert!(key_id(&"k".repeat(33)).is_err());
        for ok in [
            "redis://127.0.0.1:6379",
            "rediss://h:6380",
            "redis-cluster://h:7000",
            "redis-sentinel://h:26379/0?sentinelServiceName=mymaster",
            "redis+unix:///tmp/redis.sock",
        ] {
            assert!(redis_url(ok).is_ok(), "{ok}");
        }
        assert!(redis_url("http://h").is_err());
        assert!(redis_url("redis://").is_err());
        assert!(redis_url("redis-sentinel://h:26379/mymaster").is_err());
        assert!(redis_url("redis+unix://redis.sock").is_err());
        assert!(env_name("ANTEROOM_KEY_K1"));
        assert!(env_name("_x1"));
        assert!(!env_name("1X"));
        assert!(!env_name(""));
        assert!(!env_name("A-B"));
    }

    #[test]
    fn numbers() {
        assert!(admit_per_second(0.5).is_ok());
        assert!(admit_per_second(1_000_000.0).is_ok());
        assert!(admit_per_second(1_000_000.5).is_err());
        assert!(admit_per_second(0.0).is_err());
        assert!(admit_per_second(f64::NAN).is_err());
        assert!(admit_per_second(f64::INFINITY).is_err());
        assert_eq!(int_range(5, 1, 10, "s"), Ok(5));
        assert!(int_range(0, 1, 10, "s")
            .unwrap_err()
            .contains("from 1 to 10"));
        assert!(int_range(-3, 1, i64::MAX, "visitors")
            .unwrap_err()
            .contains(">= 1"));
    }

    #[test]
    fn listener_addresses() {
        assert!(socket_addr("127.0.0.1:8080").is_ok());
        assert!(socket_addr("[::]:8080").is_ok());
        assert!(socket_addr("localhost:8080").is_err());
        assert!(socket_addr("127.0.0.1").is_err());
    }
}
