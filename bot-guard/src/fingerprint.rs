//! Our own header fingerprint (not JA4H, whose licence is not open), the User-Agent family,
//! and what the headers hint about automation.
//!
//! The fingerprint is SipHash-1-3 (keys `FINGERPRINT_KEYS`, fixed and public: every instance
//! and every restart must give one request the same fingerprint), little-endian, of:
//!
//! ```text
//! names:  every header name in arrival order, lowercased, each followed by ','   (first 64)
//! values: for accept-language, accept-encoding, sec-ch-ua*, sec-fetch-* in arrival order:
//!         '\n' name '=' value                                              (value: first 256 bytes)
//! family: '\n' "ua=" family
//! ```
//!
//! It is stable for one browser build, language setting and kind of request (a navigation
//! sends other headers than a `fetch`), and it changes when a bot rotates its header order,
//! languages or client hints — which a scripted client rarely gets all right. The
//! User-Agent enters only as its family, so a farm rotating version strings keeps its
//! fingerprint. Collisions need not be hard to find: a client can already present any
//! fingerprint it likes by sending another browser's headers, so the hash only has to spread
//! real header sets apart, and it runs for every new visitor (SHA-256 cost four times as much).

use std::hash::Hasher;
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, MatchKind};

use siphasher::sip::SipHasher13;

use crate::signals::HeaderFingerprint;

/// Header names beyond this many are not fingerprinted (a request with more is odd anyway).
pub const MAX_FINGERPRINT_HEADERS: usize = 64;
/// Longest header name or value fingerprinted; the rest is cut.
pub const MAX_FINGERPRINT_VALUE: usize = 256;
const NAME_BUFFER: usize = 64;
/// The fingerprint hash's keys: fixed, so fingerprints are stable across instances and
/// restarts (they name store keys).
pub const FINGERPRINT_KEYS: (u64, u64) = (0x616e_7465_726f_6f6d, 0x6670_2d76_3100_0000);
/// Enough for a browser's headers without growing the buffer.
const FINGERPRINT_INPUT_CAPACITY: usize = 1024;

/// The family of a User-Agent: a bounded set (usable as a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UaFamily {
    Chrome,
    Edge,
    Opera,
    Firefox,
    Safari,
    /// Headless Chrome, PhantomJS: a browser driven by a script.
    Headless,
    Curl,
    Wget,
    Python,
    Go,
    Java,
    Node,
    /// Declares itself a bot, crawler or spider.
    Crawler,
    Other,
    Missing,
}

impl UaFamily {
    pub fn as_str(self) -> &'static str {
        match self {
            UaFamily::Chrome => "chrome",
            UaFamily::Edge => "edge",
            UaFamily::Opera => "opera",
            UaFamily::Firefox => "firefox",
            UaFamily::Safari => "safari",
            UaFamily::Headless => "headless",
            UaFamily::Curl => "curl",
            UaFamily::Wget => "wget",
            UaFamily::Python => "python",
            UaFamily::Go => "go",
            UaFamily::Java => "java",
            UaFamily::Node => "node",
            UaFamily::Crawler => "crawler",
            UaFamily::Other => "other",
            UaFamily::Missing => "missing",
        }
    }

    /// A desktop or mobile browser as people use them.
    pub fn is_browser(self) -> bool {
        matches!(
            self,
            UaFamily::Chrome
                | UaFamily::Edge
                | UaFamily::Opera
                | UaFamily::Firefox
                | UaFamily::Safari
        )
    }

    /// Chromium-based browsers send `sec-ch-ua` client hints (on secure origins).
    pub fn is_chromium(self) -> bool {
        matches!(self, UaFamily::Chrome | UaFamily::Edge | UaFamily::Opera)
    }

    /// An HTTP library or command-line client.
    pub fn is_library(self) -> bool {
        matches!(
            self,
            UaFamily::Curl
                | UaFamily::Wget
                | UaFamily::Python
                | UaFamily::Go
                | UaFamily::Java
                | UaFamily::Node
        )
    }
}

