//! Reading `Cookie` request headers: one parser for the gateway, the booking service and
//! origins. Writing `Set-Cookie` stays with whoever sets cookies.

/// The cookies of one request, in the order they came.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CookieJar {
    pairs: Vec<(String, String)>,
}

impl CookieJar {
    /// Every value of the named cookie (path-scoped cookies can repeat a name), in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn first<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.all(name).next()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// Parse `Cookie` header values (`a=1; b=2`, any number of headers). Names and values are
/// trimmed, a value in double quotes loses them; pieces without `=`, with an empty name or
/// an empty value are skipped, never fatal.
pub fn parse_cookies<'a>(headers: impl IntoIterator<Item = &'a str>) -> CookieJar {
    let mut pairs = Vec::new();
    for header in headers {
        for piece in header.split(';') {
            if let Some((name, value)) = piece.trim().split_once('=') {
                let (name, value) = (name.trim(), value.trim().trim_matches('"'));
                if !name.is_empty() && !value.is_empty() {
                    pairs.push((name.to_string(), value.to_string()));
                }
            }
        }
    }
    CookieJar { pairs }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_repeated_and_spaced_cookies() {
        let jar = parse_cookies([
            "a=1; anteroom_pass=x",
            "anteroom_pass=y;b=\"2\"",
            "junk; =z; empty=; c = 3 ",
        ]);
        assert_eq!(jar.all("anteroom_pass").collect::<Vec<_>>(), vec!["x", "y"]);
        assert_eq!(jar.first("b"), Some("2"));
        assert_eq!(jar.first("c"), Some("3"));
        assert_eq!(jar.first("junk"), None);
        assert_eq!(jar.first("empty"), None);
        assert!(!jar.is_empty());
        assert!(parse_cookies(["", ";;", "=", "no-equals"]).is_empty());
    }

    #[test]
    fn a_value_keeps_its_inner_equals_signs() {
        let jar = parse_cookies(["anteroom_vid=abc.k1.mac=="]);
        assert_eq!(jar.first("anteroom_vid"), Some("abc.k1.mac=="));
    }
}