/// Markers, in the order they are tried, and the family each names. Order matters: Edge and
/// Opera also say "chrome/", Chrome also says "safari/", headless Chrome says "chrome/".
const FAMILY_MARKERS: &[(&str, UaFamily)] = &[
    ("headlesschrome", UaFamily::Headless),
    ("phantomjs", UaFamily::Headless),
    ("curl/", UaFamily::Curl),
    ("wget/", UaFamily::Wget),
    ("python", UaFamily::Python),
    ("aiohttp", UaFamily::Python),
    ("httpx", UaFamily::Python),
    ("scrapy", UaFamily::Python),
    ("go-http-client", UaFamily::Go),
    ("okhttp", UaFamily::Java),
    ("apache-httpclient", UaFamily::Java),
    ("java/", UaFamily::Java),
    ("node-fetch", UaFamily::Node),
    ("axios", UaFamily::Node),
    ("undici", UaFamily::Node),
    ("node.js", UaFamily::Node),
    ("bot", UaFamily::Crawler),
    ("crawler", UaFamily::Crawler),
    ("spider", UaFamily::Crawler),
    ("edg/", UaFamily::Edge),
    ("edga/", UaFamily::Edge),
    ("edgios/", UaFamily::Edge),
    ("opr/", UaFamily::Opera),
    ("firefox/", UaFamily::Firefox),
    ("fxios/", UaFamily::Firefox),
    ("chrome/", UaFamily::Chrome),
    ("crios/", UaFamily::Chrome),
    ("chromium/", UaFamily::Chrome),
    ("safari/", UaFamily::Safari),
];

/// Every marker, searched in one pass over a User-Agent (overlapping matches, so the first
/// marker in `FAMILY_MARKERS`' order that occurs anywhere is found, as by trying them one by
/// one: that cost a scan per marker, 29 scans for a browser's User-Agent). `None` only if the
/// automaton could not be built, which a fixed list of short markers never hits; then the
/// markers are tried one by one.
static MARKER_SEARCH: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| {
    AhoCorasick::builder()
        .match_kind(MatchKind::Standard)
        .build(FAMILY_MARKERS.iter().map(|(marker, _)| marker))
        .ok()
});

/// The family of a User-Agent already lowercased.
pub fn ua_family(user_agent_lower: &str) -> UaFamily {
    if user_agent_lower.trim().is_empty() {
        return UaFamily::Missing;
    }
    let Some(search) = MARKER_SEARCH.as_ref() else {
        return ua_family_marker_by_marker(user_agent_lower);
    };
    search
        .find_overlapping_iter(user_agent_lower)
        .map(|found| found.pattern().as_usize())
        .min()
        .and_then(|first| FAMILY_MARKERS.get(first))
        .map_or(UaFamily::Other, |(_, family)| *family)
}

/// `ua_family`, trying the markers one by one (the reference the one-pass search must equal).
fn ua_family_marker_by_marker(user_agent_lower: &str) -> UaFamily {
    FAMILY_MARKERS
        .iter()
        .find(|(marker, _)| user_agent_lower.contains(marker))
        .map_or(UaFamily::Other, |(_, family)| *family)
}

/// Whether a header's value enters the fingerprint (its name always does).
fn value_fingerprinted(lower_name: &[u8]) -> bool {
    lower_name == b"accept-language"
        || lower_name == b"accept-encoding"
        || lower_name.starts_with(b"sec-ch-ua")
        || lower_name.starts_with(b"sec-fetch-")
}

/// A header name lowercased into `buf` (cut to its size).
fn lower_name<'b>(name: &str, buf: &'b mut [u8; NAME_BUFFER]) -> &'b [u8] {
    let bytes = name.as_bytes();
    let n = bytes.len().min(NAME_BUFFER);
    for (slot, byte) in buf.iter_mut().zip(bytes.iter()) {
        *slot = byte.to_ascii_lowercase();
    }
    buf.get(..n).unwrap_or(&[])
}

fn cut(value: &[u8]) -> &[u8] {
    value.get(..MAX_FINGERPRINT_VALUE).unwrap_or(value)
}

/// The header fingerprint of a request's headers (name, value) in arrival order.
pub fn header_fingerprint(headers: &[(&str, &[u8])], family: UaFamily) -> HeaderFingerprint {
    let headers = headers.get(..MAX_FINGERPRINT_HEADERS).unwrap_or(headers);
    // One buffer hashed once: many small `update`s cost more than the hash itself.
    let mut input: Vec<u8> = Vec::with_capacity(FINGERPRINT_INPUT_CAPACITY);
    let mut buf = [0u8; NAME_BUFFER];
    for (name, _) in headers {
        input.extend_from_slice(lower_name(name, &mut buf));
        input.push(b',');
    }
    for (name, value) in headers {
        let lower = lower_name(name, &mut buf);
        if value_fingerprinted(lower) {
            input.push(b'\n');
            input.extend_from_slice(lower);
            input.push(b'=');
            input.extend_from_slice(cut(value));
        }
    }
    input.extend_from_slice(b"\nua=");
    input.extend_from_slice(family.as_str().as_bytes());
    let mut hasher = SipHasher13::new_with_keys(FINGERPRINT_KEYS.0, FINGERPRINT_KEYS.1);
    hasher.write(&input);
    HeaderFingerprint(hasher.finish().to_le_bytes())
}

/// What a request's headers hint about automation. Each hint adds to the suspicion score
/// with the weight `HeaderHints::suspicion` documents; none alone blocks anyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeaderHints {
    pub missing_user_agent: bool,
    /// HeadlessChrome / PhantomJS in the User-Agent or the `sec-ch-ua` brands.
    pub headless: bool,
    /// curl, python, Go, Java, Node… as the User-Agent.
    pub library: bool,
    pub crawler: bool,
    pub no_accept_language: bool,
    pub no_accept: bool,
    /// A browser User-Agent without any `sec-fetch-*` header (every current browser sends
    /// them to secure origins).
    pub browser_without_fetch_metadata: bool,
    /// A Chromium User-Agent without `sec-ch-ua` (Chromium sends it to secure origins).
    pub chromium_without_client_hints: bool,
}

/// Weights of the header hints (out of 100). Library and headless clients get enough to be
/// challenged alone; the rest only in company. Fetch metadata and client hints weigh
/// little: browsers send them to secure origins only, so a gateway on plain HTTP would see
/// every visitor without them.
pub const WEIGHT_MISSING_USER_AGENT: u8 = 50;
pub const WEIGHT_HEADLESS: u8 = 50;
pub const WEIGHT_LIBRARY: u8 = 50;
pub const WEIGHT_CRAWLER: u8 = 40;
pub const WEIGHT_NO_ACCEPT_LANGUAGE: u8 = 25;
pub const WEIGHT_NO_ACCEPT: u8 = 10;
pub const WEIGHT_NO_FETCH_METADATA: u8 = 10;
pub const WEIGHT_NO_CLIENT_HINTS: u8 = 5;

impl HeaderHints {
    /// The headers' share of the suspicion score, 0..=100.
    pub fn suspicion(&self) -> u8 {
        let parts = [
            (self.missing_user_agent, WEIGHT_MISSING_USER_AGENT),
            (self.headless, WEIGHT_HEADLESS),
            (self.library, WEIGHT_LIBRARY),
            (self.crawler, WEIGHT_CRAWLER),
            (self.no_accept_language, WEIGHT_NO_ACCEPT_LANGUAGE),
            (self.no_accept, WEIGHT_NO_ACCEPT),
            (
                self.browser_without_fetch_metadata,
                WEIGHT_NO_FETCH_METADATA,
            ),
            (self.chromium_without_client_hints, WEIGHT_NO_CLIENT_HINTS),
        ];
        weigh(&parts)
    }
}

/// The sum of the weights of the signals that are on, capped at 100.
pub(crate) fn weigh(parts: &[(bool, u8)]) -> u8 {
    parts
        .iter()
        .filter(|(on, _)| *on)
        .fold(0u8, |sum, (_, w)| sum.saturating_add(*w))
        .min(100)
}

/// The hints of a request's headers, given its User-Agent family.
pub fn header_hints(headers: &[(&str, &[u8])], family: UaFamily) -> HeaderHints {
    let mut has_accept = false;
    let mut has_language = false;
    let mut has_fetch = false;
    let mut has_client_hints = false;
    let mut headless_brand = false;
    let mut buf = [0u8; NAME_BUFFER];
    for (name, value) in headers.iter().take(MAX_FINGERPRINT_HEADERS) {
        let lower = lower_name(name, &mut buf);
        match lower {
            b"accept" => has_accept = true,
            b"accept-language" => has_language = !value.trim_ascii().is_empty(),
            _ if lower.starts_with(b"sec-fetch-") => has_fetch = true,
            b"sec-ch-ua" => {
                has_client_hints = true;
                headless_brand |= contains_ignore_case(value, b"headless");
            }
            _ => {}
        }
    }
    HeaderHints {
        missing_user_agent: family == UaFamily::Missing,
        headless: family == UaFamily::Headless || headless_brand,
        library: family.is_library(),
        crawler: family == UaFamily::Crawler,
        no_accept_language: !has_language,
        no_accept: !has_accept,
        browser_without_fetch_metadata: family.is_browser() && !has_fetch,
        chromium_without_client_hints: family.is_chromium() && !has_client_hints,
    }
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_UA: &[u8] = b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

    fn chrome() -> Vec<(&'static str, &'static [u8])> {
        vec![
            ("host", b"tickets.example.com"),
            (
                "sec-ch-ua",
                b"\"Chromium\";v=\"131\", \"Google Chrome\";v=\"131\"",
            ),
            ("sec-ch-ua-mobile", b"?0"),
            ("sec-ch-ua-platform", b"\"Windows\""),
            ("upgrade-insecure-requests", b"1"),
            ("user-agent", CHROME_UA),
            ("accept", b"text/html,application/xhtml+xml"),
            ("sec-fetch-site", b"none"),
            ("sec-fetch-mode", b"navigate"),
            ("sec-fetch-dest", b"document"),
            ("accept-encoding", b"gzip, deflate, br, zstd"),
            ("accept-language", b"en-US,en;q=0.9"),
        ]
    }

    fn fp(headers: &[(&str, &[u8])]) -> HeaderFingerprint {
        header_fingerprint(headers, UaFamily::Chrome)
    }

    #[test]
    fn families() {
        let cases = [
            (CHROME_UA, UaFamily::Chrome),
            (b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", UaFamily::Edge),
            (b"Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/120 Safari/537.36 OPR/105.0", UaFamily::Opera),
            (b"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", UaFamily::Firefox),
            (b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", UaFamily::Safari),
            (b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0 Mobile/15E148 Safari/604.1", UaFamily::Chrome),
            (b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", UaFamily::Headless),
            (b"curl/8.5.0", UaFamily::Curl),
            (b"Wget/1.21", UaFamily::Wget),
            (b"python-requests/2.32.3", UaFamily::Python),
            (b"Python-urllib/3.12", UaFamily::Python),
            (b"Go-http-client/1.1", UaFamily::Go),
            (b"okhttp/4.12.0", UaFamily::Java),
            (b"axios/1.7.2", UaFamily::Node),
            (b"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", UaFamily::Crawler),
            (b"SomethingElse/1.0", UaFamily::Other),
            (b"", UaFamily::Missing),
            (b"   ", UaFamily::Missing),
        ];
        for (ua, family) in cases {
            let lower = String::from_utf8_lossy(ua).to_lowercase();
            assert_eq!(ua_family(&lower), family, "{lower}");
            if family != UaFamily::Missing {
                assert_eq!(ua_family_marker_by_marker(&lower), family, "{lower}");
            }
        }
    }

    use proptest::prelude::*;

    proptest! {
        /// The one-pass search finds what trying the markers one by one finds, for any text
        /// built from markers (overlapping, nested, in any order) and filler.
        #[test]
        fn one_pass_equals_marker_by_marker(
            parts in proptest::collection::vec(
                prop_oneof![
                    (0..FAMILY_MARKERS.len()).prop_map(|i| FAMILY_MARKERS[i].0.to_string()),
                    "[a-z0-9/;. ()]{0,12}",
                ],
                0..8,
            )
        ) {
            let text = parts.concat();
            if !text.trim().is_empty() {
                prop_assert_eq!(ua_family(&text), ua_family_marker_by_marker(&text));
            }
        }
    }

    #[test]
    fn fingerprint_is_stable_and_ignores_the_user_agent_version_and_name_case() {
        let a = chrome();
        assert_eq!(fp(&a), fp(&a));
        let mut other_version = a.clone();
        other_version[5].1 = b"Mozilla/5.0 (Windows NT 10.0) Chrome/132.0.0.0 Safari/537.36";
        assert_eq!(fp(&a), fp(&other_version));
        let upper: Vec<(&str, &[u8])> = vec![("Host", b"tickets.example.com")];
        let lower: Vec<(&str, &[u8])> = vec![("host", b"tickets.example.com")];
        assert_eq!(fp(&upper), fp(&lower));
        let host_changed: Vec<(&str, &[u8])> = vec![("host", b"other.example")];
        assert_eq!(fp(&lower), fp(&host_changed), "only listed values count");
    }

    #[test]
    fn fingerprint_changes_with_order_language_encoding_hints_and_family() {
        let base = fp(&chrome());
        let mut swapped = chrome();
        swapped.swap(6, 7);
        assert_ne!(fp(&swapped), base, "header order");
        let mut lang = chrome();
        lang[11].1 = b"de-DE,de;q=0.9";
        assert_ne!(fp(&lang), base, "accept-language");
        let mut enc = chrome();
        enc[10].1 = b"gzip";
        assert_ne!(fp(&enc), base, "accept-encoding");
        let mut ch = chrome();
        ch[3].1 = b"\"Linux\"";
        assert_ne!(fp(&ch), base, "sec-ch-ua-platform");
        let mut fetch = chrome();
        fetch[8].1 = b"cors";
        assert_ne!(fp(&fetch), base, "sec-fetch-mode");
        let mut missing = chrome();
        missing.remove(0);
        assert_ne!(fp(&missing), base, "a header left out");
        assert_ne!(
            header_fingerprint(&chrome(), UaFamily::Firefox),
            base,
            "family"
        );
    }

    #[test]
    fn fingerprint_input_is_bounded() {
        let long = vec![b'x'; 100_000];
        let many: Vec<(&str, &[u8])> = (0..1000).map(|_| ("accept-language", &long[..])).collect();
        let cut: Vec<(&str, &[u8])> = (0..MAX_FINGERPRINT_HEADERS)
            .map(|_| ("accept-language", &long[..MAX_FINGERPRINT_VALUE]))
            .collect();
        assert_eq!(fp(&many), fp(&cut));
    }

    #[test]
    fn a_real_browser_has_no_hints() {
        let hints = header_hints(&chrome(), UaFamily::Chrome);
        assert_eq!(hints, HeaderHints::default());
        assert_eq!(hints.suspicion(), 0);
    }

    #[test]
    fn bot_hints() {
        let curl: Vec<(&str, &[u8])> = vec![
            ("host", b"x"),
            ("user-agent", b"curl/8.5.0"),
            ("accept", b"*/*"),
        ];
        let h = header_hints(&curl, UaFamily::Curl);
        assert!(h.library && h.no_accept_language && !h.no_accept);
        assert_eq!(h.suspicion(), WEIGHT_LIBRARY + WEIGHT_NO_ACCEPT_LANGUAGE);

        let h = header_hints(&[], UaFamily::Missing);
        assert!(h.missing_user_agent && h.no_accept && h.no_accept_language);
        assert_eq!(h.suspicion(), 85);

        let mut headless = chrome();
        headless[1].1 = b"\"HeadlessChrome\";v=\"131\"";
        let h = header_hints(&headless, UaFamily::Chrome);
        assert!(h.headless, "headless brand in sec-ch-ua");

        let bare_browser: Vec<(&str, &[u8])> = vec![
            ("user-agent", CHROME_UA),
            ("accept", b"*/*"),
            ("accept-language", b"en"),
        ];
        let h = header_hints(&bare_browser, UaFamily::Chrome);
        assert!(h.browser_without_fetch_metadata && h.chromium_without_client_hints);
        assert_eq!(h.suspicion(), 15, "below any challenge threshold alone");

        let blank_language: Vec<(&str, &[u8])> = vec![("accept-language", b"  ")];
        assert!(header_hints(&blank_language, UaFamily::Other).no_accept_language);
    }

    #[test]
    fn suspicion_saturates_at_100() {
        let all = HeaderHints {
            missing_user_agent: true,
            headless: true,
            library: true,
            crawler: true,
            no_accept_language: true,
            no_accept: true,
            browser_without_fetch_metadata: true,
            chromium_without_client_hints: true,
        };
        assert_eq!(all.suspicion(), 100);
    }
}
